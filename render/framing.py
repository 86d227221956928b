"""Framing (pure): is the subject's head, hair included, in the picture?

The head is taken at its top (:func:`render.timeline.head_tops`: above the root by the
identity's stature for an upright procedural clip; where the capture's head is, scaled to the
body, for captured motion) lowered to its chin and raised just above its crown, and 10 cm either
side of that line across the view (a swaying procedural dance leans a little further: its bones'
turns are not applied here). A frame has the head in frame when all six points project inside
the image, in front of the camera.

:func:`reframe` makes a planned shot keep the head in frame for at least ``need`` of its
frames: where the aim is too low for the lens to hold the head, it is raised to the neck;
then, while that is not enough, the camera stands further off (its path scaled with the
distance), never changing the preset. Deterministic: no random draw.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from render.camera import intrinsics
from render.plan import ShotSpec
from render.timeline import captured, head_tops, root_and_camera

CHIN_BELOW_TOP = 0.23  # m from the top of the head to the chin
HAIR_ABOVE_TOP = 0.03  # m of hair above the crown that must be in frame too
NECK_BELOW_TOP = 0.3  # m: where a raised aim points
HEAD_HALF_WIDTH = 0.1  # m either side of the head's axis (hair included) that must be in frame too
NEED = 0.9  # share of frames with the head in frame
# Captured clips: the head is placed on a reference rig at the identity's stature, up to 5.5 cm
# from where the body's own rig puts it (median 1.9 cm); the points move out by 5 (a shot that
# moved further back could leave its room).
POSE_SLACK = 0.05
MARGIN = 0.05  # reframing checks every STEP-th frame and aims at NEED + MARGIN, so every frame holds
STEP = 6


def head_heights(shot: ShotSpec) -> tuple[float, float]:
    """Heights above the root (m) of the chin and of the top of the hair."""
    traits = shot.character.traits or {}
    top = float(traits.get("stature", 1.7))
    return top - CHIN_BELOW_TOP, top + HAIR_ABOVE_TOP


def _frames(n: int, step: int) -> list[int]:
    """Frames 0, step, 2·step, … and always the last one."""
    return sorted(set(range(0, n, step)) | {n - 1})


def head_in_frame(shot: ShotSpec, clip: dict, step: int = 1) -> np.ndarray:
    """(frames,) bool over frames 0, step, 2·step, … and the last frame of the shot: chin and
    crown, each also HEAD_HALF_WIDTH either side along the camera's right axis, all inside."""
    width, height = shot.resolution
    f = intrinsics(shot.camera.focal_mm, width, height)[0, 0]
    frames = _frames(shot.frame_count, step)
    states = root_and_camera(shot, clip, frames)
    tops = head_tops(shot, clip, frames)  # (F, 3)
    cams = np.stack([c for _, c in states])  # (F, 4, 4): right, up, back (Blender), eye
    ok = np.ones(len(states), dtype=bool)
    stature = head_heights(shot)[1] - HAIR_ABOVE_TOP
    slack = POSE_SLACK if captured(clip) else 0.0
    chin, crown = head_heights(shot)
    for h in (chin - slack, crown + slack):
        for side in (-HEAD_HALF_WIDTH - slack, 0.0, HEAD_HALF_WIDTH + slack):
            d = tops + np.array([0.0, 0.0, h - stature]) + side * cams[:, :3, 0] - cams[:, :3, 3]
            x, y = np.einsum("fk,fk->f", d, cams[:, :3, 0]), np.einsum("fk,fk->f", d, cams[:, :3, 1])
            depth = -np.einsum("fk,fk->f", d, cams[:, :3, 2])
            safe = np.where(depth > 0, depth, 1.0)
            u, v = width / 2 + f * x / safe, height / 2 - f * y / safe
            ok &= (depth > 0) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    return ok


def reframe(shot: ShotSpec, clip: dict, need: float = NEED, step: int = STEP, tries: int = 8) -> ShotSpec:
    """``shot``, or the nearest change of its camera (raised aim, then distance ×1.2 a try) that
    keeps the head in frame for ``need`` + MARGIN of the frames checked (every ``step``-th and
    the last; every frame for captured motion, which moves faster than a step can follow). When
    no try reaches that, the best one tried (the original included) is kept."""
    target = min(1.0, need + MARGIN)
    step = 1 if captured(clip) else step
    best, best_share = shot, float(head_in_frame(shot, clip, step).mean())
    if best_share >= target:
        return shot
    cam = shot.camera
    neck = head_heights(shot)[1] - HAIR_ABOVE_TOP - NECK_BELOW_TOP
    if cam.aim_height < neck:
        cam = dataclasses.replace(cam, aim_height=round(neck, 4))
    for _ in range(tries):
        candidate = dataclasses.replace(shot, camera=cam)
        share = float(head_in_frame(candidate, clip, step).mean())
        if share >= target:
            return candidate
        if share > best_share + 0.01:  # only a real gain is worth a change of the framing
            best, best_share = candidate, share
        cam = dataclasses.replace(
            cam, distance=round(cam.distance * 1.2, 4), travel=round(cam.travel * 1.2, 4)
        )
    return best
