"""The inbox folder through which a client hands shots to the engine (protocol 1; no `unreal` import).

The engine is started with `-AM4KInbox=<absolute folder>` (else the environment variable
AM4K_INBOX names the folder). One engine per inbox. In that folder:

  <name>.job.json        the client's job (schema 1), written atomically: a temporary name that
                         does not end in .job.json (or starts with "."), then a rename
  <name>.job.json.taken  the engine's claim: it renames the job file before reading it, and
                         deletes it once the job's record is written
  <name>.done.json       the fallback error record of a claimed job: one that cannot be read,
                         has expired (expires_at in the past), or whose status or record cannot
                         be written to its output paths (otherwise the record goes to output.done)
  engine.json            the engine's heartbeat, rewritten atomically every TICK_S
  cancel.json            the client's cancel request {"shot_id": X}; the engine deletes it

Watcher.tick runs from a Slate post-tick callback; its unreal-facing work (start, cancel,
the running shot) is passed in as callables, so this module stays pure.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping

from .status import write_json_atomic

PROTOCOL = 1
ARG = "-AM4KInbox="
ENV = "AM4K_INBOX"
JOB_SUFFIX = ".job.json"
TAKEN_SUFFIX = ".taken"
DONE_SUFFIX = ".done.json"
ENGINE_FILE = "engine.json"
CANCEL_FILE = "cancel.json"
TICK_S = 0.5  # the watcher acts at most this often; engine.json is rewritten each time
CANCEL_REASON = "cancelled by the client"
EXPIRED_REASON = "expired before it was taken"


def split_command_line(line: str) -> list[str]:
    """Whitespace-separated arguments; double quotes group and are removed (`-A="x y"` -> `-A=x y`).
    Backslashes are kept as they are (Windows paths)."""
    args: list[str] = []
    current: list[str] = []
    quoted = started = False
    for ch in line:
        if ch == '"':
            quoted, started = not quoted, True
        elif ch.isspace() and not quoted:
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(ch)
            started = True
    if started:
        args.append("".join(current))
    return args


def inbox_from_command_line(line: str) -> str | None:
    """The value of -AM4KInbox= (case-insensitive, as UE parses switches), the last one if
    repeated; None when absent or empty."""
    found = None
    for arg in split_command_line(line):
        if arg[: len(ARG)].lower() == ARG.lower():
            found = arg[len(ARG) :] or None
    return found


def resolve_inbox(command_line: str, environ: Mapping[str, str]) -> str | None:
    """The inbox folder from the command line, else from AM4K_INBOX; None without either.
    ValueError when the folder is not absolute or contains whitespace."""
    folder = inbox_from_command_line(command_line) or environ.get(ENV) or None
    if folder is None:
        return None
    if not os.path.isabs(folder) or any(c.isspace() for c in folder):
        raise ValueError(f"the inbox must be an absolute folder without spaces, got {folder!r}")
    return os.path.normpath(folder)


def is_job_name(name: str) -> bool:
    """A job file the client has finished writing: <name>.job.json, not a hidden temporary."""
    return name.endswith(JOB_SUFFIX) and not name.startswith(".") and len(name) > len(JOB_SUFFIX)


def next_job(names: Iterable[str]) -> str | None:
    """The job to take next from a directory listing: the first job file name in sort order."""
    return min((n for n in names if is_job_name(n)), default=None)


def taken_name(job_name: str) -> str:
    """The name a claimed job file is renamed to."""
    return job_name + TAKEN_SUFFIX


def done_name(job_name: str) -> str:
    """Where the error record of an unreadable job goes: <name>.done.json."""
    return job_name[: -len(JOB_SUFFIX)] + DONE_SUFFIX


def fallback_done_path(job_path: str) -> str:
    """Where the fallback record of the job at `job_path` goes: <inbox>/<X>.done.json for
    <X>.job.json (claimed or not), else done.json beside the file (a job started by hand)."""
    folder, name = os.path.split(job_path)
    if name.endswith(TAKEN_SUFFIX):
        name = name[: -len(TAKEN_SUFFIX)]
    return os.path.join(folder, done_name(name) if is_job_name(name) else "done.json")


def expires_at(job: object) -> float | None:
    """The job's "expires_at" (unix seconds); None when absent or null. ValueError otherwise."""
    value = job.get("expires_at") if isinstance(job, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"'expires_at' must be unix seconds or null, got {value!r}")
    return float(value)


