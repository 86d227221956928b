"""The people besides their hair: the identity catalog, garments and accessories (pure numpy)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict

import numpy as np
import pytest

from render.people import garments as g
from render.people.accessories import build_accessories, hat_brim
from render.people.hair import head_hair
from render.people.hairstyles import STYLES
from render.people.identities import (
    ACCESSORIES,
    AGE_GROUPS,
    HAIR_TYPES,
    SEXES,
    SKIN_GROUPS,
    STATURE,
    balance,
    catalog,
    identity,
    stature,
    years_to_anny,
)
from render.people.regions import head_frame
from render.people.wear import dress

TRAITS = {"skin": SKIN_GROUPS, "sex": SEXES, "age": tuple(AGE_GROUPS), "hair_type": HAIR_TYPES}


def test_the_catalog_is_balanced_in_every_trait_and_near_balanced_in_any_prefix():
    full = catalog(48)
    counts = balance(full)
    for trait, levels in TRAITS.items():
        assert set(counts[trait]) == set(levels)
        assert len(set(counts[trait].values())) == 1, (trait, counts[trait])  # exactly equal
    # Skin × sex × age is a full factorial: every cell once.
    assert len({(s.traits["skin"], s.traits["sex"], s.traits["age"]) for s in full}) == 48
    # Each hair type with every skin bin, six times per sex and three times per age group.
    assert len({(s.traits["skin"], s.traits["hair_type"]) for s in full}) == 24
    for trait, per in (("sex", 6), ("age", 3)):
        joint = Counter((s.traits[trait], s.traits["hair_type"]) for s in full)
        assert set(joint.values()) == {per}, (trait, joint)
    for n in range(1, 49):  # a dataset that uses the first n identities
        part = balance(full[:n])
        for trait in TRAITS:
            assert max(part[trait].values()) - min(part[trait].values()) <= 1, (n, trait, part[trait])


def test_the_stored_design_is_the_first_balanced_one():
    from render.people.identities import DESIGN_ATTEMPT, _balanced, _deal, search_design

    assert not any(_balanced(_deal(a)) for a in range(max(0, DESIGN_ATTEMPT - 40), DESIGN_ATTEMPT))
    assert search_design(DESIGN_ATTEMPT) == DESIGN_ATTEMPT


def test_the_catalog_is_complete():
    full = catalog(48)
    assert len({s.id for s in full}) == 48
    styles = Counter(s.hair["style"] for s in full)
    assert set(styles) == set(STYLES) and min(styles.values()) >= 4, styles
    kinds = Counter(x["kind"] for s in full for x in s.outfit.values() if isinstance(x, dict))
    assert set(kinds) == set(g.KINDS), kinds
    fabrics = {x["fabric"] for s in full for x in s.outfit.values() if isinstance(x, dict)}
    assert fabrics == {"weave", "denim", "knit", "print", "leather"}
    for slot, choices in ACCESSORIES.items():
        seen = {s.accessories[slot] for s in full}
        assert seen == set(choices), (slot, seen)
    assert {s.hair["facial"] for s in full} == {"none", "stubble", "beard"}
    for s in full:
        years = s.traits["years"]
        lo, hi = AGE_GROUPS[s.traits["age"]]
        assert lo <= years <= hi
        assert (s.phenotype["gender"] < 0.5) == (s.traits["sex"] == "male")  # anny: 0 male
        assert SKIN_GROUPS.index(s.traits["skin"]) == int(s.skin_melanin * 6)
        if s.traits["sex"] == "male":
            assert s.outfit["top"]["kind"] != "dress" and (s.outfit["bottom"] or {}).get("kind") != "skirt"
        else:
            assert s.hair["facial"] == "none"
        assert (s.outfit["bottom"] is None) == (s.outfit["top"]["kind"] == "dress")


def test_an_identity_is_the_same_in_every_dataset(tmp_path):
    from render.config import load_config
    from render.plan import plan_shots

    a = plan_shots(load_config(None, {"cams": 40, "scenes": 1, "seed": 1}), ["s"], ["c"])
    b = plan_shots(load_config(None, {"cams": 40, "scenes": 1, "seed": 2}), ["s"], ["c"])
    by_id = {s.character.id: s.character for s in a}
    shared = [s.character for s in b if s.character.id in by_id]
    assert shared
    for c in shared:
        assert asdict(c) == asdict(by_id[c.id]) == asdict(identity(int(c.id[4:])))
    # The spec survives the plan's JSON round trip unchanged.
    assert json.loads(json.dumps(asdict(a[0].character))) == asdict(a[0].character)


def test_anny_age_anchors():
    assert years_to_anny(1) == pytest.approx(0.0)
    assert years_to_anny(11) == pytest.approx(1 / 3)
    assert years_to_anny(25) == pytest.approx(2 / 3)
    assert years_to_anny(90) == pytest.approx(1.0)


def test_statures_are_human_by_sex_and_age():
    """Drawn statures lie within 2 sd of their group's mean; measured on anny's mesh for one."""
    full = catalog(48)
    for s in full:
        mean, sd = STATURE[(s.traits["sex"], s.traits["age"])]
        assert abs(s.traits["stature"] - mean) <= 2 * sd + 0.005, (s.id, s.traits)
    for sex in SEXES:
        adults = [s.traits["stature"] for s in full if s.traits["sex"] == sex and s.traits["age"] != "teen"]
        assert abs(np.mean(adults) - STATURE[(sex, "young")][0]) < 0.06, (sex, adults)
    from render.body import BodyModel

    model = BodyModel()
    for spec in full:  # the recorded stature is the mesh's, muscle and weight included
        v = model.body(spec.phenotype).vertices
        assert v[:, 2].max() - v[:, 2].min() == pytest.approx(spec.traits["stature"], abs=0.01), spec.id
    assert stature(0.0, 2 / 3, 0.0) < stature(0.0, 2 / 3, 1.0)
    # The corner where anny's height target interacts with muscle and weight (old, both at 1).
    v = model.body({"gender": 0.0, "age": 1.0, "height": 0.0, "muscle": 1.0, "weight": 1.0}).vertices
    assert v[:, 2].max() - v[:, 2].min() == pytest.approx(stature(0.0, 1.0, 0.0, 1.0, 1.0), abs=0.01)


@pytest.fixture(scope="module")
def body():
    from render.body import BodyModel

    return BodyModel().body({"gender": 0.9, "age": 0.75, "weight": 0.6, "height": 0.5})


def _outfit(top, bottom, outer=None, sleeves="short"):
    item = {"fabric": "weave", "color": [0.5, 0.2, 0.2], "color2": [0.2, 0.2, 0.5], "seed": 0.3}
    return {
        "top": {**item, "kind": top},
        "outer": {**item, "kind": outer} if outer else None,
        "bottom": {**item, "kind": bottom} if bottom else None,
        "shoes": {**item, "kind": "shoes", "fabric": "leather"},
        "sleeves": sleeves,
    }


def _surface_distance(body, points: np.ndarray) -> np.ndarray:
    """Signed distance of points off the skin, by the nearest body vertex and its normal (m)."""
    normals = g.vertex_normals(body.vertices, body.faces)
    idx = np.concatenate(
        [
            np.argmin(((chunk[:, None, :] - body.vertices[None]) ** 2).sum(-1), axis=1)
            for chunk in np.array_split(points, max(1, len(points) // 256))
        ]
    )
    return np.sum((points - body.vertices[idx]) * normals[idx], axis=1)


def test_garments_are_their_own_skinned_meshes_off_the_skin(body):
    outfit = g.build_outfit(body, _outfit("tshirt", "jeans", outer="jacket", sleeves="long"))
    names = [p.name for p in outfit.pieces]
    assert names == ["top_tshirt", "outer_jacket", "bottom_jeans", "shoes_shoes"]
    for p in outfit.pieces:
        assert p.vertices.ndim == 2 and p.faces.max() < len(p.vertices)
        assert p.weights.shape == (len(p.vertices), len(body.bone_names))
        assert np.allclose(p.weights.sum(axis=1), 1.0)
        above_sole = p.vertices[:, 2] > 0.03  # a shoe is flattened onto the ground below
        d = _surface_distance(body, p.vertices[above_sole])
        # Off the skin by the ease (a few hem vertices may sit nearer where the hem was moved).
        assert np.mean(d > 0.5 * g.KINDS[p.name.split("_")[1]]["ease"]) > 0.9, p.name
    # Jacket over shirt: the outer layer stands further off.
    top, jacket = outfit.pieces[0], outfit.pieces[1]
    assert (
        np.median(_surface_distance(body, jacket.vertices))
        > np.median(_surface_distance(body, top.vertices)) + 0.005
    )
    # Weights come from the body: jeans follow the legs, a shirt the spine and arms.
    jeans = outfit.pieces[2]
    legs = [
        body.bone_names.index("mixamorig:" + n) for n in ("LeftUpLeg", "RightUpLeg", "LeftLeg", "RightLeg")
    ]
    assert jeans.weights[:, legs].sum(axis=1).mean() > 0.6
    # Skin under cloth is dropped; the head and hands keep all their faces.
    head = body.dominant_bone() == body.bone_index("Head")
    assert outfit.body_faces[head[body.faces].all(axis=1)].all()
    assert 0.3 < 1 - outfit.body_faces.mean() < 0.8


def test_layers_nest_from_the_skin_out():
    for spec in catalog(48):
        eases = g.layer_eases(spec.outfit)
        worn = [x for x in ("bottom", "top", "outer") if spec.outfit.get(x)]
        for inner, outer in zip(worn, worn[1:], strict=False):
            thick = g.KINDS[spec.outfit[inner]["kind"]]["thick"]
            assert eases[outer] >= eases[inner] + thick + 0.002 - 1e-9, (spec.id, eases)
        for x in worn:
            assert eases[x] >= g.KINDS[spec.outfit[x]["kind"]]["ease"]


@pytest.mark.parametrize(
    "outfit",
    [
        _outfit("tshirt", "skirt", outer="jacket"),  # a skirt under a jacket
        _outfit("dress", None, outer="coat"),  # a dress's skirt under a coat and its tails
        _outfit("hoodie", "skirt", outer="coat"),
    ],
)
def test_hanging_tubes_stay_under_the_layers_over_them(body, outfit):
    """Measured on the meshes: every torso vertex of a later layer, and every vertex of a later
    tube, stands outside each earlier tube at its height and direction."""
    pieces = {p.name: p for p in g.build_outfit(body, outfit).pieces}
    order = ["bottom", "top", "outer"]
    hips = body.bone_heads[body.bone_index("Hips")][:2]
    is_tube = {n: n.endswith("_skirt") and n.count("_") == 2 for n in pieces}  # not "bottom_skirt"
    tubes = sorted((n for n in pieces if is_tube[n]), key=lambda n: order.index(n.split("_")[0]))
    assert tubes
    for t in tubes:
        tube = g._Tube.of(pieces[t].vertices, hips, pieces[t].thickness)
        for name, p in pieces.items():
            layer = name.split("_")[0]
            if layer == "shoes" or order.index(layer) <= order.index(t.split("_")[0]):
                continue
            r = tube.radius_at(p.vertices)
            rho = np.linalg.norm(p.vertices[:, :2] - hips, axis=1)
            at = ~np.isnan(r) & (p.vertices[:, 2] < tube.zs[0] - 0.005)
            if is_tube[name]:
                check = at
            else:  # the torso part (sleeves by the hips are not over the tube)
                check = at & (np.abs(p.vertices[:, 0] - hips[0]) < 0.2)
            assert (rho[check] >= r[check] + tube.thick - 1e-6).all(), (t, name, (r - rho)[check].max())
            if is_tube[name]:
                continue
            # Cloth over the tube's rim: every edge crossing the rim's height passes outside the
            # rim there (it slopes out to it, not through it), and no face turns inside out.
            e = np.concatenate([p.faces[:, [0, 1]], p.faces[:, [1, 2]], p.faces[:, [2, 0]]])
            a, b = p.vertices[e[:, 0]], p.vertices[e[:, 1]]
            top = tube.zs[0]
            cross = (np.minimum(a[:, 2], b[:, 2]) < top) & (np.maximum(a[:, 2], b[:, 2]) > top)
            cross &= np.abs((a[:, 0] + b[:, 0]) / 2 - hips[0]) < 0.2
            t_ = (top - a[cross, 2]) / (b[cross, 2] - a[cross, 2])
            at_rim = a[cross] + t_[:, None] * (b[cross] - a[cross])
            gap = np.linalg.norm(at_rim[:, :2] - hips, axis=1) - tube.radius_at(at_rim)
            assert (gap > 0).all(), (t, name, gap.min())
            fv = p.vertices[p.faces]
            n = np.cross(fv[:, 1] - fv[:, 0], fv[:, 2] - fv[:, 0])
            c = fv.mean(axis=1)
            near = (c[:, 2] < top + 0.05) & (c[:, 2] > tube.zs[-1]) & (np.abs(c[:, 0] - hips[0]) < 0.2)
            outward = np.sum(n[near, :2] * (c[near, :2] - hips), axis=1) > 0
            assert outward.mean() > 0.95, (t, name, outward.mean())  # as before any push (hem creases)


def test_hems_are_straight(body):
    outfit = g.build_outfit(body, _outfit("tshirt", "shorts"))
    shirt = outfit.pieces[0]
    edge = g.boundary_vertices(shirt.faces, len(shirt.vertices))
    # The waist hem: boundary vertices in the lowest 6 cm lie within 1.5 cm of one height.
    z = shirt.vertices[:, 2]
    hem = edge & (z < z.min() + 0.06)
    assert hem.sum() > 10
    assert np.ptp(z[hem]) < 0.015


def test_skirts_and_coats_hang_instead_of_wrapping_the_legs(body):
    outfit = g.build_outfit(body, _outfit("shirt", "skirt", outer="coat"))
    names = [p.name for p in outfit.pieces]
    assert "bottom_skirt_skirt" in names and "outer_coat_skirt" in names
    tube = outfit.pieces[names.index("bottom_skirt_skirt")]
    rows = tube.vertices.reshape(g.SKIRT_ROWS, g.SKIRT_COLUMNS, 3)
    centre = body.bone_heads[body.bone_index("Hips")][:2]
    radius = np.linalg.norm(rows[..., :2] - centre, axis=-1)
    assert (np.diff(radius, axis=0) >= -1e-9).all(), "a hanging skirt never narrows going down"
    # Between the knees the skirt bridges the gap (a leg-following garment would not).
    knee_z = body.bone_heads[body.bone_index("LeftLeg")][2]
    low = rows[-1]
    assert low[:, 2].max() < knee_z + 0.1
    assert np.linalg.norm(low[:, :2] - centre, axis=1).min() > 0.08
    # The hem follows each thigh only partly; the waistband only the hips.
    hips = body.bone_index("Hips")
    top_w, hem_w = tube.weights[: g.SKIRT_COLUMNS], tube.weights[-g.SKIRT_COLUMNS :]
    assert np.allclose(top_w[:, hips], 1.0)
    assert np.allclose(hem_w[:, hips], 1 - g.LEG_SWING)


def test_accessories_sit_where_they_belong(body):
    acc = {"glasses": "round", "hat": "beanie", "bag": "shoulder", "earrings": "hoops", "held": "phone"}
    pieces = {p.name: p for p in build_accessories(body, acc, 0.01)}
    assert set(pieces) == {
        "acc_glasses",
        "acc_beanie",
        "acc_earrings",
        "acc_bag",
        "acc_bag_strap",
        "acc_phone",
    }
    frame = head_frame(body)
    head = body.vertices[body.dominant_bone() == body.bone_index("Head")]
    glasses = pieces["acc_glasses"].vertices
    rims = glasses[np.abs(glasses[:, 0] - frame.pivot[0]) < 0.05]
    assert (
        rims[:, 1].max() < head[np.abs(head[:, 2] - rims[:, 2].mean()) < 0.02, 1].min() + 0.02
    )  # before the face
    for name in ("acc_glasses", "acc_beanie", "acc_earrings"):
        assert pieces[name].bones == ("mixamorig:Head",)
    assert pieces["acc_phone"].bones == ("mixamorig:RightHand",)
    # Everything attached is off or at the skin, not buried in it.
    assert np.mean(_surface_distance(body, pieces["acc_beanie"].vertices) > 0) > 0.99
    rim = pieces["acc_beanie"].vertices[-40:]  # the lowest ring of the dome (40 meridians)
    assert np.median(_surface_distance(body, rim)) < 0.016  # fits the head, no bald ring under it
    assert np.mean(_surface_distance(body, pieces["acc_bag_strap"].vertices) > 0) > 0.9


def _inside_convex(points: np.ndarray, v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """(N,) whether points lie inside the convex closed mesh (v, f), whatever its winding."""
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    keep = np.linalg.norm(n, axis=1) > 1e-12
    n, o = n[keep], v[f[keep, 0]]
    towards_centre = np.sign(np.sum((v.mean(axis=0) - o) * n, axis=1))
    side = ((points[:, None, :] - o[None]) * n[None]).sum(-1) * towards_centre[None]
    return (side > 0).all(axis=1)


@pytest.mark.parametrize("kind", ["phone", "cup"])
def test_a_held_object_is_at_the_hand_not_in_it(body, kind):
    (piece,) = build_accessories(body, {"held": kind}, 0.01)
    ids = [i for i, n in enumerate(body.bone_names) if "RightHand" in n]
    hand = body.vertices[np.isin(body.dominant_bone(), ids)]
    assert not _inside_convex(hand, piece.vertices, piece.faces).any()
    if kind == "cup":  # upright: 10 cm tall, 8 cm across; the gap to its surface
        z, x = np.ptp(piece.vertices[:, 2]), np.ptp(piece.vertices[:, 0])
        assert z == pytest.approx(0.1, abs=1e-6) and x == pytest.approx(0.08, abs=2e-3), (z, x)
        c = (piece.vertices.min(axis=0) + piece.vertices.max(axis=0)) / 2
        radial = np.linalg.norm(hand[:, :2] - c[:2], axis=1) - 0.04
        axial = np.abs(hand[:, 2] - c[2]) - 0.05
        gap = np.hypot(np.maximum(radial, 0), np.maximum(axial, 0)).min()
    else:  # the phone's 8 corners: the nearest hand vertex to its back face
        gap = np.sqrt(((piece.vertices[:, None] - hand[None]) ** 2).sum(-1)).min()
    assert gap < 0.02, gap  # at the hand (a proxy grip: the fingers do not close on it)


def _signed_distance(points: np.ndarray, surfaces: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Signed distance of points off the outermost of several meshes (vertices, faces), by the
    nearest vertex over all of them and its normal (m)."""
    verts = np.concatenate([v for v, _ in surfaces])
    normals = np.concatenate([g.vertex_normals(v, f) for v, f in surfaces])
    idx = np.concatenate(
        [
            np.argmin(((chunk[:, None, :] - verts[None]) ** 2).sum(-1), axis=1)
            for chunk in np.array_split(points, max(1, len(points) // 128))
        ]
    )
    return np.sum((points - verts[idx]) * normals[idx], axis=1)


def test_the_bag_and_strap_lie_over_what_is_worn():
    """For catalog identities with a bag, each on its own body: the strap's vertices lie outside
    the skin and every garment, and no worn vertex is inside the bag."""
    from render.body import BodyModel

    model = BodyModel()
    specs = [s for s in catalog(48) if s.accessories["bag"] != "none"]
    assert specs
    for spec in specs:
        b = model.body(spec.phenotype)
        worn = dress(b, spec)
        pieces = {p.name: p for p in worn.pieces}
        garments = [p for p in worn.pieces if not p.name.startswith("acc_")]
        # Each garment's outer face: Solidify grows the cloth outwards by its thickness.
        surfaces = [(b.vertices, b.faces)] + [
            (p.vertices + g.vertex_normals(p.vertices, p.faces) * p.thickness, p.faces) for p in garments
        ]
        strap = pieces["acc_bag_strap"].vertices
        d = _signed_distance(strap, surfaces)
        assert np.mean(d > 0) > 0.99, (spec.id, np.mean(d > 0), d.min())
        bag = pieces["acc_bag"].vertices
        lo, hi = bag.min(axis=0), bag.max(axis=0)
        for p in garments:
            inside = ((p.vertices > lo) & (p.vertices < hi)).all(axis=1)
            assert not inside.any(), (spec.id, p.name, int(inside.sum()))


def test_the_bag_hangs_at_the_hip(body):
    bag = next(p for p in build_accessories(body, {"bag": "shoulder"}, 0.01) if p.name == "acc_bag")
    hips = body.bone_heads[body.bone_index("Hips")]
    trunk = body.vertices[np.abs(body.vertices[:, 2] - hips[2]) < 0.05]
    trunk = trunk[np.abs(trunk[:, 0] - hips[0]) < 0.25]  # not the hands hanging beside the hips
    inner = bag.vertices[:, 0].max()  # the bag's side towards the body (it hangs at the right, -x)
    assert trunk[:, 0].min() - 0.05 < inner < trunk[:, 0].min() + 0.005 + 0.05, (inner, trunk[:, 0].min())


def test_accessory_slots_are_drawn_independently():
    """No slot's kind decides another's (they come from separate shuffled decks): every kind
    worn by 8 or more identities comes with at least two kinds of every other slot whose
    commonest kind is under 70 % (the old ``index * 7 + slot`` dealing fails this: round glasses
    always came without earrings)."""
    full = catalog(48)
    slots = list(ACCESSORIES)
    for a in slots:
        for b in slots:
            if a == b:
                continue
            counts_b = Counter(s.accessories[b] for s in full)
            if max(counts_b.values()) > 0.7 * len(full):  # hats, bags: too few to tell chance from rule
                continue
            for kind, n in Counter(s.accessories[a] for s in full).items():
                with_b = {s.accessories[b] for s in full if s.accessories[a] == kind}
                if n >= 8:
                    assert len(with_b) >= 2, (a, kind, b, with_b)


@pytest.mark.parametrize("style", ["long_straight", "bob"])
def test_hair_is_cut_at_a_hats_brim_and_the_rest_is_unchanged(body, style):
    hair = {"style": style, "facial": "none", "density": 1.0}
    bare = head_hair(body, hair, 3000, 1.0, "k")[0]
    hatted = head_hair(body, hair, 3000, 1.0, "k", hat="beanie")[0]
    point, normal = hat_brim(head_frame(body))
    assert ((hatted.points - point) @ normal < 0).all()  # nothing under the hat
    assert hatted.points.shape[1:] == bare.points.shape[1:] and len(hatted.owner) == len(hatted.points)
    # Strands wholly outside the hat are the same strands, untouched.
    side = (bare.points - point) @ normal
    outside = (side < 0).all(axis=1)
    assert outside.sum() < len(hatted.points) <= len(bare.points)
    common = np.isin(hatted.points[:, 0], bare.points[outside][:, 0]).all(axis=1)
    assert common.sum() == outside.sum()

    def length(p):
        return np.linalg.norm(np.diff(p, axis=1), axis=2).sum()

    # The hair one sees below the brim keeps (nearly) its whole length.
    below = (side[:, :-1] < 0) & (side[:, 1:] < 0)
    visible = (np.linalg.norm(np.diff(bare.points, axis=1), axis=2) * below).sum()
    assert length(hatted.points) > 0.9 * visible, (length(hatted.points), visible)


def test_every_identity_dresses(body):
    """Every catalog identity's outfit and accessories build on a body (any body shape)."""
    for spec in catalog(48):
        worn = dress(body, spec)
        assert worn.pieces and worn.body_faces.dtype == bool
        for p in worn.pieces:
            assert np.isfinite(p.vertices).all() and len(p.faces) > 0, (spec.id, p.name)


def test_a_plan_from_before_garments_still_reads():
    from render.config import load_config
    from render.plan import ShotSpec, plan_shots

    shot = plan_shots(load_config(None, {"cams": 2, "scenes": 1}), ["s"], ["c"])[0].to_json()
    old = dict(shot["character"])
    for key in ("outfit", "accessories", "traits"):
        del old[key]
    old.update(top_color=[0.2, 0.3, 0.4], bottom_color=[0.1, 0.1, 0.1], long_sleeves=True)
    spec = ShotSpec.from_json({**shot, "character": old})
    assert spec.character.outfit["top"]["kind"] == "shirt"
    assert spec.character.outfit["top"]["color"] == [0.2, 0.3, 0.4]
    assert spec.character.outfit["bottom"]["kind"] == "trousers"
    assert spec.character.accessories == {}
