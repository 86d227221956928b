"""Random access into αMatte4K tar shards by member offset.

Scanning a tar reads only its 512-byte headers (tarfile seeks over the data), so indexing a
dataset costs one pass over the headers; afterwards a clip reads exactly the byte ranges of
the members it needs with one seek each, instead of streaming whole shards.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass

from render.shards import check_member_name


@dataclass(frozen=True)
class Member:
    """Where one member's bytes live: ``size`` bytes at ``offset`` of the tar file ``path``."""

    path: str
    offset: int
    size: int


@dataclass(frozen=True)
class Frame:
    shot_id: str
    frame: int
    key: str
    fields: dict[str, Member]


def split_key(key: str, where: str) -> tuple[str, int]:
    """``shot00042_0017`` -> ("shot00042", 17)."""
    shot_id, sep, number = key.rpartition("_")
    if not sep or not shot_id or not number.isdigit():
        raise ValueError(f"{where}: sample key {key!r} is not <shot_id>_<frame number>")
    return shot_id, int(number)


def scan_shard(path: str, shot_id: str | None = None) -> list[Frame]:
    """Frames of one shard in file order, with the offsets of their members.

    ``shot_id``: the shot the manifest says this shard holds; a key of another shot is an error.
    """
    frames: dict[str, dict[str, Member]] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            for info in tar:
                check_member_name(info.name, path)
                if not info.isfile():
                    raise ValueError(f"{path}: member {info.name!r} is not a regular file")
                key, _, field = info.name.partition(".")
                if not field:
                    raise ValueError(f"{path}: member {info.name!r} has no field extension")
                frames.setdefault(key, {})[field] = Member(path, info.offset_data, info.size)
    except tarfile.TarError as exc:
        raise ValueError(f"{path}: not a readable tar shard ({exc})") from exc
    out = []
    for key, fields in frames.items():
        shot, number = split_key(key, path)
        if shot_id is not None and shot != shot_id:
            raise ValueError(
                f"{path}: key {key!r} belongs to shot {shot!r}, but the manifest lists {shot_id!r}"
            )
        out.append(Frame(shot, number, key, fields))
    return out


def read_member(member: Member, key: str = "") -> bytes:
    with open(member.path, "rb") as f:
        f.seek(member.offset)
        data = f.read(member.size)
    if len(data) != member.size:
        raise ValueError(
            f"{member.path}: {key} truncated ({len(data)} of {member.size} bytes at {member.offset})"
        )
    return data
