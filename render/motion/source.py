"""A motion as its source has it, before retargeting: a skeleton's joints with their rest
pose and, per frame, their global orientations and positions. Every reader (BVH here, Mixamo
FBX in the Blender backend) produces one, in our world axes (metres or the source's units,
z up); retargeting only needs directions and ratios, so units need not be metres."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class MotionError(ValueError):
    """A clip that cannot be read or retargeted; the message is one line naming the file."""


# Y-up (BVH, FBX) to our z-up axes: (x, y, z) → (x, -z, y). A character facing +z in its
# source faces -y here, and x stays its left.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class SourceMotion:
    """names (J,), parents (J,) int (-1 = root), rest_positions (J, 3), rest_rotations
    (J, 3, 3) (each joint's orientation in the rest pose; identity for BVH), rotations
    (T, J, 3, 3) and positions (T, J, 3) per frame, all global; fps; where it came from."""

    names: tuple[str, ...]
    parents: np.ndarray
    rest_positions: np.ndarray
    rest_rotations: np.ndarray
    rotations: np.ndarray
    positions: np.ndarray
    fps: float
    origin: str

    @property
    def frames(self) -> int:
        return len(self.rotations)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def deltas(self) -> np.ndarray:
        """(T, J, 3, 3): each joint's rotation away from its rest orientation, global."""
        return self.rotations @ np.swapaxes(self.rest_rotations, -1, -2)[None]

    def to_z_up(self, basis: np.ndarray = Y_UP_TO_Z_UP) -> SourceMotion:
        """The same motion in axes rotated by ``basis`` (3, 3)."""
        b = np.asarray(basis, dtype=np.float64)
        return SourceMotion(
            names=self.names,
            parents=self.parents,
            rest_positions=self.rest_positions @ b.T,
            rest_rotations=b @ self.rest_rotations,
            rotations=b @ self.rotations,
            positions=self.positions @ b.T,
            fps=self.fps,
            origin=self.origin,
        )
