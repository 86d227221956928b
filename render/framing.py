"""Framing (pure): is the subject's head, hair included, in the picture?

The head is taken at the character's root (the ground point under the hips, with the clip's
bob) raised to its chin and to just above its crown, from the identity's stature, and 10 cm
either side of that line across the view: the actions are upright procedural clips, so the
head stays near it (the bones' turns are not applied here; a swaying dance leans further). A
frame has the head in frame when all six points project inside the image, in front of the
camera.

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
from render.timeline import root_and_camera

CHIN_BELOW_TOP = 0.23  # m from the top of the head to the chin
HAIR_ABOVE_TOP = 0.03  # m of hair above the crown that must be in frame too
NECK_BELOW_TOP = 0.3  # m: where a raised aim points
HEAD_HALF_WIDTH = 0.1  # m either side of the head's axis (hair included) that must be in frame too
NEED = 0.9  # share of frames with the head in frame
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
    states = root_and_camera(shot, clip, _frames(shot.frame_count, step))
    roots = np.array([r for r, _ in states], dtype=np.float64)  # (F, 3)
    cams = np.stack([c for _, c in states])  # (F, 4, 4): right, up, back (Blender), eye
    ok = np.ones(len(states), dtype=bool)
    for h in head_heights(shot):
        for side in (-HEAD_HALF_WIDTH, 0.0, HEAD_HALF_WIDTH):
            d = roots + np.array([0.0, 0.0, h]) + side * cams[:, :3, 0] - cams[:, :3, 3]
            x, y = np.einsum("fk,fk->f", d, cams[:, :3, 0]), np.einsum("fk,fk->f", d, cams[:, :3, 1])
            depth = -np.einsum("fk,fk->f", d, cams[:, :3, 2])
            safe = np.where(depth > 0, depth, 1.0)
            u, v = width / 2 + f * x / safe, height / 2 - f * y / safe
            ok &= (depth > 0) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    return ok


def reframe(shot: ShotSpec, clip: dict, need: float = NEED, step: int = STEP, tries: int = 8) -> ShotSpec:
    """``shot``, or the nearest change of its camera (raised aim, then distance ×1.2 a try) that
    keeps the head in frame for ``need`` + MARGIN of the frames checked (every ``step``-th and
    the last). When no try reaches that, the best one tried (the original included) is kept."""
    target = min(1.0, need + MARGIN)
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
