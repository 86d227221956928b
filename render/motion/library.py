"""Clip sources behind one call: :func:`motion` turns a clip catalog entry (BVH or Mixamo FBX)
into a retargeted :class:`Motion`, memoized per process; :func:`folder_clips` makes catalog
entries of every file in a user's folder, reporting each file that cannot be used in one line.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from render.config import REPO_ROOT, ConfigError, read_yaml
from render.motion import bvh, mixamo
from render.motion.retarget import FINGERS, Motion, calibration_frames, retarget
from render.motion.rotations import to_quat
from render.motion.source import MotionError, SourceMotion

CAPTURED = ("bvh", "mixamo")
SOURCES = ("procedural", *CAPTURED)
SUFFIXES = {"bvh": (".bvh", ".bvh.gz"), "mixamo": (".fbx",)}
DEFAULT_SKELETONS = REPO_ROOT / "animations" / "skeletons.yaml"
# The shortest usable clip (s): the longest default shot (130 frames + 15 %) at 30 fps played at
# 0.7x, with its two motion-blur guard frames (151 frame steps: 3.52 s).
MIN_SECONDS = 3.55


def load_skeletons(path: str | Path = DEFAULT_SKELETONS) -> dict[str, dict[str, str]]:
    """Skeleton maps (rig bone → source joint) by name; ``mixamo: same`` maps every rig bone
    to its namesake."""
    data = read_yaml(path).get("skeletons")
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"skeleton maps {path}: expected a non-empty 'skeletons' mapping")
    out = {}
    for name, m in data.items():
        if m == "same":
            m = {b: b for b in mixamo.BONES}
        if not isinstance(m, dict) or not all(isinstance(v, str) for v in m.values()):
            raise ConfigError(f"skeleton maps {path}: {name} must map rig bones to joint names")
        unknown = [b for b in m if b not in mixamo.BONES]
        if unknown:
            raise ConfigError(f"skeleton maps {path}: {name}: {unknown[0]!r} is not a Mixamo rig bone")
        out[name] = dict(m)
    return out


def read_source(source: str, path: str | Path) -> SourceMotion:
    """The file's motion as its source has it. FBX is read by Blender's importer (the only FBX
    reader here), so that source needs the ``bpy`` module."""
    if source == "bvh":
        return bvh.read(path)
    if source == "mixamo":
        from render.backends.blender.fbx import read_mixamo  # Blender reads FBX

        return read_mixamo(path)
    raise MotionError(f"{path}: unknown clip source {source!r} (one of {', '.join(CAPTURED)})")


def pick_skeleton(src: SourceMotion, skeletons: dict[str, dict[str, str]]) -> str:
    """The first skeleton map whose joints the source has, else :class:`MotionError`."""
    have = set(src.names)

    def needs(m: dict[str, str]) -> set[str]:
        return {j for b, j in m.items() if b not in FINGERS}  # a rig without fingers still plays

    for name, m in skeletons.items():
        if needs(m) <= have:
            return name
    best = max(skeletons, key=lambda n: len(needs(skeletons[n]) & have))
    lacks = sorted(needs(skeletons[best]) - have)
    raise MotionError(
        f"{src.origin}: no known skeleton (closest: {best}, which needs {', '.join(lacks[:3])}"
        f"{' …' if len(lacks) > 3 else ''}; joints here: {', '.join(src.names[:4])} …)"
    )


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.lru_cache(maxsize=16)
def _source(source: str, path: str, digest: str) -> SourceMotion:
    if sha256(path) != digest:
        raise MotionError(f"{path}: the file changed since the catalog was read")
    return read_source(source, path)


@functools.lru_cache(maxsize=64)
def _retargeted(source: str, path: str, digest: str, mapping: str, first: int, last: int) -> Motion:
    src = _source(source, path, digest)
    return retarget(src, json.loads(mapping), mixamo.BONES, mixamo.PARENTS, (first, last))


def clip_path(clip: dict) -> Path:
    """Where a captured clip's file is: as resolved when the catalog was read, or (on a node
    whose checkout lies elsewhere) beside this checkout's clip catalog."""
    p = Path(clip.get("_path") or clip["file"])
    if not p.exists() and not Path(clip["file"]).is_absolute():
        p = REPO_ROOT / "animations" / clip["file"]
    return p


