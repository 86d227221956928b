"""One shot from plan to dataset: render, re-encode, shard, record. A plain function, so the
orchestration layer can run it in a Ray actor, a test can run it in-process, and a benchmark
can time each stage.

Atomicity: the renderer writes into a work directory (node-local scratch); shards are written
under temporary names and renamed when complete (into ``<out>/shards``), or, for an object-store
``out`` (``s3://…``), packed in the work directory and uploaded one by one as each is finished
(an object appears only when whole); the shot record (the only thing that makes a shot part of
the dataset) is published last, atomically. A crash anywhere leaves either the whole shot or
nothing in the index; a re-run clears the leftovers.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from render import exrio, labels
from render.backends.base import FramePasses, Renderer, RenderSettings
from render.lowres import lowres_rgb, shrink
from render.manifest import (
    FIELDS,
    SHARD_DIR,
    WORK_DIR,
    ShardEntry,
    ShotRecord,
    read_shot_record,
    relative_url,
    write_shot_record,
)
from render.plan import ShotSpec
from render.shards import ShardInfo, sha256_file, write_shards
from render.store import Location, is_url
from render.timeline import frame_metadata, frame_states

# Per-frame label figures averaged into the shot record (definitions in render/labels.py).
LABEL_FIGURES = (
    "residual_fractional",
    "residual_all",
    "direct_residual_fractional",
    "coverage_change",
    "fg_filled",
    "fg_fallback",
)


@dataclass(frozen=True)
class ShotResult:
    shot_id: str
    frames: int
    render_seconds: float
    pack_seconds: float
    record: ShotRecord
    already_recorded: bool = False  # the shot had a record before this call; nothing was done


def work_dir(out_root: str | Path, shot_id: str, work_root: str | Path | None = None) -> Path:
    """Where a shot's engine output goes while it renders: ``work_root/<shot_id>`` (node-local
    scratch), or ``<out>/.work/<shot_id>`` when no scratch root is given (a local ``out`` only)."""
    if work_root:
        return Path(work_root) / shot_id
    if is_url(out_root):
        raise ValueError(f"out {out_root}: an object store needs a local work directory (work_root)")
    return Path(out_root) / WORK_DIR / shot_id


def scratch_root(scratch: str | None, name: str) -> Path:
    """This node's scratch folder for one dataset: ``<scratch or the temp dir>/<name>``."""
    return Path(scratch or tempfile.gettempdir()) / name


def shard_dir(out_root: str | Path) -> Path:
    return Path(out_root) / SHARD_DIR


def clear_leftovers(out_root: str | Path, shot_id: str, work_root: str | Path | None = None) -> None:
    """Remove the work directory and any shards of an unrecorded earlier attempt (the caller
    checks that the shot has no record: a recorded shot's shards are never touched)."""
    shutil.rmtree(work_dir(out_root, shot_id, work_root), ignore_errors=True)
    shards = Location(out_root).child(SHARD_DIR)
    for name in shards.list(prefix=f"{shot_id}-", suffix=".tar") + shards.list(prefix=f".{shot_id}-"):
        shards.delete(name)


def _uploader(shards: Location, urls: dict[str, str]) -> Callable[[ShardInfo], None]:
    """Upload each finished shard from the work directory to ``shards`` and free its disk. A
    shard is never replaced there (a conditional PUT): this attempt cleared the shot's unrecorded
    shards first, so one that exists now was written by another attempt of the shot (a node cut
    off from the cluster), and this attempt fails rather than change a shard under a record."""

    def publish(info: ShardInfo) -> None:
        try:
            shards.upload(info.path, info.path.name, exclusive=True)
        except FileExistsError:  # this very upload, retried after a lost reply, is fine
            if sha256_file(shards.url(info.path.name)) != info.sha256:
                raise
        urls[info.path.name] = shards.url(info.path.name)
        info.path.unlink()

    return publish


