"""Scene and animation-clip catalogs (YAML), validated into plain dicts."""

from __future__ import annotations

from pathlib import Path

from render.config import ConfigError, read_yaml

PROP_TYPES = ("building", "pole", "tree", "rock", "wall", "hedge", "pillar")
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
        if sky.get("type") not in ("sky", "hdri"):
            raise ConfigError(f"{where} ({s['name']}): sky.type must be 'sky' or 'hdri'")
        if sky["type"] == "hdri" and not isinstance(sky.get("file"), str):
            raise ConfigError(f"{where} ({s['name']}): an hdri sky needs a file name")
        for p in s.get("props", []):
            if p.get("type") not in PROP_TYPES:
                raise ConfigError(f"{where} ({s['name']}): prop type {p.get('type')!r} not in {PROP_TYPES}")
    return scenes


def load_clips(path: str | Path) -> dict[str, dict]:
    data = read_yaml(path)
    clips = data.get("clips")
    if not isinstance(clips, dict) or not clips:
        raise ConfigError(f"clip catalog {path}: expected a non-empty 'clips' mapping")
    for name, c in clips.items():
        where = f"clip catalog {path}: clip {name!r}"
        if not isinstance(c, dict) or not isinstance(c.get("period"), (int, float)) or c["period"] <= 0:
            raise ConfigError(f"{where}: needs a positive period")
        for bone, angles in (c.get("base") or {}).items():
            if not (isinstance(angles, list) and len(angles) == 3):
                raise ConfigError(f"{where}: base angles of {bone} must be [x, y, z]")
        for o in c.get("osc") or []:
            if not (isinstance(o, list) and len(o) == 5 and o[1] in AXES):
                raise ConfigError(f"{where}: oscillation {o!r} must be [bone, axis, amp, cycles, phase]")
    return clips
