"""One launcher per manifest directory: a lease file that names its holder.

``<manifests>/.lock`` holds JSON ``{"host", "pid", "started", "token"}`` and is created with
``O_EXCL``, so of two launchers racing for it exactly one wins. The holder refreshes the file's
modification time (:meth:`Lease.renew`) while it runs and removes it when it ends. A second
launcher is refused with a one-line error naming the holder, unless the lease is stale: its
holder is a dead process on this host, or it has not been renewed for ``stale_after`` seconds
(a launcher on another machine that died). A stale lease is removed under a breaker file (one
launcher at a time, which re-reads the lease first) and then created with O_EXCL again, so
launchers racing for a stale lease end with one holder. A holder that
finds at renewal that it lost the lease (it was judged stale) stops (:class:`LeaseLost`).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path

LOCK = ".lock"
STALE_AFTER = 300.0  # seconds without renewal after which another host's lease is stale


class LockedError(RuntimeError):
    """Another launcher holds the manifest directory."""


class LeaseLost(RuntimeError):
    """The lease was taken over (judged stale): the launcher must stop scheduling."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(holder: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on {holder.get('host')} (since {started})"


class Lease:
    def __init__(self, manifest_dir: str | os.PathLike, stale_after: float = STALE_AFTER):
        self.path = Path(manifest_dir) / LOCK
        self.stale_after = stale_after
        self.token = uuid.uuid4().hex
        self.me = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.time(),
            "token": self.token,
        }

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # half-written by a racing launcher, or garbage: judged by age alone

    def _stale(self, holder: dict) -> bool:
        if holder.get("host") == self.me["host"] and isinstance(holder.get("pid"), int):
            return not _alive(holder["pid"])
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        return age > self.stale_after

    def acquire(self) -> None:
        """Take the lease, or raise :class:`LockedError` naming the live holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(self.me).encode()
        for _ in range(100):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:
                    continue  # released meanwhile: try again
                if not self._stale(holder):
                    raise LockedError(
                        f"{self.path.parent}: already being rendered by {describe(holder)}; "
                        f"wait for it, or delete {self.path} if that launcher is gone"
                    ) from None
                self._break(holder)
                continue  # then create it with O_EXCL like everyone else
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return
        raise LockedError(f"{self.path.parent}: could not take the lease (other launchers keep taking it)")

    def _break(self, stale: dict) -> None:
        """Remove the stale lease ``stale``, and only it: under a breaker file (created with
        O_EXCL, so one launcher at a time), the lease is read again and removed only if it is
        still that holder's. A breaker left by a launcher that died is removed after 30 s."""
        breaker = self.path.with_name(f"{LOCK}.break")
        try:
            fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - breaker.stat().st_mtime > 30:
                    breaker.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
            return
        os.close(fd)
        try:
            if self._holder() == stale:
                self.path.unlink(missing_ok=True)
        finally:
            breaker.unlink(missing_ok=True)

    def held(self) -> bool:
        return (self._holder() or {}).get("token") == self.token

    def renew(self) -> None:
        """Show that the holder is alive (another host judges staleness by this time); raise
        :class:`LeaseLost` when another launcher has taken the lease."""
        if not self.held():
            raise LeaseLost(f"{self.path.parent}: this launcher lost its lease ({self.path}); stopping")
        os.utime(self.path)

    def release(self) -> None:
        if self.held():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