def consistent_frame(passes: FramePasses) -> tuple[FramePasses, dict[str, float]]:
    """The shipped fields of one frame and its label figures.

    With fg and bg rendered, I gets the α label's coverage (control variate, see
    :func:`render.labels.coverage_corrected`) and F is defined wherever α > 0; fg is then
    premultiplied by α itself. Without them, I and α are shipped as rendered.
    """
    figures = labels.alpha_stats(passes.alpha)
    if passes.fg is None or passes.fg_alpha is None or passes.bg is None:
        return passes, figures
    f, filled = labels.fill_foreground(passes.fg, passes.fg_alpha, passes.alpha, passes.bg)
    rgb = labels.coverage_corrected(passes.rgb, passes.alpha, f, passes.fg_alpha, passes.bg)
    frac = labels.fractional(passes.alpha)
    # The direct render against the label, before the correction: how far I's own coverage was.
    direct = labels.composite_residual(passes.rgb, passes.alpha, f, passes.bg)
    figures |= {
        "direct_residual_fractional": direct["fractional"],
        # How far the direct render's coverage was from the label: its sampling noise.
        "coverage_change": (
            float(np.abs(passes.alpha - passes.fg_alpha)[frac].mean()) if frac.any() else float("nan")
        ),
        # Share of the pixels the label sees where F had to be filled from neighbours / set to B.
        "fg_filled": filled["filled"] / max(1, int((passes.alpha > 0).sum())),
        "fg_fallback": filled["fallback"] / max(1, int((passes.alpha > 0).sum())),
    }
    out = FramePasses(
        rgb=rgb, alpha=passes.alpha, fg=f * passes.alpha[..., None], fg_alpha=passes.alpha, bg=passes.bg
    )
    return out, figures


def encode_frame(passes: FramePasses, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """The EXR fields of one frame, for the passes in ``wanted`` that were rendered."""
    out = {FIELDS["rgb"]: exrio.encode_rgb(passes.rgb), FIELDS["alpha"]: exrio.encode_alpha(passes.alpha)}
    out[FIELDS["lowres"]] = exrio.encode_lowres(lowres_rgb(passes.rgb), shrink(passes.alpha))
    if "fg" in wanted and passes.fg is not None:
        out[FIELDS["fg"]] = exrio.encode_rgba(passes.fg, passes.fg_alpha)
    if "bg" in wanted and passes.bg is not None:
        out[FIELDS["bg"]] = exrio.encode_rgb(passes.bg)
    return out


def shipped_frame(passes: FramePasses, wanted: tuple[str, ...]) -> tuple[dict[str, bytes], dict[str, float]]:
    """The encoded fields of one frame and its label figures; the composite residual is measured
    on what is stored (half-float rgb, fg and bg), i.e. on what a reader decodes."""
    shipped, figures = consistent_frame(passes)
    fields = encode_frame(shipped, wanted)
    if FIELDS["fg"] in fields and FIELDS["bg"] in fields:
        f, _ = exrio.decode_fg(fields[FIELDS["fg"]])
        r = labels.composite_residual(
            exrio.decode_rgb(fields[FIELDS["rgb"]]),
            exrio.decode_alpha(fields[FIELDS["alpha"]]),
            f,
            exrio.decode_rgb(fields[FIELDS["bg"]]),
        )
        figures |= {"residual_fractional": r["fractional"], "residual_all": r["all"]}
    return fields, figures


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if np.isfinite(v)]
    return round(float(np.mean(finite)), 6) if finite else None


