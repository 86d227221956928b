"""Unreal Engine processes this backend owns: one per GPU, each with its own UnrealCV port and
job inbox.

The command line follows the brief (unreal.md §4): the editor binary with the project, offscreen
rendering, no prompts, the UnrealCV port, the GPU and the inbox folder the engine takes jobs
from. The process starts in a session of its own and gets SIGKILL when the thread that launched
it ends (Linux's parent-death signal follows the launching *thread*, so engines are launched
from one thread that lives as long as this process); its log goes to a file.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

PR_SET_PDEATHSIG = 1
INBOX_FLAG = "-AM4KInbox="


def command_line(
    engine: str, project: str, port: int, gpu: int | None, inbox: str, extra: tuple[str, ...] = ()
) -> list[str]:
    """The argv of one engine instance (pure)."""
    argv = [engine, str(project), "-RenderOffScreen", "-unattended", "-nosplash", "-nosound", "-stdout"]
    argv += [f"-cvport={port}", f"{INBOX_FLAG}{inbox}"]
    if gpu is not None:
        argv.append(f"-graphicsadapter={gpu}")
    return argv + list(extra)


def visible_gpu() -> int | None:
    """The first GPU this process was given (Ray sets CUDA_VISIBLE_DEVICES for an actor with a
    GPU); None when none was."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return int(value) if value.isdigit() else None


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As a server binds: connections of an earlier engine lingering in TIME_WAIT do not count,
        # a listener does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(first: int, gpu: int | None, span: int = 200) -> int:
    """The UnrealCV port of the engine for ``gpu``: ``first + gpu`` (distinct for every worker of
    a node, whatever the timing), or without a GPU the first free port from ``first + 100``."""
    if gpu is not None and first + gpu < 65536 and _free(first + gpu):
        return first + gpu
    for port in range(first + 100, min(first + 100 + span, 65536)):
        if _free(port):
            return port
    raise RuntimeError(f"no free port in {first + 100}..{first + 99 + span} for an UnrealCV server")


# prctl resolved here, before any fork: the child of a threaded process must not dlopen.
try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):  # pragma: no cover - no libc symbol
    _PRCTL = None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


class _Launcher:
    """One thread for the whole process that starts every engine (see the module docstring)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._run, name="unreal-launcher", daemon=True).start()

    def _run(self) -> None:
        while True:
            argv, log, done, abandoned = self._jobs.get()
            try:
                with open(log, "ab") as out:
                    proc = subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=_die_with_parent,
                    )
                with self._lock:
                    if abandoned.is_set():  # the caller gave up waiting: nobody will own it
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                        continue
                    done.put(proc)
            except BaseException as exc:  # any failure goes back to the caller; the thread lives on
                done.put(exc)

    def popen(self, argv: list[str], log: Path, timeout: float = 60.0) -> subprocess.Popen:
        done: queue.Queue = queue.Queue()
        abandoned = threading.Event()
        self._jobs.put((argv, log, done, abandoned))
        try:
            result = done.get(timeout=timeout)
        except queue.Empty:
            with self._lock:
                abandoned.set()
                try:  # started in the meantime: ours after all
                    result = done.get_nowait()
                except queue.Empty:
                    raise OSError(
                        f"the launcher thread did not start the engine within {timeout:.0f} s"
                    ) from None
        if isinstance(result, BaseException):
            raise result
        return result


_LAUNCHER: _Launcher | None = None
_LOCK = threading.Lock()


def _launcher() -> _Launcher:
    global _LAUNCHER
    with _LOCK:
        if _LAUNCHER is None:
            _LAUNCHER = _Launcher()
        return _LAUNCHER


class EngineProcess:
    """One engine instance: :meth:`start` launches it, :meth:`stop` ends it and its children."""

    def __init__(self, argv: list[str], log: str | os.PathLike):
        self.argv = argv
        self.log = Path(log)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.proc = _launcher().popen(self.argv, self.log)
        except (OSError, subprocess.SubprocessError, ValueError, TypeError) as exc:
            raise RuntimeError(
                f"engine {self.argv[0]}: cannot start ({getattr(exc, 'strerror', None) or exc})"
            ) from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def owns(self, pid: int) -> bool:
        """Whether process ``pid`` is this engine or one of its session (a launcher script may
        exec or fork the editor)."""
        if self.proc is None:
            return False
        if pid == self.proc.pid:
            return True
        try:
            return os.getsid(pid) == self.proc.pid
        except OSError:
            return False

    def exit_note(self) -> str:
        """How the process ended, for error messages (and the last line of its log)."""
        code = self.proc.poll() if self.proc is not None else None
        tail = ""
        with contextlib.suppress(OSError):
            lines = self.log.read_text(errors="replace").strip().splitlines()
            tail = f"; log: {lines[-1][:160]}" if lines else ""
        return f"engine exited with code {code}{tail}"

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the engine's session, SIGKILL after ``grace`` seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be refused
                    self.proc.wait(5)
        self.proc = None
