"""Garments as their own meshes (pure numpy), skinned like the body they are made from.

A garment is cut from the rest-pose body: the faces of the bones it covers, between cutting
planes (waist, neckline, sleeve or leg hems; hem vertices are moved onto their plane so hems are
straight), then moved off the skin along the vertex normals by the garment's ease (layers nest
from the skin out, bottom, top, outer, each at least its inner layer's cloth and 2 mm further
off: :func:`layer_eases`). Its skin
weights are transferred from the body vertices it was made from and smoothed over the mesh
(the looser the garment, the more), so cloth does not follow every muscle like paint. Tops hang
from the chest (below it, a top is pushed out towards the widest point above, per direction
around the spine) rather than hugging the waist.

Skirts, dresses' skirts and coat tails are tubes that hang: per direction around the hips,
their radius never shrinks going down (the widest the legs and hips reach above, plus ease and
flare), so they drape over the legs instead of wrapping them. Their weights blend from the hips
at the waistband towards each thigh at the hem: the hem swings with the legs by a fraction,
a deterministic proxy for cloth.

Body faces fully under a garment (away from its openings) are dropped from the body mesh:
no skin pokes through, and what one sees through an opening is still skin.

Coordinates: metres, z up, feet on z = 0, facing -y (:class:`render.body.BodyData`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from render.body import BONE_PREFIX, BodyData

# Ease off the skin (m), looseness in [0, 1] (how far below the chest a top hangs towards the
# widest point above; also how much the weights are smoothed), cloth thickness (m), and for
# garments with a hanging part its flare (m of radius per m below its top).
KINDS: dict[str, dict] = {
    "tshirt": {"layer": "top", "ease": 0.004, "loose": 0.45, "thick": 0.0015},
    "shirt": {"layer": "top", "ease": 0.005, "loose": 0.6, "thick": 0.0012},
    "hoodie": {"layer": "top", "ease": 0.010, "loose": 0.85, "thick": 0.003},
    "dress": {"layer": "top", "ease": 0.004, "loose": 0.3, "thick": 0.0012, "skirt": 0.12},
    "jacket": {"layer": "outer", "ease": 0.016, "loose": 0.8, "thick": 0.003},
    "coat": {"layer": "outer", "ease": 0.02, "loose": 1.0, "thick": 0.004, "skirt": 0.25},
    "jeans": {"layer": "bottom", "ease": 0.004, "loose": 0.1, "thick": 0.0015},
    "trousers": {"layer": "bottom", "ease": 0.008, "loose": 0.4, "thick": 0.0012},
    "shorts": {"layer": "bottom", "ease": 0.008, "loose": 0.4, "thick": 0.0012},
    "skirt": {"layer": "bottom", "ease": 0.006, "loose": 0.3, "thick": 0.0012, "skirt": 0.15},
    "shoes": {"layer": "shoes", "ease": 0.006, "loose": 0.0, "thick": 0.003},
}
TORSO = ("Hips", "Spine", "Spine1", "Spine2", "Neck", "LeftShoulder", "RightShoulder")
SKIRT_COLUMNS, SKIRT_ROWS = 64, 18
LEG_SWING = 0.6  # share of a thigh's weight at a skirt's hem, on that thigh's side


@dataclass(frozen=True)
class Piece:
    """A mesh worn or held by a character, in rest-pose body coordinates.

    vertices (V, 3) float, faces (F, 3) int, bones (B,) full bone names, weights (V, B) rows
    summing to 1, spec: the outfit entry or accessory it renders (material choice), thickness:
    the cloth's (m; 0 = a closed solid).
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    bones: tuple[str, ...]
    weights: np.ndarray
    spec: dict = field(default_factory=dict)
    thickness: float = 0.0


@dataclass(frozen=True)
class Outfit:
    """Garment pieces and the body faces they hide: ``body_faces`` (F,) bool, True = keep."""

    pieces: list[Piece]
    body_faces: np.ndarray


