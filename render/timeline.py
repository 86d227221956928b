"""Per-frame state of a shot (pure): where the character stands, how its bones turn, where the
camera is. Both renderer backends key their scenes from this, and the per-frame metadata comes
from it, so the JSON describes exactly what was rendered.

Frame ``i`` of a shot (0-based) is shown at time ``start + i / fps * speed`` of its clip. States
are also produced for one frame before and after the shot (``i = -1`` and ``i = N``) so that
motion blur at the first and last frames sees real motion, not a frozen scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.animation import bone_angles, root_position
from render.camera import SENSOR_MM, eyes_and_targets, intrinsics, look_at_many, opencv_world_to_camera
from render.motion import library, mixamo, play, rig
from render.motion.retarget import alignments
from render.motion.rotations import euler_xyz, to_quat
from render.plan import ShotSpec


@dataclass(frozen=True)
class FrameState:
    index: int  # shot frame; -1 and N are the motion-blur guard frames
    clip_time: float  # seconds into the clip
    root: tuple[float, float, float]  # character root (ground point under the hips, plus bob), metres
    heading_deg: float
    origin: tuple[
        float, float, float
    ]  # the armature's location: the root, or (captured) placed so the hip joints are over it
    bones: dict[str, tuple[float, float, float, float]]  # (w, x, y, z) about the armature's rest axes
    cam_to_world: np.ndarray  # (4, 4), Blender convention (camera looks down -z, y up)


def _clip_time(shot: ShotSpec, i: float) -> float:
    return shot.animation.start + i / shot.fps * shot.animation.speed


def captured(clip: dict) -> bool:
    return clip.get("source", "procedural") != "procedural"


def _roots(shot: ShotSpec, clip: dict, times) -> np.ndarray:
    """(F, 3) the character's root at clip times ``times``: procedural clips walk their speed;
    for a captured clip, the ground point under the hip joints (plus their height change from
    standing) as the capture moves them, in legs of this body's stature, turned so that at the
    shot's first frame the character stands at ``position`` facing ``heading_deg``."""
    an = shot.animation
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if not captured(clip):
        return np.array([root_position(clip, float(t), an.position, an.heading_deg) for t in times]).reshape(
            -1, 3
        )
    off = play.root_offset(library.motion(clip), times, an.start) * (rig.LEG_SHARE * _stature(shot))
    h = np.radians(an.heading_deg)
    c, s = np.cos(h), np.sin(h)
    return np.stack(
        [
            an.position[0] + c * off[:, 0] - s * off[:, 1],
            an.position[1] + s * off[:, 0] + c * off[:, 1],
            off[:, 2],
        ],
        axis=1,
    )


def head_tops(shot: ShotSpec, clip: dict, indices, rest: rig.RigRest | None = None) -> np.ndarray:
    """(F, 3) where the top of the head is at each frame of ``indices``: above the root by the
    stature for a procedural clip (upright); for a captured clip, the tip of the posed Head bone
    on ``rest`` (default: the reference rig at the identity's stature, from the plan alone)."""
    stature = _stature(shot)
    times = np.array([_clip_time(shot, i) for i in indices], dtype=np.float64)
    roots = _roots(shot, clip, times)
    if not captured(clip):
        return roots + np.array([0.0, 0.0, stature])
    rest = rest or rig.estimate(stature)
    m = library.motion(clip)
    world = play.world_rotations(m, times, shot.animation.start, alignments(m, rest.dirs))  # (F, B, 3, 3)
    # Armature-space forward kinematics of the rig down to the head: a bone without a driver
    # turns with its parent.
    rot, pos = {}, {}
    for b, p in zip(mixamo.BONES, mixamo.PARENTS, strict=True):
        parent = mixamo.BONES[p] if p >= 0 else None
        rot[b] = world[:, m.bones.index(b)] if b in m.bones else rot[parent]
        pos[b] = (
            np.broadcast_to(rest.heads[b], (len(times), 3))
            if parent is None
            else pos[parent] + np.einsum("fij,j->fi", rot[parent], rest.heads[b] - rest.heads[parent])
        )
        if b == "Head":
            break
    tip = pos["Head"] + np.einsum("fij,j->fi", rot["Head"], rest.tails["Head"] - rest.heads["Head"])
    pelvis = rot["Hips"]
    joints = rest.hips + np.einsum("fij,j->fi", pelvis, rest.hip_joints - rest.hips)
    h = np.radians(shot.animation.heading_deg)
    turn = np.array([[np.cos(h), -np.sin(h), 0.0], [np.sin(h), np.cos(h), 0.0], [0.0, 0.0, 1.0]])
    # The armature stands so that its hip joints are over the root (see _origin).
    origin = roots + np.array([0.0, 0.0, rest.hip_joints[2]]) - joints @ turn.T
    return tip @ turn.T + origin


def _stature(shot: ShotSpec) -> float:
    return float(shot.character.traits.get("stature", 1.7))


