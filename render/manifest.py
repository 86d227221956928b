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
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from render.atomic import write_json_atomic

FORMAT = "amatte4k-manifest/1"
INDEX = "index.json"
PLAN = "plan.jsonl"
CONFIG = "config.yaml"
# The shard root (``--out``): shards in SHARD_DIR, each shot's render work in WORK_DIR/<shot_id>.
SHARD_DIR = "shards"
WORK_DIR = ".work"
# The sample field each render pass is stored as (docs/dataset_format.md).
FIELDS = {"rgb": "rgb.exr", "alpha": "alpha.exr", "fg": "fg.exr", "bg": "bg.exr"}


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
    fields: tuple[str, ...] = ("alpha.exr", "json", "rgb.exr")
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


def relative_url(target: str | os.PathLike, manifest_dir: str | os.PathLike) -> str:
    return Path(os.path.relpath(Path(target).resolve(), Path(manifest_dir).resolve())).as_posix()


def resolve_url(url: str, manifest_dir: str | os.PathLike) -> str:
    """A shard location as a local path (relative urls) or the url unchanged (scheme://...)."""
    if "://" in url:
        return url
    return str((Path(manifest_dir) / url).resolve())


def shot_record_path(manifest_dir: str | os.PathLike, shot_id: str) -> Path:
    return Path(manifest_dir) / "shots" / f"{shot_id}.json"


def failed_record_path(manifest_dir: str | os.PathLike, shot_id: str) -> Path:
    return Path(manifest_dir) / "failed" / f"{shot_id}.json"


def read_shot_record(manifest_dir: str | os.PathLike, shot_id: str) -> ShotRecord | None:
    """The shot's record, or None when the shot is not (yet) part of the dataset."""
    path = shot_record_path(manifest_dir, shot_id)
    try:
        return ShotRecord.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def write_shot_record(manifest_dir: str | os.PathLike, record: ShotRecord) -> bool:
    """Publish a shot's record unless the shot already has one (the first record wins: a late
    attempt can never replace it). Returns whether this call published it."""
    published = write_json_atomic(
        shot_record_path(manifest_dir, record.shot_id), record.to_json(), exclusive=True
    )
    failed_record_path(manifest_dir, record.shot_id).unlink(missing_ok=True)
    return published


def write_failure(manifest_dir: str | os.PathLike, shot_id: str, error: str, attempts: int) -> None:
    """Record that a shot ran out of attempts (never for a recorded shot: a record wins)."""
    if shot_record_path(manifest_dir, shot_id).exists():
        return
    write_json_atomic(
        failed_record_path(manifest_dir, shot_id), {"shot_id": shot_id, "error": error, "attempts": attempts}
    )


def load_shot_records(manifest_dir: str | os.PathLike) -> dict[str, ShotRecord]:
    out = {}
    for p in sorted((Path(manifest_dir) / "shots").glob("*.json")):
        try:
            rec = ShotRecord.from_json(json.loads(p.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{p}: unreadable shot record ({exc})") from exc
        out[rec.shot_id] = rec
    return out


def load_failures(manifest_dir: str | os.PathLike) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((Path(manifest_dir) / "failed").glob("*.json"))}


def build_index(
    manifest_dir: str | os.PathLike,
    planned_shots: int,
    seed: int,
    records: dict[str, ShotRecord] | None = None,
) -> dict:
    """Rebuild ``index.json`` from the shot records and write it atomically. ``records``: the
    records as already read (the driver keeps them, so an index rebuild after each of 900 shots
    does not read every record again); None reads them all."""
    if records is None:
        records = load_shot_records(manifest_dir)
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
        "failed_shots": sorted(load_failures(manifest_dir)),
        "frames": sum(r.frames for r in records.values()),
        "bytes": sum(s["bytes"] for s in shards),
        "shards": shards,
    }
    write_json_atomic(Path(manifest_dir) / INDEX, index)
    return index


@dataclass(frozen=True)
class Dataset:
    """A loaded index: shard entries with locations resolved for this machine."""

    manifest_dir: Path
    index: dict

    @property
    def shards(self) -> list[dict]:
        return [{**s, "path": resolve_url(s["url"], self.manifest_dir)} for s in self.index["shards"]]

    def split(self, name: str) -> list[dict]:
        return [s for s in self.shards if s["split"] == name]


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Load a manifest directory (or its ``index.json``); one-line errors for missing pieces."""
    path = Path(path)
    index_path = path / INDEX if path.is_dir() else path
    if not index_path.exists():
        raise FileNotFoundError(f"{index_path}: no dataset index (render a dataset first)")
    try:
        index = json.loads(index_path.read_text())
    except ValueError as exc:
        raise ValueError(f"{index_path}: not valid JSON ({exc})") from exc
    if index.get("format") != FORMAT:
        raise ValueError(f"{index_path}: format {index.get('format')!r}, expected {FORMAT!r}")
    ds = Dataset(index_path.parent, index)
    for s in ds.shards:
        if "://" not in s["path"] and not Path(s["path"]).exists():
            raise FileNotFoundError(f"{index_path}: shard {s['url']} is missing")
    return ds