def motion(clip: dict) -> Motion:
    """The retargeted motion of a captured clip entry (see :func:`render.catalog.load_clips`):
    the entry carries its skeleton map, so a render node needs only the file."""
    return _retargeted(
        clip["source"],
        str(clip_path(clip)),
        clip["sha256"],
        json.dumps(clip["skeleton_map"], sort_keys=True),
        *clip["frames"],
    )


def describe(
    clip: dict, skeletons: dict[str, dict[str, str]], skeletons_path: Path, shortest: float = MIN_SECONDS
) -> dict:
    """Complete a captured clip entry in place from its file: skeleton (picked when absent) and
    its map, sha256, fps, frame range (default: the whole file after a calibration pose),
    duration (s, of the range). Raises :class:`MotionError` (one line) for a file that cannot
    be used, and for one shorter than ``shortest`` seconds."""
    path = clip_path(clip)
    if not path.is_file():
        raise MotionError(f"{path}: no such file")
    src = _source(clip["source"], str(path), sha256(path))
    skeleton = clip.get("skeleton") or pick_skeleton(src, skeletons)
    if skeleton not in skeletons:
        raise MotionError(f"{path}: skeleton {skeleton!r} not in {skeletons_path}")
    first, last = clip.get("frames") or [calibration_frames(to_quat(src.rotations[:3])), src.frames - 1]
    if not (0 <= first < last <= src.frames - 1):
        raise MotionError(f"{path}: frames {first}..{last} outside the file's 0..{src.frames - 1}")
    duration = (last - first) / src.fps
    if duration < shortest:
        raise MotionError(
            f"{path}: {duration:.2f} s of motion, under the {shortest:.2f} s a 150-frame shot needs "
            f"at the slowest playback (clips are not looped)"
        )
    clip.update(
        skeleton=skeleton,
        skeleton_map=dict(skeletons[skeleton]),
        sha256=sha256(path),
        fps=round(src.fps, 6),
        frames=[int(first), int(last)],
        duration=round(duration, 6),
    )
    motion(clip)  # retargets now, so a bad map fails here and not on a render node
    return clip


def one_line(exc: BaseException, path: Path) -> str:
    """A reader's failure as one line naming the file."""
    if isinstance(exc, MotionError):
        return str(exc).splitlines()[0]
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return f"{path}: {type(exc).__name__}{': ' + first[:200] if first else ''}"


def _tags(stem: str) -> list[str]:
    words = [w for w in re.split(r"[^a-z]+", stem.lower()) if len(w) > 1]
    return sorted(set(words))[:6]


UE_ANIM_ROOT = "/Game/AlphaMatte4K/Anim"
# The rate clips are baked at for other engines (render.backends.blender.clip_export).
BAKE_FPS = 30


def folder_clips(
    folder: str | Path,
    source: str,
    skeletons: dict[str, dict[str, str]],
    skeletons_path: Path,
    warn: Callable[[str], None],
) -> dict[str, dict]:
    """A catalog entry per usable file in ``folder`` (named ``<source>_<stem>``); every file that
    fails is reported through ``warn`` in one line and skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{source} folder {folder}: no such directory")
    clips: dict[str, dict] = {}
    files = sorted(p for p in folder.iterdir() if p.name.lower().endswith(SUFFIXES[source]))
    for p in files:
        stem = re.sub(r"[^A-Za-z0-9]+", "_", p.name.split(".")[0]).strip("_").lower()
        name = f"{source}_{stem}"
        entry = {
            "source": source,
            "file": str(p.resolve()),
            "licence": "supplied by the user" if source == "bvh" else "Mixamo (Adobe), supplied by the user",
            "tags": _tags(p.name.split(".")[0]),
            # Where unreal_project/Content/Python/retarget_mixamo.py puts the clip on MetaHumans.
            "ue_anim": f"{UE_ANIM_ROOT}/{name}",
        }
        try:
            if name in clips:
                raise MotionError(f"{p}: its name {name} is taken by another file")
            clips[name] = describe(entry, skeletons, skeletons_path)
        except Exception as exc:  # any failure on one file skips that file, in one line
            warn(f"skipped clip: {one_line(exc, p)}")
    return clips
