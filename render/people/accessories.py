"""Accessories as meshes (pure numpy): glasses frames, hats, a shoulder bag, earrings and a
held phone or cup, each rigid with one bone (the bag's strap spans the chest and the hips).

Everything here is opaque and part of the character (α = 1 where it covers a pixel). Glasses
have frames and no lenses: a see-through lens needs α = 1 − transmittance and a foreground
defined to match, which the compositing identity I = F + (1 − α)·B does not carry through a
refracting lens, so lenses are left out.

Coordinates: metres, z up, feet on z = 0, facing -y (:class:`render.body.BodyData`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from render.body import BONE_PREFIX, BodyData
from render.people.garments import Piece
from render.people.regions import EYE_X, EYE_Z, HeadFrame, head_frame

RING = 12  # sides of a tube


def tube(path: np.ndarray, radius: float, closed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A tube of ``radius`` along ``path`` (N, 3): (vertices (N·RING, 3), faces)."""
    n = len(path)
    tangent = np.gradient(path, axis=0) if n > 2 else np.repeat([path[-1] - path[0]], n, axis=0)
    if closed:
        tangent = np.roll(path, -1, axis=0) - np.roll(path, 1, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    ref = np.where(np.abs(tangent[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(tangent, ref)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    w = np.cross(tangent, u)
    ang = np.linspace(0, 2 * np.pi, RING, endpoint=False)
    ring = np.cos(ang)[None, :, None] * u[:, None] + np.sin(ang)[None, :, None] * w[:, None]
    v = (path[:, None] + radius * ring).reshape(-1, 3)
    faces = []
    segments = n if closed else n - 1
    for i in range(segments):
        a0, b0 = i * RING, ((i + 1) % n) * RING
        for j in range(RING):
            a, b = a0 + j, a0 + (j + 1) % RING
            c, d = b0 + j, b0 + (j + 1) % RING
            faces += [(a, c, b), (b, c, d)]
    if not closed:  # caps
        for base in (0, (n - 1) * RING):
            for j in range(1, RING - 1):
                faces.append((base, base + j, base + j + 1))
    return v, np.asarray(faces, np.int64)


def box(centre, size, axes=None) -> tuple[np.ndarray, np.ndarray]:
    """A box of ``size`` (3,) at ``centre`` with columns of ``axes`` (3, 3) as its edges' directions."""
    axes = np.eye(3) if axes is None else np.asarray(axes, dtype=np.float64)
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    v = np.asarray(centre) + (corners * np.asarray(size)) @ axes.T
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = [(a, b, c) for a, b, c, _ in quads] + [(a, c, d) for a, _, c, d in quads]
    return v, np.asarray(faces, np.int64)


def cylinder(centre, radius: float, height: float, axis, sides: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A closed cylinder along unit ``axis`` (a cup)."""
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    path = np.asarray(centre) + np.outer(np.linspace(-0.5, 0.5, 2), axis) * height
    v, f = tube(path, radius)
    return v, f


def ellipsoid_cap(
    frame: HeadFrame, inflate: float, brim: tuple[np.ndarray, np.ndarray], head: np.ndarray | None = None
):
    """A cap over the cranium above the plane ``brim`` (point, normal pointing up out of the
    hat): (vertices, faces), a grid in latitude and longitude. Each grid direction from the
    cranium's centre goes as far as the ``head`` vertices (N, 3) within 8° of it reach (the
    ellipsoid itself where none are), then ``inflate`` (m) further."""
    lat = np.linspace(0, np.pi * 0.75, 20)
    lon = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    d = np.stack(
        [
            np.sin(lat)[:, None] * np.cos(lon),
            np.sin(lat)[:, None] * np.sin(lon),
            np.cos(lat)[:, None] + 0 * lon,
        ],
        axis=-1,
    )
    reach = np.ones(d.shape[:-1])
    if head is not None and len(head):
        q = (head - frame.centre) / frame.radii  # head vertices in ellipsoid units
        qn = np.linalg.norm(q, axis=1)
        cone = (d.reshape(-1, 3) @ (q / qn[:, None]).T) > np.cos(np.radians(8))
        far = np.where(cone, qn[None, :], 0.0).max(axis=1)
        reach = np.where(cone.any(axis=1), far, 1.0).reshape(reach.shape)
    base = d * frame.radii * reach[..., None]
    p = frame.centre + base + inflate * base / np.linalg.norm(base, axis=-1, keepdims=True)
    point, normal = brim
    s = (p - point) @ normal
    # Rows that cross the brim are pulled up onto it along the ellipsoid's meridian.
    p = np.where((s < 0)[..., None], p - s[..., None] * normal, p)
    v = p.reshape(-1, 3)
    n = len(lon)
    faces = []
    for i in range(len(lat) - 1):
        for j in range(n):
            a, b = i * n + j, i * n + (j + 1) % n
            faces += [(a, a + n, b), (b, a + n, b + n)]
    return v, np.asarray(faces, np.int64)


def visor(
    frame: HeadFrame, brim: tuple[np.ndarray, np.ndarray], inflate: float, rim: np.ndarray | None = None
):
    """A cap's peak: a flat half-disc out from the front of the brim, dipping a little. ``rim``
    (M, 3): the dome's lowest ring, which the peak's inner edge then follows."""
    point, normal = brim
    a = np.linspace(-np.pi * 0.45, np.pi * 0.45, 17)
    rx, ry = frame.radii[0] + inflate, frame.radii[1] + inflate
    edge = np.stack([frame.centre[0] + rx * np.sin(a), frame.centre[1] - ry * np.cos(a)], axis=1)
    if rim is not None and len(rim):  # the dome's radius in each of the peak's directions
        d = rim[:, :2] - frame.centre[:2]
        ang = np.arctan2(d[:, 0], -d[:, 1])
        order = np.argsort(ang)
        r = np.interp(a, ang[order], np.linalg.norm(d, axis=1)[order])
        edge = frame.centre[:2] + r[:, None] * np.stack([np.sin(a), -np.cos(a)], axis=1)
    z = point[2] + (edge[:, 1] - point[1]) * (-normal[1] / normal[2]) + 0.004
    inner = np.column_stack([edge, z])
    out = inner + np.column_stack([0.5 * (edge - frame.centre[:2]), np.full(len(a), -0.012)]) * [1, 1.3, 1]
    v = np.concatenate([inner, out])
    n = len(a)
    faces = [(i, i + n, i + 1) for i in range(n - 1)] + [(i + 1, i + n, i + n + 1) for i in range(n - 1)]
    return v, np.asarray(faces, np.int64)


def hat_brim(frame: HeadFrame) -> tuple[np.ndarray, np.ndarray]:
    """The plane a hat's edge lies in: 2 cm above the brows at the front, lower at the back
    (point (3,), unit normal (3,) pointing into the hat)."""
    s = frame.scale
    point = frame.pivot + np.array([0.0, 0.0, 0.045 * s])
    normal = np.array([0.0, 0.35, 1.0])
    return point, normal / np.linalg.norm(normal)


def _eyes(body: BodyData, frame: HeadFrame) -> tuple[np.ndarray, float]:
    """Centres of both eyes at the front of the face (2, 3) and the face's front (y)."""
    s = frame.scale
    head = body.vertices[body.dominant_bone() == body.bone_index("Head")]
    ez = frame.pivot[2] + EYE_Z * s
    near = (np.abs(np.abs(head[:, 0] - frame.pivot[0]) - EYE_X * s) < 0.012 * s) & (
        np.abs(head[:, 2] - ez) < 0.012 * s
    )
    front = float(head[near, 1].min()) if near.any() else float(frame.centre[1] - frame.radii[1])
    nose = head[(np.abs(head[:, 0] - frame.pivot[0]) < 0.01 * s) & (np.abs(head[:, 2] - ez) < 0.02 * s)]
    nose_y = float(nose[:, 1].min()) if len(nose) else front
    eyes = np.array([[frame.pivot[0] + side * EYE_X * s, front, ez] for side in (-1.0, 1.0)])
    return eyes, min(front, nose_y)


def glasses(body: BodyData, frame: HeadFrame, shape: str) -> tuple[np.ndarray, np.ndarray]:
    """Frames: two rims before the eyes, a bridge and two temples back to the ears."""
    s = frame.scale
    eyes, nose_y = _eyes(body, frame)
    y = min(eyes[0, 1], nose_y + 0.012 * s) - 0.012 * s
    rx, rz = 0.024 * s, 0.018 * s
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    power = 2.0 if shape == "round" else 5.0  # a superellipse: round or rounded square
    cx, sz = np.cos(t), np.sin(t)
    ex = np.sign(cx) * np.abs(cx) ** (2 / power)
    ez = np.sign(sz) * np.abs(sz) ** (2 / power)
    parts = []
    r = 0.0016 * s
    for e in eyes:
        rim = np.stack([e[0] + rx * ex, np.full_like(t, y), e[2] + rz * ez], axis=1)
        parts.append(tube(rim, r, closed=True))
    inner = np.array(
        [[eyes[0, 0] + rx, y, eyes[0, 2] + 0.3 * rz], [eyes[1, 0] - rx, y, eyes[1, 2] + 0.3 * rz]]
    )
    mid = inner.mean(axis=0) + np.array([0.0, -0.002 * s, 0.004 * s])
    parts.append(tube(np.array([inner[0], mid, inner[1]]), r))
    for side, e in zip((-1.0, 1.0), eyes, strict=True):
        hinge = np.array([e[0] + side * rx, y, e[2] + 0.3 * rz])
        ear = np.array(
            [
                frame.centre[0] + side * (frame.radii[0] + 0.004 * s),
                frame.centre[1] - 0.01 * s,
                e[2] - 0.005 * s,
            ]
        )
        bend = ear + np.array([0.0, 0.025 * s, -0.02 * s])
        parts.append(
            tube(np.array([hinge, hinge + np.array([side * 0.006 * s, 0.01 * s, 0.0]), ear, bend]), r)
        )
    return _merge(parts)


def earrings(body: BodyData, frame: HeadFrame, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Studs or hoops at both ear lobes (the most lateral head points 2.5–4.5 cm below the eyes)."""
    s = frame.scale
    head = body.vertices[body.dominant_bone() == body.bone_index("Head")]
    ez = frame.pivot[2] + EYE_Z * s
    band = head[(head[:, 2] < ez - 0.025 * s) & (head[:, 2] > ez - 0.045 * s)]
    parts = []
    for side in (-1.0, 1.0):
        x = (band[:, 0] - frame.pivot[0]) * side
        lobe = band[np.argmax(x)] if len(band) else frame.centre + side * np.array([frame.radii[0], 0, -0.03])
        lobe = lobe + np.array([side * 0.002 * s, 0.0, -0.004 * s])
        if kind == "hoops":
            t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
            r = 0.011 * s
            ring = np.stack(
                [np.full_like(t, lobe[0]), lobe[1] + r * np.sin(t), lobe[2] - r + r * np.cos(t)], axis=1
            )
            parts.append(tube(ring, 0.0009 * s, closed=True))
        else:
            parts.append(tube(np.array([lobe - [0, 0, 0.002 * s], lobe + [0, 0, 0.002 * s]]), 0.0025 * s))
    return _merge(parts)


def _merge(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    vs, fs, base = [], [], 0
    for v, f in parts:
        vs.append(v)
        fs.append(f + base)
        base += len(v)
    return np.concatenate(vs), np.concatenate(fs)


def _rigid(name: str, vf, body: BodyData, bone: str, spec: dict) -> Piece:
    v, f = vf
    return Piece(name, v, f, (BONE_PREFIX + bone,), np.ones((len(v), 1)), spec)


def _reach(cloud: np.ndarray, centre: np.ndarray, direction: np.ndarray, cone_deg: float = 12.0) -> float:
    """How far the points of ``cloud`` (N, 3) within ``cone_deg`` of ``direction`` (unit) from
    ``centre`` reach along it (0 when none)."""
    d = cloud - centre
    n = np.linalg.norm(d, axis=1)
    along = d @ direction
    inside = along > np.cos(np.radians(cone_deg)) * np.maximum(n, 1e-9)
    return float(along[inside].max()) if inside.any() else 0.0


def _face(cloud: np.ndarray, x: float, z: float, front: bool) -> float | None:
    """The front (least y) or back (most y) of ``cloud`` near (x, z), or None where it has none."""
    near = cloud[(np.abs(cloud[:, 0] - x) < 0.03) & (np.abs(cloud[:, 2] - z) < 0.03)]
    if not len(near):
        return None
    return float(near[:, 1].min()) if front else float(near[:, 1].max())


STRAP_RADIUS = 0.008


def shoulder_bag(body: BodyData, clearance: float, cloth: np.ndarray | None = None) -> list[Piece]:
    """A bag at the right hip, behind the hanging arm, on a strap from the left shoulder
    across the chest and back. ``cloth`` (N, 3): the rest-pose vertices of what the character
    wears; the strap lies on the outermost of skin and cloth, ``clearance`` (m) plus its radius
    off it, and goes over the shoulder on an arc wrapped around it; the bag stands outside the
    hips and anything worn over them."""
    j = {n: body.bone_heads[body.bone_index(n)] for n in ("LeftArm", "Hips", "Spine2", "RightUpLeg")}
    v = body.vertices
    cloth = np.zeros((0, 3)) if cloth is None else cloth
    hip_z = j["Hips"][2] - 0.02
    trunk = _bones_mask(body, "Hips") | _bones_mask(body, "Spine") | _bones_mask(body, "RightUpLeg")
    worn = cloth[np.abs(cloth[:, 0] - j["Hips"][0]) < 0.25]  # not sleeves by the hanging hands
    around = np.concatenate([v[trunk], worn])
    bag_size = np.array([0.07, 0.26, 0.2])
    band = around[np.abs(around[:, 2] - hip_z) < bag_size[2] / 2]  # everything at the bag's height
    side_x = float(band[:, 0].min()) - clearance - bag_size[0] / 2  # the character's right is -x
    # Behind the hanging arm: the bag's front face 8 cm behind the hip joint.
    bag_c = np.array([side_x, j["Hips"][1] + 0.08 + bag_size[1] / 2, hip_z])
    bag = box(bag_c, bag_size)
    cloud = np.concatenate([v, cloth])
    need = clearance + STRAP_RADIUS
    # Over the shoulder: an arc in the y-z plane around the shoulder's section, wrapped onto it.
    sx = j["LeftArm"][0] - 0.05
    centre = np.array([sx, j["LeftArm"][1], j["LeftArm"][2] - 0.02])
    section = cloud[np.abs(cloud[:, 0] - sx) < 0.025]
    end = bag_c + np.array([0.0, 0.0, bag_size[2] / 2])
    path = []
    for front in (True, False):
        sign = -1.0 if front else 1.0
        arc = []
        for phi in np.linspace(0.0, np.pi / 2, 7):
            d = np.array([0.0, sign * np.sin(phi), np.cos(phi)])
            arc.append(centre + d * (_reach(section, centre, d) + need))
        arc = np.array(arc)
        # Down the chest (or back) to the bag: on the outermost surface at each (x, z).
        rest = []
        for u in np.linspace(0.0, 1.0, 34)[1:]:
            p = arc[-1] + u * (end - arc[-1])
            y = _face(cloud, p[0], p[2], front)
            if y is not None:
                p[1] = min(p[1], y - need) if front else max(p[1], y + need)
            rest.append(p)
        path.append(np.concatenate([arc, np.array(rest)]))
    spec = {"color": (0.09, 0.05, 0.03), "roughness": 0.5}
    sv, sf = _merge([tube(path[0], STRAP_RADIUS), tube(path[1], STRAP_RADIUS)])
    # The strap hangs from the chest near the shoulder and from the hips near the bag.
    hz = (sv[:, 2] - bag_c[2]) / max(centre[2] - bag_c[2], 1e-6)
    w = np.clip(np.stack([hz, 1 - hz], axis=1), 0, 1)
    w /= w.sum(axis=1, keepdims=True)
    strap_piece = Piece("acc_bag_strap", sv, sf, (BONE_PREFIX + "Spine2", BONE_PREFIX + "Hips"), w, spec)
    return [_rigid("acc_bag", bag, body, "Hips", spec), strap_piece]


def _bones_mask(body: BodyData, prefix: str) -> np.ndarray:
    """(V,) vertices whose dominant bone's short name starts with ``prefix`` (e.g. all of a hand)."""
    ids = [i for i, n in enumerate(body.bone_names) if n.removeprefix(BONE_PREFIX).startswith(prefix)]
    return np.isin(body.dominant_bone(), ids)


def held(body: BodyData, kind: str) -> Piece:
    """A phone or a cup in the right hand: against the front of the hand (palm and fingers),
    just outside every hand vertex, so the object never sits inside the hand."""
    hand = body.vertices[_bones_mask(body, "RightHand")]
    wrist = body.bone_heads[body.bone_index("RightHand")]
    knuckle = body.bone_heads[body.bone_index("RightHandMiddle1")]
    along = (knuckle - wrist) / np.linalg.norm(knuckle - wrist)
    front = np.array([0.0, -1.0, 0.0]) - along * -along[1]  # the body's front, across the hand
    front /= np.linalg.norm(front)
    palm = hand.mean(axis=0) if len(hand) else knuckle
    reach = float(((hand - palm) @ front).max()) if len(hand) else 0.0  # the hand's front surface
    if kind == "cup":
        # Upright, beside the hand's front in the horizontal: only hand vertices within the
        # cup's height can meet it, and along a horizontal direction its reach is its radius.
        r, h = 0.04, 0.1
        ahead = np.array([front[0], front[1], 0.0]) / max(float(np.hypot(front[0], front[1])), 1e-9)
        c = palm + 0.02 * along
        slab = hand[np.abs(hand[:, 2] - c[2]) < h / 2] if len(hand) else hand
        reach = float(((slab - c) @ ahead).max()) if len(slab) else 0.0
        return _rigid(
            "acc_cup",
            cylinder(c + (reach + r + 0.002) * ahead, r, h, (0.0, 0.0, 1.0)),
            body,
            "RightHand",
            {"color": (0.85, 0.83, 0.78), "roughness": 0.25},
        )
    side = np.cross(along, front)
    axes = np.stack([side, along, front], axis=1)
    c = palm + 0.03 * along + (reach + 0.004 + 0.002) * front
    return _rigid(
        "acc_phone",
        box(c, (0.072, 0.15, 0.008), axes),
        body,
        "RightHand",
        {"color": (0.02, 0.02, 0.025), "roughness": 0.15, "metallic": 0.3},
    )


# Rigid pieces on the head besides the hat: slot → (mesh builder, material).
HEAD_PIECES = {
    "glasses": (glasses, {"color": (0.03, 0.025, 0.02), "roughness": 0.3}),
    "earrings": (earrings, {"color": (0.9, 0.75, 0.4), "roughness": 0.2, "metallic": 1.0}),
}


def hat(body: BodyData, frame: HeadFrame, kind: str) -> Piece:
    """A beanie or a cap (dome and visor), 6 mm off the scalp; hair under it is not grown."""
    brim = hat_brim(frame)
    inflate = 0.006 * frame.scale
    head = body.vertices[body.dominant_bone() == body.bone_index("Head")]
    parts = [ellipsoid_cap(frame, inflate, brim, head)]
    if kind == "cap":
        rim = parts[0][0][-40:]  # the dome's lowest ring (40 meridians), on the brim plane
        parts.append(visor(frame, brim, inflate, rim))
    color = (0.12, 0.1, 0.3) if kind == "beanie" else (0.6, 0.1, 0.08)
    return replace(
        _rigid(f"acc_{kind}", _merge(parts), body, "Head", {"color": color, "roughness": 0.9}),
        thickness=0.004,
    )


def build_accessories(
    body: BodyData, accessories: dict, clearance: float, cloth: np.ndarray | None = None
) -> list[Piece]:
    """The pieces for an identity's ``accessories``; ``clearance``: how far the bag and its
    strap stand off the outermost surface (m); ``cloth`` (N, 3): the rest-pose vertices of the
    garments worn (the bag and strap go over them)."""
    frame = head_frame(body)
    out: list[Piece] = []
    for slot in ("glasses", "hat", "earrings"):
        kind = accessories.get(slot, "none")
        if kind == "none":
            continue
        if slot == "hat":
            out.append(hat(body, frame, kind))
        else:
            build, spec = HEAD_PIECES[slot]
            out.append(_rigid(f"acc_{slot}", build(body, frame, kind), body, "Head", spec))
    if accessories.get("bag", "none") != "none":
        out += shoulder_bag(body, clearance, cloth)
    kind = accessories.get("held", "none")
    if kind != "none":
        out.append(held(body, kind))
    return out
