"""The manifest directory against the plan: which shots are there, missing, extra, failed,
duplicated or partial, whether the index agrees with the shot records, and which files nobody
lists (on this file system or in an object store). Reads the raw files itself (not
:func:`render.manifest.load_shot_records`, which keys records by shot id and would hide a
duplicate)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from render.audit.problems import Problem, error, warning
from render.manifest import CONFIG, FIELDS, FORMAT, INDEX, PLAN, WORK_DIR, ShotRecord, resolve_url
from render.store import Location, is_url


@dataclass
class Manifest:
    """What the manifest directory holds, as read (problems found while reading included)."""

    root: Location
    config: dict = field(default_factory=dict)
    plan: dict[str, dict] = field(default_factory=dict)  # shot id -> its plan line
    records: dict[str, ShotRecord] = field(default_factory=dict)  # shot id -> first record read
    failures: dict[str, dict] = field(default_factory=dict)
    index: dict | None = None
    problems: list[Problem] = field(default_factory=list)
    unusable_plan: set[str] = field(default_factory=set)  # planned shots whose plan line is malformed

    def plan_of(self, shot_id: str) -> dict | None:
        """The shot's plan line when it is well-formed (else None: its frames are checked
        without a plan)."""
        return None if shot_id in self.unusable_plan else self.plan.get(shot_id)

    def shards_of(self, shot_id: str) -> list[dict]:
        rec = self.records[shot_id]
        return [
            {
                "url": s.url,
                "path": resolve_url(s.url, self.root),
                "sha256": s.sha256,
                "bytes": s.bytes,
                "frames": s.frames,
            }
            for s in rec.shards
        ]


def _json(root: Location, rel: str, problems: list[Problem], check: str) -> object | None:
    try:
        return json.loads(root.read_bytes(rel))
    except (OSError, ValueError) as exc:
        problems.append(error("completeness", check, f"{rel.rsplit('/', 1)[-1]}: unreadable ({exc})"))
        return None


def read_manifest(root: str | Path | Location) -> Manifest:
    m = Manifest(root if isinstance(root, Location) else Location(root))
    p = m.problems
    has_plan = m.root.is_file(PLAN)
    if not m.root.is_file(CONFIG):
        p.append(error("completeness", "config_missing", f"{CONFIG} is missing"))
    else:
        try:
            cfg = yaml.safe_load(m.root.read_text(CONFIG)) or {}
        except yaml.YAMLError as exc:
            p.append(error("completeness", "config_unreadable", f"{CONFIG}: not valid YAML ({exc})"))
        else:
            bad = _config_types(cfg) if isinstance(cfg, dict) else f"a {type(cfg).__name__}, not a mapping"
            if not bad:
                m.config = cfg
            else:
                p.append(
                    error(
                        "completeness",
                        "config_unreadable",
                        f"{CONFIG}: {bad}",
                    )
                )
    if not has_plan:
        p.append(
            error("completeness", "plan_missing", f"{PLAN} is missing: nothing to check the shots against")
        )
    else:
        for n, line in enumerate(m.root.read_text(PLAN).splitlines(), 1):
            try:
                shot = json.loads(line)
                sid = shot["shot_id"]
                if not isinstance(sid, str):
                    raise TypeError(f"shot_id {sid!r} is not a string")
            except (ValueError, KeyError, TypeError) as exc:
                p.append(error("completeness", "plan_unreadable", f"{PLAN} line {n}: unreadable ({exc})"))
                continue
            why = _plan_types(shot)
            if why:  # still planned (counted), but not used to check the shot's frames
                p.append(error("completeness", "plan_unreadable", f"{PLAN} line {n}: {why}", shot=sid))
                m.unusable_plan.add(sid)
            if sid in m.plan:
                p.append(error("completeness", "duplicate_shot", f"{PLAN} plans {sid} twice", shot=sid))
            m.plan.setdefault(sid, shot)
    for name in m.root.list("shots", suffix=".json"):
        path = Path(name)  # for its name and stem
        d = _json(m.root, f"shots/{name}", p, "record_unreadable")
        if d is None:
            continue
        if not isinstance(d, dict) or type(d.get("frames")) is not int:
            p.append(
                error("completeness", "record_unreadable", f"shots/{path.name}: not a shot record (frames)")
            )
            continue
        try:
            rec = ShotRecord.from_json(d)  # type: ignore[arg-type]
            _check_record(rec)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            p.append(
                error("completeness", "record_unreadable", f"shots/{path.name}: not a shot record ({exc})")
            )
            continue
        if path.stem != rec.shot_id:
            p.append(
                error(
                    "completeness",
                    "record_name",
                    f"shots/{path.name} holds the record of {rec.shot_id}",
                    shot=rec.shot_id,
                )
            )
        if rec.shot_id in m.records:
            p.append(
                error(
                    "completeness",
                    "duplicate_shot",
                    f"{rec.shot_id} is recorded twice (shots/{path.name})",
                    shot=rec.shot_id,
                )
            )
            continue
        m.records[rec.shot_id] = rec
    for name in m.root.list("failed", suffix=".json"):
        d = _json(m.root, f"failed/{name}", p, "failure_unreadable")
        m.failures[Path(name).stem] = d if isinstance(d, dict) else {}
    if not m.root.is_file(INDEX):
        p.append(error("completeness", "index_missing", f"{INDEX} is missing"))
    else:
        d = _json(m.root, INDEX, p, "index_unreadable")
        if d is None:
            pass
        elif not isinstance(d, dict):
            p.append(
                error("completeness", "index_unreadable", f"{INDEX}: a {type(d).__name__}, not an object")
            )
        elif d.get("format") != FORMAT:
            p.append(
                error(
                    "completeness",
                    "index_format",
                    f"{INDEX}: format {d.get('format')!r}, expected {FORMAT!r}",
                )
            )
        elif not isinstance(d.get("shards"), list) or not all(_index_entry_ok(s) for s in d["shards"]):
            p.append(
                error(
                    "completeness",
                    "index_unreadable",
                    f"{INDEX}: 'shards' is not a list of entries with a url",
                )
            )
        else:
            m.index = d
    return m


def _index_entry_ok(s: object) -> bool:
    if not isinstance(s, dict):
        return False
    kinds = {
        "url": str,
        "sha256": str,
        "shot_id": str,
        "scene": str,
        "split": str,
        "bytes": int,
        "frames": int,
    }
    return all(type(s.get(k)) is t for k, t in kinds.items())


def _config_types(cfg: dict) -> str | None:
    """Why a config's values cannot be used, or None."""
    kinds = {"fps": int, "seed": int, "passes": list, "identity": dict, "clip_catalog": (str, type(None))}
    for key, kind in kinds.items():
        if key in cfg and (not isinstance(cfg[key], kind) or (kind is int and type(cfg[key]) is bool)):
            return f"{key} is {cfg[key]!r}"
    if not all(isinstance(x, str) for x in cfg.get("passes", [])):
        return f"passes is {cfg['passes']!r}"
    return None


