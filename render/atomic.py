"""Crash-safe file writes: write to a temporary sibling, fsync, rename over the target."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    """A temporary sibling of ``path`` unique to this process on this host (shared storage)."""
    return path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}")


def write_bytes_atomic(path: str | os.PathLike, data: bytes, exclusive: bool = False) -> bool:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never half.

    ``exclusive``: publish only if ``path`` does not exist yet (a hard link, which fails on an
    existing name; on filesystems without hard links, a plain rename); returns whether this
    call published it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    published = True
    if exclusive:
        try:
            os.link(tmp, path)
        except FileExistsError:
            published = False
        except OSError:  # no hard links here: fall back to the rename
            os.replace(tmp, path)
        tmp.unlink(missing_ok=True)
    else:
        os.replace(tmp, path)
    _fsync_dir(path.parent)
    return published


def commit_file(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """fsync a finished temporary file and rename it to its final name."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(Path(final).parent)