def is_expired(job: object, now: float) -> bool:
    """True when the job's expires_at is in the past (ValueError for a bad expires_at)."""
    deadline = expires_at(job)
    return deadline is not None and deadline < now


def client_of(job: object) -> str:
    """ "host:pid" of the job's "client" ({"host": str, "pid": int}), for the log; "" if none."""
    client = job.get("client") if isinstance(job, dict) else None
    if not isinstance(client, dict):
        return ""
    return f"{client.get('host', '?')}:{client.get('pid', '?')}"


def engine_record(pid: int, engine: str, shot_id: str | None, inbox: str, now: float) -> dict:
    """The engine.json heartbeat: "busy" with the running shot's id, else "idle" with null."""
    return {
        "pid": int(pid),
        "engine": str(engine),
        "state": "busy" if shot_id else "idle",
        "shot_id": shot_id or None,
        "updated": float(now),
        "inbox": inbox,
    }


def parse_cancel(text: str) -> str | None:
    """The shot id of a cancel request `{"shot_id": X}`; None when it is not one."""
    try:
        request = json.loads(text)
    except ValueError:
        return None
    shot_id = request.get("shot_id") if isinstance(request, dict) else None
    return shot_id if isinstance(shot_id, str) and shot_id else None


class Throttle:
    """due(now) is True at most once per `interval` seconds (the first call is due)."""

    def __init__(self, interval: float = TICK_S):
        self.interval, self.last = interval, None

    def due(self, now: float) -> bool:
        if self.last is not None and now - self.last < self.interval:
            return False
        self.last = now
        return True


def claim(inbox: str, job_name: str) -> str | None:
    """Rename the job file to its .taken name; the new path, or None when another taker won
    (or the file went away)."""
    taken = os.path.join(inbox, taken_name(job_name))
    try:
        os.replace(os.path.join(inbox, job_name), taken)
    except OSError:
        return None
    return taken


def take_cancel(inbox: str) -> tuple[bool, str | None]:
    """(present, shot id) of cancel.json, which is deleted whatever it says."""
    path = os.path.join(inbox, CANCEL_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return False, None
    except OSError:
        text = ""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    return True, parse_cancel(text)


class Watcher:
    """Takes jobs from the inbox one at a time and reports the engine's state.

    start(job_path, fallback_done) starts a shot (it writes the shot's records itself);
    running() is the running shot's id or None; cancel(shot_id, reason) stops that shot.
    """

    def __init__(
        self,
        inbox: str,
        engine: str,
        start: Callable[[str, str], object],
        running: Callable[[], str | None],
        cancel: Callable[[str, str], object],
        log: Callable[[str], object] = print,
        pid: int | None = None,
    ):
        self.inbox, self.engine = inbox, engine
        self.start, self.running, self.cancel, self.log = start, running, cancel, log
        self.pid = os.getpid() if pid is None else pid
        self.throttle = Throttle(TICK_S)
        self.clock: Callable[[], float] = time.monotonic
        self.wall: Callable[[], float] = time.time
        self.handle = None  # the Slate callback handle, set by whoever registers tick

    def tick(self, delta_seconds: float = 0.0) -> None:
        """The Slate post-tick callback: step() at most every TICK_S; never raises."""
        if not self.throttle.due(self.clock()):
            return
        try:
            self.step()
        except Exception as exc:  # a callback exception would only be logged by UE anyway
            self.log(f"AlphaMatte4K inbox: {type(exc).__name__}: {exc}")

    def step(self) -> None:
        """Handle cancel.json, take the next job when idle, then rewrite engine.json."""
        shot_id = self.running()
        present, cancel_id = take_cancel(self.inbox)
        if present:
            if shot_id is not None and cancel_id == shot_id:
                self.cancel(shot_id, CANCEL_REASON)
                shot_id = self.running()
            else:
                self.log(f"AlphaMatte4K inbox: cancel of {cancel_id!r} ignored, running {shot_id!r}")
        if shot_id is None:
            name = next_job(os.listdir(self.inbox))
            taken = claim(self.inbox, name) if name else None
            if taken:
                self.start(taken, os.path.join(self.inbox, done_name(name)))
                shot_id = self.running()
        self.write_engine(shot_id)

    def write_engine(self, shot_id: str | None) -> None:
        """Rewrite engine.json now."""
        record = engine_record(self.pid, self.engine, shot_id, self.inbox, self.wall())
        write_json_atomic(os.path.join(self.inbox, ENGINE_FILE), record)
