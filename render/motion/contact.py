"""Where a posed rig's joints are (forward kinematics in numpy, the same convention the renderer
keys), and how far planted feet slide: the measure that retargeting and foot planting are judged by.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from render.motion.rotations import to_matrix

BALLS = ("LeftToeBase", "RightToeBase")


def fk(
    names: Sequence[str],
    parents: Sequence[int],
    heads: np.ndarray,
    root: Sequence[float],
    heading_deg: float,
    bones: dict[str, Sequence[float]],
) -> tuple[np.ndarray, np.ndarray]:
    """World positions (B, 3) of every bone's head and world rotations (B, 3, 3) away from the
    rest. ``names`` short names, parents first; ``heads`` (B, 3) rest heads (armature space,
    feet on z = 0); ``root``: the armature's location; ``bones``: rotations relative to the
    parent about the armature's rest axes, (w, x, y, z) (absent = rest)."""
    n = len(names)
    world = np.empty((n, 3, 3))
    pos = np.empty((n, 3))
    for i in range(n):
        r = to_matrix(np.asarray(bones[names[i]])) if names[i] in bones else np.eye(3)
        p = parents[i]
        if p < 0:
            world[i] = r
            pos[i] = heads[i]
        else:
            world[i] = world[p] @ r
            pos[i] = pos[p] + world[p] @ (heads[i] - heads[p])
    h = np.radians(heading_deg)
    turn = np.array([[np.cos(h), -np.sin(h), 0.0], [np.sin(h), np.cos(h), 0.0], [0.0, 0.0, 1.0]])
    return pos @ turn.T + np.asarray(root, dtype=np.float64), turn @ world


def joint_positions(names, parents, heads, root, heading_deg, bones) -> np.ndarray:
    """World positions (B, 3) of every bone's head (see :func:`fk`)."""
    return fk(names, parents, heads, root, heading_deg, bones)[0]


def foot_slide(balls: np.ndarray, fps: float, planted_within: float = 0.025) -> dict[str, float]:
    """Sliding of planted feet. ``balls`` (T, 2, 3): the balls of the left and right foot per
    frame (m). A foot is planted in a frame when its ball is within ``planted_within`` of the
    lowest it gets in the shot; its slide is the horizontal distance it moves to the next frame
    while planted in both. Returns the mean slide speed (m/s) over planted frames, the planted
    share of foot-frames, and the worst single step (m)."""
    lowest = balls[:, :, 2].min(axis=0)
    planted = balls[:, :, 2] <= lowest + planted_within
    both = planted[1:] & planted[:-1]
    step = np.linalg.norm(np.diff(balls[:, :, :2], axis=0), axis=-1)
    if not both.any():
        return {"speed": 0.0, "planted": 0.0, "worst": 0.0}
    return {
        "speed": float(step[both].mean() * fps),
        "planted": float(planted.mean()),
        "worst": float(step[both].max()),
    }
