"""The folder an engine takes jobs from (the UE side: unreal_project/Content/Python/amatte4k/
inbox.py and unreal_project/README.md). UnrealCV cannot hand a job over in the editor (its
console command needs a game world), so jobs travel as files:

- the engine, started with ``-AM4KInbox=DIR``, rewrites ``DIR/engine.json`` every 0.5 s
  (pid, engine version, idle or busy with which shot, ``updated``);
- a job is the job JSON written as ``DIR/<shot>-<nonce>.job.json``; an idle engine claims the
  first by name by renaming it ``….job.json.taken`` and reports through the job's status and
  completion files (or, when it cannot write those, ``DIR/<shot>-<nonce>.done.json``); a job
  past its ``expires_at`` is not rendered;
- ``DIR/cancel.json`` (``{"shot_id": …}``) asks it to stop that shot.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path

from render.atomic import write_bytes_atomic

ENGINE = "engine.json"
CANCEL = "cancel.json"
SUFFIX = ".job.json"


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object at ``path``, or None (absent, or caught mid-write)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: str | os.PathLike, obj: dict) -> None:
    """Atomically: a reader sees the old file or the new one, never a part (the temporary
    name starts with "." and is never taken for a job)."""
    write_bytes_atomic(path, json.dumps(obj, indent=1).encode())


def engine_state(inbox: str | os.PathLike) -> dict | None:
    return read_json(Path(inbox) / ENGINE)


def submit(inbox: str | os.PathLike, job: dict) -> Path:
    """Put ``job`` in the inbox; the path of its file (claimed when renamed ``.taken``)."""
    path = Path(inbox) / f"{job['shot_id']}-{uuid.uuid4().hex[:8]}{SUFFIX}"
    write_json(path, job)
    return path


def fallback_record(job_file: Path) -> Path:
    """Where the engine writes a job's completion record when it cannot write the job's own
    (``<X>.job.json`` → ``<X>.done.json`` in the inbox)."""
    return job_file.with_name(job_file.name[: -len(SUFFIX)] + ".done.json")


def withdraw(job_file: Path) -> bool:
    """Remove a job the engine has not taken yet; True when it was still waiting."""
    try:
        job_file.unlink()
        return True
    except FileNotFoundError:
        return False


def cancel(inbox: str | os.PathLike, shot_id: str) -> None:
    """Ask the engine to stop ``shot_id`` if it is rendering it."""
    with contextlib.suppress(OSError):
        write_json(Path(inbox) / CANCEL, {"shot_id": shot_id})
