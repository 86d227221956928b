"""Growing strands from a recipe (pure numpy, seeded): a head's hair as polylines with radii.

Every strand of a style is grown by the same vectorised rule from its own root and its own
random draws, then clumped towards its guide (every ``CLUMP_SIZE``-th strand of the style is a
guide). The strands come in one fixed order per identity; a level of detail keeps a prefix of
that order (the guides come first) and widens the strands it keeps, so coverage per pixel
is the same at every level and the same identity looks the same in every shot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.body import BodyData
from render.people import regions
from render.people.dynamics import Collider, push_out
from render.people.hairstyles import recipe

BRAID_STRETCH = 1.3  # arc length over axis length of a braided strand (measured)
CLUMP_SIZE = 48  # strands per clump (and per guide of the dynamics)
MAX_GUIDES = 2000
DOWN = np.array([0.0, 0.0, -1.0])
# The face hair keeps clear of (reference head, m): half its width and its top above the pivot.
FACE_HALF_WIDTH, FACE_TOP = 0.07, 0.03


@dataclass(frozen=True)
class HairGroup:
    """One kind of hair on a head.

    points (S, P, 3) rest-pose body coordinates (m); radii (S, P) m; guide_points (G, P, 3) the
    guide strands (the first G of the full order, kept or not); owner (S,) index of each strand's
    guide.
    """

    name: str
    points: np.ndarray
    radii: np.ndarray
    guide_points: np.ndarray
    owner: np.ndarray
    dynamic: bool
    stiffness: float
    pinned: int = 2  # points per strand the dynamics carries rigidly with the head


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _perp(d: np.ndarray, hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (…, 3) perpendicular to ``d`` and to each other."""
    e1 = np.cross(d, hint)
    bad = np.linalg.norm(e1, axis=-1, keepdims=True) < 1e-6
    e1 = np.where(bad, np.cross(d, np.array([1.0, 0.0, 0.0])), e1)
    e1 = _unit(e1)
    return e1, _unit(np.cross(d, e1))