# --- mesh helpers ---------------------------------------------------------------------------


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) area-weighted unit normals."""
    fn = np.cross(
        vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]]
    )
    vn = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def _edges(faces: np.ndarray) -> np.ndarray:
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.sort(e, axis=1)


def boundary_vertices(faces: np.ndarray, n: int) -> np.ndarray:
    """(n,) bool: vertices on an edge used by one face only."""
    e = _edges(faces)
    uniq, count = np.unique(e, axis=0, return_counts=True)
    out = np.zeros(n, bool)
    out[uniq[count == 1].ravel()] = True
    return out


def _smooth(values: np.ndarray, faces: np.ndarray, iterations: int) -> np.ndarray:
    """Laplacian smoothing of per-vertex ``values`` (V, k) over the mesh's edges."""
    e = _edges(faces)
    e = np.concatenate([e, e[:, ::-1]])
    deg = np.bincount(e[:, 0], minlength=len(values)).astype(np.float64)[:, None]
    out = values.astype(np.float64)
    for _ in range(iterations):
        acc = np.zeros_like(out)
        np.add.at(acc, e[:, 0], out[e[:, 1]])
        out = 0.5 * out + 0.5 * np.where(deg > 0, acc / np.maximum(deg, 1), out)
    return out


def _grow(mask: np.ndarray, faces: np.ndarray, rings: int) -> np.ndarray:
    e = _edges(faces)
    out = mask.copy()
    for _ in range(rings):
        hit = out[e[:, 0]] | out[e[:, 1]]
        out[e[hit].ravel()] = True
    return out


