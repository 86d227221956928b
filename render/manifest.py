"""The manifest directory: plan, resolved config, one record per finished shot, and the index.

Layout of ``manifests/``::

    config.yaml        resolved dataset config (with seed)
    plan.jsonl         one frozen shot spec per line, in shot order
    shots/<id>.json    written atomically by the worker once all of a shot's shards exist
    failed/<id>.json   last error of a shot that ran out of retries
    index.json         derived from shots/: every shard with sha256, size and counts

A shot belongs to the dataset exactly when its record exists; the index is rebuilt from the
records, so it can never list a shard whose shot is incomplete. Shard locations are stored
relative to the manifest directory (or as URLs), so a dataset can be moved as a whole.

The directory may be a local (or shared POSIX) folder or an object-store prefix
(``s3://bucket/manifests``): every read and write goes through :class:`render.store.Location`,
which keeps the same atomicity on both (whole-object PUTs, conditional create for records).
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import asdict, dataclass, field
from pathlib import Path

from render.store import Location, is_url, local_path

FORMAT = "amatte4k-manifest/1"
INDEX = "index.json"
PLAN = "plan.jsonl"
CONFIG = "config.yaml"
# The shard root (``--out``): shards in SHARD_DIR, each shot's render work in WORK_DIR/<shot_id>.
SHARD_DIR = "shards"
WORK_DIR = ".work"
# The sample field each render pass is stored as (docs/dataset_format.md).
FIELDS = {"rgb": "rgb.exr", "alpha": "alpha.exr", "fg": "fg.exr", "bg": "bg.exr", "lowres": "lowres.exr"}


@dataclass(frozen=True)
class ShardEntry:
    url: str  # relative to the manifest directory, or an absolute URL
    sha256: str
    bytes: int
    frames: int


@dataclass(frozen=True)
class ShotRecord:
    shot_id: str
    scene: str
    split: str
    frames: int
    shards: tuple[ShardEntry, ...]
    fields: tuple[str, ...] = ("alpha.exr", "json", "rgb.exr")  # what old records lacking the key held
    stats: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d["shards"] = [asdict(s) for s in self.shards]
        d["fields"] = list(self.fields)
        return d

    @staticmethod
    def from_json(d: dict) -> ShotRecord:
        return ShotRecord(
            shot_id=d["shot_id"],
            scene=d["scene"],
            split=d["split"],
            frames=int(d["frames"]),
            shards=tuple(ShardEntry(**s) for s in d["shards"]),
            fields=tuple(d.get("fields", ())),
            stats=dict(d.get("stats", {})),
        )


def as_location(where: str | os.PathLike | Location) -> Location:
    return where if isinstance(where, Location) else Location(where)


def relative_url(target: str | os.PathLike, manifest_dir: str | os.PathLike | Location) -> str:
    """A shard's location as the record stores it: relative to the manifest directory when both
    are on this file system or in one bucket (so the pair can be moved or copied as a whole),
    else the shard's full URL."""
    manifest_dir = as_location(manifest_dir)
    if not manifest_dir.remote:
        if is_url(target):
            return str(target)
        return Path(os.path.relpath(Path(target).resolve(), Path(manifest_dir.root))).as_posix()
    if not is_url(target):
        raise ValueError(f"{target}: a local shard cannot be listed by a manifest in {manifest_dir}")
    t_scheme, _, t_rest = str(target).partition("://")
    m_scheme, _, m_rest = manifest_dir.root.partition("://")
    if t_scheme != m_scheme or t_rest.split("/", 1)[0] != m_rest.split("/", 1)[0]:
        return str(target)
    return posixpath.relpath(t_rest, m_rest)


def resolve_url(url: str, manifest_dir: str | os.PathLike | Location) -> str:
    """A shard location as a local path or a URL: relative ones below the manifest directory
    (here or in its store), ``scheme://…`` ones unchanged."""
    if is_url(url):
        return url
    if url.startswith("file://"):
        return str(local_path(url))
    manifest_dir = as_location(manifest_dir)
    if manifest_dir.remote:
        return manifest_dir.url(url)
    return str((Path(manifest_dir.root) / url).resolve())


def shot_record_name(shot_id: str) -> str:
    return f"shots/{shot_id}.json"


def failed_record_name(shot_id: str) -> str:
    return f"failed/{shot_id}.json"


def _json(obj: dict) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")


def read_shot_record(manifest_dir: str | os.PathLike | Location, shot_id: str) -> ShotRecord | None:
    """The shot's record, or None when the shot is not (yet) part of the dataset."""
    try:
        data = as_location(manifest_dir).read_bytes(shot_record_name(shot_id))
    except FileNotFoundError:
        return None
    return ShotRecord.from_json(json.loads(data))


