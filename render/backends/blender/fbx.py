"""Mixamo FBX clips read by Blender's FBX importer into a :class:`SourceMotion` (z up, as
Blender imports them): each ``mixamorig:*`` bone's rest and posed global orientation and position
at every frame of the file's action. Any failure is a :class:`MotionError` of one line."""

from __future__ import annotations

import re
from pathlib import Path

import bpy
import numpy as np

from render.motion.source import MotionError, SourceMotion

_PREFIX = re.compile(r"^mixamorig\d*[:_]")


def _short(name: str) -> str:
    return _PREFIX.sub("", name)


def _rotation(m) -> np.ndarray:
    """The rotation part of a 4×4 Blender matrix (its scale divided out)."""
    r = np.array(m.to_3x3())
    return r / np.linalg.norm(r, axis=0, keepdims=True)


def read_mixamo(path: str | Path) -> SourceMotion:
    """The file's motion. Blender's scene is emptied before and after (a render builds its
    scene afresh after reading its clip, so no imported mesh can end up in a shot)."""
    path = Path(path)
    if not path.is_file():
        raise MotionError(f"{path}: no such file")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    try:
        return _read(path)
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)


def _read(path: Path) -> SourceMotion:
    try:
        result = bpy.ops.import_scene.fbx(filepath=str(path), use_anim=True, ignore_leaf_bones=False)
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError, AssertionError) as exc:
        first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise MotionError(f"{path}: Blender's FBX importer failed ({first.strip()[:160]})") from None
    if "FINISHED" not in result:
        raise MotionError(f"{path}: Blender's FBX importer did not finish")
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    if not arms:
        raise MotionError(f"{path}: no armature in the file (not a character clip)")
    arm = max(arms, key=lambda o: len(o.data.bones))
    names = [_short(b.name) for b in arm.data.bones]
    if not any(_PREFIX.match(b.name) for b in arm.data.bones) or "Hips" not in names:
        raise MotionError(
            f"{path}: not a Mixamo rig (no mixamorig:Hips; bones: {', '.join(b.name for b in arm.data.bones[:3])} …)"
        )
    action = arm.animation_data.action if arm.animation_data else None
    if action is None:
        raise MotionError(f"{path}: the armature has no animation")
    scene = bpy.context.scene
    first, last = (int(round(f)) for f in action.frame_range)
    if last <= first:
        raise MotionError(f"{path}: the animation has one frame")
    fps = scene.render.fps / scene.render.fps_base
    bones = list(arm.data.bones)
    index = {b.name: i for i, b in enumerate(bones)}
    parents = np.array([index[b.parent.name] if b.parent else -1 for b in bones], dtype=np.int64)
    scene.frame_set(first)  # the rest in world axes: the armature object as it stands at the start
    world = arm.matrix_world.copy()
    rest_r = np.stack([_rotation(world @ b.matrix_local) for b in bones])
    rest_p = np.stack([np.array((world @ b.matrix_local).translation) for b in bones])
    frames = range(first, last + 1)
    rot = np.empty((len(frames), len(bones), 3, 3))
    pos = np.empty((len(frames), len(bones), 3))
    for k, f in enumerate(frames):
        scene.frame_set(f)
        world = arm.matrix_world.copy()
        for i, b in enumerate(bones):
            m = world @ arm.pose.bones[b.name].matrix
            rot[k, i] = _rotation(m)
            pos[k, i] = np.array(m.translation)
    if not (np.isfinite(rot).all() and np.isfinite(pos).all() and np.isfinite(rest_r).all()):
        raise MotionError(f"{path}: non-finite bone transforms (a bone scaled to zero?)")
    return SourceMotion(
        names=tuple(names),
        parents=parents,
        rest_positions=rest_p,
        rest_rotations=rest_r,
        rotations=rot,
        positions=pos,
        fps=float(fps),
        origin=str(path),
    )
