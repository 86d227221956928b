"""``python -m matting.train``: config layering, both stages, run-folder contents, bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from matting.train import main as train_cli
from matting.training.config import ConfigError, read_yaml, resolve_config
from matting.training.loop import train
from matting.training.schedule import lr_factor
from tests.cli_helpers import one_line_error

pytestmark = pytest.mark.slow

STAGE1_TERMS = {"l1", "laplacian", "total"}
STAGE2_TERMS = {"region_l1", "region_laplacian", "region", "entire", "temporal", "total"}


def read_metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_training_lowers_the_loss_and_logs_every_term(synthetic_manifests, train_config, tmp_path):
    cfg = train_config(synthetic_manifests, max_steps=30, optim={"lr": 3e-3}, schedule={"warmup_steps": 3})
    records = train(cfg, tmp_path / "run", progress=False)
    logged = read_metrics(tmp_path / "run")
    assert [r["step"] for r in logged] == list(range(1, 31)) and logged == json.loads(json.dumps(records))
    for r in logged:
        assert STAGE1_TERMS | {"step", "lr", "grad_norm"} <= set(r)
        assert r["total"] == pytest.approx(r["l1"] + r["laplacian"], rel=1e-5)
    first = np.mean([r["total"] for r in logged[:5]])
    last = np.mean([r["total"] for r in logged[-5:]])
    assert last < 0.9 * first, (first, last)
    # The logged lr follows warmup + cosine of the head group (full lr).
    assert logged[0]["lr"] == pytest.approx(3e-3 * lr_factor(0, 3, 30, 0.01))
    assert logged[10]["lr"] == pytest.approx(3e-3 * lr_factor(10, 3, 30, 0.01))
    # Run folder: resolved config, TensorBoard events, final checkpoint.
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["max_steps"] == 30 and saved["schedule"]["total_steps"] == 30
    assert saved["data"]["sources"][0]["manifest"] == str(synthetic_manifests)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tb"))
    events.Reload()
    assert {"loss/total", "loss/l1", "loss/laplacian", "train/lr"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("loss/total")] == list(range(1, 31))
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["best.pt", "last.pt", "step_000030.pt"]  # one checkpoint: it is also the best


def test_stage_far_starts_from_a_cap_checkpoint_with_cap_frozen(trained_checkpoints):
    """The session fixture trains 3 cap steps, then 3 far steps with --init from the cap run."""
    init, far = trained_checkpoints["cap"], trained_checkpoints["far"]
    logged = read_metrics(far.parent.parent)
    assert len(logged) == 3 and all(STAGE2_TERMS <= set(r) and r["stage"] == "far" for r in logged)
    for r in logged:
        expected = r["region"] + 0.5 * r["entire"] + 0.5 * r["temporal"]
        assert r["total"] == pytest.approx(expected, rel=1e-5)
        assert r["region"] == pytest.approx(r["region_l1"] + r["region_laplacian"], rel=1e-5)
        assert 0 < r["key_sites"] <= 4 * 32 * 32  # FAR's cost, logged: sites per clip of 4 x 32 x 32
    before = torch.load(init, weights_only=True)["model"]
    after = torch.load(far, weights_only=True)["model"]
    cap_keys = [k for k in before if k.startswith("cap.")]
    far_keys = [k for k in before if k.startswith("far.") and before[k].is_floating_point()]
    assert cap_keys and far_keys
    assert all(torch.equal(before[k], after[k]) for k in cap_keys), "CAP must stay frozen in stage far"
    assert any(not torch.equal(before[k], after[k]) for k in far_keys), "FAR must train in stage far"


@pytest.mark.parametrize("name", ["tiny.yaml", "mumatting-sapiens03b.yaml"])
@pytest.mark.parametrize("stage", ["cap", "far"])
def test_shipped_configs_resolve(name, stage):
    path = Path(__file__).resolve().parents[1] / "configs" / "train" / name
    cfg = resolve_config(read_yaml(path), cli={"stage": stage})
    assert cfg.stage == stage and cfg.data["clip_len"] == 4
    assert Path(cfg.data["sources"][0]["manifest"]).is_absolute()
    assert cfg.max_steps == {"cap": 1000, "far": 500}[stage] if name == "tiny.yaml" else cfg.max_steps > 1000


def test_cli_layers_yaml_stage_section_and_flags(synthetic_manifests, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": "mumatting-tiny",
                "num_workers": 0,
                "batch_size": 1,
                "device": "cpu",
                "optim": {"lr": 1e-3, "weight_decay": 0.05},
                "stages": {"cap": {"optim": {"lr": 7e-4}}, "far": {"optim": {"lr": 1e-4}}},
                "data": {"size": 32, "crop_sizes": [40], "sources": [{"type": "images", "root": "nowhere"}]},
            }
        )
    )
    run = tmp_path / "run"
    args = [
        "--config",
        str(config),
        "--data",
        str(synthetic_manifests),
        "--max-steps",
        "2",
        "--out",
        str(run),
    ]
    result = CliRunner().invoke(train_cli, [*args, "--batch-size", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["optim"] == {**saved["optim"], "lr": 7e-4, "weight_decay": 0.05}  # stage section wins
    assert saved["batch_size"] == 2 and saved["max_steps"] == 2  # flags win
    assert saved["data"]["size"] == 32  # --data replaces the sources, keeps the rest
    shards = json.loads((synthetic_manifests / "index.json").read_text())["shards"]
    frames = sum(s["frames"] for s in shards if s["split"] == "train")
    assert saved["data"]["sources"] == [
        {"type": "amatte4k", "manifest": str(synthetic_manifests), "split": "train", "weight": float(frames)}
    ]
    assert "stages" not in saved
    # The saved config is itself a valid config.
    assert resolve_config(read_yaml(run / "config.yaml")).max_steps == 2


def test_data_root_with_several_datasets_and_a_default_run_folder(synthetic_manifests, tmp_path, monkeypatch):
    """``--data manifests/`` after ``make demo`` is a root holding datasets in subfolders: all are
    used and named in one line; without --out a fresh run folder is made and printed."""
    root = tmp_path / "manifests"
    root.mkdir()
    for name in ("a", "b"):
        (root / name).symlink_to(synthetic_manifests, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    args = ["--data", str(root), "--model", "mumatting-tiny", "--max-steps", "1", "--no-progress"]
    result = CliRunner().invoke(
        train_cli, [*args, "--batch-size", "1", "--num-workers", "0", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    shards = json.loads((synthetic_manifests / "index.json").read_text())["shards"]
    frames = sum(s["frames"] for s in shards if s["split"] == "train")
    assert f"all used: a ({frames} train frames), b ({frames} train frames)" in result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("run folder: "))
    run = tmp_path / line[len("run folder: ") :]
    assert run.parent == tmp_path / "runs" and run.name.startswith("cap-")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert [s["manifest"] for s in saved["data"]["sources"]] == [str(root / "a"), str(root / "b")]
    # No data scale given: the model's own (tiny: CAP input 64 px), printed with the device.
    assert saved["data"]["size"] == 64 and saved["data"]["crop_sizes"] == [64]
    assert (
        "model mumatting-tiny, stage cap on cpu (x1): 1 clip(s): whole frames on a 64 px canvas for CAP, "
        "64 px windows for FAR (from 64 px of the frame)" in (result.output)
    )
    for bad, message in (
        (["--data", str(tmp_path / "runs")], "no dataset index there or in its subfolders"),
        (["--data", str(root), "--resume"], "--out: name the run folder"),
    ):
        result = CliRunner().invoke(train_cli, bad)
        assert result.exit_code != 0 and message in result.output, result.output


def test_full_data_mixture_from_yaml(synthetic_manifests, tmp_path):
    """amatte4k + videomatte + images, relative paths resolved against the YAML's folder."""
    from matting.data.synthetic import write_backgrounds, write_image_matte, write_videomatte

    write_videomatte(tmp_path / "vm", clips=1, frames=5, width=40, height=40)
    write_backgrounds(tmp_path / "bg", stills=1, videos=1, frames=5, width=48, height=48)
    write_image_matte(tmp_path / "img", count=2, width=40, height=40)
    config = tmp_path / "mix.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                **{
                    "model": "mumatting-tiny",
                    "num_workers": 0,
                    "batch_size": 3,
                    "device": "cpu",
                    "max_steps": 2,
                },
                "data": {
                    "size": 32,
                    "crop_sizes": [32],
                    "sources": [
                        {"type": "amatte4k", "manifest": str(synthetic_manifests), "weight": 1.0},
                        {"type": "videomatte", "root": "vm", "backgrounds": "bg", "weight": 1.0},
                        {"type": "images", "root": "img", "weight": 1.0, "motion": 0.05},
                    ],
                },
            }
        )
    )
    result = CliRunner().invoke(
        train_cli, ["--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["sources"][1]["root"] == str(tmp_path / "vm")
    assert saved["data"]["sources"][2]["root"] == str(tmp_path / "img")
    assert len(read_metrics(tmp_path / "run")) == 2


def test_config_rejects_unknown_and_mistyped_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['lr'\]"):
        resolve_config({"lr": 1.0, "data": {"sources": [{"type": "images", "root": "x"}]}})
    with pytest.raises(ConfigError, match=r"optim: unknown key\(s\) \['momentum'\]"):
        resolve_config({"optim": {"momentum": 0.9}})
    with pytest.raises(ConfigError, match="batch_size: must be an integer"):
        resolve_config({"batch_size": "two"})
    with pytest.raises(ConfigError, match="no sources"):
        resolve_config({})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['bogus'\]"):
        resolve_config({"data": {"bogus": 1, "sources": [{"type": "images", "root": "x"}]}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: {lr: 1e-3}\nwarmup: 3\n")
    result = CliRunner().invoke(train_cli, ["--config", str(bad), "--out", str(tmp_path / "run")])
    assert "unknown key(s) ['warmup']" in one_line_error(result)
    assert not (tmp_path / "run").exists()


def test_bad_data_gives_one_line_errors(synthetic_manifests, tmp_path):
    run = ["--model", "mumatting-tiny", "--max-steps", "1", "--num-workers", "0", "--device", "cpu"]
    result = CliRunner().invoke(
        train_cli, [*run, "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "a")]
    )
    assert "no dataset index" in one_line_error(result)

    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(synthetic_manifests.parent, broken)
    next((broken / "data" / "shards").glob("*.tar")).unlink()
    result = CliRunner().invoke(
        train_cli, [*run, "--data", str(broken / "manifests"), "--out", str(tmp_path / "b")]
    )
    assert "is missing" in one_line_error(result)


def test_bad_init_checkpoints_give_one_line_errors(synthetic_manifests, trained_checkpoints, tmp_path):
    """--init of another model's checkpoint, a corrupt file and a pickled module."""
    run = ["--data", str(synthetic_manifests), "--max-steps", "1", "--num-workers", "0", "--stage", "far"]
    ckpt = torch.load(trained_checkpoints["cap"], weights_only=True)

    other = tmp_path / "other.pt"
    torch.save({**ckpt, "model_config": {**ckpt["model_config"], "name": "mumatting-small"}}, other)
    result = CliRunner().invoke(train_cli, [*run, "--init", str(other), "--out", str(tmp_path / "a")])
    assert "is for model 'mumatting-small', not 'mumatting-tiny'" in one_line_error(result)

    reshaped = tmp_path / "reshaped.pt"
    state = dict(ckpt["model"])
    key = next(k for k, v in state.items() if v.ndim == 2)
    state[key] = torch.zeros(3, 3)
    torch.save({**ckpt, "model": state}, reshaped)
    result = CliRunner().invoke(train_cli, [*run, "--init", str(reshaped), "--out", str(tmp_path / "b")])
    assert "shape mismatch" in one_line_error(result) and key in result.output

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(trained_checkpoints["cap"].read_bytes()[:5000])
    result = CliRunner().invoke(train_cli, [*run, "--init", str(corrupt), "--out", str(tmp_path / "c")])
    assert "corrupt or not a torch checkpoint" in one_line_error(result)

    pickled = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)
    result = CliRunner().invoke(train_cli, [*run, "--init", str(pickled), "--out", str(tmp_path / "d")])
    assert "not a plain checkpoint" in one_line_error(result)


def test_training_on_a_rendered_dataset(rendered_manifests, train_config, tmp_path):
    """Steps on real Cycles renders (read through the manifest) lower the loss."""
    cfg = train_config(
        rendered_manifests,
        max_steps=30,
        optim={"lr": 3e-3},
        schedule={"warmup_steps": 3},
        data={"size": 32, "crop_sizes": [64]},
    )
    records = train(cfg, tmp_path / "run", progress=False)
    assert len(records) == 30 and all(np.isfinite(r["total"]) for r in records)
    first = np.mean([r["total"] for r in records[:5]])
    last = np.mean([r["total"] for r in records[-5:]])
    assert last < 0.9 * first, (first, last)
    assert (tmp_path / "run" / "checkpoints" / "step_000030.pt").exists()
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["sources"][0]["manifest"] == str(rendered_manifests)


def test_data_sizes_come_from_the_model_only_where_unset_and_only_for_fresh_runs():
    base = {"model": "mumatting-tiny", "data": {"sources": [{"type": "images", "root": "x"}]}}
    fresh = resolve_config(base)
    assert (fresh.data["size"], fresh.data["crop_sizes"]) == (64, [64])  # full-resolution windows
    sized = resolve_config({**base, "data": {**base["data"], "size": 256}})
    assert (sized.data["size"], sized.data["crop_sizes"]) == (256, [256])  # windows follow size
    windows = resolve_config({**base, "data": {**base["data"], "crop_sizes": [90]}})
    assert (windows.data["size"], windows.data["crop_sizes"]) == (64, [90])
    resumed = resolve_config(base, model_scale=False)  # a run saved without sizes keeps the defaults
    assert "size" not in resumed.data and "crop_sizes" not in resumed.data
