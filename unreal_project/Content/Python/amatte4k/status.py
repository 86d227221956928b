"""The files the client polls: the status heartbeat and the completion record (no `unreal` import).

Both are written atomically: a temporary sibling in the same folder, fsync, os.replace, so a
reader sees the old or the new file, never half of one.
"""

from __future__ import annotations

import json
import os
import time

STATES = ("loading", "rendering", "done", "error")
FRAME_SUFFIX = ".exr"


def one_line(text: object, limit: int = 400) -> str:
    """str(text) on one line (whitespace runs become one space), at most `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class ReasonError(RuntimeError):
    """An error whose message is already the whole one-line reason (no type prefix)."""


def reason_of(exc: BaseException) -> str:
    """The one-line reason of an exception: `Type: message`, or the message of a ReasonError."""
    if isinstance(exc, ReasonError):
        return one_line(str(exc))
    return one_line(f"{type(exc).__name__}: {exc}")


def cannot_write(path: str, exc: OSError) -> str:
    """`cannot write <path>: <why>`, e.g. `cannot write /o/status.json: Permission denied`."""
    return one_line(f"cannot write {path}: {exc.strerror or exc}")


def write_json_atomic(path: str, record: dict) -> None:
    """Replace `path` with `record` as JSON; creates the folder if needed."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def status_record(
    shot_id: str, state: str, layer: str | None, frames_done: int, frames_total: int, message: str = ""
) -> dict:
    """The heartbeat: state, current layer, frames written so far over all layers, unix time."""
    if state not in STATES:
        raise ValueError(f"status state must be one of {STATES}, got {state!r}")
    return {
        "shot_id": shot_id,
        "state": state,
        "layer": layer,
        "frames_done": int(frames_done),
        "frames_total": int(frames_total),
        "updated": time.time(),
        "message": one_line(message),
    }


def completion_record(shot_id: str, reason: str, layers: dict[str, int], engine: str, seconds: float) -> dict:
    """The last file of a shot: state "done" when reason is empty, else "error" with the reason."""
    return {
        "shot_id": shot_id,
        "state": "error" if reason else "done",
        "reason": one_line(reason),
        "layers": {name: int(n) for name, n in layers.items()},
        "engine": engine,
        "seconds": round(float(seconds), 3),
    }


def count_frames(folder: str) -> int:
    """Number of EXR files in `folder` (0 when it does not exist)."""
    try:
        return sum(1 for name in os.listdir(folder) if name.endswith(FRAME_SUFFIX))
    except FileNotFoundError:
        return 0


def clear_frames(folder: str) -> None:
    """Delete the EXR files a previous attempt left in `folder`, so counts mean this attempt."""
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.endswith(FRAME_SUFFIX):
                os.remove(os.path.join(folder, name))


class StatusWriter:
    """Writes the heartbeat of one shot to its status path."""

    def __init__(self, shot_id: str, path: str, frames_total: int):
        self.shot_id, self.path, self.frames_total = shot_id, path, frames_total

    def write(self, state: str, layer: str | None = None, frames_done: int = 0, message: str = "") -> None:
        """Rewrite the status file now."""
        write_json_atomic(
            self.path, status_record(self.shot_id, state, layer, frames_done, self.frames_total, message)
        )
