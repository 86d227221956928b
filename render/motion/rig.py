"""What retargeting needs to know of a body's rig: its bones' rest heads and tails, the rest
directions its bones are aligned by, and where its hips and hip joints are. Built from the body
at render time (:func:`render.body.rig_rest`), or estimated from stature where no body is at
hand (planning, framing, the audit) from :mod:`render.motion.reference_rig`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.motion import mixamo
from render.motion.reference_rig import SHARES

# anny's leg (thigh + shin + ankle height) as a share of stature: 0.5279, sd 0.0061 over the 48
# catalog identities. A clip's path in legs becomes metres with it, from the plan alone.
LEG_SHARE = 0.5279


@dataclass(frozen=True)
class RigRest:
    """``heads``/``tails``: each bone's rest head and tail (3,) by short name, armature space,
    m; ``dirs``: the rest direction each bone is aligned by (towards the head of the child it
    points to, :func:`render.motion.mixamo.toward`, else head → tail); ``hips`` the Hips bone's
    head and ``hip_joints`` the midpoint of the thighs' heads; ``leg``: thigh + shin + ankle
    height, m."""

    heads: dict[str, np.ndarray]
    tails: dict[str, np.ndarray]
    dirs: dict[str, np.ndarray]
    hips: np.ndarray
    hip_joints: np.ndarray
    leg: float


def from_bones(heads: dict[str, np.ndarray], tails: dict[str, np.ndarray]) -> RigRest:
    dirs = {}
    for b in heads:
        child = mixamo.toward(b)
        d = (heads[child] - heads[b]) if child in heads else (tails[b] - heads[b])
        if np.linalg.norm(d) < 1e-9:
            d = tails[b] - heads[b]
        dirs[b] = d / np.linalg.norm(d)
    leg = np.mean(
        [
            np.linalg.norm(heads[f"{s}Leg"] - heads[f"{s}UpLeg"])
            + np.linalg.norm(heads[f"{s}Foot"] - heads[f"{s}Leg"])
            + heads[f"{s}Foot"][2]
            for s in ("Left", "Right")
        ]
    )
    return RigRest(
        heads=heads,
        tails=tails,
        dirs=dirs,
        hips=heads["Hips"].copy(),
        hip_joints=(heads["LeftUpLeg"] + heads["RightUpLeg"]) / 2,
        leg=float(leg),
    )


def estimate(stature: float) -> RigRest:
    """The reference rig (:mod:`render.motion.reference_rig`) scaled to ``stature``."""
    return from_bones(
        {b: np.array(h) * stature for b, (h, _) in SHARES.items()},
        {b: np.array(t) * stature for b, (_, t) in SHARES.items()},
    )
