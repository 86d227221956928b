"""``python -m matting.evaluate``: model mode on held-out shots, folder mode, bad input."""

import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from matting.evaluate import SequenceMeter, evaluate_folders, format_table
from matting.evaluate import main as evaluate_cli
from matting.metrics import METRICS, dtssd, evaluate_clip
from tests.cli_helpers import one_line_error

pytestmark = pytest.mark.slow


def _sequence(n=7, h=12, w=10, seed=0):
    rng = np.random.default_rng(seed)
    gt = np.clip(rng.random((n, h, w)) * 1.4 - 0.2, 0, 1)
    pred = np.clip(gt + rng.normal(0, 0.1, gt.shape), 0, 1)
    return pred, gt


def test_sequence_meter_in_chunks_equals_the_whole_sequence():
    pred, gt = _sequence()
    meter = SequenceMeter()
    for lo in range(0, len(pred), 4):  # chunks of 4 and 3
        meter.add(pred[lo : lo + 4], gt[lo : lo + 4])
    whole = evaluate_clip(pred, gt)
    got = meter.result()
    assert meter.frames == 7 and set(got) == set(METRICS)
    for name in METRICS:
        assert got[name] == pytest.approx(whole[name], rel=1e-9), name
    # A new sequence does not link its first frame to the previous one.
    meter = SequenceMeter()
    meter.add(pred[:4], gt[:4])
    meter.new_sequence()
    meter.add(pred[4:], gt[4:])
    expected = (dtssd(pred[:4], gt[:4]) * 4 + dtssd(pred[4:], gt[4:]) * 3) / 7
    assert meter.result()["dtssd"] == pytest.approx(expected)