def produce_shot(
    shot: ShotSpec,
    scene: dict,
    clip: dict,
    settings: RenderSettings,
    renderer: Renderer,
    out_root: str | Path,
    manifest_dir: str | Path,
    shard_maxsize: int = 3 << 30,
    on_frame: Callable[[int], None] | None = None,
    work_root: str | Path | None = None,
) -> ShotResult:
    """Render, pack and record one shot; a shot that already has a record is returned as it is,
    untouched (exactly once: a retry after a worker died past its record must not delete the
    shards the record lists)."""
    done = read_shot_record(manifest_dir, shot.shot_id)
    if done is not None:
        return ShotResult(shot.shot_id, done.frames, 0.0, 0.0, done, already_recorded=True)
    clear_leftovers(out_root, shot.shot_id, work_root)
    work = work_dir(out_root, shot.shot_id, work_root)
    started_at = time.time()
    t0 = time.perf_counter()
    files = renderer.render_shot(shot, scene, clip, settings, work, on_frame=on_frame)
    t1 = time.perf_counter()
    if len(files) != shot.frame_count:
        raise RuntimeError(
            f"{shot.shot_id}: renderer returned {len(files)} frames, planned {shot.frame_count}"
        )
    states = frame_states(shot, clip)[1:-1]  # drop the motion-blur guard frames
    render_info = renderer.describe(settings)
    lens = list(renderer.last_frame_info) or [{}] * len(files)
    stats: list[dict[str, float]] = []
    written: set[str] = set()

    def samples() -> Iterator[dict]:
        for i, (path, state) in enumerate(zip(files, states, strict=True)):
            fields, figures = shipped_frame(renderer.read_frame(path, settings.passes), settings.passes)
            info = {**render_info, "rgb_coverage": "alpha" if "coverage_change" in figures else "own"}
            meta = frame_metadata(shot, state, info, seed=settings.render_seed(shot), lens=lens[i])
            sample = {
                "__key__": f"{shot.shot_id}_{i:04d}",
                **fields,
                "json": json.dumps(meta, sort_keys=True).encode(),
            }
            written.update(k for k in sample if k != "__key__")
            stats.append(figures)
            yield sample

    if is_url(out_root):  # packed here, then uploaded shard by shard
        urls: dict[str, str] = {}
        infos = write_shards(
            samples(),
            work / SHARD_DIR,
            shot.shot_id,
            maxsize=shard_maxsize,
            on_close=_uploader(Location(out_root).child(SHARD_DIR), urls),
        )
        locations = [relative_url(urls[i.path.name], manifest_dir) for i in infos]
    else:
        infos = write_shards(samples(), shard_dir(out_root), shot.shot_id, maxsize=shard_maxsize)
        locations = [relative_url(i.path, manifest_dir) for i in infos]
    t2 = time.perf_counter()
    entries = tuple(
        ShardEntry(url, i.sha256, i.bytes, i.samples) for url, i in zip(locations, infos, strict=True)
    )
    fields = sorted(written)
    timing = renderer.last_timing
    summary = {
        "render_seconds": round(t1 - t0, 3),
        **{f"{k}_seconds": round(v, 3) for k, v in timing.items()},
        "pack_seconds": round(t2 - t1, 3),
        "fractional_alpha": round(float(np.mean([s["fractional"] for s in stats])), 6),
        "coverage": round(float(np.mean([s["coverage"] for s in stats])), 6),
        "min_coverage": round(float(min(s["coverage"] for s in stats)), 6),
        **{k: _mean([s[k] for s in stats]) for k in LABEL_FIGURES if k in stats[0]},
        "device": renderer.last_device or "unknown",
        # Strands rendered per kind of hair and the level of detail (backends that grow hair).
        "hair": getattr(renderer, "last_hair", None),
        "alpha_cost_ratio": (
            round(timing["alpha_pass"] / timing["rgb_pass"], 4)
            if timing.get("rgb_pass") and "alpha_pass" in timing
            else None
        ),
        "started_at": round(started_at, 3),  # wall clock, for throughput over a run
        "finished_at": round(time.time(), 3),
    }
    record = ShotRecord(
        shot.shot_id, shot.scene, shot.split, shot.frame_count, entries, tuple(fields), summary
    )
    if not write_shot_record(manifest_dir, record):  # another attempt recorded the shot first
        record = read_shot_record(manifest_dir, shot.shot_id) or record
    shutil.rmtree(work, ignore_errors=True)
    return ShotResult(shot.shot_id, shot.frame_count, t1 - t0, t2 - t1, record)