def _plan_types(shot: object) -> str | None:
    """Why a plan line cannot describe a shot, or None."""
    from render.plan import ShotSpec

    if not isinstance(shot, dict):
        return "not an object"
    res = shot.get("resolution")
    if not (isinstance(res, list) and len(res) == 2 and all(type(x) is int and x > 0 for x in res)):
        return f"resolution {res!r}"
    for key in ("fps", "frame_count", "seed"):
        if type(shot.get(key)) is not int:
            return f"{key} {shot.get(key)!r}"
    for key in ("scene", "split"):
        if not isinstance(shot.get(key), str):
            return f"{key} {shot.get(key)!r}"
    try:
        ShotSpec.from_json(shot)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return f"not a shot spec ({exc!r})"
    return None


def _check_record(rec: ShotRecord) -> None:
    """Raise TypeError when a parsed record's values have the wrong types."""
    if not isinstance(rec.shot_id, str) or not rec.shot_id:
        raise TypeError(f"shot_id {rec.shot_id!r}")
    for s in rec.shards:
        for name, kind in (("url", str), ("sha256", str), ("bytes", int), ("frames", int)):
            value = getattr(s, name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise TypeError(f"shard {name} {value!r} is not {kind.__name__}")
    if not all(isinstance(f, str) for f in rec.fields):
        raise TypeError(f"fields {rec.fields!r}")


def expected_fields(config: dict) -> set[str]:
    passes = config.get("passes") or ["rgb", "alpha"]
    always = {FIELDS["rgb"], FIELDS["alpha"], FIELDS["lowres"]}
    return {"json"} | {FIELDS[p] for p in passes if p in FIELDS} | always


def check(m: Manifest) -> list[Problem]:
    """Completeness problems of a read manifest (the reading problems are in ``m.problems``)."""
    out: list[Problem] = []
    planned, done, failed = set(m.plan), set(m.records), set(m.failures)
    if not planned and m.root.is_file(PLAN):
        out.append(error("completeness", "plan_empty", f"{PLAN} plans no shots"))
    for sid in sorted(planned - done - failed):
        out.append(
            error(
                "completeness", "missing_shot", f"{sid} is planned but neither recorded nor failed", shot=sid
            )
        )
    for sid in sorted(done - planned):
        out.append(error("completeness", "extra_shot", f"{sid} is recorded but not in the plan", shot=sid))
    for sid in sorted(failed & done):
        out.append(
            error("completeness", "done_and_failed", f"{sid} is both recorded and in failed/", shot=sid)
        )
    for sid in sorted(failed - done):
        msg = str(m.failures[sid].get("error", "no error text")).strip().splitlines()
        out.append(
            error("completeness", "failed_shot", f"{sid} failed: {msg[-1] if msg else ''}"[:300], shot=sid)
        )
    want_fields = expected_fields(m.config) if m.config else None
    seen_urls: dict[str, str] = {}
    for sid, rec in sorted(m.records.items()):
        plan = m.plan.get(sid)
        if plan is not None and rec.frames != plan.get("frame_count"):
            out.append(
                error(
                    "completeness",
                    "partial_shot",
                    f"{rec.frames} frames recorded, {plan.get('frame_count')} planned",
                    shot=sid,
                )
            )
        if plan is not None and (rec.scene, rec.split) != (plan.get("scene"), plan.get("split")):
            out.append(
                error(
                    "completeness",
                    "record_plan",
                    f"record says {rec.scene}/{rec.split}, plan {plan.get('scene')}/{plan.get('split')}",
                    shot=sid,
                )
            )
        if sum(s.frames for s in rec.shards) != rec.frames:
            out.append(
                error(
                    "completeness",
                    "record_frames",
                    f"shards hold {sum(s.frames for s in rec.shards)} frames, the record says {rec.frames}",
                    shot=sid,
                )
            )
        # lowres.exr came later: shots rendered before it lack it and are still whole
        if want_fields is not None and set(rec.fields) | {FIELDS["lowres"]} != want_fields:
            out.append(
                error(
                    "completeness",
                    "record_fields",
                    f"fields {sorted(rec.fields)}, the config's passes give {sorted(want_fields)}",
                    shot=sid,
                )
            )
        for s in rec.shards:
            if s.url in seen_urls:
                out.append(
                    error(
                        "completeness",
                        "duplicate_shard",
                        f"listed by {seen_urls[s.url]} and {sid}",
                        shot=sid,
                        shard=s.url,
                    )
                )
            seen_urls.setdefault(s.url, sid)
    out += _index_agrees(m)
    return out


def _index_agrees(m: Manifest) -> list[Problem]:
    if m.index is None:
        return []
    out = []
    listed: dict[str, dict] = {}
    for s in m.index.get("shards", []):
        url = s.get("url")
        if url in listed:
            out.append(
                error(
                    "completeness",
                    "duplicate_shard",
                    "the index lists this shard twice",
                    shard=url,
                    shot=s.get("shot_id"),
                )
            )
        listed[url] = s
    recorded = {s.url: (sid, s) for sid, rec in m.records.items() for s in rec.shards}
    for url in sorted(set(listed) - set(recorded)):
        out.append(
            error(
                "completeness",
                "index_stale",
                "in the index but in no shot record",
                shard=url,
                shot=listed[url].get("shot_id"),
            )
        )
    for url in sorted(set(recorded) - set(listed)):
        out.append(
            error(
                "completeness",
                "index_stale",
                "in a shot record but not in the index",
                shard=url,
                shot=recorded[url][0],
            )
        )
    for url in sorted(set(listed) & set(recorded)):
        sid, s = recorded[url]
        got = listed[url]
        if (
            got.get("sha256"),
            got.get("bytes"),
            got.get("frames"),
            got.get("shot_id"),
            got.get("scene"),
            got.get("split"),
        ) != (
            s.sha256,
            s.bytes,
            s.frames,
            sid,
            m.records[sid].scene,
            m.records[sid].split,
        ):
            out.append(
                error(
                    "completeness",
                    "index_stale",
                    "the index and the shot record disagree on this shard",
                    shard=url,
                    shot=sid,
                )
            )
    totals = {
        "planned_shots": len(m.plan) if m.root.is_file(PLAN) else m.index.get("planned_shots"),
        "completed_shots": len(m.records),
        "frames": sum(rec.frames for rec in m.records.values()),
        "bytes": sum(s.bytes for rec in m.records.values() for s in rec.shards),
        "failed_shots": sorted(m.failures),
        **({"seed": m.config["seed"]} if "seed" in m.config else {}),
    }
    for key, want in totals.items():
        if m.index.get(key) != want:
            out.append(
                error(
                    "completeness",
                    "index_stale",
                    f"the index says {key} {m.index.get(key)!r}, the manifest gives {want!r}",
                )
            )
    return out


def stray_files(m: Manifest) -> list[Problem]:
    """Files beside the listed shards that nobody lists: orphaned shards (an error: a reader that
    globs the folder would read them), temporary shards and render work folders (warnings: a run
    in progress or a crash). Shard folders in an object store are listed there."""
    out: list[Problem] = []
    listed: set[str] = set()
    folders: set[str] = set()
    for rec in m.records.values():
        for s in rec.shards:
            location = resolve_url(s.url, m.root)
            listed.add(location)
            folders.add(location.rsplit("/", 1)[0])
    if m.index is not None:
        for s in m.index.get("shards", []):
            if isinstance(s.get("url"), str):
                folders.add(resolve_url(s["url"], m.root).rsplit("/", 1)[0])
    for folder in sorted(folders):
        try:
            where = Location(folder)
            names = where.list()
        except OSError as exc:  # e.g. https:// or a bucket without list permission
            out.append(
                warning("completeness", "folder_unlisted", f"{folder}: not listed, orphans unchecked ({exc})")
            )
            continue
        for name in names:
            location = where.url(name)
            if name.endswith(".tar") and not name.startswith(".") and location not in listed:
                out.append(
                    error("completeness", "orphan_shard", f"{name} is in no shot record", shard=location)
                )
            elif ".tar.tmp-" in name:
                out.append(
                    warning(
                        "completeness",
                        "temporary_file",
                        f"{name}: a shard being written or left by a crash",
                        shard=location,
                    )
                )
        if is_url(folder):
            continue  # render work lives on the nodes' own disks
        work = Path(folder).parent / WORK_DIR
        if work.is_dir() and any(work.iterdir()):
            names = sorted(p.name for p in work.iterdir())
            out.append(
                warning(
                    "completeness",
                    "work_leftover",
                    f"{work}: render work of {', '.join(names[:5])}{'…' if len(names) > 5 else ''}",
                )
            )
    return out
