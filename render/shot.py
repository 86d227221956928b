"""One shot from plan to dataset: render, re-encode, shard, record. A plain function, so the
orchestration layer can run it in a Ray actor, a test can run it in-process, and a benchmark
can time each stage.

Atomicity: the renderer writes into ``<out>/.work/<shot_id>/``; shards are written under
temporary names and renamed when complete; the shot record (the only thing that makes a shot
part of the dataset) is written last, atomically. A crash anywhere leaves either the whole
shot or nothing in the index; a re-run clears the leftovers.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from render import exrio
from render.backends.base import Renderer, RenderSettings
from render.manifest import ShardEntry, ShotRecord, relative_url, write_shot_record
from render.plan import ShotSpec
from render.shards import write_shards
from render.timeline import frame_metadata, frame_states

WORK_DIR = ".work"
SHARD_DIR = "shards"
FIELDS = {"rgb": "rgb.exr", "alpha": "alpha.exr", "bg": "bg.exr"}
FRACTIONAL = (0.002, 0.998)  # alpha strictly inside this range counts as fractional


@dataclass(frozen=True)
class ShotResult:
    shot_id: str
    frames: int
    render_seconds: float
    pack_seconds: float
    record: ShotRecord


def work_dir(out_root: str | Path, shot_id: str) -> Path:
    return Path(out_root) / WORK_DIR / shot_id


def shard_dir(out_root: str | Path) -> Path:
    return Path(out_root) / SHARD_DIR


def clear_leftovers(out_root: str | Path, shot_id: str) -> None:
    """Remove the work directory and any shards of an unrecorded earlier attempt."""
    shutil.rmtree(work_dir(out_root, shot_id), ignore_errors=True)
    sd = shard_dir(out_root)
    if sd.is_dir():
        for p in list(sd.glob(f"{shot_id}-*.tar")) + list(sd.glob(f".{shot_id}-*.tar.tmp-*")):
            p.unlink(missing_ok=True)


def alpha_stats(alpha: np.ndarray) -> dict[str, float]:
    """Coverage figures of one (H, W) alpha frame."""
    lo, hi = FRACTIONAL
    return {
        "fractional": float(np.mean((alpha > lo) & (alpha < hi))),
        "opaque": float(np.mean(alpha >= hi)),
        "coverage": float(alpha.mean()),
    }


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
) -> ShotResult:
    clear_leftovers(out_root, shot.shot_id)
    work = work_dir(out_root, shot.shot_id)
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
    stats: list[dict[str, float]] = []

    def samples() -> Iterator[dict]:
        for i, (path, state) in enumerate(zip(files, states, strict=True)):
            passes = renderer.read_frame(path, settings.passes)
            sample = {
                "__key__": f"{shot.shot_id}_{i:04d}",
                FIELDS["rgb"]: exrio.encode_rgb(passes.rgb),
                FIELDS["alpha"]: exrio.encode_alpha(passes.alpha),
                "json": json.dumps(frame_metadata(shot, state, render_info), sort_keys=True).encode(),
            }
            if "bg" in settings.passes and passes.bg is not None:
                sample[FIELDS["bg"]] = exrio.encode_rgb(passes.bg)
            stats.append(alpha_stats(passes.alpha))
            yield sample

    infos = write_shards(samples(), shard_dir(out_root), shot.shot_id, maxsize=shard_maxsize)
    t2 = time.perf_counter()
    entries = tuple(
        ShardEntry(relative_url(i.path, manifest_dir), i.sha256, i.bytes, i.samples) for i in infos
    )
    fields = sorted(["json", *(FIELDS[p] for p in settings.passes)])
    summary = {
        "render_seconds": round(t1 - t0, 3),
        **{f"{k}_seconds": round(v, 3) for k, v in renderer.last_timing.items()},
        "pack_seconds": round(t2 - t1, 3),
        "fractional_alpha": round(float(np.mean([s["fractional"] for s in stats])), 6),
        "coverage": round(float(np.mean([s["coverage"] for s in stats])), 6),
        "min_coverage": round(float(min(s["coverage"] for s in stats)), 6),
        "started_at": round(started_at, 3),  # wall clock, for throughput over a run
        "finished_at": round(time.time(), 3),
    }
    record = ShotRecord(
        shot.shot_id, shot.scene, shot.split, shot.frame_count, entries, tuple(fields), summary
    )
    write_shot_record(manifest_dir, record)
    shutil.rmtree(work, ignore_errors=True)
    return ShotResult(shot.shot_id, shot.frame_count, t1 - t0, t2 - t1, record)
