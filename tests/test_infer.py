"""``python -m matting.infer``: folders of frames and videos in, 16-bit PNG / EXR alpha out."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from matting.infer import infer_frames, predict_group, stream_groups
from matting.infer import main as infer_cli
from matting.training.checkpoint import load_model
from matting.video import FrameReader, read_alpha, read_image, write_alpha
from tests.cli_helpers import one_line_error

pytestmark = pytest.mark.slow

H, W = 40, 56


def _frames(n: int) -> np.ndarray:
    """(n, H, W, 3) uint8 RGB: a bright moving square on noise."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 80, (n, H, W, 3), dtype=np.uint8)
    for i in range(n):
        frames[i, 10:30, 5 + 3 * i : 25 + 3 * i] = 230
    return frames


@pytest.fixture(scope="module")
def frame_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("frames")
    for i, f in enumerate(_frames(6)):
        cv2.imwrite(str(d / f"f{i:03d}.png"), f[..., ::-1])
    return d


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (W, H))
    assert writer.isOpened()
    for f in _frames(5):
        writer.write(np.ascontiguousarray(f[..., ::-1]))
    writer.release()
    return path


def _outputs(out_dir, ext=".png"):
    return sorted(out_dir.glob(f"*{ext}"))


def test_infer_a_folder_of_frames(trained_checkpoints, frame_dir, tmp_path):
    out = tmp_path / "alpha"
    args = [
        str(frame_dir),
        "--checkpoint",
        str(trained_checkpoints["far"]),
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(infer_cli, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    files = _outputs(out)
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(6)]  # 4 + 2 (group padded, pads dropped)
    for f in files:
        a = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        assert a.dtype == np.uint16 and a.shape == (H, W)
    # The padded last group: frame 5's alpha is the model's output on [f4, f5, f5, f5].
    model, _ = load_model(trained_checkpoints["far"])
    frames = [read_image(p) for p in sorted(frame_dir.iterdir())]
    expected = predict_group(model, [frames[4], frames[5], frames[5], frames[5]], "far", torch.device("cpu"))
    got = cv2.imread(str(files[5]), cv2.IMREAD_UNCHANGED) / 65535
    assert np.abs(got - expected[1]).max() <= 1 / 65535 + 1e-6
    first = predict_group(model, frames[:4], "far", torch.device("cpu"))
    assert (
        np.abs(cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED) / 65535 - first[0]).max() <= 1 / 65535 + 1e-6
    )


def test_infer_with_amp_bf16_stays_close_to_float32(trained_checkpoints, frame_dir, tmp_path):
    """--amp bf16 (what auto picks on CUDA) runs CAP in bf16; on the same frames the alpha stays
    close to the float32 run; fp16 on a CPU is refused in one line."""
    base = [
        str(frame_dir),
        "--checkpoint",
        str(trained_checkpoints["far"]),
        "--device",
        "cpu",
        "--no-progress",
    ]
    for amp in ("off", "bf16"):
        result = CliRunner().invoke(infer_cli, [*base, "--out", str(tmp_path / amp), "--amp", amp])
        assert result.exit_code == 0, result.output
    a = np.stack([cv2.imread(str(f), cv2.IMREAD_UNCHANGED) / 65535 for f in _outputs(tmp_path / "off")])
    b = np.stack([cv2.imread(str(f), cv2.IMREAD_UNCHANGED) / 65535 for f in _outputs(tmp_path / "bf16")])
    assert 0 < np.abs(a - b).mean() < 0.01  # bf16 really ran, and changed little
    result = CliRunner().invoke(infer_cli, [*base, "--out", str(tmp_path / "x"), "--amp", "fp16"])
    assert result.exit_code != 0 and "fp16 needs a CUDA device" in result.output


