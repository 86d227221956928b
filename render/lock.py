"""One launcher per manifest directory: a lease file that names its holder.

``<manifests>/.lock`` holds JSON ``{"host", "pid", "started", "token"}`` and is created with
``O_EXCL``, so of two launchers racing for it exactly one wins. The holder refreshes the file's
modification time (:meth:`Lease.renew`) while it runs and removes it when it ends. A second
launcher is refused with a one-line error naming the holder, unless the lease is stale: its
holder is a dead process on this host, or it has not been renewed for ``stale_after`` seconds
(a launcher on another machine that died). That age is read on the storage's own clock
(:meth:`render.store.Location.age`), so launchers whose clocks disagree still agree on it. A
stale lease is removed under a breaker file (one launcher at a time, which re-reads the lease
first) and then created with O_EXCL again, so launchers racing for a stale lease end with one
holder. A holder that finds at renewal that it lost the lease (it was judged stale) stops
(:class:`LeaseLost`).

In an object store (``s3://…`` manifests) the same protocol runs on objects: the lease and the
breaker are created with a conditional PUT (``If-None-Match: *``, which S3, GCS and MinIO
honour), renewal writes the lease again, and staleness is judged by the object's modification
time as the store reports it.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid

from render.store import Location, StoreError

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
    def __init__(self, manifest_dir: str | os.PathLike | Location, stale_after: float = STALE_AFTER):
        self.where = manifest_dir if isinstance(manifest_dir, Location) else Location(manifest_dir)
        self.path = self.where.url(LOCK)  # for messages
        self.stale_after = stale_after
        self.token = uuid.uuid4().hex
        self.renewed = time.monotonic()  # last successful renewal (or the start)
        self.me = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.time(),
            "token": self.token,
        }

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.where.read_bytes(LOCK))
        except FileNotFoundError:
            return None
        except StoreError:  # the store did not answer: not evidence about the holder
            raise
        except (OSError, ValueError):
            return {}  # half-written by a racing launcher, or garbage: judged by age alone

    def _stale(self, holder: dict) -> bool:
        if holder.get("host") == self.me["host"] and isinstance(holder.get("pid"), int):
            return not _alive(holder["pid"])
        age = self.where.age(LOCK)
        return age is None or age > self.stale_after

    def acquire(self) -> None:
        """Take the lease, or raise :class:`LockedError` naming the live holder."""
        self.where.mkdir()
        data = json.dumps(self.me).encode()
        for _ in range(100):
            if self.where.create_exclusive(LOCK, data):
                return
            holder = self._holder()
            if holder is None:
                continue  # released meanwhile: try again
            if holder.get("token") == self.token:  # our own write, whose reply was lost
                return
            if not self._stale(holder):
                raise LockedError(
                    f"{self.where}: already being rendered by {describe(holder)}; "
                    f"wait for it, or delete {self.path} if that launcher is gone"
                )
            self._break(holder)  # then create it exclusively like everyone else
        raise LockedError(f"{self.where}: could not take the lease (other launchers keep taking it)")

    def _break(self, stale: dict) -> None:
        """Remove the stale lease ``stale``, and only it: under a breaker file (created with
        O_EXCL, so one launcher at a time), the lease is read again and removed only if it is
        still that holder's. A breaker left by a launcher that died is removed after 30 s."""
        breaker = f"{LOCK}.break"
        if not self.where.create_exclusive(breaker, self.token.encode()):
            age = self.where.age(breaker)
            if age is not None and age > 30:
                self.where.delete(breaker)
            time.sleep(0.05)
            return
        try:
            if self._holder() == stale:
                self.where.delete(LOCK)
        finally:
            self.where.delete(breaker)

    def held(self) -> bool:
        return (self._holder() or {}).get("token") == self.token

    def renew(self) -> None:
        """Show that the holder is alive (another host judges staleness by this time); raise
        :class:`LeaseLost` when another launcher has taken the lease."""
        try:
            if not self.held():
                raise LeaseLost(f"{self.where}: this launcher lost its lease ({self.path}); stopping")
            self.where.touch(LOCK)
        except FileNotFoundError:  # broken as stale between the check and the renewal
            raise LeaseLost(f"{self.where}: this launcher lost its lease ({self.path}); stopping") from None
        except StoreError as exc:  # a blip: fine until the lease could look stale to others
            if time.monotonic() - self.renewed > self.stale_after / 2:
                raise LeaseLost(
                    f"{self.where}: could not renew the lease for {self.stale_after / 2:.0f} s ({exc}); stopping"
                ) from exc
            return
        self.renewed = time.monotonic()

    def release(self) -> None:
        if self.held():
            self.where.delete(LOCK)

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
