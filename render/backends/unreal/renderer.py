"""The Unreal Engine renderer: engines started and watched here, jobs through an inbox folder,
frames from Movie Render Queue.

Per shot: the shot becomes a job file (:mod:`render.backends.unreal.job`) put in the engine's
inbox (:mod:`render.backends.unreal.inbox`); the engine's UE-side watcher claims it, builds the
level sequence and renders the layers with Movie Render Queue while rewriting the job's
heartbeat file, then writes a completion record. The EXR headers are then checked here (frame
count, size, channels) and the values when each frame is read (finite, α in [0, 1]).

UnrealCV's listener tells that an engine process is up (its greeting) and its connection that
it is still there; the inbox's ``engine.json`` that the editor and its Python are running. A
heartbeat that stops, an engine that exits, a connection that drops or the shot's deadline fail
the shot with its reason; a launched engine is then restarted before the next shot, an attached
one is asked to cancel the shot (and a job it has not taken is withdrawn), so a stale job can
never be taken for the next shot's.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

from render import procdirs
from render.backends.base import FramePasses, Renderer, RenderSettings
from render.backends.unreal import frames, inbox, job
from render.backends.unreal.client import Client, EngineTimeout, EngineUnavailable, parse_endpoint
from render.backends.unreal.engine import EngineProcess, command_line, pick_port, visible_gpu
from render.backends.unreal.protocol import EngineError, ProtocolError
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


def _options(options: dict | UnrealConfig | None) -> UnrealConfig:
    if isinstance(options, UnrealConfig):
        return options
    o = dict(options or {})
    if "extra_args" in o:
        o["extra_args"] = tuple(o["extra_args"])
    return UnrealConfig(**o)


def check_engine_binary(path: str | None) -> None:
    """The engine binary exists and runs on this node (one line otherwise)."""
    if not path:
        raise RuntimeError("unreal.engine is not set (the UnrealEditor binary), nor unreal.endpoint")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError(f"unreal.engine {path}: not an executable file on this node")


# What the engine, the connection or the files can do wrong: each fails the shot with its reason.
# Anything else is a bug here: the engine is still abandoned, and the error goes up as it is.
FAILURES = (
    EngineTimeout,
    EngineUnavailable,
    ProtocolError,
    EngineError,
    EngineStalled,
    OSError,
    RuntimeError,
)


def _number(value, default: float = 0.0) -> float:
    """A heartbeat field as a number (an engine's file is not trusted to be well formed)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


class UnrealRenderer(Renderer):
    name = "unreal"
    supported_passes = ("rgb", "alpha", "fg", "bg")

    def __init__(
        self,
        options: dict | UnrealConfig | None = None,
        deadline: tuple[float, float] = (0.0, 0.0),
        gpu: int | None = None,
    ):
        """``options``: the config's ``unreal`` section; ``deadline``: the config's
        (deadline_base, deadline_per_frame_mpix), 0 and 0 for none; ``gpu``: the GPU index the
        scheduler gave this worker (default: the first of CUDA_VISIBLE_DEVICES)."""
        self.options = o = _options(options)
        self.deadline = deadline
        self.metahumans = load_metahumans(o.metahumans_path())
        if o.endpoint:
            if not o.inbox:
                raise RuntimeError(
                    "unreal.endpoint needs unreal.inbox (the folder that engine takes jobs from)"
                )
        else:
            check_engine_binary(o.engine)  # on this node: a worker without the engine does not start
        self.gpu = gpu
        self.inbox: Path | None = Path(o.inbox) if o.endpoint else None
        if self.inbox is not None:
            procdirs.remove_dead(self.inbox / "work")
        self.client: Client | None = None
        self.engine: EngineProcess | None = None
        self.shots_on_engine = 0
        self.engine_version = ""
        self.last_timing = {}
        self.last_frame_info = []
        self.last_device = ""
        self._shared: list[Path] = []  # attached: shot folders in the shared inbox, removed later

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

    def _connect(self, until: float) -> None:
        """Poll until the engine's UnrealCV listener greets (it comes up before the editor is
        done loading; an engine that exits meanwhile ends the wait)."""
        assert self.client is not None
        while True:
            try:
                self.client.connect(timeout=min(2.0, max(0.1, until - time.monotonic())))
                return
            except (EngineUnavailable, EngineTimeout) as exc:
                if self.engine is not None and not self.engine.alive():
                    raise EngineUnavailable(self.engine.exit_note()) from None
                if time.monotonic() > until:
                    raise EngineUnavailable(f"the engine's UnrealCV did not greet in time ({exc})") from None

    def _ready(self, until: float) -> dict:
        """The engine's ``engine.json`` once it is rewritten (the editor and its Python tick),
        written by our engine when we launched it; its version as the config asks."""
        assert self.inbox is not None
        seen = None
        while True:
            state = inbox.engine_state(self.inbox)
            if state is not None and (
                self.engine is None or self.engine.owns(int(_number(state.get("pid"), -1)))
            ):
                if seen is None:
                    seen = state.get("updated")
                elif state.get("updated") != seen:
                    break
            if self.engine is not None and not self.engine.alive():
                raise EngineUnavailable(self.engine.exit_note())
            if time.monotonic() > until:
                raise EngineUnavailable(
                    f"no heartbeat in {self.inbox / inbox.ENGINE} (is the engine's inbox this folder?)"
                )
            time.sleep(min(self.options.poll_seconds, 0.5))
        # Jobs expire by the engine's clock (expires_at is written with ours): clocks must agree.
        skew = time.time() - _number(state.get("updated"), time.time())
        if abs(skew) > max(60.0, self.options.stall_timeout / 2):
            if self.engine is not None:
                self._drop_engine()
            raise ShotFailed(
                f"the engine's clock is {-skew:+.0f} s off this machine's (jobs would expire wrongly)"
            )
        version = str(state.get("engine") or "")
        want = self.options.engine_version
        if want and not version.startswith(want):
            if self.engine is not None:  # ours, and of no use: the next shot must not find it
                self._drop_engine()
            raise ShotFailed(
                f"the engine reports Unreal Engine {version or '(no version)'}; the dataset is made with {want}"
            )
        self.engine_version = version
        return state

    def _ensure_engine(self, logdir: Path, deadline: float) -> dict:
        o = self.options
        now = time.monotonic()
        left = max(1.0, deadline - now)
        if o.endpoint:
            if self.client is None:
                host, port = parse_endpoint(o.endpoint)
                self.client = Client(host, port, o.request_timeout, o.connect_timeout)
                self.last_device = f"Unreal Engine at {o.endpoint}"
            if not self.client.connected or self.client.peer_closed():
                self._connect(now + min(o.connect_timeout, left))
            return self._ready(now + min(o.stall_timeout, left))
        stale = self.engine is not None and (
            not self.engine.alive()
            or self.shots_on_engine >= o.restart_after
            or (self.client is not None and self.client.peer_closed())
        )
        if stale:
            self._drop_engine()
        if self.engine is not None:  # ours from the last shot: still beating?
            try:
                if self.client is not None and not self.client.connected:
                    self._connect(now + min(o.connect_timeout, left))
                return self._ready(now + min(o.stall_timeout, left))
            except (EngineUnavailable, EngineTimeout, ProtocolError):  # died between shots
                self._drop_engine()
        gpu = self.gpu if self.gpu is not None else visible_gpu()
        port = pick_port(o.port, gpu)
        box = logdir / f"engine-{port}" / "inbox"
        if " " in str(box):  # the engine takes -AM4KInbox= and job paths without spaces
            raise ShotFailed(f"scratch folder {logdir}: the engine's inbox cannot have a space in its path")
        shutil.rmtree(box, ignore_errors=True)  # nothing of an earlier engine on this port
        box.mkdir(parents=True)
        self.inbox = box
        argv = command_line(o.engine or "", str(o.project_path()), port, gpu, str(box), o.extra_args)
        self.engine = EngineProcess(argv, logdir / f"engine-{port}.log")
        self.engine.start()
        self.client = Client("127.0.0.1", port, o.request_timeout, o.connect_timeout)
        self.shots_on_engine = 0
        self.last_device = f"Unreal Engine, GPU {gpu if gpu is not None else 'default'}, port {port}"
        until = now + min(o.connect_timeout, left)
        self._connect(until)
        return self._ready(until)

    # -- a shot -------------------------------------------------------------------------------

    def _folder(self, shot: ShotSpec, workdir: Path) -> Path:
        """Where the engine writes this attempt: the work directory for an engine of ours (the
        same node); for an attached one, the shared inbox (the engine must see it). A folder per
        attempt: a job an engine still runs from an earlier attempt writes elsewhere."""
        name = f"attempt-{uuid.uuid4().hex[:8]}"
        if self.inbox is not None and self.options.endpoint:
            for old in self._shared:  # earlier shots of this worker: packed by now
                shutil.rmtree(old, ignore_errors=True)
            procdirs.remove_dead(self.inbox / "work")  # and those of workers killed before us
            # <host>-<pid>: a worker killed mid-shot cannot clean up; the next one here does.
            mine = self.inbox / "work" / procdirs.own_name()
            self._shared = [mine]
            return mine / shot.shot_id / name
        return workdir / name

    def render_shot(self, shot, scene, clip, settings: RenderSettings, workdir, on_frame=None) -> list[Path]:
        t0 = time.perf_counter()
        limit = self._shot_seconds(shot)
        deadline = time.monotonic() + (limit if limit is not None else float("inf"))
        workdir = Path(workdir).resolve()
        folder = self._folder(shot, workdir)
        folder.mkdir(parents=True)
        try:
            spec = job.build(shot, scene, clip, settings, self.options, self.metahumans, folder)
        except job.JobError as exc:
            raise ShotFailed(str(exc)) from None
        job_file = None
        try:
            self._ensure_engine(workdir.parent, deadline)
            t1 = time.perf_counter()
            assert self.inbox is not None
            # Not taken by then, the job is stale: this worker gave up on it (or died), and the
            # engine must not render it later.
            spec["expires_at"] = round(time.time() + self.options.stall_timeout, 3)
            spec["client"] = {"host": socket.gethostname(), "pid": os.getpid()}
            spec["render"]["layer_stall_seconds"] = self.options.layer_stall_seconds
            job_file = inbox.submit(self.inbox, spec)
            record, reported = self._wait(spec, deadline, limit, on_frame, job_file)
        except ShotFailed:
            raise
        except BaseException as exc:
            self._abandon(spec["shot_id"], job_file)
            if isinstance(exc, FAILURES):
                raise ShotFailed(f"{type(exc).__name__}: {exc}") from None
            raise
        for i in range(reported, shot.frame_count if on_frame is not None else 0):
            on_frame(i)  # frames finished between the last heartbeat looked at and the record
        self.shots_on_engine += 1
        if record.get("state") != "done":
            raise ShotFailed(f"the engine failed the shot: {record.get('reason') or 'no reason given'}")
        self.engine_version = str(record.get("engine") or self.engine_version)
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

    def _abandon(self, shot_id: str, job_file: Path | None) -> None:
        """After a failure: our engine is stopped; an attached one gets its job withdrawn (not
        taken yet) or a cancel request, and the connection is dropped."""
        with contextlib.suppress(Exception):  # never hide the failure that brought us here
            if self.options.endpoint:
                if job_file is not None and not inbox.withdraw(job_file) and self.inbox is not None:
                    inbox.cancel(self.inbox, shot_id)
                if self.client is not None:
                    self.client.close()
            else:
                self._drop_engine()

    def _wait(
        self, spec: dict, deadline: float, limit: float | None, on_frame, job_file: Path
    ) -> tuple[dict, int]:
        """The completion record and the frames reported to ``on_frame`` so far, watching the
        job's heartbeat, the engine and the deadline meanwhile."""
        o = self.options
        status_path, done_path = Path(spec["output"]["status"]), Path(spec["output"]["done"])
        n, layers = spec["frames"], len(spec["render"]["layers"])
        fallback = inbox.fallback_record(job_file)  # where the engine reports if it cannot write ours
        beat, changed, reported = None, time.monotonic(), 0
        frames_seen, grew, layer_seen = -1, time.monotonic(), None
        while True:
            record = inbox.read_json(done_path) or inbox.read_json(fallback)
            if record is not None:
                fallback.unlink(missing_ok=True)
                if record.get("shot_id") != spec["shot_id"]:
                    raise ProtocolError(
                        f"completion record of shot {record.get('shot_id')!r}, expected {spec['shot_id']}"
                    )
                return record, reported
            now = time.monotonic()
            status = inbox.read_json(status_path) or {}
            if status.get("updated") is not None and status.get("updated") != beat:
                beat, changed = status.get("updated"), now
                done = int(_number(status.get("frames_done")))
                if (
                    done != frames_seen
                    or status.get("state") != "rendering"
                    or status.get("layer") != layer_seen
                ):
                    frames_seen, grew, layer_seen = done, now, status.get("layer")
                full = max(0, done - (layers - 1) * n)
                while on_frame is not None and reported < min(full, n):
                    on_frame(reported)
                    reported += 1
            # Ticking is not rendering: a layer that writes no frame for this long is stuck.
            if status.get("state") == "rendering" and now - grew > o.layer_stall_seconds + o.stall_timeout:
                raise EngineStalled(
                    f"no frame written for {now - grew:.0f} s (layer {status.get('layer')}, "
                    f"{frames_seen}/{n * layers} frames)"
                )
            if self.engine is not None and not self.engine.alive():
                raise EngineUnavailable(self.engine.exit_note())
            if self.client is not None and self.client.peer_closed():
                raise EngineUnavailable(f"UnrealCV at {self.client.endpoint}: the connection closed mid-shot")
            if now - changed > o.stall_timeout or now > deadline:
                raise EngineStalled(self._stall_note(status, job_file, n * layers, now > deadline, limit))
            time.sleep(max(0.0, min(o.poll_seconds, deadline - now)))

    def _stall_note(self, status: dict, job_file: Path, total: int, late: bool, limit: float | None) -> str:
        if job_file.exists():  # never claimed
            engine = (inbox.engine_state(self.inbox) or {}) if self.inbox else {}
            busy = (
                f"busy with shot {engine.get('shot_id')}"
                if engine.get("state") == "busy"
                else engine.get("state", "no heartbeat")
            )
            where = f"the job was not taken; the engine is {busy}"
        else:
            where = f"{status.get('state', 'no status')}, layer {status.get('layer')}, {status.get('frames_done', 0)}/{total} frames"
        if late:
            return f"the shot's deadline of {limit:.0f} s passed ({where})"
        return f"no heartbeat from the engine for {self.options.stall_timeout:.0f} s ({where})"

    def read_frame(self, path, passes) -> FramePasses:
        return frames.read(path, passes)

    def describe(self, settings: RenderSettings) -> dict:
        o = self.options
        return {
            "backend": self.name,
            "engine": f"Unreal Engine {self.engine_version}" if self.engine_version else "Unreal Engine",
            "frames_from": "Movie Render Queue, multilayer EXR",
            "alpha": "accumulated coverage of every sample, environment held out",
            "exposure": "the map's own, plus the shot's exposure_ev",
            **{k: getattr(o, k) for k in UnrealConfig.CONTENT if k != "engine_version"},
            "motion_blur": settings.motion_blur,
            "shutter": settings.shutter,
            "depth_of_field": settings.depth_of_field,
            "passes": list(settings.passes),
        }

    def close(self) -> None:
        self._drop_engine()
        for old in self._shared:
            shutil.rmtree(old, ignore_errors=True)

    def __del__(self):  # an engine must not outlive its renderer
        with contextlib.suppress(Exception):
            self._drop_engine()