def _submesh(vertices: np.ndarray, faces: np.ndarray, keep: np.ndarray):
    """Faces ``keep`` (F,) bool of a mesh, compacted: (vertices, faces, source vertex ids)."""
    f = faces[keep]
    used = np.unique(f)
    remap = np.full(len(vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    return vertices[used], remap[f], used


def dense_weights(body: BodyData) -> np.ndarray:
    """(V, B) the body's skin weights, one column per bone."""
    w = np.zeros((len(body.vertices), len(body.bone_names)))
    rows = np.repeat(np.arange(len(body.vertices)), body.skin_bones.shape[1])
    np.add.at(w, (rows, body.skin_bones.ravel()), body.skin_weights.ravel())
    return w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)


# --- cuts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """Keep points with dot(p - point, normal) <= 0, for vertices dominated by ``bones`` (all
    when empty)."""

    point: np.ndarray
    normal: np.ndarray
    bones: tuple[str, ...] = ()

    def side(self, p: np.ndarray) -> np.ndarray:
        return (p - self.point) @ self.normal


def _joint(body: BodyData, bone: str, end: str = "head") -> np.ndarray:
    i = body.bone_index(bone)
    return (body.bone_heads if end == "head" else body.bone_tails)[i]


def _along(body: BodyData, a: str, b: str, t: float, bones: tuple[str, ...]) -> Cut:
    """A cut across the limb from joint ``a`` to joint ``b`` at fraction ``t``, keeping the ``a`` side."""
    pa, pb = _joint(body, a), _joint(body, b)
    d = (pb - pa) / np.linalg.norm(pb - pa)
    return Cut(pa + t * (pb - pa), d, bones)


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _sides(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{s}{n}" for s in ("Left", "Right") for n in names)


def _region(kind: str, body: BodyData, sleeves: str) -> tuple[tuple[str, ...], list[Cut]]:
    """The bones a garment covers and the cuts that bound it."""
    hips, spine = _joint(body, "Hips"), _joint(body, "Spine")
    neck = _joint(body, "Neck")
    waist = hips + 0.45 * (spine - hips)
    up = np.array([0.0, 0.0, 1.0])
    # The neckline dips at the front (the body faces -y): a plane tilted forward.
    neckline = Cut(neck - np.array([0.0, 0.0, 0.035]), _unit([0.0, -0.45, 1.0]))
    if KINDS[kind]["layer"] in ("top", "outer"):
        bones = TORSO + _sides(("Arm", "UpLeg"))  # the hem plane bounds it below
        cuts = [neckline]
        if sleeves == "long" or kind in ("hoodie", "jacket", "coat"):
            bones += _sides(("ForeArm",))
            cuts += [
                _along(body, f"{s}ForeArm", f"{s}Hand", 0.9, (f"{s}ForeArm",)) for s in ("Left", "Right")
            ]
        elif kind == "dress":
            cuts += [_along(body, f"{s}Arm", f"{s}ForeArm", 0.12, (f"{s}Arm",)) for s in ("Left", "Right")]
        else:
            cuts += [_along(body, f"{s}Arm", f"{s}ForeArm", 0.45, (f"{s}Arm",)) for s in ("Left", "Right")]
        hem = {"jacket": hips - 0.09 * up, "coat": hips - 0.08 * up, "dress": waist}.get(
            kind, hips - 0.04 * up
        )
        cuts.append(Cut(hem, -up))  # keep above the hem
        return bones, cuts
    if kind == "shoes":
        ankle = min(_joint(body, "LeftFoot")[2], _joint(body, "RightFoot")[2]) + 0.035
        return _sides(("Foot", "ToeBase", "Leg")), [Cut(np.array([0.0, 0.0, ankle]), up)]
    # Bottoms: below the waistband, down to the hem on each leg.
    band = Cut(waist + 0.01 * up, up)
    if kind == "shorts":
        return ("Hips",) + _sides(("UpLeg",)), [band] + [
            _along(body, f"{s}UpLeg", f"{s}Leg", 0.5, (f"{s}UpLeg",)) for s in ("Left", "Right")
        ]
    if kind == "skirt":
        return ("Hips",), [band, Cut(hips - 0.06 * up, -up)]  # the band; the skirt tube hangs below
    return ("Hips",) + _sides(("UpLeg", "Leg")), [band] + [
        _along(body, f"{s}Leg", f"{s}Foot", 0.93, (f"{s}Leg",)) for s in ("Left", "Right")
    ]


def _kept_faces(body: BodyData, bones: tuple[str, ...], cuts: list[Cut]) -> np.ndarray:
    """(F,) faces of the garment: all three vertices on its bones, at least one inside every
    cut (so the garment overshoots its hems by less than a face, then is trimmed to them)."""
    names = [n.removeprefix(BONE_PREFIX) for n in body.bone_names]
    dom = np.array([names[b] for b in body.dominant_bone()])
    on_bones = np.isin(dom, bones)
    inside = np.ones(len(dom), bool)
    for c in cuts:
        applies = np.isin(dom, c.bones) if c.bones else np.ones(len(dom), bool)
        inside &= ~applies | (c.side(body.vertices) <= 0)
    return on_bones[body.faces].all(axis=1) & inside[body.faces].any(axis=1)


def _trim_to_cuts(v: np.ndarray, src: np.ndarray, faces: np.ndarray, body: BodyData, cuts: list[Cut]):
    """Move vertices beyond a cut onto it, and hem vertices within 2 cm inside it too: the hem
    is the cut's line."""
    out = v.copy()
    edge = boundary_vertices(faces, len(v))
    names = [n.removeprefix(BONE_PREFIX) for n in body.bone_names]
    dom = np.array([names[b] for b in body.dominant_bone()[src]])
    for c in cuts:
        s = c.side(body.vertices[src])
        applies = np.isin(dom, c.bones) if c.bones else np.ones(len(src), bool)
        move = applies & ((s > 0) | (edge & (s > -0.02)))
        out[move] -= s[move, None] * c.normal
    return out


def _hang_from_chest(v: np.ndarray, dom: np.ndarray, body: BodyData, loose: float) -> np.ndarray:
    """Below the chest, push torso vertices out towards the widest radius above them in their
    direction around the spine (a top hangs from the chest)."""
    names = [n.removeprefix(BONE_PREFIX) for n in body.bone_names]
    torso = np.isin(np.array([names[b] for b in dom]), ("Hips", "Spine", "Spine1", "Spine2"))
    if loose <= 0 or not torso.any():
        return v
    axis = _joint(body, "Spine1")[:2]
    rel = v[:, :2] - axis
    r = np.linalg.norm(rel, axis=1)
    ang = np.arctan2(rel[:, 1], rel[:, 0])
    bins = ((ang + np.pi) / (2 * np.pi) * 36).astype(int) % 36
    chest_z = _joint(body, "Spine2")[2] + 0.05
    out = v.copy()
    idx = np.nonzero(torso & (v[:, 2] < chest_z))[0]
    ref = np.nonzero(torso)[0]
    for i in idx:
        same = ref[(np.abs(bins[ref] - bins[i]) % 36 <= 1) | (np.abs(bins[ref] - bins[i]) % 36 == 35)]
        above = same[(v[same, 2] >= v[i, 2]) & (v[same, 2] <= chest_z)]
        if len(above) == 0:
            continue
        target = r[above].max()
        if target > r[i]:
            out[i, :2] = axis + rel[i] / max(r[i], 1e-9) * (r[i] + loose * (target - r[i]))
    return out