def test_evaluate_checkpoint_on_held_out_shots(trained_checkpoints, synthetic_manifests, tmp_path):
    out = tmp_path / "report.json"
    args = [
        "--checkpoint",
        str(trained_checkpoints["far"]),
        "--data",
        str(synthetic_manifests),
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(evaluate_cli, [*args, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["mode"] == "model" and report["split"] == "val" and report["stage"] == "far"
    assert report["amp"] == "off"  # auto on a CPU
    assert report["clips"] == 2 and report["frames"] == 8  # one val shot of 8 frames = 2 clips of 4
    assert set(report["shots"]) == {"shot00002"}
    for kind in ("coarse", "fused"):
        assert set(report["metrics"][kind]) == set(METRICS)
        assert all(np.isfinite(v) and v >= 0 for v in report["metrics"][kind].values())
        assert report["shots"]["shot00002"][kind] == report["metrics"][kind]
    assert 0 < report["metrics"]["coarse"]["mad"] <= 1000
    # The figures are those of the model's own outputs: recomputed here, MAD and MSE by hand.
    from matting.data import AMatte4KSource, to_display
    from matting.framing import clip_inputs
    from matting.training.checkpoint import load_model

    model, _ = load_model(trained_checkpoints["far"])
    source = AMatte4KSource(synthetic_manifests, "val", clip_len=4, stride=4)
    errors = {"coarse": [], "fused": []}
    size = model.cap.cap_size
    with torch.no_grad():
        for i in range(len(source.windows)):
            raw = source.load(i).full()  # the frames under the default look, as inference gets them
            rgb = to_display(np.asarray(raw.rgb), raw.transfer)
            clip, context, box = clip_inputs(rgb, size)
            out = model(clip, stage="far", context=context, box=box)
            for kind, key in (("coarse", "coarse"), ("fused", "alpha")):
                pred = out[key][0, :, 0].clamp(0, 1).double().numpy()
                errors[kind].append(pred - np.clip(raw.alpha, 0, 1))
    for kind, errs in errors.items():
        e = np.concatenate(errs)
        assert report["metrics"][kind]["mad"] == pytest.approx(1e3 * np.abs(e).mean(), rel=1e-4)
        assert report["metrics"][kind]["mse"] == pytest.approx(1e3 * (e**2).mean(), rel=1e-4)
    assert report["metrics"]["fused"]["mad"] != report["metrics"]["coarse"]["mad"]
    assert report["dtssd_variant"].startswith("rvm")
    assert "dtSSD variant: rvm" in result.output and "coarse" in result.output and "fused" in result.output
    # --max-side shrinks the frames; the figures change but stay finite.
    small = tmp_path / "small.json"
    result = CliRunner().invoke(
        evaluate_cli, [*args, "--max-side", "32", "--out", str(small), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(small.read_text())["metrics"]["fused"]["mad"] != report["metrics"]["fused"]["mad"]
    # --amp bf16 scores the same clips with CAP in bf16: close to the float32 figures.
    bf16 = tmp_path / "bf16.json"
    result = CliRunner().invoke(evaluate_cli, [*args, "--amp", "bf16", "--out", str(bf16), "--no-progress"])
    assert result.exit_code == 0, result.output
    got = json.loads(bf16.read_text())
    assert got["amp"] == "bf16"
    assert got["metrics"]["fused"]["mad"] == pytest.approx(report["metrics"]["fused"]["mad"], rel=0.1)


def test_evaluate_folders_of_frames(tmp_path):
    pred, gt = _sequence(n=6, h=16, w=20, seed=3)
    pred16 = np.rint(pred * 65535).astype(np.uint16)
    gt8 = np.rint(gt * 255).astype(np.uint8)
    for i in range(6):
        (tmp_path / "pred").mkdir(exist_ok=True)
        (tmp_path / "gt").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "pred" / f"{i:04d}.png"), pred16[i])
        cv2.imwrite(str(tmp_path / "gt" / f"{i:04d}.png"), gt8[i])
    expected = evaluate_clip(pred16 / 65535, gt8 / 255)
    got = evaluate_folders(tmp_path / "pred", tmp_path / "gt", progress=False)
    assert got["frames"] == 6
    for name in METRICS:
        assert got["metrics"]["pred"][name] == pytest.approx(expected[name], rel=1e-6)
    out = tmp_path / "r.json"
    args = [
        "--pred",
        str(tmp_path / "pred"),
        "--gt",
        str(tmp_path / "gt"),
        "--out",
        str(out),
        "--no-progress",
    ]
    result = CliRunner().invoke(evaluate_cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["metrics"]["pred"]["mad"] == pytest.approx(expected["mad"], rel=1e-6)
    (tmp_path / "gt" / "0005.png").unlink()
    result = CliRunner().invoke(
        evaluate_cli, ["--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt")]
    )
    assert "6 predicted frames but" in one_line_error(result)


def test_format_table_has_a_row_per_kind():
    table = format_table({"coarse": dict.fromkeys(METRICS, 1.0), "fused": dict.fromkeys(METRICS, 2.0)})
    lines = table.splitlines()
    assert len(lines) == 3 and "dtssd x1e2" in lines[0] and lines[2].split()[0] == "fused"


def test_bad_inputs_give_one_line_errors(trained_checkpoints, synthetic_manifests, tmp_path):
    ckpt = str(trained_checkpoints["far"])
    result = CliRunner().invoke(evaluate_cli, ["--checkpoint", ckpt, "--data", str(tmp_path / "none")])
    assert "no dataset index" in one_line_error(result)

    broken = tmp_path / "broken"
    shutil.copytree(synthetic_manifests.parent, broken)
    next((broken / "data" / "shards").glob("*.tar")).unlink()
    result = CliRunner().invoke(evaluate_cli, ["--checkpoint", ckpt, "--data", str(broken / "manifests")])
    assert "is missing" in one_line_error(result)

    data = ["--data", str(synthetic_manifests)]
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    result = CliRunner().invoke(evaluate_cli, ["--checkpoint", str(corrupt), *data])
    assert "corrupt or not a torch checkpoint" in one_line_error(result)

    pickled = tmp_path / "module.pt"
    torch.save(torch.nn.Conv2d(1, 1, 1), pickled)
    result = CliRunner().invoke(evaluate_cli, ["--checkpoint", str(pickled), *data])
    assert "not a plain checkpoint" in one_line_error(result)

    state = torch.load(ckpt, weights_only=True)
    wrong = tmp_path / "wrong.pt"
    torch.save(
        {**state, "model": {k: v for k, v in state["model"].items() if not k.startswith("far.")}}, wrong
    )
    result = CliRunner().invoke(evaluate_cli, ["--checkpoint", str(wrong), *data])
    assert "weights do not fit model 'mumatting-tiny'" in one_line_error(result)

    result = CliRunner().invoke(evaluate_cli, ["--checkpoint", ckpt])
    assert "pass --checkpoint with --data" in one_line_error(result)


def test_a_manifest_root_is_narrowed_to_its_one_dataset(trained_checkpoints, synthetic_manifests, tmp_path):
    root = tmp_path / "manifests"
    root.mkdir()
    (root / "demo").symlink_to(synthetic_manifests, target_is_directory=True)
    args = [
        "--checkpoint",
        str(trained_checkpoints["far"]),
        "--data",
        str(root),
        "--device",
        "cpu",
        "--no-progress",
    ]
    result = CliRunner().invoke(evaluate_cli, [*args, "--max-clips", "1"])
    assert result.exit_code == 0, result.output
    assert f"data: {root / 'demo'}" in result.output
    (root / "other").symlink_to(synthetic_manifests, target_is_directory=True)
    result = CliRunner().invoke(evaluate_cli, args)
    assert result.exit_code != 0 and "holds 2 datasets (demo, other); pass one of them" in result.output


def _write_rvm_root(root, seed=0):
    """Two clips in RVM's benchmark layout: 0000 with com/, 0001 with fgr/ and bgr/."""
    rng = np.random.default_rng(seed)
    h, w = 40, 56
    yy, xx = np.mgrid[0:h, 0:w]
    for name, n, kind in (("0000", 6, "com"), ("0001", 5, "fgr")):
        for sub in ("pha", "com") if kind == "com" else ("pha", "fgr", "bgr"):
            (root / name / sub).mkdir(parents=True)
        for i in range(n):
            pha = np.clip(12 - np.hypot(yy - h / 2, xx - w / 3 - 2 * i) + 0.5, 0, 1)
            cv2.imwrite(str(root / name / "pha" / f"{i:04d}.png"), (pha * 65535).astype(np.uint16))
            img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
            if kind == "com":
                cv2.imwrite(str(root / name / "com" / f"{i:04d}.png"), img)
            else:
                cv2.imwrite(str(root / name / "fgr" / f"{i:04d}.png"), img)
                cv2.imwrite(str(root / name / "bgr" / f"{i:04d}.png"), img[::-1].copy())
    return root


def test_pair_split_adds_up_to_dtssd_and_is_chunk_invariant():
    from matting.benchmark import PairSplit

    pred, gt = _sequence(n=9)
    whole, chunked = PairSplit(4), PairSplit(4)
    whole.add(pred, gt)
    for lo in range(0, 9, 4):
        chunked.add(pred[lo : lo + 4], gt[lo : lo + 4])
    assert whole.counts == chunked.counts == {"boundary": 2, "within": 6}  # t = 4, 8 start groups
    assert whole.sums == pytest.approx(chunked.sums)
    assert (whole.sums["boundary"] + whole.sums["within"]) / 9 == pytest.approx(dtssd(pred, gt))
    # Overlapping groups (matting.infer --overlap 2): the frames say which group they came from,
    # fed one at a time; a boundary is a change of group.
    groups = [0, 0, 0, 1, 1, 2, 2, 3, 3]
    framed = PairSplit(4)
    for t in range(9):
        framed.add(pred[t : t + 1], gt[t : t + 1], groups=[groups[t]])
    assert framed.counts == {"boundary": 3, "within": 5}
    assert framed.sums["boundary"] + framed.sums["within"] == pytest.approx(
        whole.sums["boundary"] + whole.sums["within"]
    )


def test_benchmark_with_overlapping_groups(trained_checkpoints, tmp_path):
    root = _write_rvm_root(tmp_path / "videomatte")
    args = ["--checkpoint", str(trained_checkpoints["far"]), "--device", "cpu", "--no-progress"]
    out = tmp_path / "overlap.json"
    result = CliRunner().invoke(
        evaluate_cli, [*args, "--benchmark", str(root), "--overlap", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    frames = {name: v["frames"] for name, v in report["per_clip"].items()}
    assert report["overlap"] == 2 and frames == {"0000": 6, "0001": 5} and report["frames"] == 11
    # Groups start every 2 frames. 6 frames: groups 0-3 and 2-5 give outputs 0,1,2 | 3,4,5;
    # 5 frames: 0-3 and 2-4 (padded) give 0,1,2 | 3,4. One change of group in each clip.
    pairs = report["dtssd_by_pair"]["fused"]["pairs"]
    assert pairs == {"boundary": 2, "within": 7}
    result = CliRunner().invoke(evaluate_cli, [*args, "--data", str(root), "--overlap", "1"])
    assert result.exit_code != 0 and "--overlap applies to --benchmark only" in result.output


def test_evaluate_a_benchmark_in_rvm_layout_clip_by_clip(trained_checkpoints, tmp_path):
    from matting.training.checkpoint import load_model

    root = _write_rvm_root(tmp_path / "videomatte")
    out = tmp_path / "bench.json"
    args = ["--checkpoint", str(trained_checkpoints["far"]), "--benchmark", str(root), "--device", "cpu"]
    result = CliRunner().invoke(evaluate_cli, [*args, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["mode"] == "benchmark" and report["clips"] == 2 and report["frames"] == 11
    assert set(report["per_clip"]) == {"0000", "0001"} and report["per_clip"]["0001"]["frames"] == 5
    # clip 6 frames: t = 4 starts a group; clip of 5: t = 4 again; the others are inside groups
    assert report["dtssd_by_pair"]["fused"]["pairs"] == {"boundary": 2, "within": 7}
    assert "at group boundaries" in result.output
    # Clip 0000's fused MAD, recomputed: the model on its com frames in groups of 4, padded.
    from matting.framing import clip_inputs
    from matting.video import read_alpha, read_image

    model, _ = load_model(trained_checkpoints["far"])
    frames = [read_image(root / "0000" / "com" / f"{i:04d}.png") for i in range(6)]
    gts = np.stack([read_alpha(root / "0000" / "pha" / f"{i:04d}.png") for i in range(6)])
    preds = []
    with torch.no_grad():
        for group in (frames[:4], frames[4:] + [frames[5], frames[5]]):
            x, context, box = clip_inputs(np.stack(group), model.cap.cap_size)  # as matting.infer builds them
            out = model(x, stage="far", context=context, box=box)
            preds.append(out["alpha"][0, :, 0].clamp(0, 1).double().numpy())
    pred = np.concatenate(preds)[:6]
    mad = 1e3 * np.abs(pred - gts).mean()
    assert report["per_clip"]["0000"]["fused"]["mad"] == pytest.approx(mad, rel=1e-4)
    # Folder mode on two roots in the same layout scores clip by clip too.
    pred_root = tmp_path / "pred"
    for clip in ("0000", "0001"):
        shutil.copytree(root / clip / "pha", pred_root / clip / "pha")
    cv2.imwrite(str(pred_root / "0001" / "pha" / "0002.png"), np.zeros((40, 56), np.uint16))
    folders = tmp_path / "folders.json"
    result = CliRunner().invoke(
        evaluate_cli, ["--pred", str(pred_root), "--gt", str(root), "--out", str(folders), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    got = json.loads(folders.read_text())
    assert got["clips"] == 2 and got["frames"] == 11
    assert got["per_clip"]["0000"]["pred"]["mad"] == 0 and got["per_clip"]["0001"]["pred"]["mad"] > 0
    assert got["metrics"]["pred"]["mad"] == pytest.approx(got["per_clip"]["0001"]["pred"]["mad"] * 5 / 11)
