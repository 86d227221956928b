"""``python -m matting.evaluate``: MAD, MSE, Grad, Conn and dtSSD of muMatting on held-out shots,
or of a folder of predicted alpha frames against a folder of ground truth.

    python -m matting.evaluate --checkpoint runs/far/checkpoints/last.pt --data manifests/ --out report.json
    python -m matting.evaluate --pred out/alpha --gt gt/alpha --out report.json

Model mode reads the αMatte4K ``--split`` (default val) as non-overlapping clips of 4
consecutive frames at full resolution (or shrunk so the longer side is ``--max-side``), in the
default look (sRGB, as a video of the shot would hold them), gives the model CAP's view made
from those frames exactly as ``matting.infer`` makes it, runs the model once per clip and
scores BOTH the CAP coarse alpha and the final fused alpha. Frames left over at the end of a
shot (fewer than 4) are not scored.

Definitions (matting.metrics, RobustVideoMatting's): MAD = mean|p-g| x 1e3; MSE = mean (p-g)^2
x 1e3; Grad and Conn per-frame sums / 1e3 (so they grow with the frame area); dtSSD x 1e2 in
RVM's per-frame form: frame t scores sqrt(sum((p_t - p_{t-1}) - (g_t - g_{t-1}))^2 / N), the
first frame of a sequence scores 0, and the figure is the mean over frames. Consecutive
clips of one shot form one sequence, so clip boundaries count like any other frame pair.
All figures are averages over frames (every frame weighs the same).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import cv2
import numpy as np
import torch
from tqdm import tqdm

from matting.benchmark import PairSplit, benchmark_clips, clip_frames
from matting.data import AMatte4KSource
from matting.data.amatte4k import find_datasets
from matting.data.color import encode
from matting.framing import clip_inputs, frames_inputs
from matting.infer import overlap_option, stream_groups
from matting.metrics import METRICS, dtssd, evaluate_clip
from matting.precision import amp_option, autocast, resolve_amp
from matting.training.checkpoint import CheckpointError, load_model
from matting.training.distributed import resolve_device
from matting.video import VideoError, list_frames, read_alpha

DTSSD_VARIANT = "rvm (per-frame, first frame of each sequence counted as 0, averaged over frames)"
UNITS = {"mad": "x1e3", "mse": "x1e3", "grad": "x1e-3", "conn": "x1e-3", "dtssd": "x1e2"}
CLIP_LEN = 4


class EvalError(ValueError):
    """Unusable evaluation input; one-line message."""


class SequenceMeter:
    """Frame-weighted metric sums over sequences fed in consecutive chunks.

    ``add(pred, gt)`` takes (k, H, W) float arrays in [0, 1]; dtSSD links a chunk to the last
    frame of the previous one unless ``new_sequence()`` was called in between.
    """

    def __init__(self):
        self.sums = dict.fromkeys(METRICS, 0.0)
        self.frames = 0
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def new_sequence(self) -> None:
        self._last = None

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        k = len(pred)
        for name, value in evaluate_clip(pred, gt, ("mad", "mse", "grad", "conn")).items():
            self.sums[name] += value * k
        if self._last is None:
            self.sums["dtssd"] += dtssd(pred, gt) * k  # its first frame scores 0
        else:  # prepend the previous frame: it scores 0 here, the k new frames their real value
            p = np.concatenate([self._last[0], pred])
            g = np.concatenate([self._last[1], gt])
            self.sums["dtssd"] += dtssd(p, g) * (k + 1)
        self._last = (pred[-1:].copy(), gt[-1:].copy())  # not a view that keeps a whole group alive
        self.frames += k

    def result(self) -> dict[str, float]:
        if not self.frames:
            return {}
        return {name: self.sums[name] / self.frames for name in METRICS}


def _shrink(frames: np.ndarray, max_side: int | None) -> np.ndarray:
    """(T, H, W[, C]) -> resized (area filter) so that max(H, W) <= max_side."""
    h, w = frames.shape[1:3]
    if not max_side or max(h, w) <= max_side:
        return frames
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


@torch.inference_mode()
def evaluate_model(
    model: torch.nn.Module,
    manifest: str | os.PathLike,
    split: str = "val",
    max_side: int | None = None,
    max_clips: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    amp: str = "off",
) -> dict:
    """Scores of the coarse and the fused alpha on ``split``: {"metrics": {"coarse": {...},
    "fused": {...}}, "shots": {shot id: {"frames", "coarse", "fused"}}, "clips", "frames"}."""
    try:
        source = AMatte4KSource(manifest, split=split, clip_len=CLIP_LEN, stride=CLIP_LEN)
    except (OSError, ValueError) as exc:
        raise EvalError(str(exc)) from exc
    windows = source.windows[:max_clips] if max_clips else source.windows
    overall = {"coarse": SequenceMeter(), "fused": SequenceMeter()}
    shots: dict[str, dict[str, SequenceMeter]] = {}
    previous = None
    for i, (shot_id, start) in enumerate(tqdm(windows, desc="evaluate", unit="clip", disable=not progress)):
        view = source.load(i)
        whole = slice(None)
        rgb, alpha = view.window(whole, whole)  # (T, H, W, 3) linear, (T, H, W)
        display = encode(rgb)  # the default look: what a video of this shot would hold
        size = model.cap.cap_size  # CAP's view made from those frames exactly as matting.infer makes it
        context = clip_inputs(display, size)[1][0].permute(0, 2, 3, 1).numpy()
        rgb, gt = _shrink(display, max_side), np.clip(_shrink(alpha, max_side), 0.0, 1.0)
        clip, context, box = clip_inputs(rgb, size, device, context)
        with autocast(torch.device(device), amp):
            out = model(clip, stage="far", context=context, box=box)
        preds = {
            "coarse": out["coarse"][0, :, 0].float().clamp(0, 1).cpu().numpy(),
            "fused": out["alpha"][0, :, 0].float().clamp(0, 1).cpu().numpy(),
        }
        continues = previous == (shot_id, start - CLIP_LEN)
        per_shot = shots.setdefault(shot_id, {"coarse": SequenceMeter(), "fused": SequenceMeter()})
        for name, pred in preds.items():
            for meter in (overall[name], per_shot[name]):
                if not continues:
                    meter.new_sequence()
                meter.add(pred.astype(np.float64), gt.astype(np.float64))
        previous = (shot_id, start)
    return {
        "clips": len(windows),
        "frames": overall["fused"].frames,
        "metrics": {name: meter.result() for name, meter in overall.items()},
        "shots": {
            sid: {"frames": m["fused"].frames, "coarse": m["coarse"].result(), "fused": m["fused"].result()}
            for sid, m in shots.items()
        },
    }


def evaluate_folders(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike, progress: bool = True) -> dict:
    """Scores of a folder of predicted alpha frames against a folder of ground-truth frames,
    paired in name order and taken as one sequence: {"frames", "metrics": {"pred": {...}}}."""
    preds, gts = list_frames(pred_dir), list_frames(gt_dir)
    if len(preds) != len(gts):
        raise EvalError(
            f"{pred_dir}: {len(preds)} predicted frames but {gt_dir} has {len(gts)} ground-truth frames"
        )
    meter = SequenceMeter()
    for lo in tqdm(range(0, len(preds), CLIP_LEN), desc="evaluate", unit="clip", disable=not progress):
        p = np.stack([read_alpha(f) for f in preds[lo : lo + CLIP_LEN]]).astype(np.float64)
        g = np.stack([read_alpha(f) for f in gts[lo : lo + CLIP_LEN]]).astype(np.float64)
        if p.shape != g.shape:
            raise EvalError(
                f"{preds[lo]}: prediction frames {p.shape[1:]} differ from ground truth {g.shape[1:]}"
            )
        meter.add(p, g)
    return {"frames": meter.frames, "metrics": {"pred": meter.result()}}


@torch.inference_mode()
def evaluate_benchmark(
    model: torch.nn.Module,
    root: str | os.PathLike,
    max_side: int | None = None,
    max_clips: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    amp: str = "off",
    overlap: int = 0,
) -> dict:
    """Scores of the coarse and the fused alpha on a benchmark root in RVM's layout (see
    :mod:`matting.benchmark`), clip by clip: {"clips", "frames", "metrics", "per_clip",
    "dtssd_by_pair"}. Frames go through the model in groups of CLIP_LEN as ``matting.infer``
    runs them (``stream_groups``: ``overlap`` frames shared by consecutive groups, the last
    group padded with its last frame; with ``max_side``, CAP's view is made from the shrunk
    frames); dtSSD is split at the frames whose output came from another group than the
    previous frame's."""
    clips = benchmark_clips(root)[:max_clips] if max_clips else benchmark_clips(root)
    kinds = ("coarse", "fused")
    overall = {k: SequenceMeter() for k in kinds}
    pairs = {k: PairSplit(CLIP_LEN) for k in kinds}
    per_clip = {}
    device = torch.device(device)

    def predict(frames: list[np.ndarray]) -> np.ndarray:
        """(T, 2, h, w): coarse and fused alpha of one group."""
        x, context, box = frames_inputs(_shrink(np.stack(frames), max_side), model.cap.cap_size, device)
        with autocast(device, amp):
            out = model(x, stage="far", context=context, box=box)
        both = torch.stack([out["coarse"][0, :, 0], out["alpha"][0, :, 0]], dim=1)
        return both.float().clamp(0, 1).cpu().numpy().astype(np.float64)

    for clip in tqdm(clips, desc="benchmark", unit="clip", disable=not progress):
        pha, frame = clip_frames(clip)
        meters = {k: SequenceMeter() for k in kinds}
        for m in (*overall.values(), *pairs.values()):
            m.new_sequence()
        frames = (frame(i) for i in range(len(pha)))
        for i, (_, out, group) in enumerate(stream_groups(frames, predict, CLIP_LEN, overlap)):
            gt = np.clip(_shrink(read_alpha(pha[i])[None], max_side), 0.0, 1.0).astype(np.float64)
            for k, kind in enumerate(kinds):
                for m in (meters[kind], overall[kind]):
                    m.add(out[None, k], gt)
                pairs[kind].add(out[None, k], gt, groups=[group])
        per_clip[clip.name] = {"frames": meters["fused"].frames, **{k: meters[k].result() for k in kinds}}
    return {
        "clips": len(clips),
        "frames": overall["fused"].frames,
        "metrics": {k: overall[k].result() for k in kinds},
        "per_clip": per_clip,
        "dtssd_by_pair": {k: pairs[k].result() for k in kinds},
    }


