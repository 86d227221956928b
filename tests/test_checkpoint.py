"""Checkpoints: plain data only (weights_only loading), exact resume, clear errors."""

import json
import random

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from matting.models import build_model
from matting.train import main as train_cli
from matting.training.checkpoint import (
    CheckpointError,
    check_state_dict,
    load_checkpoint,
    load_model,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from matting.training.loop import TrainError, train

pytestmark = pytest.mark.slow


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_resume_continues_exactly(synthetic_manifests, train_config, tmp_path):
    """6 steps in one go == 3 steps, then `--out RUN --resume --max-steps 6`: same losses after the
    resume, same weights."""
    common = {"schedule": {"warmup_steps": 2, "total_steps": 6}, "ckpt_every": 3}
    train(train_config(synthetic_manifests, max_steps=6, **common), tmp_path / "once", progress=False)
    train(train_config(synthetic_manifests, max_steps=3, **common), tmp_path / "twice", progress=False)
    # Pretend the first run logged a step past its last checkpoint before it died.
    with (tmp_path / "twice" / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 4, "total": -1.0}) + "\n")
    # The CLI resumes from the run folder alone: its saved config.yaml is the base layer.
    args = ["--out", str(tmp_path / "twice"), "--resume", "--max-steps", "6", "--no-progress"]
    result = CliRunner().invoke(train_cli, args)
    assert result.exit_code == 0, result.output

    once, twice = _records(tmp_path / "once"), _records(tmp_path / "twice")
    assert [r["step"] for r in twice] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(once, twice, strict=True):
        for key in ("total", "l1", "laplacian", "lr", "grad_norm"):
            assert a[key] == b[key], (a["step"], key)
    a = torch.load(tmp_path / "once" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "twice" / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 6
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["ranks"][0]["consumed"] == b["ranks"][0]["consumed"] == [6 * 2]
    assert a["world_size"] == b["world_size"] == 1
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)


def test_checkpoint_holds_plain_data_only(trained_checkpoints):
    ckpt = torch.load(trained_checkpoints["far"], weights_only=True)  # would refuse any pickled class
    assert ckpt["format"] == "mumatting-checkpoint/1" and ckpt["stage"] == "far" and ckpt["step"] == 3
    assert ckpt["model_config"]["name"] == "mumatting-tiny"
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "ranks", "world_size", "train_config"}
    assert ckpt["scheduler"]["last_epoch"] == 3
    assert ckpt["world_size"] == len(ckpt["ranks"]) == 1
    assert set(ckpt["ranks"][0]) == {"consumed", "rng"} and set(ckpt["ranks"][0]["rng"]) >= {"torch", "numpy"}
    assert ckpt["train_config"]["init"] == str(trained_checkpoints["cap"])

    def plain(x):
        if isinstance(x, dict):
            return all(isinstance(k, (str, int)) and plain(v) for k, v in x.items())
        if isinstance(x, (list, tuple)):
            return all(plain(v) for v in x)
        return x is None or isinstance(x, (bool, int, float, str, torch.Tensor))

    assert plain(ckpt)


def test_rng_state_round_trip():
    state = rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert (
        torch.equal(expected[0], again[0])
        and np.array_equal(expected[1], again[1])
        and expected[2] == again[2]
    )


def test_load_model_rebuilds_the_trained_model(trained_checkpoints):
    model, ckpt = load_model(trained_checkpoints["far"])
    assert not model.training and model.config.name == "mumatting-tiny"
    assert all(torch.equal(v, ckpt["model"][k]) for k, v in model.state_dict().items())
    with pytest.raises(CheckpointError, match="is for model 'mumatting-tiny', not 'mumatting-small'"):
        load_model(trained_checkpoints["far"], model_name="mumatting-small")


def test_bad_checkpoint_files(tmp_path, trained_checkpoints):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match="corrupt or not a torch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "cut.pt").write_bytes(trained_checkpoints["cap"].read_bytes()[:-2000])
    with pytest.raises(CheckpointError, match="corrupt or not a torch checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save(build_model("mumatting-tiny"), tmp_path / "module.pt")
    with pytest.raises(CheckpointError, match="not a plain checkpoint; weights_only loading refused it"):
        load_checkpoint(tmp_path / "module.pt")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="not a muMatting checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")
    save_checkpoint(tmp_path / "ok.pt", {"model": {}, "model_config": {"name": "x"}})
    assert load_checkpoint(tmp_path / "ok.pt")["model_config"] == {"name": "x"}


def test_state_dict_mismatch_names_keys_and_shapes():
    model = build_model("mumatting-tiny")
    state = model.state_dict()
    key = next(k for k, v in state.items() if v.ndim == 2)
    with pytest.raises(CheckpointError, match=rf"1 shape mismatch\(es\) e\.g\. {key}"):
        check_state_dict(model, {**state, key: torch.zeros(1)}, "x.pt")
    dropped = dict(state)
    dropped.pop(key)
    with pytest.raises(CheckpointError, match=rf"1 missing key\(s\) e\.g\. {key}"):
        check_state_dict(model, {**dropped, "extra.weight": torch.zeros(1)}, "x.pt")


def test_resume_needs_a_checkpoint_and_a_fresh_run_refuses_an_old_folder(
    synthetic_manifests, train_config, trained_checkpoints, tmp_path
):
    with pytest.raises(TrainError, match="no checkpoint to resume from"):
        train(train_config(synthetic_manifests, max_steps=1), tmp_path / "empty", resume=True, progress=False)
    run_dir = trained_checkpoints["cap"].parent.parent
    with pytest.raises(TrainError, match="holds checkpoints already; pass --resume"):
        train(train_config(synthetic_manifests, max_steps=1), run_dir, progress=False)
    with pytest.raises(CheckpointError, match="saved at stage 'cap', this run is 'far'"):
        train(
            train_config(synthetic_manifests, max_steps=9, stage="far"), run_dir, resume=True, progress=False
        )


