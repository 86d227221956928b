"""A fake Unreal Engine for the Unreal backend's tests: an UnrealCV server that speaks the real
wire format and command vocabulary (replies as unrealcv/unrealcv's server source formats them,
see the brief's unreal.md; as in the editor, ``vrun`` has no game world to run in), plus an
editor that watches a job inbox as our UE-side watcher does (unreal_project/README.md):
``engine.json`` rewritten while it runs, jobs claimed by renaming them ``.taken``, each checked
by the UE side's own planner (amatte4k/sequence_plan.py), a status heartbeat, multilayer EXR
frames per layer written the way Movie Render Queue names them, a completion record, and
``cancel.json`` honoured.

Fault injection covers what the client must survive: a server that never replies, closes
mid-frame, answers late, answers with another id, sends garbage or restarts on the same port;
an engine that stalls, fails, or writes bad frames.

Run as a program it is an engine *binary* for the backend to launch and own:
``python -m tests.unreal_fake PROJECT.uproject -cvport=N -AM4KInbox=DIR …``
(``FAKE_UE_START_DELAY`` seconds before it listens, ``FAKE_UE_EDITOR_DELAY`` more before the
editor's Python writes its first heartbeat).
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = 0x9E2B83C1
VERSION = "v1.1.0"
ENGINE = "5.5.1-39209932+++UE5+Release-5.5"


@dataclass
class Fault:
    """What the server does wrong with the requests whose command starts with ``match``, the
    next ``times`` of them: never reply (hang), close half-way through the reply (close), reply
    after ``delay`` s (late), reply with another id (wrong_id), send bytes that are not a frame
    (garbage)."""

    kind: str
    match: str = ""
    times: int = 1
    delay: float = 0.0


@dataclass
class EngineFaults:
    """What the fake engine does wrong with a shot: ``stall_after`` frames then silence;
    ``error``: a completion record with this reason; ``bad``: nan | resolution | missing |
    alpha_range | channels (a broken frame); ``frame_seconds``: time per written frame;
    ``crash_after``: frames before the whole engine (server included) goes away."""

    stall_after: int | None = None  # then the whole editor hangs: no heartbeat of any kind
    error: str | None = None
    bad: str | None = None
    frame_seconds: float = 0.0
    crash_after: int | None = None
    frozen_after: int | None = None  # then MRQ writes nothing more while the editor keeps ticking
    unwritable: bool = False  # the job's output folder cannot be written


@dataclass
class FakeUnreal:
    """The server; :meth:`start` listens on ``port`` (0: any) of the loopback."""

    port: int = 0
    project: str = "AlphaMatte4K"
    inbox: str | None = None  # the -AM4KInbox folder; None: no watcher (UnrealCV only)
    game_world: bool = False  # True: as under -game or PIE, vrun runs console commands
    editor_delay: float = 0.0  # seconds after start before the watcher's first heartbeat
    level_delay: float = 0.2  # seconds before an asynchronous level change takes effect
    faults: list[Fault] = field(default_factory=list)
    engine: EngineFaults = field(default_factory=EngineFaults)
    requests: list[str] = field(default_factory=list)  # every command received, in order
    jobs: list[dict] = field(default_factory=list)  # every job the engine was given
    plans: list = field(default_factory=list)  # what the UE-side planner made of each

    def __post_init__(self):
        self._lsock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._conn: socket.socket | None = None
        self.level = "/Game/AlphaMatte4K/Maps/Startup/Startup"
        self.objects = ["Floor", "SkyLight", "DirectionalLight"]
        self.cameras = ["FusionCameraActor_0"]
        self.poses = {0: [[0.0, 0.0, 170.0], [0.0, 0.0, 0.0]]}
        self.fov = {0: 90.0}
        self.size = {0: (640, 480)}
        self._workers: list[threading.Thread] = []
        self.busy: str | None = None  # the shot being rendered
        self.hung = False
        self.cancelled: set[str] = set()

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> FakeUnreal:
        self._stop.clear()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(4)
        s.settimeout(0.1)
        self.port = s.getsockname()[1]
        self._lsock = s
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if self.inbox is not None:
            self.hung, self.busy = False, None
            w = threading.Thread(target=self._watch, daemon=True)
            self._workers.append(w)
            w.start()
        return self

    def stop(self) -> None:
        """Close everything (a crashed engine): the client sees the connection drop."""
        self._stop.set()
        for sock in (self._conn, self._lsock):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        if self._thread is not None:
            self._thread.join(5)
        self._conn = self._lsock = None

    def restart(self) -> None:
        """Go away and come back on the same port (an engine restarted by its operator)."""
        self.stop()
        self.start()

    def __enter__(self) -> FakeUnreal:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        for w in self._workers:
            w.join(10)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- wire ---------------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._lsock.accept()
            except (TimeoutError, OSError):
                continue
            self._conn = conn  # one client at a time; others wait in the backlog
            try:
                self._send(conn, f"connected to {self.project}".encode())
                self._session(conn)
            except OSError:
                pass
            finally:
                conn.close()
                self._conn = None

    @staticmethod
    def _send(conn: socket.socket, payload: bytes) -> None:
        conn.sendall(struct.pack("<II", MAGIC, len(payload)) + payload)

    @staticmethod
    def _recv(conn: socket.socket, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _session(self, conn: socket.socket) -> None:
        batch = 0
        while not self._stop.is_set():
            head = self._recv(conn, 8)
            if head is None:
                return
            magic, length = struct.unpack("<II", head)
            if magic != MAGIC or length == 0:  # the real server drops such a client
                return
            payload = self._recv(conn, length)
            if payload is None:
                return
            m = re.fullmatch(rb"(\d+):(.*)", payload, re.S)
            if not m:  # no id: silently dropped
                continue
            rid, cmd = m.group(1).decode(), m.group(2).decode(errors="replace")
            self.requests.append(cmd)
            body = self.handle(cmd)
            if batch:
                batch -= 1
            elif cmd.startswith("vbatch "):
                batch = int(cmd.split()[1])
            fault = self._fault_for(cmd)
            if fault is None:
                self._send(conn, rid.encode() + b":" + body)
            elif fault.kind == "hang":
                continue
            elif fault.kind == "late":
                time.sleep(fault.delay)
                self._send(conn, rid.encode() + b":" + body)
            elif fault.kind == "wrong_id":
                self._send(conn, str(int(rid) + 1).encode() + b":" + body)
            elif fault.kind == "garbage":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            elif fault.kind == "close":
                full = struct.pack("<II", MAGIC, len(rid) + 1 + len(body)) + rid.encode() + b":" + body
                conn.sendall(full[: max(4, len(full) // 2)])
                return

    def _fault_for(self, cmd: str) -> Fault | None:
        for f in self.faults:
            if f.times > 0 and cmd.startswith(f.match):
                f.times -= 1
                return f
        return None

    # -- commands (formats from the server source) --------------------------------------------

    def handle(self, cmd: str) -> bytes:
        parts = cmd.split(" ")
        verb, uri, args = parts[0], (parts[1] if len(parts) > 1 else ""), parts[2:]
        if verb == "vbatch":
            return b"ok"
        if verb == "vrun":
            tokens = parts[1:]
            if len(tokens) < 2:
                return f"error Unrecognised alias '{tokens[0] if tokens else ''}'".encode()
            if not self.game_world:  # the editor without PIE: UnrealCV's vrun needs a game world
                return b"error No valid game world available"
            return b"ok"
        if verb == "vget" and uri == "/unrealcv/status":
            return (
                f"Is Listening\nClient Connected\n{self.port}\nConfiguration\n"
                f"Config file: unrealcv.ini\nPort: {self.port}\nWidth: 640\nHeight: 480\nFOV: 90.000000\n"
                "EnableInput: false\nEnableRightEye: false\n"
            ).encode()
        if verb == "vget" and uri == "/unrealcv/version":
            return VERSION.encode()
        if verb == "vget" and uri == "/level/name":
            return self.level.rsplit("/", 1)[-1].encode()
        if verb == "vset" and uri == "/action/game/level" and len(args) == 1:
            threading.Timer(self.level_delay, lambda: setattr(self, "level", args[0])).start()
            return b"ok"  # OpenLevel is asynchronous: ok at once, the level changes later
        if verb == "vget" and uri == "/objects":
            return "".join(o + " " for o in self.objects).encode()
        if verb == "vget" and uri == "/cameras":
            return "".join(c + " " for c in self.cameras).encode()
        if verb == "vset" and uri == "/cameras/spawn":
            name = f"FusionCameraActor_{len(self.cameras)}"
            i = len(self.cameras)
            self.cameras.append(name)
            self.poses[i], self.fov[i], self.size[i] = [[0.0] * 3, [0.0] * 3], 90.0, (640, 480)
            return name.encode()
        if verb == "vset" and uri == "/objects/spawn":
            if not args or args[0] not in ("StaticMeshActor", "CineCameraActor"):
                return f"error Can not find a class with name '{args[0] if args else ''}'".encode()
            name = args[1] if len(args) > 1 else f"{args[0]}_{len(self.objects)}"
            if name in self.objects:
                return f"error Failed to spawn {name}, object exists.".encode()
            self.objects.append(name)
            return name.encode()
        m = re.fullmatch(r"/camera/(\d+)/(\w+)", uri)
        if m:
            return self._camera(verb, int(m.group(1)), m.group(2), args)
        m = re.fullmatch(r"/object/([^/]+)/(\w+)", uri)
        if m:
            if m.group(1) not in self.objects:
                return b"error Cannot find object"
            if m.group(2) == "destroy":
                self.objects.remove(m.group(1))
            return b"ok"
        return f"error No handler found for URI '{uri}'".encode()

    def _camera(self, verb: str, i: int, what: str, args: list[str]) -> bytes:
        if i not in self.poses:
            return b"error Invalid sensor id"
        if what in ("location", "rotation"):
            k = 0 if what == "location" else 1
            if verb == "vget":
                return ("%.3f %.3f %.3f" % tuple(self.poses[i][k])).encode()  # noqa: UP031 - the C++ format
            try:
                self.poses[i][k] = [float(a) for a in args]
            except ValueError:
                return b"error Argument Invalid"
            return b"ok" if len(args) == 3 else b"error Argument Invalid"
        if what == "fov":
            if verb == "vget":
                return ("%f" % self.fov[i]).encode()  # noqa: UP031
            self.fov[i] = float(args[0])
            return b"ok"
        if what == "size":
            if verb == "vget":
                return ("%d %d" % self.size[i]).encode()  # noqa: UP031
            self.size[i] = (int(args[0]), int(args[1]))
            return b"ok"
        if what == "lit" and verb == "vget":
            fmt = args[0] if args else ""
            if fmt == "png":
                return _png(*self.size[i])
            if fmt.endswith((".png", ".bmp")):
                return fmt.encode()
            return f"error Invalid filename type, filename {fmt}".encode()
        if what == "depth" and verb == "vget" and args == ["npy"]:
            buf = io.BytesIO()
            np.save(buf, np.full(self.size[i][::-1], 500.0, np.float32))
            return buf.getvalue()
        return f"error No handler found for URI '/camera/{i}/{what}'".encode()

    # -- the engine ---------------------------------------------------------------------------

    def _watch(self) -> None:
        """The editor's post-tick callback: the UE side's own watcher (amatte4k/inbox.py, pure
        Python) driven every 0.1 s, with this fake's render thread behind its start, running and
        cancel hooks. A hung editor does not tick."""
        time.sleep(self.editor_delay)
        watcher = _ue("inbox").Watcher(
            str(self.inbox),
            ENGINE,
            start=self._start_job,
            running=lambda: self.busy,
            cancel=lambda shot_id, _reason: self.cancelled.add(shot_id),
            log=lambda _msg: None,
        )
        while not self._stop.is_set():
            if not self.hung:
                watcher.tick()
            time.sleep(0.1)

    def _start_job(self, taken: str, fallback: str) -> None:
        self.busy = "?"  # until the thread has read the job
        t = threading.Thread(target=self._run_job, args=(taken, fallback), daemon=True)
        self._workers.append(t)
        t.start()

    def _run_job(self, job_path: str, fallback: str) -> None:
        try:
            self._render(job_path, fallback)
        finally:
            if not self.hung:
                self.busy = None
            if Path(fallback).exists() or not self.hung:  # as the engine: gone once recorded
                Path(job_path).unlink(missing_ok=True)

    def _render(self, job_path: str, fallback: str) -> None:
        started = time.time()
        try:
            job = json.loads(Path(job_path).read_text())
        except (OSError, ValueError):
            _write_json(fallback, _record({}, "the job is not readable JSON", started))
            return
        if job.get("expires_at") is not None and time.time() > job["expires_at"]:
            _write_json(fallback, _record(job, "expired before it was taken", started))
            return
        self.busy = job.get("shot_id")
        self.jobs.append(job)
        out, f = job["output"], self.engine
        if f.unwritable:
            out = {**out, "status": "/proc/am4k/status.json", "done": "/proc/am4k/done.json"}
            try:
                _write_json(out["status"], _status(job, "loading", None, 0))
            except OSError as exc:
                _write_json(fallback, _record(job, f"cannot write {out['status']}: {exc.strerror}", started))
                return
        try:  # the UE-side planner (pure Python) checks the job exactly as the engine's script does
            shot_plan = _sequence_plan().build_plan(job)
        except ValueError as exc:
            _write_json(
                out["done"],
                {
                    "shot_id": job.get("shot_id"),
                    "state": "error",
                    "reason": f"JobError: {exc}",
                    "layers": {},
                    "engine": ENGINE,
                    "seconds": 0.0,
                },
            )
            return
        self.plans.append(shot_plan)
        _write_json(out["status"], _status(job, "loading", None, 0))
        layers = job["render"]["layers"]
        n = job["frames"]
        done = 0
        for layer in layers:
            folder = Path(out["dir"]) / layer
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                if self._stop.is_set():
                    return
                if f.crash_after is not None and done >= f.crash_after:
                    self.stop()
                    return
                while f.frozen_after is not None and done >= f.frozen_after and not self._stop.is_set():
                    _write_json(out["status"], _status(job, "rendering", layer, done))  # ticking, no frames
                    if job["shot_id"] in self.cancelled:
                        break
                    time.sleep(0.05)
                if f.stall_after is not None and done >= f.stall_after:
                    self.hung = True  # the editor hangs: no more heartbeats of any kind, no record
                    return
                if job["shot_id"] in self.cancelled:
                    self.cancelled.discard(job["shot_id"])
                    _write_json(
                        out["done"],
                        {
                            "shot_id": job["shot_id"],
                            "state": "error",
                            "reason": "cancelled by the client",
                            "layers": {},
                            "engine": ENGINE,
                            "seconds": round(time.time() - started, 3),
                        },
                    )
                    return
                if f.frame_seconds:
                    time.sleep(f.frame_seconds)
                name = out["file_name_format"].replace("{frame_number}", str(i).zfill(out["zero_pad"]))
                if not (f.bad == "missing" and layer == layers[-1] and i == n - 1):
                    write_frame(folder / f"{name}.exr", job, layer, i, f.bad)
                done += 1
                _write_json(out["status"], _status(job, "rendering", layer, done))
        if f.error:
            record = {"state": "error", "reason": f.error}
        else:
            record = {"state": "done", "reason": ""}
        _write_json(
            out["done"],
            {
                "shot_id": job["shot_id"],
                **record,
                "layers": {layer: n for layer in layers},
                "engine": ENGINE,
                "seconds": round(time.time() - started, 3),
            },
        )


def _ue(module: str):
    """A pure module of the UE side (unreal_project/Content/Python/amatte4k/, standard library
    only): the fake runs the engine's own protocol code, not a copy of it."""
    import importlib

    root = str(Path(__file__).resolve().parent.parent / "unreal_project" / "Content" / "Python")
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"amatte4k.{module}")