def evaluate_benchmark_folders(
    pred_root: str | os.PathLike, gt_root: str | os.PathLike, progress: bool = True
) -> dict:
    """Predictions ``pred_root/<clip>/pha`` against ``gt_root/<clip>/pha`` (RVM's layout), each
    clip its own sequence: {"clips", "frames", "metrics": {"pred"}, "per_clip"}; the overall
    figures are frame-weighted means over the clips."""
    sums, frames, per_clip = dict.fromkeys(METRICS, 0.0), 0, {}
    for clip in tqdm(benchmark_clips(gt_root), desc="evaluate", unit="clip", disable=not progress):
        result = evaluate_folders(Path(pred_root) / clip.name / "pha", clip / "pha", progress=False)
        per_clip[clip.name] = {"frames": result["frames"], "pred": result["metrics"]["pred"]}
        for name, value in result["metrics"]["pred"].items():
            sums[name] += value * result["frames"]
        frames += result["frames"]
    overall = {name: total / frames for name, total in sums.items()} if frames else {}
    return {"clips": len(per_clip), "frames": frames, "metrics": {"pred": overall}, "per_clip": per_clip}


def format_table(metrics: dict[str, dict[str, float]]) -> str:
    """Rows per prediction kind, columns MAD MSE Grad Conn dtSSD with their units."""
    head = f"{'':8s}" + "".join(f"{f'{m} {UNITS[m]}':>16s}" for m in METRICS)
    rows = [
        f"{name:8s}" + "".join(f"{vals.get(m, float('nan')):16.4f}" for m in METRICS)
        for name, vals in metrics.items()
    ]
    return "\n".join([head, *rows])


