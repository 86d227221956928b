"""Retargeting a :class:`SourceMotion` onto the body's Mixamo rig.

Each rig bone follows one source joint: the bone's global rotation away from its rest is the
source joint's. A limb's is composed with the fixed rotation that takes the bone's rest
direction onto the source's (so an A-pose rig plays a T-pose capture with its arms where the
capture has them); the torso, neck, head and clavicles keep the rig's own rest posture (a
capture's straight spine or raised clavicles would otherwise hunch or shrug every body).
Bones without a source joint keep their rest pose relative to their parent (fingers, for a
capture without them). The hip joints' path is measured in legs, so one clip drives a child
and a tall adult alike, and each body's legs cover it in the capture's strides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.motion import mixamo
from render.motion.reference_rig import SHARES
from render.motion.rotations import between, to_quat, yaw_of
from render.motion.source import MotionError, SourceMotion

FEET = ("LeftFoot", "RightFoot")
BALLS = ("LeftToeBase", "RightToeBase")
# Bones aligned rest-to-rest (their rest differs by pose: A against T); the rest keep the rig's.
ALIGNED = tuple(
    f"{s}{b}"
    for s in ("Left", "Right")
    for b in ("Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot", "ToeBase")
)
FINGERS = tuple(
    f"{s}Hand{f}{k}"
    for s in ("Left", "Right")
    for f in ("Index", "Middle", "Pinky", "Ring", "Thumb")
    for k in (1, 2, 3)
)
THIGHS = ("LeftUpLeg", "RightUpLeg")
SHINS = ("LeftLeg", "RightLeg")
# anny's ankle height at rest as a share of its leg (thigh + shin + ankle height): 0.0861, sd
# 0.0054 over the 48 catalog identities; a capture's ground is taken this far below its ankles
# when they stand lowest. Its hip joints stand 0.9928 legs high at rest.
ANKLE_SHARE = 0.0861
STANDING = 0.9928
# The balls of the feet at rest, as a share of the leg (reference rig): where the ground lies
# under a capture's balls when they stand lowest.
BALL_SHARE = SHARES["LeftToeBase"][0][2] / 0.5279
# A first frame this far (degrees, any joint) from the second is a calibration pose (the CMU
# BVH conversions start with a T-pose): playback starts after it.
REST_JUMP_DEG = 30.0


@dataclass(frozen=True)
class Motion:
    """A retargeted clip. ``bones`` (B,) rig bone short names, parents first; ``parents`` the
    nearest driven ancestor of each; ``deltas`` (T, B, 4) each bone's global rotation away from
    the *source's* rest (w, x, y, z); ``source_dirs`` (B, 3) the source's rest directions of the
    aligned bones (NaN where the source has none: the bone is aligned like its parent);
    ``hips`` (T, 3) the midpoint of the hip joints in legs (thigh + shin + ankle height), ground
    at z = 0; ``first``: the first frame to play (1 after a calibration pose). z up; the source's rest faces -y."""

    fps: float
    bones: tuple[str, ...]
    parents: tuple[int, ...]
    deltas: np.ndarray
    source_dirs: np.ndarray
    hips: np.ndarray
    first: int
    origin: str

    @property
    def frames(self) -> int:
        return len(self.deltas)

    @property
    def duration(self) -> float:
        return (self.frames - 1) / self.fps


def _face_minus_y(src: SourceMotion, mapping: dict[str, str]) -> SourceMotion:
    """Turn the whole source about z so that its rest pose faces -y (left = +x)."""
    left = (
        src.rest_positions[src.index(mapping["LeftUpLeg"])]
        - src.rest_positions[src.index(mapping["RightUpLeg"])]
    )
    left[2] = 0.0
    if np.linalg.norm(left) < 1e-9:
        raise MotionError(f"{src.origin}: the hips joints coincide in the rest pose")
    # heading of the facing direction (left x up) → rotate it back to 0
    facing = np.cross(left, [0.0, 0.0, 1.0])
    a = -float(yaw_of(facing))
    c, s = np.cos(a), np.sin(a)
    return src.to_z_up(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]))