def test_old_checkpoints_are_pruned_and_last_and_best_are_links(synthetic_manifests, train_config, tmp_path):
    """A checkpoint every step, the newest 2 kept: the folder never grows past 2 step files plus
    last.pt and best.pt, which are hard links (no copy) and outlive their pruned step file."""
    import os

    run = tmp_path / "run"
    train(
        train_config(synthetic_manifests, max_steps=6, ckpt_every=1, keep_checkpoints=2), run, progress=False
    )
    ckpts = run / "checkpoints"
    names = sorted(p.name for p in ckpts.iterdir())
    assert [n for n in names if n.startswith("step_")] == ["step_000005.pt", "step_000006.pt"]
    assert {"last.pt", "best.pt"} <= set(names) and len(names) == 4, names
    assert os.path.samefile(ckpts / "last.pt", ckpts / "step_000006.pt")
    totals = {r["step"]: r["total"] for r in _records(run)}
    best = torch.load(ckpts / "best.pt", weights_only=True)
    assert best["step"] == min(totals, key=totals.get)  # one step per interval: its own loss
    assert best["interval_loss"] == pytest.approx(min(totals.values()))
    # its data: shared with its step file while kept, and with last.pt when it is the newest
    assert os.stat(ckpts / "best.pt").st_nlink == 1 + (best["step"] >= 5) + (best["step"] == 6)


def test_resume_under_ddp_restores_every_ranks_own_state(synthetic_manifests, tmp_path):
    """Two CPU ranks (torchrun, gloo): 4 steps in one go == 2 steps, then --resume to 4. Each
    rank draws its own clips, so each must get its own data position and random state back."""
    import os
    import subprocess
    import sys

    import yaml

    from tests.conftest import TRAIN_BASE

    config = tmp_path / "ddp.yaml"
    data = {
        "size": 32,
        "crop_sizes": [40],
        "sources": [{"type": "amatte4k", "manifest": str(synthetic_manifests)}],
    }
    base = {
        **TRAIN_BASE,
        "batch_size": 1,
        "data": data,
        "ckpt_every": 2,
        "schedule": {"warmup_steps": 1, "total_steps": 4},
    }
    config.write_text(yaml.safe_dump(base))

    def torchrun(run, *extra):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
        cmd += ["-m", "matting.train", "--config", str(config), "--out", str(run), "--no-progress", *extra]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr

    torchrun(tmp_path / "once", "--max-steps", "4")
    torchrun(tmp_path / "twice", "--max-steps", "2")
    torchrun(tmp_path / "twice", "--max-steps", "4", "--resume")
    a = torch.load(tmp_path / "once" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "twice" / "checkpoints" / "last.pt", weights_only=True)
    assert a["world_size"] == b["world_size"] == 2
    assert a["ranks"][0]["consumed"] != a["ranks"][1]["consumed"] or not torch.equal(
        a["ranks"][0]["rng"]["torch"], a["ranks"][1]["rng"]["torch"]
    )
    for ra, rb in zip(a["ranks"], b["ranks"], strict=True):
        assert ra["consumed"] == rb["consumed"]
        assert torch.equal(ra["rng"]["torch"], rb["rng"]["torch"])
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    once, twice = _records(tmp_path / "once"), _records(tmp_path / "twice")
    assert [r["total"] for r in once] == [r["total"] for r in twice]


def test_a_run_from_before_the_far_output_choice_resumes_in_its_own_form(
    trained_checkpoints, tmp_path, capsys
):
    """A stage-far checkpoint without far.residual was trained with the logit form: resuming it
    (or starting from it) must keep that form, not read its weights as the new default's."""
    import shutil

    from matting.training.config import read_yaml, resolve_config

    run = tmp_path / "old"
    shutil.copytree(trained_checkpoints["far"].parent.parent, run)
    last = run / "checkpoints" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    del ckpt["model_config"]["far"]["residual"]
    save_checkpoint(last, ckpt)
    cfg = resolve_config(read_yaml(run / "config.yaml"), {"max_steps": ckpt["step"] + 1})
    assert cfg.model_overrides == {}  # the saved run config names no form
    train(cfg, run, resume=True, progress=False)
    assert "trained with FAR residual 'logit'; this run keeps it" in capsys.readouterr().out
    resumed = torch.load(last, weights_only=True)
    assert resumed["step"] == ckpt["step"] + 1 and resumed["model_config"]["far"]["residual"] == "logit"
    model, _ = load_model(last)
    assert model.far.residual == "logit"


def test_a_failed_background_write_stops_the_run_at_the_next_checkpoint(
    synthetic_manifests, train_config, tmp_path, monkeypatch
):
    from matting.training import checkpoint as ckpt_module

    def disk_full(path, payload):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt_module, "save_checkpoint", disk_full)
    with pytest.raises((TrainError, CheckpointError), match="writing a checkpoint failed .*No space left"):
        train(train_config(synthetic_manifests, max_steps=4, ckpt_every=1), tmp_path / "run", progress=False)
    done = [r["step"] for r in _records(tmp_path / "run")]
    assert done == [1, 2]  # stopped at the first checkpoint after the failed write


def test_default_run_folders_never_collide(tmp_path):
    from matting.train import fresh_run_dir

    first = fresh_run_dir(tmp_path / "runs", "cap-20261201-040000")
    second = fresh_run_dir(tmp_path / "runs", "cap-20261201-040000")
    assert first.name == "cap-20261201-040000" and second.name == "cap-20261201-040000-2"
    assert first.is_dir() and second.is_dir()