def _one_dataset(path: str) -> str:
    """``--data``: a manifest dir, or a root holding exactly one (``manifests/`` after ``make
    demo``); a root holding several must be narrowed to one (one line naming them)."""
    try:
        found, below = find_datasets(path)
    except FileNotFoundError as exc:
        raise EvalError(str(exc)) from None
    if len(found) > 1:
        names = ", ".join(Path(p).name for p, _ in found)
        raise EvalError(f"--data {path}: holds {len(found)} datasets ({names}); pass one of them")
    if below:
        click.echo(f"data: {found[0][0]}")
    return found[0][0]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--checkpoint", type=str, default=None, help="Checkpoint written by matting.train.")
@click.option("--data", "manifest", type=str, default=None, help="αMatte4K manifest directory.")
@click.option("--split", type=click.Choice(["val", "train"]), default="val", show_default=True)
@click.option("--max-side", type=int, default=None, help="Shrink frames so the longer side is at most this.")
@click.option("--max-clips", type=int, default=None, help="Score only the first N clips.")
@click.option(
    "--benchmark",
    "bench_root",
    type=str,
    default=None,
    help="Score the checkpoint on a root in RVM's layout (<clip>/{com|fgr,bgr}, <clip>/pha) instead of --data.",
)
@click.option(
    "--pred", "pred_dir", type=str, default=None, help="Predicted alpha frames (or <clip>/pha root)."
)
@click.option(
    "--gt", "gt_dir", type=str, default=None, help="Ground-truth alpha frames (or <clip>/pha root)."
)
@click.option("--device", type=str, default="auto", show_default=True)
@amp_option
@overlap_option("--benchmark: frames shared by consecutive groups, as matting.infer --overlap.")
@click.option("--out", "out_path", type=str, default=None, help="Write the JSON report here.")
@click.option("--no-progress", is_flag=True)
def main(
    checkpoint,
    manifest,
    split,
    max_side,
    max_clips,
    bench_root,
    pred_dir,
    gt_dir,
    device,
    amp,
    overlap,
    out_path,
    no_progress,
) -> None:
    """Score a checkpoint on held-out shots (--checkpoint, --data) or on a benchmark in RVM's
    layout (--checkpoint, --benchmark), or alpha folders (--pred, --gt: two folders of frames,
    or two roots of <clip>/pha scored clip by clip)."""
    progress = not no_progress
    try:
        if overlap and not bench_root:
            raise EvalError(
                "--overlap applies to --benchmark only (model mode scores clips of 4 as they are)"
            )
        if pred_dir or gt_dir:
            if not (pred_dir and gt_dir) or checkpoint or manifest or bench_root:
                raise EvalError(
                    "folder mode takes both --pred and --gt, and no --checkpoint, --data or --benchmark"
                )
            by_clip = (
                any((p / "pha").is_dir() for p in Path(gt_dir).iterdir()) if Path(gt_dir).is_dir() else False
            )
            result = (evaluate_benchmark_folders if by_clip else evaluate_folders)(pred_dir, gt_dir, progress)
            report = {"mode": "folders", "pred": pred_dir, "gt": gt_dir, **result}
        elif bench_root:
            if not checkpoint or manifest:
                raise EvalError("--benchmark takes --checkpoint and no --data")
            dev = resolve_device(device)
            model, ckpt = load_model(checkpoint, device=dev)
            amp = resolve_amp(amp, dev)
            result = evaluate_benchmark(model, bench_root, max_side, max_clips, dev, progress, amp, overlap)
            report = {
                "mode": "benchmark",
                "checkpoint": str(checkpoint),
                "model": ckpt["model_config"]["name"],
                "stage": ckpt.get("stage"),
                "step": ckpt.get("step"),
                "benchmark": str(bench_root),
                "clip_len": CLIP_LEN,
                "overlap": overlap,
                "max_side": max_side,
                "amp": amp,
                **result,
            }
        else:
            if not (checkpoint and manifest):
                raise EvalError(
                    "pass --checkpoint with --data or --benchmark (model mode), or --pred and --gt (folder mode)"
                )
            manifest = _one_dataset(manifest)
            dev = resolve_device(device)
            model, ckpt = load_model(checkpoint, device=dev)
            amp = resolve_amp(amp, dev)
            result = evaluate_model(model, manifest, split, max_side, max_clips, dev, progress, amp)
            report = {
                "mode": "model",
                "checkpoint": str(checkpoint),
                "model": ckpt["model_config"]["name"],
                "stage": ckpt.get("stage"),
                "step": ckpt.get("step"),
                "data": str(manifest),
                "split": split,
                "clip_len": CLIP_LEN,
                "max_side": max_side,
                "amp": amp,
                **result,
            }
    except (CheckpointError, EvalError, VideoError, RuntimeError, ValueError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    report["units"] = UNITS
    report["dtssd_variant"] = DTSSD_VARIANT
    click.echo(f"{report['frames']} frame(s); dtSSD variant: {DTSSD_VARIANT}")
    click.echo(format_table(report["metrics"]))
    if "dtssd_by_pair" in report:
        split = report["dtssd_by_pair"]["fused"]
        if split["boundary"] is not None and split["within"] is not None:
            click.echo(
                f"fused dtSSD x1e2 at group boundaries {split['boundary']:.4f} ({split['pairs']['boundary']} frames), "
                f"inside groups {split['within']:.4f} ({split['pairs']['within']} frames)"
            )
    if out_path:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        Path(out_path).write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"report: {out_path}")


if __name__ == "__main__":
    main()