def layer_eases(outfit: dict) -> dict[str, float]:
    """Each layer's ease off the skin (m): its kind's own, raised where needed so that layers nest
    from the skin out (bottom, top, outer) with 2 mm between one cloth's outside and the next."""
    out, floor = {}, 0.0
    for layer in ("bottom", "top", "outer"):
        spec = outfit.get(layer)
        if spec:
            k = KINDS[spec["kind"]]
            out[layer] = max(k["ease"], floor)
            floor = out[layer] + k["thick"] + 0.002
    if outfit.get("shoes"):
        out["shoes"] = KINDS[outfit["shoes"]["kind"]]["ease"]
    return out


def _shell(
    body: BodyData,
    normals: np.ndarray,
    weights: np.ndarray,
    kind: str,
    spec: dict,
    sleeves: str,
    ease: float,
):
    """A garment cut from the body and eased off it by ``ease`` (m): (Piece, source vertex ids,
    hem-free mask)."""
    k = KINDS[kind]
    bones, cuts = _region(kind, body, sleeves)
    keep_f = _kept_faces(body, bones, cuts)
    v, f, src = _submesh(body.vertices, body.faces, keep_f)
    v = _trim_to_cuts(v, src, f, body, cuts)
    v = v + normals[src] * ease
    v = _hang_from_chest(v, body.dominant_bone()[src], body, k["loose"])
    if kind == "shoes":
        v[:, 2] = np.maximum(v[:, 2], 0.002)  # a flat sole on the ground
    w = _smooth(weights[src], f, int(round(2 + 8 * k["loose"])))
    w /= w.sum(axis=1, keepdims=True)
    piece = Piece(f"{k['layer']}_{kind}", v, f, body.bone_names, w, spec, k["thick"])
    return piece, src, keep_f


