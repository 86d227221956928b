"""Ray scheduling of shots: the only module that imports Ray.

Each render worker is a Ray actor holding one renderer (one Blender per process); it runs
:func:`render.shot.produce_shot`, which writes shards and the shot record itself, so a result
is durable the moment the actor returns and nothing is lost if the driver dies. The driver
retries failures a bounded number of times, replaces crashed actors, recycles actors every
``recycle_after`` shots (Blender's memory grows across scenes), rebuilds the index after each
shot and shows progress bars for shots and frames.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from render import procdirs
from render.backends.base import RenderSettings
from render.config import DatasetConfig
from render.manifest import build_index, load_shot_records, read_shot_record, write_failure
from render.plan import ShotSpec
from render.shot import scratch_root
from render.store import Location


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
        scratch: str | None = None,
        scratch_name: str = "amatte4k-work",
        backend_options: dict | None = None,
    ):
        from render.backends import create_renderer
        from render.identity import check_runtime

        if identity:
            check_runtime(identity, backend)
        if backend_options is not None:  # the GPU Ray gave this actor, as an index (not a UUID)
            backend_options = {**backend_options, "gpu": _ray_gpu()}
        self.renderer = create_renderer(backend, backend_options)
        self.settings = settings
        self.out_root = out_root
        self.manifest_dir = manifest_dir
        self.maxsize = maxsize
        # Engine output of the shot in progress: on this node's disk, not the shared storage, in
        # a folder of this process; folders of dead processes of this host are removed.
        root = scratch_root(scratch, scratch_name)
        self.work_root = root / procdirs.own_name()
        procdirs.remove_dead(root)

    def ready(self) -> int:
        return os.getpid()

    def produce(self, shot: ShotSpec, scene: dict, clip: dict) -> dict:
        from render.shot import produce_shot

        r = produce_shot(
            shot,
            scene,
            clip,
            self.settings,
            self.renderer,
            self.out_root,
            self.manifest_dir,
            self.maxsize,
            work_root=self.work_root,
        )
        return {
            "shot_id": r.shot_id,
            "frames": r.frames,
            "render_seconds": r.render_seconds,
            "pack_seconds": r.pack_seconds,
            "already_recorded": r.already_recorded,
        }


def _ray_gpu() -> int | None:
    """The index of the first GPU Ray assigned to this actor; None outside Ray or without one."""
    import ray

    if not ray.is_initialized():
        return None
    ids = [str(i) for i in ray.get_gpu_ids()]
    return int(ids[0]) if ids and ids[0].isdigit() else None


def _short_error(exc: BaseException) -> str:
    """The innermost error line of a (possibly Ray-wrapped) exception."""
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    text = "".join(traceback.format_exception_only(type(cause), cause))
    # Ray puts the remote traceback inside the message: its last line is the innermost error.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else repr(exc)


RESIZE_EVERY = 30.0  # seconds between counts of the cluster's nodes, for actors on new nodes


class ClusterError(ValueError):
    """The Ray cluster cannot run this job as configured (one line, for the user)."""


@dataclass(frozen=True)
class Node:
    cpus: int
    gpus: int = 0
    memory: float = 0.0  # bytes Ray may hand out (0: unknown, not a limit)


def actor_slots(nodes: list[Node], threads: int, gpus: int = 0, memory: float = 0.0) -> int:
    """How many actors of ``threads`` CPUs, ``gpus`` GPUs and ``memory`` bytes fit on ``nodes``."""
    total = 0
    for n in nodes:
        fit = n.cpus // threads
        if gpus:
            fit = min(fit, n.gpus // gpus)
        if memory and n.memory:
            fit = min(fit, int(n.memory // memory))
        total += max(0, fit)
    return total


def size_actors(
    nodes: list[Node], workers: int, threads: int, gpus: int = 0, memory: float = 0.0
) -> tuple[int, int]:
    """(render actors, threads per actor) that fit on ``nodes`` (pure).

    No actor asks for more CPUs than a node has, and never more actors than fit (by CPUs, GPUs
    and memory; an actor that cannot be placed would hold its shot forever). With ``threads``
    unset it is the largest count at which ``workers`` actors fit (4 when ``workers`` is unset
    too, one GPU node's CPUs when each actor takes a GPU); with ``workers`` unset, as many
    actors as fit. Raises :class:`ClusterError` when not even one fits.
    """
    biggest = max((n.cpus for n in nodes), default=0)
    if biggest < 1:
        raise ClusterError("no node of the Ray cluster has a CPU for a render actor")
    if threads > 0:
        threads = min(threads, biggest)
    elif workers > 0:
        threads = max(
            [t for t in range(1, biggest + 1) if actor_slots(nodes, t, gpus, memory) >= workers] or [1]
        )
    elif gpus and any(n.gpus >= gpus for n in nodes):  # one actor per GPU, with its share of CPUs
        threads = max(1, min(n.cpus // (n.gpus // gpus) for n in nodes if n.gpus >= gpus))
    else:
        threads = min(4, biggest)
    slots = actor_slots(nodes, threads, gpus, memory)
    if slots < 1:
        need = (
            f"{threads} CPU(s)"
            + (f", {gpus} GPU" if gpus else "")
            + (f", {memory / 2**30:.1f} GiB" if memory else "")
        )
        raise ClusterError(f"no node of the Ray cluster can host a render actor ({need})")
    return (min(workers, slots) if workers > 0 else slots), threads


def actor_memory(cfg: DatasetConfig) -> int:
    """Bytes of memory a render actor asks Ray for: ``worker_memory_gb``, or 1.5 GiB (engine,
    scene, body model) plus 128 bytes per pixel (four float32 RGBA layers and their copies)."""
    if cfg.worker_memory_gb > 0:
        return int(cfg.worker_memory_gb * (1 << 30))
    return int(1.5 * (1 << 30) + 128 * cfg.width * cfg.height)


def shot_deadline(cfg: DatasetConfig, shot: ShotSpec) -> float | None:
    """Seconds a shot may take before its actor is killed and the shot retried (None: no limit)."""
    if cfg.deadline_base <= 0 and cfg.deadline_per_frame_mpix <= 0:
        return None
    mpix = shot.resolution[0] * shot.resolution[1] / 1e6
    return cfg.deadline_base + cfg.deadline_per_frame_mpix * shot.frame_count * mpix


def backend_options(cfg: DatasetConfig) -> dict | None:
    """What a render worker's backend needs from the config beyond its RenderSettings."""
    if cfg.backend != "unreal":
        return None
    u = dataclasses.asdict(cfg.unreal)
    u["extra_args"] = list(cfg.unreal.extra_args)
    return {"unreal": u, "deadline": [cfg.deadline_base, cfg.deadline_per_frame_mpix]}


def _engine_shape(cfg: DatasetConfig, gpus: int, has_gpu: bool) -> tuple[DatasetConfig, int]:
    """The Unreal backend: attached to one engine (``unreal.endpoint``), one worker and no GPU
    of its own; launching engines, one per GPU (a worker holds a GPU; none: an error)."""
    if cfg.backend != "unreal":
        return cfg, gpus
    if cfg.unreal.endpoint:
        return dataclasses.replace(cfg, workers=1), 0
    if not has_gpu:
        raise ClusterError(
            "backend unreal launches one engine per GPU and no node of the Ray cluster has one "
            "(attach to a running engine with --unreal-endpoint HOST:PORT)"
        )
    return cfg, 1


def cluster_shape() -> list[Node]:
    """The alive nodes as Ray sees them."""
    import ray

    return [
        Node(
            int(n["Resources"].get("CPU", 0)),
            int(n["Resources"].get("GPU", 0)),
            float(n["Resources"].get("memory", 0)),
        )
        for n in ray.nodes()
        if n.get("Alive")
    ]


def _ask_autoscaler(actors: int, threads: int, gpus: int, memory: float) -> None:
    """Ask Ray's autoscaler for room for ``actors`` render actors (0: withdraw the request); a
    no-op on a cluster without an autoscaler."""
    from ray.autoscaler.sdk import request_resources

    bundle = {"CPU": threads, **({"GPU": gpus} if gpus else {}), **({"memory": memory} if memory else {})}
    request_resources(bundles=[bundle] * actors)


def start_ray(address: str | None) -> None:
    import ray

    if address is None:
        # A private local cluster for this run; token auth guards shared clusters, not this one.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        # address="local": a new instance even when a cluster started with `ray start` (or a
        # test's Cluster) runs on this machine; ray.init() with no address would join it.
        ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)


