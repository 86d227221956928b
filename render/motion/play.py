"""Playing a retargeted :class:`Motion` at any time (the dataset's fps need not be the clip's):
bone rotations slerped and the hip joints' path interpolated between the clip's frames, in the
frame of the shot's start (the character at ``t0`` stands at the origin facing -y).

Functions take one time or an array of times (T,); arrays are evaluated at once.
"""

from __future__ import annotations

import numpy as np

from render.motion.retarget import STANDING, Motion
from render.motion.rotations import slerp, to_matrix, to_quat, yaw_of


def _frames(motion: Motion, t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = np.clip(np.asarray(t, dtype=np.float64) * motion.fps, motion.first, motion.frames - 1.0)
    lo = np.floor(f).astype(int)
    hi = np.minimum(lo + 1, motion.frames - 1)
    return lo, hi, f - lo


def _lerp(series: np.ndarray, motion: Motion, t) -> np.ndarray:
    lo, hi, u = _frames(motion, t)
    u = u.reshape(u.shape + (1,) * (series.ndim - 1))
    return (1.0 - u) * series[lo] + u * series[hi]


def _deltas(motion: Motion, t) -> np.ndarray:
    """(..., B, 3, 3) global rotations away from the source rest at ``t``."""
    lo, hi, u = _frames(motion, t)
    return to_matrix(slerp(motion.deltas[lo], motion.deltas[hi], np.asarray(u)[..., None]))


def start_yaw(motion: Motion, t0: float) -> float:
    """The heading (radians) the pelvis faces at ``t0``; the shot turns the clip so it becomes 0."""
    hips = motion.bones.index("Hips")
    facing = _deltas(motion, t0)[hips] @ np.array([0.0, -1.0, 0.0])
    return float(yaw_of(facing))


def _unyaw(yaw: float) -> np.ndarray:
    c, s = np.cos(-yaw), np.sin(-yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def root_offset(motion: Motion, t, t0: float) -> np.ndarray:
    """(..., 3) where the hip joints are at ``t``, in legs: horizontally from where they stood at
    ``t0``, in the shot's frame; vertically, how far above their standing height."""
    turn = _unyaw(start_yaw(motion, t0))
    now = _lerp(motion.hips, motion, t)
    d = (now - _lerp(motion.hips, motion, t0)) @ turn.T
    d[..., 2] = now[..., 2] - STANDING
    return d


def world_rotations(motion: Motion, t, t0: float, align: np.ndarray) -> np.ndarray:
    """(..., B, 3, 3) each driven bone's global rotation away from the rig's rest, armature axes,
    in the shot's frame. ``align`` (B, 3, 3): :func:`render.motion.retarget.alignments`."""
    return _unyaw(start_yaw(motion, t0)) @ _deltas(motion, t) @ align


def hips_rotation(motion: Motion, t, t0: float, align: np.ndarray) -> np.ndarray:
    """(..., 3, 3) the Hips bone's rotation (armature axes) at ``t``."""
    return world_rotations(motion, t, t0, align)[..., motion.bones.index("Hips"), :, :]


def bone_rotations(
    motion: Motion, t: float, t0: float, align: np.ndarray
) -> dict[str, tuple[float, float, float, float]]:
    """Each driven bone's rotation relative to its parent, about the armature's rest axes
    (w, x, y, z): the convention :func:`render.timeline.frame_states` hands the renderer."""
    world = world_rotations(motion, t, t0, align)
    local = np.empty_like(world)
    for i, p in enumerate(motion.parents):
        local[i] = world[i] if p < 0 else world[p].T @ world[i]
    quats = to_quat(local)
    return {b: tuple(float(x) for x in quats[i]) for i, b in enumerate(motion.bones)}