def write_shot_record(manifest_dir: str | os.PathLike | Location, record: ShotRecord) -> bool:
    """Publish a shot's record unless the shot already has one (the first record wins: a late
    attempt can never replace it). Returns whether this call published it."""
    loc = as_location(manifest_dir)
    published = loc.write_bytes(shot_record_name(record.shot_id), _json(record.to_json()), exclusive=True)
    loc.delete(failed_record_name(record.shot_id))
    return published


def write_failure(
    manifest_dir: str | os.PathLike | Location, shot_id: str, error: str, attempts: int
) -> None:
    """Record that a shot ran out of attempts (never for a recorded shot: a record wins)."""
    loc = as_location(manifest_dir)
    if loc.exists(shot_record_name(shot_id)):
        return
    loc.write_bytes(
        failed_record_name(shot_id), _json({"shot_id": shot_id, "error": error, "attempts": attempts})
    )


def load_shot_records(manifest_dir: str | os.PathLike | Location) -> dict[str, ShotRecord]:
    loc = as_location(manifest_dir)
    out = {}
    for name in loc.list("shots", suffix=".json"):
        try:
            rec = ShotRecord.from_json(json.loads(loc.read_bytes(f"shots/{name}")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{loc.url('shots', name)}: unreadable shot record ({exc})") from exc
        except FileNotFoundError:  # listed, then gone: not a record any more
            continue
        out[rec.shot_id] = rec
    return out


def load_failures(manifest_dir: str | os.PathLike | Location) -> dict[str, dict]:
    loc = as_location(manifest_dir)
    out = {}
    for name in loc.list("failed", suffix=".json"):
        try:
            out[name[: -len(".json")]] = json.loads(loc.read_bytes(f"failed/{name}"))
        except FileNotFoundError:  # recorded meanwhile
            continue
    return out


def build_index(
    manifest_dir: str | os.PathLike | Location,
    planned_shots: int,
    seed: int,
    records: dict[str, ShotRecord] | None = None,
) -> dict:
    """Rebuild ``index.json`` from the shot records and write it atomically. ``records``: the
    records as already read (the driver keeps them, so an index rebuild after each of 900 shots
    does not read every record again); None reads them all."""
    loc = as_location(manifest_dir)
    if records is None:
        records = load_shot_records(loc)
    records = dict(sorted(records.items()))
    shards = []
    for rec in records.values():
        for s in rec.shards:
            shards.append({**asdict(s), "shot_id": rec.shot_id, "scene": rec.scene, "split": rec.split})
    index = {
        "format": FORMAT,
        "seed": seed,
        "config": CONFIG,
        "plan": PLAN,
        "planned_shots": planned_shots,
        "completed_shots": len(records),
        "failed_shots": sorted(load_failures(loc)),
        "frames": sum(r.frames for r in records.values()),
        "bytes": sum(s["bytes"] for s in shards),
        "shards": shards,
    }
    loc.write_bytes(INDEX, _json(index))
    return index


@dataclass(frozen=True)
class Dataset:
    """A loaded index: shard entries with locations resolved for this machine (paths, or URLs
    for shards in an object store)."""

    manifest_dir: str  # a local path or a URL
    index: dict

    @property
    def shards(self) -> list[dict]:
        return [{**s, "path": resolve_url(s["url"], self.manifest_dir)} for s in self.index["shards"]]

    def split(self, name: str) -> list[dict]:
        return [s for s in self.shards if s["split"] == name]


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Load a manifest directory (or its ``index.json``), here or in an object store; one-line
    errors for missing pieces (local shards are checked to exist; remote ones when opened)."""
    text = str(path)
    if text.endswith(INDEX) and (is_url(text) or not Path(text).is_dir()):  # the index itself
        loc, where = as_location(text[: -len(INDEX)].rstrip("/") or "."), text
    else:
        loc = as_location(text)
        where = loc.url(INDEX)
    try:
        raw = loc.read_bytes(INDEX)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise FileNotFoundError(f"{where}: no dataset index (render a dataset first)") from None
    try:
        index = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc})") from exc
    if index.get("format") != FORMAT:
        raise ValueError(f"{where}: format {index.get('format')!r}, expected {FORMAT!r}")
    ds = Dataset(loc.root, index)
    for s in ds.shards:
        if not is_url(s["path"]) and not Path(s["path"]).exists():
            raise FileNotFoundError(f"{where}: shard {s['url']} is missing")
    return ds