def _helix_factor(r: dict, rng, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per strand: curl radius, pitch and the ratio of arc length to axis length."""
    if "curl" not in r:
        z = np.zeros(n)
        return z, np.ones(n), np.ones(n)
    radius = rng.uniform(0.8, 1.2, n) * r["curl"][0]
    pitch = rng.uniform(0.85, 1.15, n) * r["curl"][1]
    return radius, pitch, np.sqrt(1 + (2 * np.pi * radius / pitch) ** 2)


def _fall_path(
    frame: regions.HeadFrame, roots: np.ndarray, normals: np.ndarray, axis_len: np.ndarray, r: dict, p: int
) -> np.ndarray:
    """(S, P, 3): the strand's axis, from the scalp normal towards gravity, kept off the head."""
    s = len(roots)
    pts = np.empty((s, p, 3))
    pts[:, 0] = roots
    seg = axis_len / (p - 1)
    outward = _unit(roots - frame.centre)
    back = np.array([0.0, 1.0, 0.0])
    fall = float(r.get("fall", 0.5))
    margin = float(r.get("volume", 0.0))
    size = float(frame.radii.mean())
    rho0 = frame.rho(roots)
    # Combed from a centre parting: sideways away from it and back, along the scalp.
    side = np.sign(roots[:, 0] - frame.pivot[0] - 0.004) + (roots[:, 0] == frame.pivot[0])
    front = np.clip((frame.centre[1] - roots[:, 1]) / frame.radii[1] + 0.3, 0.0, 1.0)  # the parting's reach
    comb = (side * front)[:, None] * np.array([1.0, 0.0, 0.0]) + 0.8 * back
    comb = _unit(comb - np.sum(comb * normals, axis=1, keepdims=True) * normals)
    comb_k = float(r.get("comb_scalp", 0.0))
    for k in range(1, p):
        along = seg * k
        g = np.clip(fall * along / 0.06, 0.0, 1.0)[:, None]
        d = (1 - g) * (normals + 0.3 * outward + comb_k * comb) + g * (DOWN + 0.12 * back)
        if "comb" in r:  # brows lie along the skin, outwards
            lateral = np.sign(roots[:, :1] - frame.pivot[0]) * np.array([1.0, 0.0, 0.0])
            d = 0.35 * normals + float(r["comb"]) * lateral + 0.25 * np.array([0.0, 0.0, 1.0])
        if "tip_in" in r:  # a bob's ends turn under, towards the neck
            d = d + float(r["tip_in"]) / 0.02 * (k / (p - 1)) ** 3 * (-outward * np.array([1.0, 1.0, 0.0]))
        q = pts[:, k - 1] + seg[:, None] * _unit(d)
        if r["region"] == "scalp":
            q = frame.ellipsoid_push(q, rho0 + (margin * min(1.0, k / 2) + 0.002) / size)
            q = _clear_face(frame, q, side)
        pts[:, k] = q
    return pts


def _clear_face(frame: regions.HeadFrame, q: np.ndarray, side: np.ndarray) -> np.ndarray:
    """(S, 3) points moved sideways out of the face's box (in front of the cranium, from the
    brows down to below the chin), to the side of their root."""
    s = frame.scale
    half = FACE_HALF_WIDTH * s
    inside = (
        (q[:, 1] < frame.centre[1] - 0.35 * frame.radii[1])
        & (np.abs(q[:, 0] - frame.pivot[0]) < half)
        & (q[:, 2] < frame.pivot[2] + FACE_TOP * s)
        & (q[:, 2] > frame.pivot[2] - 0.2 * s)
    )
    out = q.copy()
    out[inside, 0] = frame.pivot[0] + side[inside] * half
    return out


def gathered_points(p: int) -> int:
    """Points of a gathered strand (of ``p``) from the root to the gather point, inclusive."""
    return max(3, p // 3)


def _gather_path(
    frame: regions.HeadFrame, roots: np.ndarray, length: np.ndarray, r: dict, p: int, rng
) -> np.ndarray:
    """(S, P, 3) for ponytail, bun and braids: over the scalp to a gather point, then the tail."""
    s = len(roots)
    gx, gy, gz = r["gather"]
    side = np.where(roots[:, 0] < frame.pivot[0], -1.0, 1.0) if r["tail"] == "braid" else np.ones(s)
    gather = frame.to_body(np.stack([side * gx, np.full(s, gy), np.full(s, gz)], axis=1))
    m = gathered_points(p)  # points over the scalp
    u = np.linspace(0, 1, m)[None, :, None]
    floor = (1 - u[..., 0]) * frame.rho(roots)[:, None] + u[..., 0] * frame.rho(gather)[:, None]
    scalp = frame.ellipsoid_push(
        (1 - u) * roots[:, None] + u * gather[:, None], floor + 0.003 / frame.radii.mean()
    )
    scalp[:, 0] = roots
    over = np.linalg.norm(np.diff(scalp, axis=1), axis=-1).sum(axis=1)
    rest = np.maximum(length - over, 0.05)
    n = p - m + 1
    v = np.linspace(0, 1, n)[None, :]
    radius = float(r["tail_radius"])
    # A point in the tail's cross-section, per strand.
    ang = rng.uniform(0, 2 * np.pi, s)
    rad = radius * np.sqrt(rng.uniform(0, 1, s))
    if r["tail"] == "fall":
        axis = _unit(np.array([0.0, 0.35, -1.0]))
        e1, e2 = _perp(axis, np.array([1.0, 0.0, 0.0]))
        off = (np.cos(ang) * rad)[:, None] * e1 + (np.sin(ang) * rad)[:, None] * e2
        spread = 1 + 1.5 * v  # the tail fans out below the band
        tail = gather[:, None] + off[:, None] * spread[..., None] + (rest[:, None] * v)[..., None] * axis
    elif r["tail"] == "coil":
        normal = _unit(gather - frame.centre)
        e1, e2 = _perp(normal, np.array([0.0, 0.0, 1.0]))
        turns = rest / (2 * np.pi * radius * 0.75)
        theta = ang[:, None] + 2 * np.pi * turns[:, None] * v
        ring = radius * (0.45 + 0.55 * rng.uniform(0, 1, s))[:, None]
        lift = (0.6 * radius * v * rng.uniform(0.4, 1, s)[:, None])[..., None] * normal[:, None]
        tail = (
            gather[:, None]
            + (ring * np.cos(theta))[..., None] * e1[:, None]
            + (ring * np.sin(theta))[..., None] * e2[:, None]
        )
        tail = tail + lift
    else:  # braid: three bundles crossing over a falling axis
        rest = rest / BRAID_STRETCH  # the crossings lengthen a strand by about this much
        axis = _unit(np.array([0.0, 0.15, -1.0]))
        bundle = rng.integers(0, 3, s)
        period = 0.045
        theta = 2 * np.pi * ((rest[:, None] * v) / period + bundle[:, None] / 3)
        width = radius * (1 - 0.45 * v)
        lateral = np.stack([side, np.zeros(s), np.zeros(s)], axis=1)
        depth = np.array([0.0, 1.0, 0.0])
        cross = (width * np.sin(theta))[..., None] * lateral[:, None] + (0.5 * width * np.sin(2 * theta))[
            ..., None
        ] * depth
        jitter = 0.35 * radius * _unit(rng.normal(size=(s, 3)))
        tail = gather[:, None] + cross + jitter[:, None] * (1 - 0.4 * v)[..., None]
        tail = tail + (rest[:, None] * v)[..., None] * axis
    return np.concatenate([scalp[:, :-1], tail], axis=1)


def _add_shape(pts: np.ndarray, r: dict, rng, curl_r, curl_pitch, n: int) -> np.ndarray:
    """Waves and curls around the axis, growing in from the root; ``pts`` are the first of ``n``
    strands (the draws are made for all ``n``)."""
    s, p, _ = pts.shape
    phase_all = rng.uniform(0, 2 * np.pi, n)
    amp_all, lam_all = rng.uniform(0.7, 1.3, n), rng.uniform(0.85, 1.15, n)
    d = np.gradient(pts, axis=1)
    d = _unit(d)
    e1, e2 = _perp(d, np.array([0.0, 1.0, 0.0]))
    arc = np.concatenate(
        [np.zeros((s, 1)), np.cumsum(np.linalg.norm(np.diff(pts, axis=1), axis=-1), axis=1)], 1
    )
    # Waves and curls grow in over the first 15 mm (a quarter of a short strand).
    ramp_len = np.minimum(0.015, 0.25 * arc[:, -1:])
    ramp = np.clip(arc / np.maximum(ramp_len, 1e-6), 0, 1)[..., None]
    phase = phase_all[:s, None]
    if "wave" in r:
        amp = float(r["wave"][0]) * amp_all[:s, None]
        lam = float(r["wave"][1]) * lam_all[:s, None]
        pts = pts + (amp * np.sin(2 * np.pi * arc / lam + phase))[..., None] * e1 * ramp
    if "curl" in r:
        theta = 2 * np.pi * arc / curl_pitch[:, None] + phase
        circle = np.cos(theta)[..., None] * e1 + np.sin(theta)[..., None] * e2
        pts = pts + curl_r[:, None, None] * circle * ramp
    return pts


def grow(
    body: BodyData,
    frame: regions.HeadFrame,
    kind: str,
    full: int,
    keep: int,
    rng: np.random.Generator,
    keep_out: list[Collider] = (),
) -> HairGroup:
    """Strands of one kind (a hairstyle or facial hair, see :mod:`render.people.hairstyles`).

    ``full``: strands the kind has on a full head at full detail; ``keep`` (≤ full): how many of
    them (the first, in the identity's fixed order) to return. Random draws are made for all
    ``full`` strands, so the kept strands do not depend on ``keep``. ``keep_out``: body capsules
    (rest pose) scalp hair lies on, not in.
    """
    r = recipe(kind)
    p = int(r["points"])
    if r["region"] == "lashes":
        roots, normals = regions.lash_roots(body, frame, full, rng)
    else:
        roots, normals = regions.mesh_roots(body, frame, r["region"], full, rng)
    n = len(roots)
    length = rng.uniform(*r["length"], n)
    flyaway = rng.uniform(size=n) < float(r.get("flyaway", 0.0))
    g = min(n, max(1, -(-n // CLUMP_SIZE)), MAX_GUIDES) if n else 0
    flyaway[:g] = False  # a guide leads a clump: never a stray
    length = np.where(flyaway, length * rng.uniform(1.05, 1.4, n), length)
    if "cut" in r:  # a cut line: every tip ends near one height (a bob at the chin)
        drop = roots[:, 2] - (frame.pivot[2] + float(r["cut"]) * frame.scale)
        length = np.clip(1.15 * drop + 0.04, 0.02, length)
    curl_r, curl_pitch, stretch = _helix_factor(r, rng, n)
    root_r = rng.uniform(*r["root_radius"], n)
    tip_r = rng.uniform(*r["tip_radius"], n)
    frizz_dir = _unit(rng.normal(size=(n, 2, 3)))  # a smooth wander: a drift and a slow wave
    frizz_wave = rng.uniform(1.0, 3.0, n)
    fly_dir = _unit(rng.normal(size=(n, 3)))
    tail_rng = np.random.Generator(np.random.PCG64(rng.integers(2**63)))
    keep = min(keep, n)
    m = max(keep, g)  # grown: the kept strands and every guide
    sl = slice(0, m)
    if "gather" in r:
        pts = _gather_path(frame, roots, length, r, p, tail_rng)[sl]
    else:
        pts = _fall_path(frame, roots[sl], normals[sl], length[sl] / stretch[sl], r, p)
    pts = _add_shape(pts, r, tail_rng, curl_r[sl], curl_pitch[sl], n)
    t = np.linspace(0, 1, p)[None, :]
    # Clumps: towards the tip, a strand draws to its guide's shape.
    # A strand's guide: the nearest root on its side of the head for braids (two tails).
    label = np.sign(roots[:, 0] - frame.pivot[0]) if r.get("tail") == "braid" else np.zeros(n)
    owner = _nearest(roots[sl], roots[:g], label[sl], label[:g]) if g else np.zeros(m, dtype=np.int64)
    clump = float(r.get("clump", 0.0)) * np.where(flyaway[sl], 0.0, 1.0)[:, None] * t**1.3
    if clump.any() and g:
        pts = pts + clump[..., None] * (pts[:g][owner] - pts)
    # Frizz (a tip's small wander) and flyaways (strands that leave the style).
    frizz = float(r.get("frizz", 0.0))
    wave = np.sin(np.pi * frizz_wave[sl, None] * t)[..., None]
    pts = pts + frizz * (t**2)[..., None] * (frizz_dir[sl, None, 0] + wave * frizz_dir[sl, None, 1])
    pts = pts + (0.04 * (t**2)[..., None] * fly_dir[sl, None]) * flyaway[sl, None, None]
    pts[:, 0] = roots[sl]
    if r["region"] == "scalp":  # clumps, frizz and flyaways stay out of the face too
        side = np.where(roots[sl, 0] < frame.pivot[0] + 0.004, -1.0, 1.0)
        for k in range(1, p):
            pts[:, k] = _clear_face(frame, pts[:, k], side)
        for c in keep_out:  # hair lies on the neck, back and shoulders, not in them
            pts[:, 2:] = push_out(c, pts[:, 2:], np.ones(pts[:, 2:].shape[:-1]))
    radii = root_r[sl, None] + (tip_r[sl, None] - root_r[sl, None]) * t**1.5
    return HairGroup(
        name=kind,
        points=pts[:keep],
        radii=radii[:keep],
        guide_points=pts[:g].copy(),
        owner=owner[:keep],
        dynamic=bool(r.get("dynamic", False)),
        stiffness=float(r.get("stiffness", 0.0)),
        pinned=gathered_points(p) if "gather" in r else 2,  # the hair tie holds
    )


def _nearest(points, centres, labels, centre_labels, chunk: int = 4096) -> np.ndarray:
    """(N,) index of the nearest centre with the point's label (any centre if none has it)."""
    out = np.empty(len(points), dtype=np.int64)
    for i in range(0, len(points), chunk):
        d = ((points[i : i + chunk, None] - centres[None]) ** 2).sum(-1)
        other = labels[i : i + chunk, None] != centre_labels[None]
        d = np.where(other & ~other.all(axis=1, keepdims=True), np.inf, d)
        out[i : i + chunk] = d.argmin(axis=1)
    return out


def strand_lengths(points: np.ndarray) -> np.ndarray:
    """(S,) polyline length of each strand (S, P, 3)."""
    return np.linalg.norm(np.diff(points, axis=1), axis=-1).sum(axis=1)
