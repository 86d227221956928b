"""Scene and animation-clip catalogs (YAML), validated into plain dicts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from render.config import ConfigError, read_yaml

PROP_TYPES = (
    "building", "pole", "tree", "rock", "wall", "hedge", "pillar",
    "plant", "shelf", "desk", "sofa", "poster", "lamp",
)  # fmt: skip
KINDS = ("urban", "nature", "interior", "night")
AXES = ("x", "y", "z")


def load_scenes(path: str | Path) -> list[dict]:
    data = read_yaml(path)
    scenes = data.get("scenes")
    if not isinstance(scenes, list) or not scenes:
        raise ConfigError(f"scene catalog {path}: expected a non-empty 'scenes' list")
    names = set()
    for i, s in enumerate(scenes):
        where = f"scene catalog {path}: scene {i}"
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            raise ConfigError(f"{where}: needs a name")
        if s["name"] in names:
            raise ConfigError(f"{where}: duplicate name {s['name']!r}")
        names.add(s["name"])
        sky = s.get("sky", {})
        if sky.get("type") not in ("sky", "hdri", "color"):
            raise ConfigError(f"{where} ({s['name']}): sky.type must be 'sky', 'hdri' or 'color'")
        if s.get("kind") not in KINDS:
            raise ConfigError(f"{where} ({s['name']}): kind must be one of {', '.join(KINDS)}")
        if s["kind"] == "interior" and not (
            isinstance(s.get("room"), dict) and len(s["room"].get("size", [])) == 2
        ):
            raise ConfigError(f"{where} ({s['name']}): an interior needs room.size [width, depth]")
        if "ue_map" in s and not (isinstance(s["ue_map"], str) and s["ue_map"].startswith("/")):
            raise ConfigError(f"{where} ({s['name']}): ue_map must be an Unreal object path (/Game/...)")
        if sky["type"] == "hdri" and not isinstance(sky.get("file"), str):
            raise ConfigError(f"{where} ({s['name']}): an hdri sky needs a file name")
        for p in s.get("props", []):
            if p.get("type") not in PROP_TYPES:
                raise ConfigError(f"{where} ({s['name']}): prop type {p.get('type')!r} not in {PROP_TYPES}")
    return scenes


def load_clips(
    path: str | Path, folders: dict[str, str | None] | None = None, warn: Callable[[str], None] | None = None
) -> dict[str, dict]:
    """The clip catalog: its procedural clips, its captured clips (files beside the catalog,
    completed from the file by :func:`render.motion.library.describe`) and, given ``folders``
    ({"bvh": dir, "mixamo": dir}, e.g. the config's assets), every usable file there. A file in a
    folder that cannot be used is reported through ``warn`` and skipped; one named in the catalog
    is an error. Keys starting with "_" are where things lie on this machine, not what they are
    (left out of the dataset's digest)."""
    from render.motion import library

    path = Path(path)
    data = read_yaml(path)
    clips = data.get("clips")
    if not isinstance(clips, dict) or not clips:
        raise ConfigError(f"clip catalog {path}: expected a non-empty 'clips' mapping")
    maps_path = (path.parent / "skeletons.yaml").resolve()
    maps_path = maps_path if maps_path.is_file() else library.DEFAULT_SKELETONS
    skeletons = None
    for name, c in clips.items():
        where = f"clip catalog {path}: clip {name!r}"
        source = c.get("source", "procedural") if isinstance(c, dict) else None
        if (
            source is not None
            and "ue_anim" in c
            and not (isinstance(c["ue_anim"], str) and c["ue_anim"].startswith("/"))
        ):
            raise ConfigError(f"{where}: ue_anim must be an Unreal object path (/Game/...)")
        if source not in library.SOURCES:
            raise ConfigError(f"{where}: source must be one of {', '.join(library.SOURCES)}")
        if source != "procedural":
            if not isinstance(c.get("file"), str):
                raise ConfigError(f"{where}: a {source} clip needs a file")
            skeletons = skeletons or library.load_skeletons(maps_path)
            c["_path"] = str((path.parent / c["file"]).resolve())
            try:
                library.describe(c, skeletons, maps_path)
            except Exception as exc:  # any reader failure, in one line naming the file
                raise ConfigError(f"{where}: {library.one_line(exc, Path(c['_path']))}") from None
            continue
        if not isinstance(c.get("period"), (int, float)) or c["period"] <= 0:
            raise ConfigError(f"{where}: needs a positive period")
        for bone, angles in (c.get("base") or {}).items():
            if not (isinstance(angles, list) and len(angles) == 3):
                raise ConfigError(f"{where}: base angles of {bone} must be [x, y, z]")
        for o in c.get("osc") or []:
            if not (isinstance(o, list) and len(o) == 5 and o[1] in AXES):
                raise ConfigError(f"{where}: oscillation {o!r} must be [bone, axis, amp, cycles, phase]")
    for source, folder in (folders or {}).items():
        if folder:
            skeletons = skeletons or library.load_skeletons(maps_path)
            found = library.folder_clips(folder, source, skeletons, maps_path, warn or (lambda _msg: None))
            taken = sorted(set(found) & set(clips))
            if taken:
                raise ConfigError(f"{source} folder {folder}: clip {taken[0]} is also in {path}")
            clips.update(found)
    return clips


def load_metahumans(path: str | Path) -> dict[str, str]:
    """The identity id → MetaHuman Blueprint map of the Unreal backend."""
    data = read_yaml(path)
    people = data.get("metahumans")
    if not isinstance(people, dict) or not people:
        raise ConfigError(f"MetaHuman catalog {path}: expected a non-empty 'metahumans' mapping")
    for ident, bp in people.items():
        if not (isinstance(bp, str) and bp.startswith("/") and " " not in bp):
            raise ConfigError(
                f"MetaHuman catalog {path}: {ident}: expected a Blueprint path (/Game/...), got {bp!r}"
            )
    return {str(k): v for k, v in people.items()}
