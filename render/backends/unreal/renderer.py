"""The Unreal Engine renderer: control over UnrealCV, frames from Movie Render Queue.

Per shot: the shot becomes a job file (:mod:`render.backends.unreal.job`) in the work
directory; one console command (``py amatte4k_render_shot.py JOB``, through UnrealCV's
``vrun``) hands it to the engine, whose script builds the level sequence and renders the layers
with Movie Render Queue while rewriting a heartbeat file; when its completion record appears the
EXR headers are checked here (frame count, size, channels) and the values when each frame is
read (finite, α in [0, 1]). A heartbeat that stops, an engine that exits or a connection that
drops fails the shot with its reason; so does the shot's deadline. After such a failure the
engine is restarted (or, attached, reconnected) before the next shot, so a late reply or a
stale job can never be taken for the next shot's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import uuid
from pathlib import Path

from render.backends.base import FramePasses, Renderer, RenderSettings
from render.backends.unreal import frames, job
from render.backends.unreal.client import Client, EngineTimeout, EngineUnavailable, parse_endpoint
from render.backends.unreal.engine import EngineProcess, command_line, free_port, visible_gpu
from render.backends.unreal.protocol import EngineError, ProtocolError, argument
from render.catalog import load_metahumans
from render.config import UnrealConfig
from render.plan import ShotSpec

# The share of the orchestrator's shot deadline this renderer gives itself, so that it fails the
# shot with its reason before the orchestrator kills the worker.
OWN_DEADLINE = 0.95


class ShotFailed(RuntimeError):
    """The engine could not make the shot; the message is the recorded reason (one line)."""


class EngineStalled(TimeoutError):
    pass


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # not there yet, or caught between the engine's write and rename


def _options(options: dict | UnrealConfig | None) -> UnrealConfig:
    if isinstance(options, UnrealConfig):
        return options
    o = dict(options or {})
    if "extra_args" in o:
        o["extra_args"] = tuple(o["extra_args"])
    return UnrealConfig(**o)


class UnrealRenderer(Renderer):
    name = "unreal"
    supported_passes = ("rgb", "alpha", "fg", "bg")

    def __init__(
        self, options: dict | UnrealConfig | None = None, deadline: tuple[float, float] = (0.0, 0.0)
    ):
        """``options``: the config's ``unreal`` section; ``deadline``: the config's
        (deadline_base, deadline_per_frame_mpix), 0 and 0 for none."""
        self.options = _options(options)
        self.deadline = deadline
        self.metahumans = load_metahumans(self.options.metahumans_path())
        self.client: Client | None = None
        self.engine: EngineProcess | None = None
        self.shots_on_engine = 0
        self.engine_version = ""
        self.last_timing = {}
        self.last_frame_info = []
        self.last_device = ""
        self._passes: tuple[str, ...] = ()

    # -- engine -------------------------------------------------------------------------------

    def _shot_seconds(self, shot: ShotSpec) -> float | None:
        base, per = self.deadline
        if base <= 0 and per <= 0:
            return None
        mpix = shot.resolution[0] * shot.resolution[1] / 1e6
        return OWN_DEADLINE * (base + per * shot.frame_count * mpix)

    def _drop_engine(self) -> None:
        """Forget the connection, and stop the engine when it is ours: the next shot starts clean."""
        if self.client is not None:
            self.client.close()
        if self.engine is not None:
            self.engine.stop()
            self.engine = None
            self.client = None

    def _ensure_engine(self, logdir: Path, deadline: float) -> None:
        o = self.options
        left = max(1.0, deadline - time.monotonic())
        if self.client is not None and self.client.connected:
            try:  # a connection kept from the last shot: is the engine still there?
                self.client.status()
            except (EngineTimeout, EngineUnavailable, ProtocolError, EngineError):
                self._drop_engine()
        if o.endpoint:
            if self.client is None:
                host, port = parse_endpoint(o.endpoint)
                self.client = Client(host, port, o.request_timeout, o.connect_timeout)
            if not self.client.connected:
                self.client.connect(timeout=min(o.connect_timeout, left))
                self.client.status()
                self.engine_version = self.engine_version or ""
                self.last_device = f"Unreal Engine at {o.endpoint}"
            return
        if self.engine is not None and (not self.engine.alive() or self.shots_on_engine >= o.restart_after):
            self._drop_engine()
        if self.engine is None:
            if not o.engine:
                raise ShotFailed("unreal.engine is not set (the UnrealEditor binary), nor unreal.endpoint")
            port = free_port(o.port)
            gpu = visible_gpu()
            self.engine = EngineProcess(
                command_line(o.engine, str(o.project_path()), port, gpu, o.extra_args),
                logdir / f"engine-{port}.log",
            )
            self.engine.start()
            self.client = Client("127.0.0.1", port, o.request_timeout, o.connect_timeout)
            self.shots_on_engine = 0
            self.last_device = f"Unreal Engine, GPU {gpu if gpu is not None else 'default'}, port {port}"
            until = time.monotonic() + min(o.connect_timeout, left)
            while True:  # poll for readiness: the engine takes minutes, and may die trying
                try:
                    self.client.connect(timeout=min(2.0, max(0.1, until - time.monotonic())))
                    break
                except EngineUnavailable:
                    if not self.engine.alive():
                        raise EngineUnavailable(self.engine.exit_note()) from None
                    if time.monotonic() > until:
                        raise EngineUnavailable(
                            f"the engine did not answer on port {port} within {min(o.connect_timeout, left):.0f} s"
                        ) from None
            self.client.status()
        elif self.client is not None and not self.client.connected:
            self.client.connect(timeout=min(o.connect_timeout, left))

    # -- a shot -------------------------------------------------------------------------------

    def render_shot(self, shot, scene, clip, settings: RenderSettings, workdir, on_frame=None) -> list[Path]:
        t0 = time.perf_counter()
        limit = self._shot_seconds(shot)
        deadline = time.monotonic() + (limit if limit is not None else float("inf"))
        workdir = Path(workdir).resolve()
        # A folder per attempt: a job an engine still runs from an earlier attempt writes elsewhere.
        folder = workdir / f"attempt-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        try:
            spec = job.build(shot, scene, clip, settings, self.options, self.metahumans, folder)
        except job.JobError as exc:
            raise ShotFailed(str(exc)) from None
        job_path = folder / "job.json"
        try:
            argument(str(job_path), "work directory")
        except ValueError as exc:
            raise ShotFailed(str(exc)) from None
        tmp = job_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(spec, indent=1))
        os.replace(tmp, job_path)
        self._passes = settings.passes
        try:
            self._ensure_engine(workdir.parent, deadline)
            t1 = time.perf_counter()
            assert self.client is not None
            # Our own engine: the script by its path in the project; attached, by name (UE's
            # `py` command looks for it in the project's Content/Python).
            project = self.options.project_path().parent
            script = job.SCRIPT if self.options.endpoint else str(project / "Content" / "Python" / job.SCRIPT)
            self.client.console("py", script, str(job_path))
            record, reported = self._wait(spec, deadline, limit, on_frame)
        except (EngineTimeout, EngineUnavailable, ProtocolError, EngineError, EngineStalled, OSError) as exc:
            self._drop_engine()
            raise ShotFailed(f"{type(exc).__name__}: {exc}") from None
        if record.get("state") != "done":
            raise ShotFailed(f"the engine failed the shot: {record.get('reason') or 'no reason given'}")
        for i in range(reported, shot.frame_count if on_frame is not None else 0):
            on_frame(i)  # frames finished between the last heartbeat looked at and the record
        self.engine_version = str(record.get("engine") or self.engine_version)
        self.shots_on_engine += 1
        mrq = Path(spec["output"]["dir"])
        try:
            frames.check_headers(mrq, spec["render"]["layers"], shot.frame_count, tuple(shot.resolution))
        except frames.FrameError as exc:
            raise ShotFailed(f"engine output: {exc}") from None
        t2 = time.perf_counter()
        self.last_timing = {"scene_build": round(t1 - t0, 3), "engine": round(t2 - t1, 3)}
        keys = spec["camera"]["keys"][1:-1]
        exposure = {"exposure_ev": spec["render"]["exposure_ev"]}
        self.last_frame_info = [
            {
                "depth_of_field": True,
                "fstop": k["fstop"],
                "focus_distance_m": round(k["focus_cm"] / 100.0, 5),
                **exposure,
            }
            if spec["render"]["depth_of_field"]
            else {"depth_of_field": False, **exposure}
            for k in keys
        ]
        return [mrq / "rgb" / job.frame_name(i) for i in range(shot.frame_count)]

    def _wait(self, spec: dict, deadline: float, limit: float | None, on_frame) -> tuple[dict, int]:
        """The completion record and the frames reported to ``on_frame`` so far, watching the
        heartbeat, the engine and the deadline meanwhile."""
        o = self.options
        status_path, done_path = Path(spec["output"]["status"]), Path(spec["output"]["done"])
        n, layers = spec["frames"], len(spec["render"]["layers"])
        beat, changed, reported = None, time.monotonic(), 0
        while True:
            record = _read_json(done_path)
            if record is not None:
                if record.get("shot_id") != spec["shot_id"]:
                    raise ProtocolError(
                        f"completion record of shot {record.get('shot_id')!r}, expected {spec['shot_id']}"
                    )
                return record, reported
            now = time.monotonic()
            status = _read_json(status_path) or {}
            if status.get("updated") is not None and status.get("updated") != beat:
                beat, changed = status.get("updated"), now
                full = max(0, int(status.get("frames_done", 0)) - (layers - 1) * n)
                while on_frame is not None and reported < min(full, n):
                    on_frame(reported)
                    reported += 1
            if self.engine is not None and not self.engine.alive():
                raise EngineUnavailable(self.engine.exit_note())
            if self.client is not None and self.client.peer_closed():
                raise EngineUnavailable(f"UnrealCV at {self.client.endpoint}: the connection closed mid-shot")
            where = f"{status.get('state', 'no status')}, layer {status.get('layer')}, {status.get('frames_done', 0)}/{n * layers} frames"
            if now - changed > o.stall_timeout:
                raise EngineStalled(f"no heartbeat from the engine for {o.stall_timeout:.0f} s ({where})")
            if now > deadline:
                raise EngineStalled(f"the shot's deadline of {limit:.0f} s passed ({where})")
            time.sleep(max(0.0, min(o.poll_seconds, deadline - now)))

    def read_frame(self, path, passes) -> FramePasses:
        return frames.read(path, passes)

    def describe(self, settings: RenderSettings) -> dict:
        o = self.options
        return {
            "backend": self.name,
            "engine": f"Unreal Engine {self.engine_version}" if self.engine_version else "Unreal Engine",
            "frames_from": "Movie Render Queue, multilayer EXR",
            "alpha": "accumulated coverage of every sample, environment held out",
            **{k: getattr(o, k) for k in UnrealConfig.CONTENT},
            "motion_blur": settings.motion_blur,
            "shutter": settings.shutter,
            "depth_of_field": settings.depth_of_field,
            "passes": list(settings.passes),
        }

    def close(self) -> None:
        self._drop_engine()

    def __del__(self):  # an engine must not outlive its renderer
        with contextlib.suppress(Exception):
            self._drop_engine()


def options_dict(cfg_unreal: UnrealConfig) -> dict:
    """The ``unreal`` section as plain data (what travels to a render worker)."""
    return {**dataclasses.asdict(cfg_unreal), "extra_args": list(cfg_unreal.extra_args)}
