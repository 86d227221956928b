"""Where shards and manifests live: a local (or shared POSIX) folder, or an object-store prefix
(``s3://bucket/prefix``, ``gs://…``).

A :class:`Location` (``Location(root)`` gives a :class:`LocalLocation` or an
:class:`ObjectLocation`) offers the few operations the pipeline needs, with the same guarantees:

- ``write_bytes``: readers see the old object or the new one, never half (local: temporary
  sibling, fsync, rename; object store: a PUT, which becomes visible only when complete);
- ``write_bytes(..., exclusive=True)`` and ``create_exclusive``: publish only if the name is
  free, and say whether this call did (local: a hard link or ``O_EXCL``; object store: a
  conditional PUT, ``If-None-Match: *``). :meth:`Location.probe` checks that a store really
  refuses the second of two such writes (S3, GCS and MinIO do) before anything relies on it;
- listings and existence are read fresh from the store (fsspec's listing cache is dropped first:
  other processes write here too);
- an object store's errors (network, permissions, throttling) surface as one-line
  :class:`StoreError` messages, not as the client library's exceptions.

Endpoints and credentials are fsspec's and the store's own: ``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID`` … for S3 and S3-compatible servers, ``GOOGLE_APPLICATION_CREDENTIALS`` for
GCS, or fsspec's config files. Nothing here opens a connection to anything not named so.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shlex
import sys
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from render.atomic import commit_file, temp_name, write_bytes_atomic


class StoreError(OSError):
    """A store that cannot be used as asked (one line, for the user)."""


def is_url(location: str | os.PathLike) -> bool:
    """True for ``scheme://…`` locations other than ``file://`` (those are local paths)."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def local_path(location: str | os.PathLike) -> Path:
    """A local location as a path (``file://`` stripped)."""
    text = str(location)
    return Path(text[len("file://") :] if text.startswith("file://") else text)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _error_code(exc: BaseException) -> str | None:
    """The store's error code (``PreconditionFailed`` …) behind a translated exception."""
    seen = 0
    while exc is not None and seen < 8:
        response = getattr(exc, "response", None)
        if isinstance(response, dict) and isinstance(response.get("Error"), dict):
            return response["Error"].get("Code")
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def join_url(base: str, rel: str) -> str:
    """``rel`` (``a/b``, ``../x``) below the URL ``base``, with ``..`` resolved; a ``rel`` that
    would leave the bucket is an error."""
    scheme, _, rest = base.partition("://")
    joined = posixpath.normpath(posixpath.join(rest, rel))
    if rel.startswith("/") or joined.startswith("..") or joined.split("/", 1)[0] != rest.split("/", 1)[0]:
        raise ValueError(f"{rel!r} below {base}: leaves the bucket")
    return f"{scheme}://{joined}"


