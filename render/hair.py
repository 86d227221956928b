"""Procedural hair strands on the scalp (pure numpy, seeded): no particle system, so the
same seed gives the same strands in every process (Blender's particle hair does not)."""

from __future__ import annotations

import numpy as np

from render.body import BodyData

POINTS_PER_STRAND = 8
ROOT_RADIUS = 0.00035  # metres: below a pixel's footprint at 4K, so hair gives fractional alpha
TIP_RADIUS = 0.00008


def scalp_faces(body: BodyData) -> tuple[np.ndarray, np.ndarray]:
    """Triangles of the scalp (F_s, 3) and the head centre (3,)."""
    head = body.bone_index("Head")
    h0, h1 = body.bone_heads[head], body.bone_tails[head]
    centre = h0 + 0.45 * (h1 - h0)
    v = body.vertices
    on_head = body.dominant_bone() == head
    rel = v - centre
    top = rel[:, 2] > -0.01
    back = (rel[:, 1] > 0.0) & (rel[:, 2] > -0.09)
    face = (rel[:, 1] < -0.035) & (rel[:, 2] < 0.055)
    scalp = on_head & (top | back) & ~face
    tri = body.faces[scalp[body.faces].all(axis=1)]
    return tri, centre


def make_strands(
    body: BodyData, hair: dict, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Strand control points (S, P, 3) and radii (S, P) for a hair spec (see ``plan.make_character``)."""
    tri, centre = scalp_faces(body)
    s = max(0, int(round(count * float(hair["density"]))))
    if s == 0 or len(tri) == 0:
        return np.zeros((0, POINTS_PER_STRAND, 3)), np.zeros((0, POINTS_PER_STRAND))
    a, b, c = (body.vertices[tri[:, i]] for i in range(3))
    cross = np.cross(b - a, c - a)
    area = np.linalg.norm(cross, axis=1)
    pick = rng.choice(len(tri), size=s, p=area / area.sum())
    r1, r2 = rng.uniform(size=s), rng.uniform(size=s)
    sq = np.sqrt(r1)
    roots = (1 - sq)[:, None] * a[pick] + (sq * (1 - r2))[:, None] * b[pick] + (sq * r2)[:, None] * c[pick]
    normals = cross[pick] / np.maximum(area[pick], 1e-12)[:, None]
    # Face winding can vary: make normals point away from the head centre.
    outward = roots - centre
    normals *= np.sign(np.sum(normals * outward, axis=1, keepdims=True) + 1e-12)
    length = float(hair["length"]) * rng.uniform(0.8, 1.2, size=s)
    head_radius = np.percentile(np.linalg.norm(outward, axis=1), 60)
    down = np.array([0.0, 0.0, -1.0])
    droop = min(1.0, float(hair["length"]) / 0.12)  # short hair stands, long hair falls
    curl = float(hair["curl"])
    phase = rng.uniform(0, 2 * np.pi, size=s)
    pts = np.empty((s, POINTS_PER_STRAND, 3))
    pts[:, 0] = roots
    seg = length / (POINTS_PER_STRAND - 1)
    d = normals.copy()
    for k in range(1, POINTS_PER_STRAND):
        g = droop * k / (POINTS_PER_STRAND - 1)
        d = (1 - g) * normals + g * down + 0.3 * (1 - g) * (roots - centre) / head_radius
        if curl > 0:
            side = np.cross(d, down)
            side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-9)
            d = d + curl * 0.9 * side * np.sin(phase + k * 2.2)[:, None]
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        p = pts[:, k - 1] + seg[:, None] * d
        # Keep strands outside the skull: push points inside the head sphere back out.
        rel = p - centre
        dist = np.linalg.norm(rel, axis=1, keepdims=True)
        p = np.where(dist < head_radius, centre + rel / np.maximum(dist, 1e-9) * head_radius, p)
        pts[:, k] = p
    t = np.linspace(0, 1, POINTS_PER_STRAND)
    radii = np.broadcast_to(ROOT_RADIUS + (TIP_RADIUS - ROOT_RADIUS) * t, (s, POINTS_PER_STRAND)).copy()
    return pts, radii