def _support(points: np.ndarray, centre: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """(D,) how far ``points`` (N, 2) reach from ``centre`` in each unit direction (D, 2)."""
    if len(points) == 0:
        return np.zeros(len(dirs))
    return ((points - centre) @ dirs.T).max(axis=0)


def skirt_tube(
    body: BodyData, top_z: float, bottom_z: float, ease: float, flare: float, open_front: bool = False
):
    """A hanging tube from ``top_z`` down to ``bottom_z``: (vertices (R·C, 3), faces, weights
    (R·C, B)). Per direction, its radius never shrinks going down: the widest reach of hips and
    legs at or above each row, plus ``ease``, plus ``flare`` times the depth below the top.
    ``open_front``: a coat's tails, parted at the front (-y)."""
    names = [n.removeprefix(BONE_PREFIX) for n in body.bone_names]
    dom = np.array([names[b] for b in body.dominant_bone()])
    lower = np.isin(dom, ("Hips", "LeftUpLeg", "RightUpLeg", "LeftLeg", "RightLeg"))
    pts = body.vertices[lower]
    centre = _joint(body, "Hips")[:2]
    theta = np.linspace(0, 2 * np.pi, SKIRT_COLUMNS, endpoint=False)
    dirs = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    zs = np.linspace(top_z, bottom_z, SKIRT_ROWS)
    reach = np.zeros(len(dirs))
    rows = []
    for z in zs:
        band = pts[np.abs(pts[:, 2] - z) < 0.02]
        reach = np.maximum(reach, _support(band[:, :2], centre, dirs))
        r = reach + ease + flare * (top_z - z)
        rows.append(np.column_stack([centre + dirs * r[:, None], np.full(len(dirs), z)]))
    v = np.concatenate(rows)
    c = SKIRT_COLUMNS
    faces = []
    front = np.abs(np.angle(np.exp(1j * (theta + np.pi / 2)))) < np.radians(14)  # around -y
    for i in range(SKIRT_ROWS - 1):
        for j in range(c):
            if open_front and front[j] and front[(j + 1) % c]:
                continue
            a, b = i * c + j, i * c + (j + 1) % c
            faces += [(a, a + c, b), (b, a + c, b + c)]
    w = np.zeros((len(v), len(body.bone_names)))
    depth = np.repeat(np.linspace(0, 1, SKIRT_ROWS), c)
    left_x = np.sign(_joint(body, "LeftUpLeg")[0] - centre[0]) or 1.0
    side = np.tile(np.clip(0.5 + 0.5 * dirs[:, 0] * left_x, 0, 1), SKIRT_ROWS)
    w[:, body.bone_index("Hips")] = 1 - LEG_SWING * depth
    w[:, body.bone_index("LeftUpLeg")] = LEG_SWING * depth * side
    w[:, body.bone_index("RightUpLeg")] = LEG_SWING * depth * (1 - side)
    return v, np.asarray(faces, np.int64), w


def _hang_length(body: BodyData, kind: str) -> tuple[float, float]:
    """Top and hem heights (m) of a garment's hanging part."""
    hips, spine = _joint(body, "Hips"), _joint(body, "Spine")
    knee = (_joint(body, "LeftLeg")[2] + _joint(body, "RightLeg")[2]) / 2
    waist = (hips + 0.45 * (spine - hips))[2]
    return {
        "skirt": (hips[2] - 0.04, knee + 0.02),
        "dress": (waist + 0.01, knee - 0.06),
        "coat": (hips[2] - 0.06, knee - 0.04),
    }[kind]


@dataclass(frozen=True)
class _Tube:
    """A hanging tube's shape: centre (2,), row heights zs (R,) from the top down, radii (R, C)
    per row and column (columns at angles 2π j / C around the centre), cloth thickness (m)."""

    centre: np.ndarray
    zs: np.ndarray
    radii: np.ndarray
    thick: float

    @classmethod
    def of(cls, v: np.ndarray, centre: np.ndarray, thick: float) -> _Tube:
        grid = v.reshape(SKIRT_ROWS, SKIRT_COLUMNS, 3)
        return cls(centre, grid[:, 0, 2], np.linalg.norm(grid[..., :2] - centre, axis=-1), thick)

    def radius_at(self, points: np.ndarray) -> np.ndarray:
        """(N,) the tube's radius at each point's height and direction; NaN above or below it."""
        d = points[:, :2] - self.centre
        col = (np.arctan2(d[:, 1], d[:, 0]) % (2 * np.pi)) / (2 * np.pi) * SKIRT_COLUMNS
        j0 = np.floor(col).astype(int) % SKIRT_COLUMNS
        tj = col - np.floor(col)
        row = np.interp(-points[:, 2], -self.zs, np.arange(len(self.zs)))
        i0 = np.minimum(np.floor(row).astype(int), len(self.zs) - 2)
        ti = row - i0
        j1 = (j0 + 1) % SKIRT_COLUMNS
        r = (1 - ti) * ((1 - tj) * self.radii[i0, j0] + tj * self.radii[i0, j1]) + ti * (
            (1 - tj) * self.radii[i0 + 1, j0] + tj * self.radii[i0 + 1, j1]
        )
        inside = (points[:, 2] <= self.zs[0]) & (points[:, 2] >= self.zs[-1])
        return np.where(inside, r, np.nan)


FADE = 0.05  # m above a tube's top over which the push outside it fades out


def _outside(v: np.ndarray, movable: np.ndarray, tubes: list[_Tube], thick: float) -> np.ndarray:
    """``v`` with its ``movable`` vertices pushed out, horizontally from each tube's axis, to
    stand at least both cloths' thickness and 2 mm outside every tube at their height; above a
    tube's top the push fades out over FADE (towards the top row's radius), so the cloth over
    the tube's rim slopes out to it instead of being cut by it."""
    v = v.copy()
    for t in tubes:
        top = t.zs[0]
        clamped = v.copy()
        clamped[:, 2] = np.minimum(v[:, 2], top)
        r = t.radius_at(clamped) + t.thick + thick + 0.002
        w = np.clip(1.0 - (v[:, 2] - top) / FADE, 0.0, 1.0)  # 1 at and below the top, 0 FADE above
        d = v[:, :2] - t.centre
        rho = np.linalg.norm(d, axis=1)
        target = rho + w * (np.nan_to_num(r) - rho)
        push = movable & ~np.isnan(r) & (rho < target) & (rho > 1e-9)
        v[push, :2] = t.centre + d[push] / rho[push, None] * target[push, None]
    return v


def _without_faces(piece: Piece, src: np.ndarray, drop: np.ndarray) -> tuple[Piece, np.ndarray]:
    """``piece`` without the faces ``drop`` (F,) bool, compacted, and its source vertex ids."""
    v, f, used = _submesh(piece.vertices, piece.faces, ~drop)
    return replace(piece, vertices=v, faces=f, weights=piece.weights[used]), src[used]


def build_outfit(body: BodyData, outfit: dict) -> Outfit:
    """The garments of ``outfit`` (a :class:`render.people.identities.CharacterSpec`'s) on ``body``.

    Built from the skin out (bottom, top, outer): a later layer (but its sleeves) and its
    hanging tube are pushed outside the hanging tubes made before it (a top hangs over a skirt, a jacket over
    a dress's skirt, a coat's tails over either). Pieces are returned top, outer, bottom, shoes."""
    normals = vertex_normals(body.vertices, body.faces)
    weights = dense_weights(body)
    names = [n.removeprefix(BONE_PREFIX) for n in body.bone_names]
    dom_names = np.array([names[b] for b in body.dominant_bone()])
    on_arm = (np.char.find(dom_names, "Arm") >= 0) | (np.char.find(dom_names, "Hand") >= 0)  # (V,)
    hips = _joint(body, "Hips")[:2]
    built: dict[str, list[Piece]] = {}
    tubes: list[_Tube] = []
    covered = np.zeros(len(body.faces), bool)
    sleeves = outfit.get("sleeves", "short")
    eases = layer_eases(outfit)
    for layer in ("bottom", "top", "outer", "shoes"):
        spec = outfit.get(layer)
        if not spec:
            continue
        kind = spec["kind"]
        k = KINDS[kind]
        piece, src, keep_f = _shell(body, normals, weights, kind, spec, sleeves, eases[layer])
        if layer != "shoes" and tubes:
            # A layer over a tube ends at the tube's top: below it the tube is what shows, and
            # pushing the crotch and inner thighs out onto the tube would fold them inside out.
            low = piece.vertices[:, 2] < max(t.zs[0] for t in tubes)
            drop = (low & ~on_arm[src])[piece.faces].all(axis=1)
            if drop.any():
                keep_f[np.flatnonzero(keep_f)[drop]] = False  # that skin is not under this layer
                piece, src = _without_faces(piece, src, drop)
            # All but the sleeves go over the tubes.
            piece = replace(piece, vertices=_outside(piece.vertices, ~on_arm[src], tubes, k["thick"]))
        torso = np.isin(dom_names[src], TORSO)
        built[layer] = [piece]
        # Hide body faces under the garment, but not within two rings of its openings.
        edge = np.zeros(len(body.vertices), bool)
        edge[src[boundary_vertices(piece.faces, len(piece.vertices))]] = True
        near_edge = _grow(edge, body.faces, 2)
        covered |= keep_f & ~near_edge[body.faces].any(axis=1)
        if "skirt" in k:
            top, bottom = _hang_length(body, kind)
            if torso.any():  # overlap the part above by 3 cm
                top = min(top, float(piece.vertices[torso, 2].min()) + 0.03)
            v, f, w = skirt_tube(
                body, top, bottom, eases[layer] + 0.01, k["skirt"], open_front=kind == "coat"
            )
            v = _outside(v, np.ones(len(v), bool), tubes, k["thick"])
            tubes.append(_Tube.of(v, hips, k["thick"]))
            name = f"{k['layer']}_{kind}_skirt"
            built[layer].append(Piece(name, v, f, body.bone_names, w, spec, k["thick"]))
    pieces = [p for layer in ("top", "outer", "bottom", "shoes") for p in built.get(layer, [])]
    return Outfit(pieces, ~covered)