def filesystem(url: str):
    """(fsspec filesystem, path inside it) for ``url``; a one-line error when the protocol's
    package is not installed (``pip install -e '.[s3]'`` or ``'.[gcs]'``)."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise StoreError(f"{url}: cannot open this store here ({_one_line(exc)})") from exc


def open_binary(location: str | os.PathLike) -> IO[bytes]:
    """A file or object opened for reading bytes (the caller closes it)."""
    if is_url(location):
        fs, path = filesystem(str(location))
        with _translated(str(location)):
            return fs.open(path, "rb")
    return open(local_path(location), "rb")


@contextlib.contextmanager
def _translated(where: str) -> Iterator[None]:
    """Object-store errors as :class:`StoreError`; FileNotFoundError and FileExistsError pass."""
    try:
        yield
    except (FileNotFoundError, FileExistsError, StoreError):
        raise
    except Exception as exc:  # botocore, aiohttp, google-auth: none of them is one line
        raise StoreError(f"{where}: {_one_line(exc)}") from exc


class Location(ABC):
    """A folder on this machine's file system, or a prefix in an object store."""

    remote: bool
    root: str  # an absolute path, or a URL without a trailing slash

    def __new__(cls, root: str | os.PathLike):
        if cls is Location:
            cls = ObjectLocation if is_url(root) else LocalLocation
        return super().__new__(cls)

    def __getnewargs__(self) -> tuple[str]:  # pickling and copying go through __new__
        return (self.root,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"

    def __str__(self) -> str:
        return self.root

    def child(self, *parts: str) -> Location:
        return Location(self.url(*parts))

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode("utf-8")

    def write_text(self, rel: str, text: str, exclusive: bool = False) -> bool:
        return self.write_bytes(rel, text.encode("utf-8"), exclusive)

    def age(self, rel: str) -> float | None:
        """Seconds since ``rel`` was last written, by the store's clock (see :meth:`now`); None
        when missing. Object stores stamp whole seconds."""
        mtime = self.mtime(rel)
        return None if mtime is None else self.now() - mtime

    def now(self) -> float:
        """The store's current time: the modification time of a probe written now. An NFS
        server or an object store stamps files with its own clock, so ages measured against it
        do not depend on this machine's clock agreeing with the store's."""
        probe = f".clock-{uuid.uuid4().hex}"
        self.write_bytes(probe, b"")
        try:
            stamp = self.mtime(probe)
        finally:
            self.delete(probe)
        if stamp is None:
            raise StoreError(f"{self.url(probe)}: written, then not found; cannot read the store's clock")
        return stamp

    # What LocalLocation and ObjectLocation implement (abstract: a subclass missing one cannot be made).
    @abstractmethod
    def url(self, *parts: str) -> str:
        """The full location of ``parts`` below the root (a path here, or a URL)."""

    @abstractmethod
    def read_bytes(self, rel: str) -> bytes:
        """The content of ``rel``; FileNotFoundError when there is none."""

    @abstractmethod
    def exists(self, rel: str) -> bool: ...

    @abstractmethod
    def is_file(self, rel: str) -> bool: ...

    @abstractmethod
    def list(self, rel: str = "", suffix: str = "", prefix: str = "") -> list[str]:
        """Names of the files directly in ``rel`` with ``prefix`` and ``suffix``, sorted."""

    @abstractmethod
    def mtime(self, rel: str) -> float | None:
        """When ``rel`` was last written (the store's clock); None when missing."""

    @abstractmethod
    def write_bytes(self, rel: str, data: bytes, exclusive: bool = False) -> bool: ...

    @abstractmethod
    def create_exclusive(self, rel: str, data: bytes) -> bool: ...

    @abstractmethod
    def touch(self, rel: str) -> None: ...

    @abstractmethod
    def upload(self, local: str | os.PathLike, rel: str, exclusive: bool = False) -> None: ...

    @abstractmethod
    def delete(self, rel: str) -> None:
        """Remove ``rel`` if it exists."""

    @abstractmethod
    def mkdir(self) -> None: ...

    @abstractmethod
    def probe(self) -> None: ...


class LocalLocation(Location):
    remote = False

    def __init__(self, root: str | os.PathLike):
        self.root = str(local_path(root).resolve())

    def _p(self, rel: str) -> Path:
        return Path(self.root, rel)

    def url(self, *parts: str) -> str:
        return str(Path(self.root, *parts))

    def read_bytes(self, rel: str) -> bytes:
        """The content of ``rel``; FileNotFoundError when there is none."""
        return self._p(rel).read_bytes()

    def exists(self, rel: str) -> bool:
        return self._p(rel).exists()

    def is_file(self, rel: str) -> bool:
        return self._p(rel).is_file()

    def list(self, rel: str = "", suffix: str = "", prefix: str = "") -> list[str]:
        """Names of the files directly in ``rel`` with ``prefix`` and ``suffix``, sorted."""
        try:
            names = [p.name for p in self._p(rel).iterdir() if p.is_file()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in names if n.endswith(suffix) and n.startswith(prefix))

    def mtime(self, rel: str) -> float | None:
        try:
            return self._p(rel).stat().st_mtime
        except FileNotFoundError:
            return None

    def write_bytes(self, rel: str, data: bytes, exclusive: bool = False) -> bool:
        """Publish ``data`` as ``rel`` whole (temporary sibling, fsync, rename); with
        ``exclusive``, only when ``rel`` does not exist yet. Returns whether this call did."""
        return write_bytes_atomic(self._p(rel), data, exclusive)

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Create ``rel`` only if it does not exist (``O_EXCL``; no temporary file: for locks)."""
        path = self._p(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True

    def touch(self, rel: str) -> None:
        """Set the modification time of an existing ``rel`` to now (the file server's now)."""
        os.utime(self._p(rel))

    def upload(self, local: str | os.PathLike, rel: str, exclusive: bool = False) -> None:
        """Copy a finished local file to ``rel`` (temporary sibling, fsync, rename or link);
        ``exclusive``: FileExistsError rather than replace an existing ``rel``."""
        target = self._p(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(target)
        with open(local, "rb") as src, open(tmp, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        try:
            if exclusive:
                os.link(tmp, target)
            else:
                commit_file(tmp, target)
        except FileExistsError:
            raise FileExistsError(f"{target}: exists already; not replaced") from None
        finally:
            tmp.unlink(missing_ok=True)

    def delete(self, rel: str) -> None:
        """Remove ``rel`` if it exists."""
        self._p(rel).unlink(missing_ok=True)

    def mkdir(self) -> None:
        Path(self.root).mkdir(parents=True, exist_ok=True)

    def probe(self) -> None:
        """A local folder needs no check here (the launcher checks that it is a folder)."""


class ObjectLocation(Location):
    remote = True

    def __init__(self, root: str | os.PathLike):
        self.root = str(root).rstrip("/")
        self._fs, base = filesystem(self.root)
        self._base = base.rstrip("/")

    def _p(self, rel: str) -> str:
        return posixpath.normpath(f"{self._base}/{rel}") if rel else self._base

    def url(self, *parts: str) -> str:
        return join_url(self.root, "/".join(parts)) if parts else self.root

    def read_bytes(self, rel: str) -> bytes:
        with _translated(self.url(rel)):
            return self._fs.cat_file(self._p(rel))

    def exists(self, rel: str) -> bool:
        with _translated(self.url(rel)):
            self._fs.invalidate_cache()
            return self._fs.exists(self._p(rel))

    def is_file(self, rel: str) -> bool:
        with _translated(self.url(rel)):  # not fs.isfile: it answers False for any error
            self._fs.invalidate_cache()
            try:
                return self._fs.info(self._p(rel))["type"] == "file"
            except FileNotFoundError:
                return False

    def list(self, rel: str = "", suffix: str = "", prefix: str = "") -> list[str]:
        with _translated(self.url(rel)):
            self._fs.invalidate_cache()
            try:
                entries = self._fs.ls(self._p(rel), detail=True)
            except FileNotFoundError:
                return []
        names = [e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "file"]
        return sorted(n for n in names if n.endswith(suffix) and n.startswith(prefix))

    def mtime(self, rel: str) -> float | None:
        with _translated(self.url(rel)):
            self._fs.invalidate_cache()
            try:
                return self._fs.modified(self._p(rel)).timestamp()
            except FileNotFoundError:
                return None

    def _put(self, rel: str, data: bytes, create: bool, **extra) -> bool:
        """PUT ``data``; with ``create``, only if ``rel`` does not exist (False when it does).
        A conflicting concurrent conditional write (409) is retried."""
        for attempt in range(5):
            try:
                with _translated(self.url(rel)):
                    self._fs.pipe_file(self._p(rel), data, mode="create" if create else "overwrite", **extra)
                return True
            except FileExistsError:
                return False
            except StoreError as exc:
                code = _error_code(exc)
                if create and code == "PreconditionFailed":  # some servers omit the condition name
                    return False
                if code == "ConditionalRequestConflict" and attempt < 4:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise
        return False  # not reached

    def write_bytes(self, rel: str, data: bytes, exclusive: bool = False) -> bool:
        """Publish ``data`` as ``rel`` (a PUT is visible only whole); with ``exclusive``, a
        conditional PUT that the store refuses when ``rel`` exists. Returns whether this call
        published it."""
        return self._put(rel, data, create=exclusive)

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        return self._put(rel, data, create=True)

    def touch(self, rel: str) -> None:
        """Write ``rel``'s bytes again (objects are immutable); on S3 only if it is still the
        object just read (``If-Match``), so a lease released meanwhile is not brought back."""
        with _translated(self.url(rel)):
            info = self._fs.info(self._p(rel))
        data = self.read_bytes(rel)
        match = {"IfMatch": info["ETag"]} if self._s3 and info.get("ETag") else {}
        try:
            self._put(rel, data, create=False, **match)
        except StoreError as exc:
            if _error_code(exc) in ("PreconditionFailed", "NoSuchKey"):
                raise FileNotFoundError(f"{self.url(rel)}: changed or removed meanwhile") from exc
            raise

    def upload(self, local: str | os.PathLike, rel: str, exclusive: bool = False) -> None:
        """Copy a finished local file to ``rel`` (the object appears only when complete);
        ``exclusive``: a conditional PUT, FileExistsError when ``rel`` exists."""
        size = os.path.getsize(local)
        try:
            with _translated(self.url(rel)):
                self._fs.put_file(str(local), self._p(rel), mode="create" if exclusive else "overwrite")
                self._fs.invalidate_cache()
                stored = self._fs.size(self._p(rel))
        except FileExistsError:
            raise FileExistsError(f"{self.url(rel)}: exists already; not replaced") from None
        except StoreError as exc:
            if exclusive and _error_code(exc) == "PreconditionFailed":
                raise FileExistsError(f"{self.url(rel)}: exists already; not replaced") from exc
            raise
        if stored != size:
            raise StoreError(f"{self.url(rel)}: upload incomplete ({stored} of {size} bytes)")

    def delete(self, rel: str) -> None:
        with _translated(self.url(rel)):
            try:
                self._fs.rm_file(self._p(rel))
            except FileNotFoundError:
                pass

    def mkdir(self) -> None:
        """An object store has no folders to make."""

    def probe(self) -> None:
        """Check that this prefix can be written, read and deleted here, and that the store
        refuses a second conditional create of one name (records and the lease rely on it):
        a :class:`StoreError` naming the cause otherwise (no bucket, credentials, endpoint,
        a store without conditional writes)."""
        name = f".probe-{uuid.uuid4().hex}"
        try:
            if not self._put(name, b"probe", create=True):
                raise StoreError(f"{self.url(name)}: exists already")
            refused = not self._put(name, b"again", create=True)
            kept = self.read_bytes(name) == b"probe"
            if_match = not self._s3 or self._refuses_stale_if_match(name)
        except FileNotFoundError as exc:  # s3fs: NoSuchBucket
            raise StoreError(f"{self.root}: cannot write there ({_one_line(exc)})") from exc
        finally:
            with contextlib.suppress(OSError):
                self.delete(name)
        if not (refused and kept):
            raise StoreError(
                f"{self.root}: this store does not refuse a second conditional create (If-None-Match); "
                "shot records and the launcher's lease need it (S3, GCS and MinIO have it)"
            )
        if not if_match:
            raise StoreError(
                f"{self.root}: a PUT with a stale If-Match was accepted (botocore too old to send it?); "
                "the lease's renewal needs it: upgrade s3fs/botocore"
            )

    @property
    def _s3(self) -> bool:
        protocol = self._fs.protocol
        return "s3" in (protocol if isinstance(protocol, tuple) else (protocol,))

    def _refuses_stale_if_match(self, name: str) -> bool:
        """Whether a PUT over the existing ``name`` with an ETag it does not have is refused."""
        try:
            self._put(name, b"x", create=False, IfMatch='"00000000000000000000000000000000"')
        except StoreError as exc:
            return _error_code(exc) == "PreconditionFailed"
        return False


def webdataset_url(location: str) -> str:
    """A shard location the stock ``webdataset`` library opens: a local path as it is; an
    object-store URL as a ``pipe:`` command that streams it through fsspec (webdataset 1.0 has
    no S3 handler of its own), e.g. ``wds.WebDataset([webdataset_url(s["path"]) ...])``. The
    reader's Python must be able to import this package."""
    if not is_url(location):
        return str(local_path(location))
    return f"pipe:{shlex.quote(sys.executable)} -m render.store cat {shlex.quote(location)}"


def _cat(url: str) -> int:
    """``python -m render.store cat URL``: write an object to stdout (for ``pipe:`` readers)."""
    try:
        with open_binary(url) as f:
            while block := f.read(1 << 20):
                sys.stdout.buffer.write(block)
    except Exception as exc:  # any client error: one line for the pipe's reader
        print(f"error: {url}: {_one_line(exc)}", file=sys.stderr)
        return 1
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "cat":
        print("usage: python -m render.store cat URL", file=sys.stderr)
        sys.exit(2)
    sys.exit(_cat(sys.argv[2]))