def _sequence_plan():
    return _ue("sequence_plan")


def _record(job: dict, reason: str, started: float) -> dict:
    return {
        "shot_id": job.get("shot_id"),
        "state": "error",
        "reason": reason,
        "layers": {},
        "engine": ENGINE,
        "seconds": round(time.time() - started, 3),
    }


def _status(job: dict, state: str, layer: str | None, done: int) -> dict:
    return {
        "shot_id": job["shot_id"],
        "state": state,
        "layer": layer,
        "frames_done": done,
        "frames_total": job["frames"] * len(job["render"]["layers"]),
        "updated": time.time(),
        "message": "",
    }


def _write_json(path: str, obj: dict) -> None:
    """As the engine writes every file it reports through (amatte4k/status.py)."""
    _ue("status").write_json_atomic(path, obj)


def figure(job: dict, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(α (H, W), F (H, W, 3), B (H, W, 3)) of frame ``i``: a soft-edged figure drifting over a
    graded background, so α has a fractional band and I = αF + (1-α)B holds exactly."""
    w, h = job["resolution"]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * (0.45 + 0.1 * np.sin(i / 3.0)), h * 0.55
    r = np.hypot((xx - cx) / (0.22 * w), (yy - cy) / (0.3 * h))
    alpha = np.clip((1.0 - r) * min(w, h) * 0.08, 0.0, 1.0).astype(np.float32)
    f = np.stack([0.8 * np.ones_like(xx), 0.45 + 0.2 * yy / h, 0.3 * np.ones_like(xx)], -1)
    b = np.stack([0.2 + 0.5 * xx / w, 0.3 * np.ones_like(xx), 0.25 + 0.4 * yy / h], -1)
    scale = 2.0 ** job["render"].get("exposure_ev", 0.0)
    return alpha, (f * scale).astype(np.float32), (b * scale).astype(np.float32)


def write_frame(path: Path, job: dict, layer: str, i: int, bad: str | None = None) -> None:
    """One frame of one layer as MRQ writes it: multilayer EXR, ZIP, half RGBA."""
    import OpenEXR

    alpha, f, b = figure(job, i)
    if layer == "rgb":
        rgb, a = alpha[..., None] * f + (1 - alpha[..., None]) * b, np.ones_like(alpha)
    elif layer == "matte":
        rgb, a = alpha[..., None] * f, alpha
    else:
        rgb, a = b, np.ones_like(alpha)
    if bad == "nan" and layer == "matte":
        rgb = rgb.copy()
        rgb[0, 0, 0] = np.nan
    if bad == "alpha_range" and layer == "matte":
        a = a * 1.5
    if bad == "resolution":
        rgb, a = rgb[:-2], a[:-2]
    channels = {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2], "A": a}
    if bad == "channels":
        channels.pop("A")
    data = {k: np.ascontiguousarray(v, dtype=np.float16) for k, v in channels.items()}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, data).write(str(path) + ".part")
    os.replace(str(path) + ".part", path)


def _png(w: int, h: int) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", np.full((h, w, 4), 128, np.uint8))
    return data.tobytes()


def main(argv: list[str]) -> None:
    """Run as an engine binary: ``PROJECT.uproject … -cvport=N``."""
    port = next((int(a.split("=", 1)[1]) for a in argv if a.lower().startswith("-cvport=")), 9000)
    box = next((a.split("=", 1)[1] for a in argv if a.startswith("-AM4KInbox=")), None)
    time.sleep(float(os.environ.get("FAKE_UE_START_DELAY", "0")))
    server = FakeUnreal(
        port=port,
        project=Path(argv[0]).stem if argv else "Fake",
        inbox=box,
        editor_delay=float(os.environ.get("FAKE_UE_EDITOR_DELAY", "0")),
    ).start()
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
