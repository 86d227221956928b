"""WebDataset-layout tar shards: one sample per frame, members named ``<key>.<field>``.

A sample is a dict ``{"__key__": "shot00042_0017", "rgb.exr": bytes, "alpha.exr": bytes,
"json": bytes, ...}``. Keys contain no dots, so the stock ``webdataset`` library groups
members into samples the same way :func:`iter_shard` does.

Shards are written under a temporary name and renamed when complete, so a crash never
leaves a file with a final name that is only half written. Tar headers carry fixed
owner, mode and mtime so the same samples give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from render.atomic import commit_file, temp_name
from render.store import open_binary

KEY_FIELD = "__key__"


@dataclass(frozen=True)
class ShardInfo:
    path: Path
    sha256: str
    bytes: int
    samples: int
    first_key: str
    last_key: str


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file here or of an object in a store (``s3://…``)."""
    h = hashlib.sha256()
    with open_binary(path) as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_member_name(name: str, where: str = "") -> None:
    """Reject member names that could escape the extraction directory or are not flat."""
    bad = (
        not name
        or name.startswith(("/", "\\"))
        or "/" in name
        or "\\" in name
        or name in (".", "..")
        or name.startswith("..")
        or "\x00" in name
    )
    if bad:
        raise ValueError(f"{where}: unsafe tar member name {name!r}")


def _member_names(sample: dict) -> list[tuple[str, bytes]]:
    key = sample[KEY_FIELD]
    if "." in key or not key:
        raise ValueError(f"sample key {key!r} must be non-empty and contain no dots")
    out = []
    for field in sorted(k for k in sample if k != KEY_FIELD):
        data = sample[field]
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"sample {key}: field {field!r} must be bytes, got {type(data).__name__}")
        name = f"{key}.{field}"
        check_member_name(name)
        out.append((name, bytes(data)))
    return out


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write_shards(
    samples: Iterable[dict],
    out_dir: str | os.PathLike,
    prefix: str,
    maxsize: int = 3 << 30,
    maxcount: int = 100_000,
    on_close: Callable[[ShardInfo], None] | None = None,
) -> list[ShardInfo]:
    """Write samples into ``<out_dir>/<prefix>-NNN.tar`` shards, each at most ``maxsize`` bytes
    (a single sample larger than that still gets a shard of its own) and ``maxcount`` samples.
    ``on_close`` is called with each shard once it has its final name (say, to upload it).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    infos: list[ShardInfo] = []
    state: dict = {}

    def open_next() -> None:
        final = out_dir / f"{prefix}-{len(infos):03d}.tar"
        tmp = temp_name(final)
        state.update(
            final=final,
            tmp=tmp,
            tar=tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT),
            size=0,
            count=0,
            first=None,
            last=None,
        )

    def close_current() -> None:
        tar = state.pop("tar")
        tar.close()
        commit_file(state["tmp"], state["final"])
        final = state["final"]
        info = ShardInfo(
            final, sha256_file(final), final.stat().st_size, state["count"], state["first"], state["last"]
        )
        infos.append(info)
        if on_close is not None:
            on_close(info)

    try:
        for sample in samples:
            members = _member_names(sample)
            size = sum(512 + (len(d) + 511) // 512 * 512 for _, d in members)
            if (
                "tar" in state
                and state["count"]
                and (state["size"] + size > maxsize or state["count"] >= maxcount)
            ):
                close_current()
            if "tar" not in state:
                open_next()
            for name, data in members:
                _add(state["tar"], name, data)
            state["size"] += size
            state["count"] += 1
            state["first"] = state["first"] or sample[KEY_FIELD]
            state["last"] = sample[KEY_FIELD]
        if "tar" in state:
            close_current()
    finally:
        if "tar" in state:  # an exception left a shard open: drop its temporary file
            state["tar"].close()
            Path(state["tmp"]).unlink(missing_ok=True)
    return infos


def iter_shard(path: str | os.PathLike) -> Iterator[dict]:
    """Yield samples from one shard, grouping consecutive members by key.

    Member names are checked for path traversal; nothing is extracted to disk. ``path``: a file
    here or a URL (``s3://…``, through fsspec).
    """
    path = str(path)
    current: dict | None = None
    with open_binary(path) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        for member in tar:
            check_member_name(member.name, path)
            if not member.isfile():
                raise ValueError(f"{path}: member {member.name!r} is not a regular file")
            key, _, field = member.name.partition(".")
            if not field:
                raise ValueError(f"{path}: member {member.name!r} has no field extension")
            if current is None or current[KEY_FIELD] != key:
                if current is not None:
                    yield current
                current = {KEY_FIELD: key}
            f = tar.extractfile(member)
            assert f is not None
            current[field] = f.read()
    if current is not None:
        yield current