def run(
    cfg: DatasetConfig,
    shots: list[ShotSpec],
    scenes: dict[str, dict],
    clips: dict[str, dict],
    out_root: str | Path,
    manifest_dir: str | Path,
    planned: int,
    identity: dict | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    heartbeat: Callable[[], None] | None = None,
) -> RunReport:
    """Render ``shots`` on Ray. ``heartbeat`` is called every few seconds (the launcher renews
    its lease with it, and it raises to stop the run when the lease is lost)."""
    import ray
    from tqdm import tqdm

    report = RunReport()
    t_start = time.perf_counter()
    # One scratch folder per shard root: two datasets rendering on one node never share one.
    out_root, manifest_dir = Location(out_root).root, Location(manifest_dir).root  # paths or URLs
    scratch_name = "amatte4k-" + hashlib.sha256(out_root.encode()).hexdigest()[:16]
    start_ray(cfg.address)
    asked = False
    try:
        nodes = cluster_shape()
        has_gpu = any(n.gpus >= 1 for n in nodes)
        if cfg.device == "gpu" and not has_gpu:
            raise ClusterError("device gpu: no node of the Ray cluster has a GPU")
        gpus = 1 if cfg.device == "gpu" or (cfg.device == "auto" and has_gpu) else 0
        cfg, gpus = _engine_shape(cfg, gpus, has_gpu)
        memory = actor_memory(cfg)
        biggest = max((n.memory for n in nodes), default=0.0)
        if biggest and memory > biggest:
            log(
                f"render actors would ask for {memory / 2**30:.1f} GiB; the largest node has {biggest / 2**30:.1f}"
            )
            memory = int(biggest)
        workers, threads = size_actors(nodes, cfg.workers, cfg.threads, gpus, memory)
        workers = min(workers, max(1, len(shots)))
        wanted = min(cfg.workers, len(shots))
        if wanted > workers:  # more asked for than fit now: an autoscaler may add nodes for them
            _ask_autoscaler(wanted, threads, gpus, memory)
            asked = True
            log(f"asked the Ray autoscaler for room for {wanted} render workers; {workers} fit now")
        # auto without a GPU for the actor: CPU, even where the node has GPUs Ray did not give it.
        device = cfg.device if gpus else "cpu"
        settings = dataclasses.replace(RenderSettings.from_config(cfg, threads=threads), device=device)
        remote_worker = ray.remote(num_cpus=threads, num_gpus=gpus, memory=memory, max_restarts=0)(ShotWorker)
        log(
            f"rendering {len(shots)} shot(s) on {workers} worker(s) x {threads} thread(s)"
            f"{' + 1 GPU' if gpus else ''}, {memory / 2**30:.1f} GiB each, on {len(nodes)} node(s)"
        )

        pool: list[list] = []  # every slot ([actor, shots done]); a replaced actor keeps its slot
        starting: dict = {}  # ready() future -> slot: actors not yet placed and started
        dying: dict = {}  # probe future of a killed actor -> (shot, reason): retried once it is dead

        def new_slot(slot: list | None = None) -> list:
            actor = remote_worker.remote(
                cfg.backend,
                settings,
                out_root,
                manifest_dir,
                cfg.shard_maxsize,
                identity,
                cfg.scratch,
                scratch_name,
                backend_options(cfg),
            )
            if slot is None:
                slot = [None, 0]
                pool.append(slot)
            slot[:] = [actor, 0]
            starting[actor.ready.remote()] = slot
            return slot

        queue = list(shots)
        attempts: dict[str, int] = {}
        idle: list[list] = []
        for _ in range(workers):
            new_slot()
        running: dict = {}  # future -> (shot, slot, deadline as time.monotonic())
        total_frames = sum(s.frame_count for s in shots)
        bar_shots = tqdm(total=len(shots), desc="shots ", unit="shot", disable=not progress, position=0)
        bar_frames = tqdm(total=total_frames, desc="frames", unit="frame", disable=not progress, position=1)
        done_frames = 0
        beat = 0.0
        looked = time.monotonic()  # when the cluster's nodes were last counted
        waiting_since = time.monotonic()
        start_failures = 0  # consecutive actors that failed to start
        # Frames in flight are counted in the work directories where this machine can see them
        # (a local run); on a cluster the frame bar moves as shots finish.
        local_scratch = scratch_root(cfg.scratch, scratch_name)

        # Every record, read once here and then one per finished shot (the lease keeps other
        # launchers from adding any meanwhile).
        known = load_shot_records(manifest_dir)

        def recorded(shot: ShotSpec, frames: int, seconds: tuple[float, float] = (0.0, 0.0)) -> None:
            report.completed.append(shot.shot_id)
            report.render_seconds += seconds[0]
            report.pack_seconds += seconds[1]
            report.frames += frames
            rec = read_shot_record(manifest_dir, shot.shot_id)
            if rec is not None:
                known[shot.shot_id] = rec
            build_index(manifest_dir, planned, cfg.seed, known)
            bar_shots.update(1)

        def kill(shot: ShotSpec, slot: list, err: str) -> None:
            """Kill the actor of a failed or overdue attempt and replace it. The shot is decided
            only once the old actor is known to be gone (its probe fails) or finished (its probe
            returns), so two attempts of one shot never run at once."""
            old = slot[0]
            ray.kill(old, no_restart=True)
            dying[old.ready.remote()] = (shot, err)
            new_slot(slot)

        def decide(shot: ShotSpec, err: str) -> None:
            rec = read_shot_record(manifest_dir, shot.shot_id)
            if rec is not None:  # the worker died after recording the shot: it is done
                log(f"{shot.shot_id}: recorded before its worker failed ({err}); not rendered again")
                recorded(shot, rec.frames)
            elif attempts[shot.shot_id] <= cfg.retries:
                log(f"{shot.shot_id}: attempt {attempts[shot.shot_id]} failed ({err}); retrying")
                queue.append(shot)
            else:
                write_failure(manifest_dir, shot.shot_id, err, attempts[shot.shot_id])
                report.failed[shot.shot_id] = err
                log(f"{shot.shot_id}: failed after {attempts[shot.shot_id]} attempt(s): {err}")
                bar_shots.update(1)

        while queue or running or dying:
            while queue and idle:
                shot = queue.pop(0)
                slot = idle.pop(0)
                attempts[shot.shot_id] = attempts.get(shot.shot_id, 0) + 1
                fut = slot[0].produce.remote(shot, scenes[shot.scene], clips[shot.animation.clip])
                limit = shot_deadline(cfg, shot)
                running[fut] = (shot, slot, None if limit is None else time.monotonic() + limit)
            pending = list(running) + list(starting) + list(dying)
            ready, _ = ray.wait(pending, num_returns=1, timeout=0.5)
            for fut in ready:
                if fut in starting:
                    slot = starting.pop(fut)
                    try:
                        ray.get(fut)
                        idle.append(slot)
                        start_failures = 0
                    except Exception as exc:  # could not start (engine check, import): a new one
                        err = _short_error(exc)
                        start_failures += 1
                        if start_failures > 3 * len(pool):  # none starts: the same cause every time
                            raise ClusterError(f"render workers do not start: {err}") from exc
                        log(f"a render worker did not start ({err}); starting another")
                        new_slot(slot)
                    continue
                if fut in dying:
                    shot, err = dying.pop(fut)
                    decide(shot, err)
                    continue
                shot, slot, _ = running.pop(fut)
                try:
                    res = ray.get(fut)
                # Any error of one shot, Ray-wrapped or not, is retried and then recorded.
                except Exception as exc:
                    kill(shot, slot, _short_error(exc))
                    continue
                if res.get("already_recorded"):
                    log(f"{shot.shot_id}: already recorded; left as it is")
                slot[1] += 1
                if slot[1] >= cfg.recycle_after:
                    ray.kill(slot[0])
                    new_slot(slot)
                else:
                    idle.append(slot)
                recorded(shot, res["frames"], (res["render_seconds"], res["pack_seconds"]))
            now_t = time.monotonic()
            for fut, (shot, slot, deadline) in list(running.items()):
                if deadline is not None and now_t > deadline:
                    running.pop(fut)
                    limit = shot_deadline(cfg, shot)
                    kill(shot, slot, f"no result within its deadline of {limit:.0f} s; the render was killed")
            if running or idle:
                waiting_since = now_t
            elif now_t - waiting_since > 120:
                log(f"waiting for the Ray cluster to place {len(starting)} render worker(s) (resources?)")
                waiting_since = now_t
            if now_t - looked > RESIZE_EVERY and queue:
                looked = now_t
                # Nodes that joined since the start (an autoscaler, a node back up): as many more
                # actors as now fit, up to --workers (when given) and the shots still waiting.
                fit = actor_slots(cluster_shape(), threads, gpus, memory)
                more = min(fit if cfg.workers <= 0 else min(fit, cfg.workers), len(queue) + len(pool))
                more -= len(pool)
                if more > 0:
                    log(f"the cluster grew: starting {more} more render worker(s)")
                    for _ in range(more):
                        new_slot()
            if heartbeat is not None and now_t - beat > 5.0:
                heartbeat()
                beat = now_t
            # Frames: finished shots count fully, running ones by the files in their work dirs.
            finished = sum(s.frame_count for s in shots if s.shot_id in report.completed)
            in_flight = sum(
                min(shot.frame_count, _count_frames(local_scratch, shot.shot_id))
                for shot, _, _ in running.values()
            )
            now = finished + in_flight
            if now > done_frames:
                bar_frames.update(now - done_frames)
                done_frames = now
        bar_shots.close()
        bar_frames.close()
        build_index(manifest_dir, planned, cfg.seed)
    finally:
        if asked:  # withdraw the request: the autoscaler may scale down
            with contextlib.suppress(Exception):
                _ask_autoscaler(0, 0, 0, 0)
        ray.shutdown()
    report.wall_seconds = time.perf_counter() - t_start
    return report


def _count_frames(scratch: Path, shot_id: str) -> int:
    """Finished frames of a shot in this machine's scratch folder (any worker's)."""
    return max((_count_files(p) for p in scratch.glob(f"*/{shot_id}")), default=0)


def _count_files(path: Path) -> int:
    """Finished frames in a work directory: entries named ``frame_*`` (a backend makes a frame's
    file or directory appear only once it is complete)."""
    try:
        return sum(1 for p in path.iterdir() if p.name.startswith("frame_"))
    except OSError:
        return 0
