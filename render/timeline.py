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
from render.camera import SENSOR_MM, eye_and_target, intrinsics, look_at, opencv_world_to_camera
from render.plan import ShotSpec


@dataclass(frozen=True)
class FrameState:
    index: int  # shot frame; -1 and N are the motion-blur guard frames
    clip_time: float  # seconds into the clip
    root: tuple[float, float, float]  # character root (ground point under the hips, plus bob), metres
    heading_deg: float
    bones: dict[str, tuple[float, float, float]]  # Euler degrees about armature rest axes
    cam_to_world: np.ndarray  # (4, 4), Blender convention (camera looks down -z, y up)


def _clip_time(shot: ShotSpec, i: float) -> float:
    return shot.animation.start + i / shot.fps * shot.animation.speed


def root_and_camera(shot: ShotSpec, clip: dict, indices) -> list[tuple[tuple, np.ndarray]]:
    """The character's root (3,) and the camera-to-world (4, 4) at each frame of ``indices``
    (-1 .. N allowed), without the bones: what framing needs."""
    n = shot.frame_count
    an = shot.animation
    # The camera's distance is to the character at the shot's middle (CameraSpec.anchor, in
    # plans since the framing planner), so a walk towards the camera starts further off and ends
    # nearer instead of running into it; older plans measured it at the start.
    at = (n - 1) / 2 if shot.camera.anchor == "middle" else 0
    anchor = np.array(root_position(clip, _clip_time(shot, at), an.position, an.heading_deg))
    anchor[2] = 0.0
    out = []
    for i in indices:
        root = root_position(clip, _clip_time(shot, i), an.position, an.heading_deg)
        current = np.array([root[0], root[1], 0.0])
        u = i / (n - 1) if n > 1 else 0.5
        eye, target = eye_and_target(shot.camera, u, an.heading_deg, anchor, current)
        out.append((root, look_at(eye, target)))
    return out


def frame_states(shot: ShotSpec, clip: dict) -> list[FrameState]:
    """States for frames -1 .. N (N + 2 entries)."""
    indices = range(-1, shot.frame_count + 1)
    return [
        FrameState(
            index=i,
            clip_time=_clip_time(shot, i),
            root=root,
            heading_deg=shot.animation.heading_deg,
            bones=bone_angles(clip, _clip_time(shot, i)),
            cam_to_world=cam,
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