def retarget(
    src: SourceMotion,
    mapping: dict[str, str],
    rig_bones: tuple[str, ...],
    rig_parents,
    frames: tuple[int, int] | None = None,
) -> Motion:
    """``mapping``: rig bone short name → source joint name (bones absent from it follow their
    parent; fingers the source lacks are dropped). ``rig_bones``/``rig_parents``: the rig's
    hierarchy, parents first. ``frames``: the range played, whose lowest-standing feet set the
    ground (default: the whole file)."""
    mapping = {b: j for b, j in mapping.items() if j in src.names or b not in FINGERS}
    missing = [j for j in mapping.values() if j not in src.names]
    if missing:
        raise MotionError(
            f"{src.origin}: no joint {missing[0]!r} (the skeleton map expects {len(mapping)} joints)"
        )
    for need in ("Hips", *THIGHS, *SHINS, *FEET, "Head"):
        if need not in mapping:
            raise MotionError(f"{src.origin}: the skeleton map has no joint for {need}")
    src = _face_minus_y(src, mapping)
    rest = src.rest_positions
    if rest[src.index(mapping["Head"]), 2] <= rest[src.index(mapping["Hips"]), 2]:
        raise MotionError(f"{src.origin}: the rest pose's head is not above its hips (not Y up?)")
    driven = [b for b in rig_bones if b in mapping]
    index = {b: i for i, b in enumerate(rig_bones)}
    parents = []
    for b in driven:  # nearest driven ancestor in the rig
        p = rig_parents[index[b]]
        while p >= 0 and rig_bones[p] not in mapping:
            p = rig_parents[p]
        parents.append(driven.index(rig_bones[p]) if p >= 0 else -1)
    deltas = src.deltas()
    j = [src.index(mapping[b]) for b in driven]
    dirs = np.stack([_source_dir(src, mapping, b) if b in ALIGNED else np.full(3, np.nan) for b in driven])

    # Scale: the source's leg (thigh + shin + its ankle's height over the ground).
    at = {b: rest[src.index(mapping[b])] for b in (*THIGHS, *SHINS, *FEET)}
    shank = np.mean(
        [
            np.linalg.norm(at[s] - at[t]) + np.linalg.norm(at[f] - at[s])
            for t, s, f in zip(THIGHS, SHINS, FEET, strict=True)
        ]
    )
    if shank <= 0:
        raise MotionError(f"{src.origin}: the legs have no length in the rest pose")
    leg = shank / (1.0 - ANKLE_SHARE)
    first, last = frames or (0, src.frames - 1)
    window = slice(first, last + 1)
    if all(b in mapping for b in BALLS):
        low = src.positions[window][:, [src.index(mapping[b]) for b in BALLS], 2].min(axis=1)
        ground = np.percentile(low, 1) - BALL_SHARE * leg
    else:
        low = src.positions[window][:, [src.index(mapping[f]) for f in FEET], 2].min(axis=1)
        ground = np.percentile(low, 1) - ANKLE_SHARE * leg
    shift = np.array([0.0, 0.0, ground])
    hips = src.positions[:, [src.index(mapping[t]) for t in THIGHS]].mean(axis=1)
    quats = to_quat(deltas[:, j])
    return Motion(
        fps=src.fps,
        bones=tuple(driven),
        parents=tuple(parents),
        deltas=quats,
        source_dirs=dirs,
        hips=(hips - shift) / leg,
        first=calibration_frames(quats),
        origin=src.origin,
    )


def calibration_frames(quats: np.ndarray) -> int:
    """1 when the first frame is a pose far from the second (a T-pose before the take).
    ``quats`` (T, J, 4): any joints' rotations per frame."""
    if len(quats) < 3:
        return 0
    dot = np.abs(np.sum(quats[0] * quats[1], axis=-1)).clip(0.0, 1.0)
    return int(np.degrees(2 * np.arccos(dot)).max() > REST_JUMP_DEG)


def _source_dir(src: SourceMotion, mapping, bone: str) -> np.ndarray:
    """The source's rest direction for rig bone ``bone``: from its joint to the joint of the
    child the bone points to (:func:`render.motion.mixamo.toward`), NaN when the map lacks that
    child (the bone is then aligned like its parent)."""
    child = mixamo.toward(bone)
    if child in mapping:
        d = src.rest_positions[src.index(mapping[child])] - src.rest_positions[src.index(mapping[bone])]
        if np.linalg.norm(d) > 1e-6:
            return d / np.linalg.norm(d)
    return np.full(3, np.nan)


def alignments(motion: Motion, rig_dirs: dict[str, np.ndarray] | None) -> np.ndarray:
    """(B, 3, 3): for each aligned bone (a limb), the smallest rotation taking the rig's rest
    direction onto the source's; a limb bone without a source direction (a hand without
    fingers, a toe) takes its parent's; the torso, neck, head and clavicles, or every bone when
    ``rig_dirs`` is None, the identity."""
    out = np.broadcast_to(np.eye(3), (len(motion.bones), 3, 3)).copy()
    if not rig_dirs:
        return out
    for i, b in enumerate(motion.bones):
        if b not in ALIGNED:
            continue
        if np.isnan(motion.source_dirs[i]).any() or b not in rig_dirs:
            p = motion.parents[i]
            out[i] = out[p] if p >= 0 else np.eye(3)
        else:
            out[i] = between(rig_dirs[b], motion.source_dirs[i])
    return out