def _origin(
    shot: ShotSpec, clip: dict, t: float, root, align, rest: rig.RigRest
) -> tuple[float, float, float]:
    """Where the armature goes so that its hip joints stand over ``root`` (captured clips; the
    root itself for procedural ones, whose armature carries the hips at their rest offset)."""
    if not captured(clip):
        return tuple(root)
    pelvis = play.hips_rotation(library.motion(clip), t, shot.animation.start, align)
    h = np.radians(shot.animation.heading_deg)
    turn = np.array([[np.cos(h), -np.sin(h), 0.0], [np.sin(h), np.cos(h), 0.0], [0.0, 0.0, 1.0]])
    joints = turn @ (rest.hips + pelvis @ (rest.hip_joints - rest.hips))
    want = np.array([root[0], root[1], root[2] + rest.hip_joints[2]])
    return tuple(float(x) for x in want - joints)


def _bones(shot: ShotSpec, clip: dict, t: float, align) -> dict[str, tuple[float, float, float, float]]:
    if not captured(clip):
        return {b: tuple(float(x) for x in to_quat(euler_xyz(a))) for b, a in bone_angles(clip, t).items()}
    return play.bone_rotations(library.motion(clip), t, shot.animation.start, align)


def root_and_camera(shot: ShotSpec, clip: dict, indices) -> list[tuple[tuple, np.ndarray]]:
    """The character's root (3,) and the camera-to-world (4, 4) at each frame of ``indices``
    (-1 .. N allowed), without the bones: what framing needs."""
    n = shot.frame_count
    an = shot.animation
    # The camera's distance is to the character at the shot's middle (CameraSpec.anchor, in
    # plans since the framing planner), so a walk towards the camera starts further off and ends
    # nearer instead of running into it; older plans measured it at the start.
    at = (n - 1) / 2 if shot.camera.anchor == "middle" else 0
    anchor = _roots(shot, clip, [_clip_time(shot, at)])[0]
    anchor[2] = 0.0
    indices = list(indices)
    roots = _roots(shot, clip, [_clip_time(shot, i) for i in indices])
    u = np.array([i / (n - 1) if n > 1 else 0.5 for i in indices], dtype=np.float64)
    current = roots.copy()
    current[:, 2] = 0.0
    eyes, targets = eyes_and_targets(shot.camera, u, an.heading_deg, anchor, current)
    cams = look_at_many(eyes, targets)
    return [((float(r[0]), float(r[1]), float(r[2])), cams[k]) for k, r in enumerate(roots)]


def frame_states(shot: ShotSpec, clip: dict, rest: rig.RigRest | None = None) -> list[FrameState]:
    """States for frames -1 .. N (N + 2 entries). ``rest``: the body's rig
    (:func:`render.body.rig_rest`), which a captured clip's bones are aligned to and its armature
    placed by; without it, estimated from stature with the source's rest directions (the root
    and camera do not depend on it, the bones and ``origin`` do)."""
    indices = range(-1, shot.frame_count + 1)
    rest = rest or rig.estimate(_stature(shot))
    align = alignments(library.motion(clip), rest.dirs) if captured(clip) else None
    return [
        FrameState(
            index=i,
            clip_time=_clip_time(shot, i),
            root=root,
            heading_deg=shot.animation.heading_deg,
            bones=_bones(shot, clip, _clip_time(shot, i), align),
            cam_to_world=cam,
            origin=_origin(shot, clip, _clip_time(shot, i), root, align, rest),
        )
        for i, (root, cam) in zip(indices, root_and_camera(shot, clip, indices), strict=True)
    ]


def frame_metadata(
    shot: ShotSpec, state: FrameState, render: dict, seed: int | None = None, lens: dict | None = None
) -> dict:
    """The per-frame JSON record (schema in docs/dataset_format.md).

    ``seed``: the renderer's sampling seed (default: the shot's); ``lens``: what the renderer
    computed for this frame (depth of field, f-stop, focus distance), merged into ``camera``.
    """
    w, h = shot.resolution
    ch = shot.character
    return {
        "shot_id": shot.shot_id,
        "scene": shot.scene,
        "split": shot.split,
        "frame": state.index,
        "frame_count": shot.frame_count,
        "fps": shot.fps,
        "resolution": [w, h],
        "camera": {
            "K": np.round(intrinsics(shot.camera.focal_mm, w, h), 6).tolist(),
            "world_to_camera": np.round(opencv_world_to_camera(state.cam_to_world), 6).tolist(),
            "focal_length_mm": shot.camera.focal_mm,
            "sensor_mm": SENSOR_MM,  # along the longer image side
            "sensor_fit": "longer_side",
            "preset": shot.camera.preset,
            **(lens or {}),
        },
        "character": {
            "id": ch.id,
            "phenotype": dict(ch.phenotype),
            "hair": dict(ch.hair),
            "traits": dict(ch.traits),
            "wears": [g["kind"] for g in ch.outfit.values() if isinstance(g, dict)],
            "accessories": {k: v for k, v in ch.accessories.items() if v != "none"},
            "root": [round(float(x), 6) for x in state.root],
            "heading_deg": state.heading_deg,
        },
        "animation": {
            "clip": shot.animation.clip,
            "start": shot.animation.start,
            "time": round(state.clip_time, 6),
        },
        "seeds": {"shot": shot.seed, "render": shot.seed if seed is None else seed},
        "render": render,
    }
