"""Folders named after the process that owns them (``<host>-<pid>``), on node-local scratch or
shared storage: a process killed mid-shot cannot clean up after itself, the next one on its
host does."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path


def own_name() -> str:
    """This process's folder name: ``<host>-<pid>``."""
    return f"{socket.gethostname()}-{os.getpid()}"


def remove_dead(root: str | os.PathLike) -> None:
    """Remove ``root/<this host>-<pid>`` folders whose process is gone (never another host's,
    never a live process's)."""
    host = socket.gethostname()
    try:
        entries = list(Path(root).iterdir())
    except OSError:
        return
    for p in entries:
        name, _, pid = p.name.rpartition("-")
        if name != host or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except PermissionError:
            pass
