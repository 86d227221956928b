"""Ray scheduling of shots: the only module that imports Ray.

Each render worker is a Ray actor holding one renderer (one Blender per process); it runs
:func:`render.shot.produce_shot`, which writes shards and the shot record itself, so a result
is durable the moment the actor returns and nothing is lost if the driver dies. The driver
retries failures a bounded number of times, replaces crashed actors, recycles actors every
``recycle_after`` shots (Blender's memory grows across scenes), rebuilds the index after each
shot and shows progress bars for shots and frames.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from render.backends.base import RenderSettings
from render.config import DatasetConfig
from render.manifest import build_index, write_failure
from render.plan import ShotSpec
from render.shot import work_dir


@dataclass
class RunReport:
    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    render_seconds: float = 0.0
    pack_seconds: float = 0.0
    wall_seconds: float = 0.0
    frames: int = 0


class ShotWorker:
    """Plain class wrapped by ``ray.remote`` in :func:`run`; also usable in-process."""

    def __init__(
        self,
        backend: str,
        settings: RenderSettings,
        out_root: str,
        manifest_dir: str,
        maxsize: int,
        identity: dict | None = None,
    ):
        from render.backends import create_renderer
        from render.identity import check_runtime

        if identity:
            check_runtime(identity, backend)
        self.renderer = create_renderer(backend)
        self.settings = settings
        self.out_root = out_root
        self.manifest_dir = manifest_dir
        self.maxsize = maxsize

    def ready(self) -> int:
        return os.getpid()

    def produce(self, shot: ShotSpec, scene: dict, clip: dict) -> dict:
        from render.shot import produce_shot

        r = produce_shot(
            shot, scene, clip, self.settings, self.renderer, self.out_root, self.manifest_dir, self.maxsize
        )
        return {
            "shot_id": r.shot_id,
            "frames": r.frames,
            "render_seconds": r.render_seconds,
            "pack_seconds": r.pack_seconds,
        }


def _short_error(exc: BaseException) -> str:
    """The innermost error line of a (possibly Ray-wrapped) exception."""
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    lines = [ln for ln in traceback.format_exception_only(type(cause), cause) if ln.strip()]
    return lines[-1].strip() if lines else repr(exc)


def resources(address: str | None, workers: int, threads: int) -> tuple[int, int]:
    """(workers, threads per worker) for the cluster Ray is connected to."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    if workers <= 0:
        workers = max(1, cpus // threads) if threads > 0 else max(1, cpus // 4)
    if threads <= 0:
        threads = max(1, cpus // workers)
    return workers, threads


def start_ray(address: str | None) -> None:
    import ray

    if address is None:
        # A private local cluster for this run; token auth guards shared clusters, not this one.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)


def run(
    cfg: DatasetConfig,
    shots: list[ShotSpec],
    scenes: dict[str, dict],
    clips: dict[str, dict],
    out_root: Path,
    manifest_dir: Path,
    planned: int,
    identity: dict | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> RunReport:
    import ray
    from tqdm import tqdm

    report = RunReport()
    t_start = time.perf_counter()
    start_ray(cfg.address)
    try:
        workers, threads = resources(cfg.address, cfg.workers, cfg.threads)
        workers = min(workers, max(1, len(shots)))
        settings = RenderSettings.from_config(cfg, threads=threads)
        remote_worker = ray.remote(num_cpus=threads, max_restarts=0)(ShotWorker)
        log(f"rendering {len(shots)} shot(s) on {workers} worker(s) x {threads} thread(s)")

        def new_actor():
            return remote_worker.remote(
                cfg.backend, settings, str(out_root), str(manifest_dir), cfg.shard_maxsize, identity
            )

        queue = list(shots)
        attempts: dict[str, int] = {}
        idle = [[new_actor(), 0] for _ in range(workers)]  # [actor, shots done]
        running: dict = {}  # future -> (shot, slot)
        total_frames = sum(s.frame_count for s in shots)
        bar_shots = tqdm(total=len(shots), desc="shots ", unit="shot", disable=not progress, position=0)
        bar_frames = tqdm(total=total_frames, desc="frames", unit="frame", disable=not progress, position=1)
        done_frames = 0
        while queue or running:
            while queue and idle:
                shot = queue.pop(0)
                slot = idle.pop(0)
                attempts[shot.shot_id] = attempts.get(shot.shot_id, 0) + 1
                fut = slot[0].produce.remote(shot, scenes[shot.scene], clips[shot.animation.clip])
                running[fut] = (shot, slot)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            for fut in ready:
                shot, slot = running.pop(fut)
                try:
                    res = ray.get(fut)
                # Any error of one shot, Ray-wrapped or not, is retried and then recorded.
                except Exception as exc:
                    err = _short_error(exc)
                    ray.kill(slot[0])  # a failed Blender may be in a bad state: start afresh
                    slot[:] = [new_actor(), 0]
                    if attempts[shot.shot_id] <= cfg.retries:
                        log(f"{shot.shot_id}: attempt {attempts[shot.shot_id]} failed ({err}); retrying")
                        queue.append(shot)
                    else:
                        write_failure(manifest_dir, shot.shot_id, err, attempts[shot.shot_id])
                        report.failed[shot.shot_id] = err
                        log(f"{shot.shot_id}: failed after {attempts[shot.shot_id]} attempt(s): {err}")
                        bar_shots.update(1)
                    idle.append(slot)
                    continue
                report.completed.append(shot.shot_id)
                report.render_seconds += res["render_seconds"]
                report.pack_seconds += res["pack_seconds"]
                report.frames += res["frames"]
                slot[1] += 1
                if slot[1] >= cfg.recycle_after:
                    ray.kill(slot[0])
                    slot[:] = [new_actor(), 0]
                idle.append(slot)
                build_index(manifest_dir, planned, cfg.seed)
                bar_shots.update(1)
            # Frames: finished shots count fully, running ones by the files in their work dirs.
            finished = sum(s.frame_count for s in shots if s.shot_id in report.completed)
            in_flight = sum(
                min(shot.frame_count, _count_files(work_dir(out_root, shot.shot_id)))
                for shot, _ in running.values()
            )
            now = finished + in_flight
            if now > done_frames:
                bar_frames.update(now - done_frames)
                done_frames = now
        bar_shots.close()
        bar_frames.close()
        build_index(manifest_dir, planned, cfg.seed)
    finally:
        ray.shutdown()
    report.wall_seconds = time.perf_counter() - t_start
    return report


def _count_files(path: Path) -> int:
    """Finished frames in a work directory: entries named ``frame_*`` (a backend makes a frame's
    file or directory appear only once it is complete)."""
    try:
        return sum(1 for p in path.iterdir() if p.name.startswith("frame_"))
    except OSError:
        return 0
