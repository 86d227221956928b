"""Unreal Engine processes this backend owns: one per GPU, each with its own UnrealCV port.

The command line follows the brief (unreal.md §4): the editor binary with the project, offscreen
rendering, no prompts, the UnrealCV port and the GPU. The process starts in a session of its
own and is sent SIGKILL when the process that launched it dies (Linux), so an engine never
outlives its render worker; its log goes to a file beside the work directories.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def command_line(
    engine: str, project: str, port: int, gpu: int | None, extra: tuple[str, ...] = ()
) -> list[str]:
    """The argv of one engine instance (pure)."""
    argv = [engine, str(project), "-RenderOffScreen", "-unattended", "-nosplash", "-nosound", "-stdout"]
    argv.append(f"-cvport={port}")
    if gpu is not None:
        argv.append(f"-graphicsadapter={gpu}")
    return argv + list(extra)


def visible_gpu() -> int | None:
    """The first GPU this process was given (Ray sets CUDA_VISIBLE_DEVICES for an actor with a
    GPU); None when none was."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return int(value) if value.isdigit() else None


def free_port(first: int, span: int = 200) -> int:
    """The first port from ``first`` on that nothing on this host listens on."""
    for port in range(first, min(first + span, 65536)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}..{first + span - 1} for an UnrealCV server")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class EngineProcess:
    """One engine instance: :meth:`start` launches it, :meth:`stop` ends it and its children."""

    def __init__(self, argv: list[str], log: str | os.PathLike):
        self.argv = argv
        self.log = Path(log)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise RuntimeError(f"engine {self.argv[0]}: cannot start ({exc.strerror or exc})") from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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
                self.proc.wait(5)
        self.proc = None