def test_infer_a_video_with_exr_output_and_preview(trained_checkpoints, video, tmp_path):
    out, preview = tmp_path / "alpha", tmp_path / "preview.mp4"
    args = [str(video), "--checkpoint", str(trained_checkpoints["cap"]), "--out", str(out), "--format", "exr"]
    result = CliRunner().invoke(infer_cli, [*args, "--preview", str(preview), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "5 alpha frame(s) (cap output)" in result.output
    files = _outputs(out, ".exr")
    assert len(files) == 5
    alpha = read_alpha(files[0])
    assert alpha.dtype == np.float32 and alpha.shape == (H, W) and 0 <= alpha.min() <= alpha.max() <= 1
    cap = cv2.VideoCapture(str(preview))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (H, W, 3)
        n += 1
    assert n == 5


def test_infer_frames_streams_groups(trained_checkpoints, video, tmp_path):
    """The library call on an mp4: one 16-bit PNG per input frame at the input size."""
    model, _ = load_model(trained_checkpoints["far"])
    reader = FrameReader(video)
    assert (reader.width, reader.height, len(reader)) == (W, H, 5)
    n = infer_frames(model, reader, tmp_path / "o", progress=False)
    files = _outputs(tmp_path / "o")
    assert n == 5 and [f.name for f in files] == [f"{i:06d}.png" for i in range(5)]
    for f in files:
        a = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        assert a.dtype == np.uint16 and a.shape == (H, W)


def test_alpha_writers_round_trip(tmp_path):
    alpha = np.linspace(0, 1, 12 * 9, dtype=np.float32).reshape(12, 9)
    write_alpha(tmp_path / "a.png", alpha, "png16")
    write_alpha(tmp_path / "a.exr", alpha, "exr")
    assert np.abs(read_alpha(tmp_path / "a.png") - alpha).max() <= 0.5 / 65535 + 1e-7
    assert np.array_equal(read_alpha(tmp_path / "a.exr"), alpha)


def test_bad_inputs_give_one_line_errors(trained_checkpoints, frame_dir, tmp_path):
    ckpt = str(trained_checkpoints["far"])
    out = ["--out", str(tmp_path / "o")]
    result = CliRunner().invoke(infer_cli, [str(tmp_path / "nothing.mp4"), "--checkpoint", ckpt, *out])
    assert "no such video file or frame folder" in one_line_error(result)
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(infer_cli, [str(tmp_path / "empty"), "--checkpoint", ckpt, *out])
    assert "no image frames" in one_line_error(result)
    result = CliRunner().invoke(
        infer_cli, [str(frame_dir), "--checkpoint", ckpt, "--model", "mumatting-sapiens03b", *out]
    )
    assert "is for model 'mumatting-tiny', not 'mumatting-sapiens03b'" in one_line_error(result)
    torch.save(torch.nn.Linear(1, 1), tmp_path / "module.pt")
    result = CliRunner().invoke(
        infer_cli, [str(frame_dir), "--checkpoint", str(tmp_path / "module.pt"), *out]
    )
    assert "not a plain checkpoint" in one_line_error(result)
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x02garbage")
    result = CliRunner().invoke(
        infer_cli, [str(frame_dir), "--checkpoint", str(tmp_path / "corrupt.pt"), *out]
    )
    assert "corrupt or not a torch checkpoint" in one_line_error(result)


def test_unreadable_video_is_one_line_on_stderr(trained_checkpoints, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 500)
    r = subprocess.run(
        [sys.executable, "-m", "matting.infer", str(bad), "--checkpoint", str(trained_checkpoints["far"])]
        + ["--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"Error: {bad}: unreadable video (no frame could be decoded)"]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("overlap", [0, 1, 2, 3])
def test_overlapping_groups_give_each_frame_once_from_the_group_where_it_sits_deepest(overlap):
    """Brute force: every frame once, in order, from the group (of those run) in which it lies
    farthest from the ends (ties: the earlier); every group has 4 frames; state is bounded."""
    for count in range(1, 12):
        groups: list[list[int]] = []

        def predict(frames, groups=groups):
            assert len(frames) == 4
            groups.append([int(f) for f in frames])
            g = len(groups) - 1
            return np.array([(g, p) for p in range(4)])

        out = list(stream_groups(iter(range(count)), predict, 4, overlap))
        assert [f for f, _, _ in out] == list(range(count))
        for frame, (g, p), index in out:
            assert g == index and groups[g][p] == frame
            depth = {
                gi: min(grp.index(frame), 3 - grp.index(frame))
                for gi, grp in enumerate(groups)
                if frame in grp
            }
            best = max(depth.values())
            assert g == min(gi for gi, d in depth.items() if d == best), (count, frame, groups)
        starts = [grp[0] for grp in groups]
        assert starts == list(range(0, 4 * len(groups), 4 - overlap))[: len(groups)]
    with pytest.raises(ValueError, match="overlap must lie in"):
        list(stream_groups(iter(range(3)), predict, 4, 4))


def test_infer_with_overlap_writes_every_frame(trained_checkpoints, frame_dir, tmp_path):
    ckpt = str(trained_checkpoints["far"])
    args = [str(frame_dir), "--checkpoint", ckpt, "--no-progress", "--device", "cpu"]
    plain = CliRunner().invoke(infer_cli, [*args, "--out", str(tmp_path / "a")])
    shared = CliRunner().invoke(infer_cli, [*args, "--out", str(tmp_path / "b"), "--overlap", "2"])
    assert plain.exit_code == 0 and shared.exit_code == 0, shared.output
    a, b = sorted((tmp_path / "a").iterdir()), sorted((tmp_path / "b").iterdir())
    assert [p.name for p in a] == [p.name for p in b] and len(a) == len(list(frame_dir.iterdir()))
    # The first group's first frames come from the same forward pass either way.
    assert np.array_equal(read_alpha(a[0]), read_alpha(b[0]))
