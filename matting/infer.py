"""``python -m matting.infer VIDEO_OR_FRAMES --checkpoint C --out DIR``: full-resolution alpha.

CAP sees each whole frame letterboxed on its canvas, as in training (``matting.framing``).
Frames are processed in groups of T = 4 (the clip length the model trains on), consecutive by
default or sharing ``--overlap`` frames (``stream_groups``); the last group is padded by
repeating its last frame and the padded outputs are dropped.
Only one group is held in memory at a time, so memory stays bounded at 4K whatever the length.
Writes DIR/000000.png, ... (16-bit grey) or .exr (float32, channel A), and optionally a
preview mp4 of the frames composited over a checkerboard.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import click
import numpy as np
import torch
from tqdm import tqdm

from matting.framing import frames_inputs
from matting.precision import amp_option, autocast, resolve_amp
from matting.training.checkpoint import CheckpointError, load_model
from matting.training.distributed import resolve_device
from matting.video import ALPHA_FORMATS, FrameReader, PreviewWriter, VideoError, write_alpha

GROUP = 4


@torch.inference_mode()
def predict_group(
    model: torch.nn.Module, frames: list[np.ndarray], stage: str, device: torch.device, amp: str = "off"
) -> np.ndarray:
    """frames: list of (H, W, 3) float32 in [0, 1] -> alpha (T, H, W) float32. ``amp``: resolved
    (see :mod:`matting.precision`)."""
    clip, context, box = frames_inputs(np.stack(frames), model.cap.cap_size, device)  # (1, T, 3, H, W), ...
    with autocast(device, amp):
        out = model(clip, stage=stage, context=context, box=box)
    return out["alpha"][0, :, 0].float().clamp(0, 1).cpu().numpy()


def stream_groups(
    frames: Iterable[np.ndarray],
    predict: Callable[[list[np.ndarray]], np.ndarray],
    group: int = GROUP,
    overlap: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Run ``predict`` (a list of ``group`` frames -> outputs indexed by frame along axis 0) over
    a stream of frames in groups; yield (frame, its output, index of the group it came from) in
    frame order, holding one group in memory.

    ``overlap`` = k (0 <= k < group): each group starts ``group - k`` frames after the previous
    one, so the k frames at a boundary are seen by both; each frame's output is taken from the
    group where it sits farther from the ends (ties: the earlier group), so consecutive groups
    meet in the middle of their overlap. The last group is padded by repeating its last frame.
    """
    if not 0 <= overlap < group:  # checked here, not at the first frame: this is not a generator
        raise ValueError(f"overlap must lie in [0, {group - 1}] for groups of {group}, got {overlap}")
    return _stream(iter(frames), predict, group, overlap)


def _stream(frames, predict, group: int, overlap: int):
    stride = group - overlap
    split = (overlap + 1) // 2  # of the next group's overlapping frames, the earlier group gives these
    buffer: list[np.ndarray] = []  # the current group's frames; the first `done` are already out
    done, index, last = 0, 0, None
    for frame in frames:
        buffer.append(frame)
        if len(buffer) < group:
            continue
        last = None  # one group's outputs alive at a time
        last = predict(buffer)
        for i in range(done, stride + split):
            yield buffer[i], last[i], index
        buffer, done, index = buffer[stride:], split, index + 1
    if len(buffer) > done:
        if last is None or len(buffer) > overlap:  # frames no group has seen
            out = predict(buffer + [buffer[-1]] * (group - len(buffer)))
            for i in range(done, len(buffer)):
                yield buffer[i], out[i], index
        else:  # only frames the last group saw: its outputs
            for i in range(done, len(buffer)):
                yield buffer[i], last[stride + i], index - 1


def infer_frames(
    model: torch.nn.Module,
    reader: FrameReader,
    out_dir: str | os.PathLike,
    fmt: str = "png16",
    stage: str = "far",
    device: str | torch.device = "cpu",
    preview: str | os.PathLike | None = None,
    group: int = GROUP,
    progress: bool = True,
    amp: str = "off",
    overlap: int = 0,
) -> int:
    """Write one alpha frame per input frame into ``out_dir``; returns the number written.
    ``overlap``: frames shared by consecutive groups (see :func:`stream_groups`)."""

    def predict(frames: list[np.ndarray]) -> np.ndarray:
        return predict_group(model, frames, stage, device, amp)

    device = torch.device(device)
    groups = stream_groups(reader, predict, group, overlap)  # a bad overlap fails before any output
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ext = ALPHA_FORMATS[fmt]
    writer = PreviewWriter(preview, reader.fps, reader.width, reader.height) if preview else None
    written = 0
    bar = tqdm(total=len(reader) or None, disable=not progress, desc="infer", unit="frame")

    try:
        for frame, alpha, _ in groups:
            write_alpha(out_dir / f"{written:06d}{ext}", alpha, fmt)
            if writer is not None:
                writer.write(frame, alpha)
            written += 1
            bar.update(1)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return written


def overlap_option(help: str):
    """``--overlap k`` (0 .. GROUP - 1): the frames consecutive groups share (:func:`stream_groups`)."""
    return click.option(
        "--overlap", type=click.IntRange(0, GROUP - 1), default=0, show_default=True, help=help
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", type=str)
@click.option("--checkpoint", type=str, required=True, help="Checkpoint written by matting.train.")
@click.option("--out", "out_dir", type=str, required=True, help="Folder for the alpha frames.")
@click.option("--format", "fmt", type=click.Choice(sorted(ALPHA_FORMATS)), default="png16", show_default=True)
@click.option("--preview", type=str, default=None, help="Also write a composited preview mp4 here.")
@click.option("--device", type=str, default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("--model", "model_name", type=str, default=None, help="Expected model name (checked).")
@click.option("--stage", type=click.Choice(["cap", "far"]), default=None, help="Default: the checkpoint's.")
@amp_option
@overlap_option("Frames shared by consecutive groups of 4 (temporal context across group boundaries).")
@click.option("--no-progress", is_flag=True)
def main(
    source, checkpoint, out_dir, fmt, preview, device, model_name, stage, amp, overlap, no_progress
) -> None:
    """Alpha mattes of SOURCE (a video file or a folder of frames) at full resolution."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # our one-line error, not FFmpeg's chatter
    try:
        reader = FrameReader(source)
        dev = resolve_device(device)
        model, ckpt = load_model(checkpoint, model_name, dev)
        stage = stage or ckpt.get("stage", "far")
        amp = resolve_amp(amp, dev)
        n = infer_frames(
            model,
            reader,
            out_dir,
            fmt,
            stage,
            dev,
            preview,
            progress=not no_progress,
            amp=amp,
            overlap=overlap,
        )
    except (CheckpointError, VideoError, RuntimeError, ValueError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    click.echo(
        f"{n} alpha frame(s) ({stage} output) -> {out_dir}" + (f"; preview {preview}" if preview else "")
    )


if __name__ == "__main__":
    main()
