"""Hair (render.people): every style within its recipe, a level of detail that keeps a prefix,
deterministic dynamics in which long hair lags the head on a turn."""

import hashlib
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from render.people import dynamics, regions
from render.people.hair import colliders, head_hair, level_of_detail
from render.people.hairstyles import FACIAL, STYLES
from render.people.identities import catalog
from render.people.strands import grow, strand_lengths
from render.plan import HAIR_STYLES, rng_for


@pytest.fixture(scope="module")
def body():
    from render.body import BodyModel

    return BodyModel().body({"gender": 0.5, "age": 0.7, "muscle": 0.5, "weight": 0.5, "height": 0.5})


@pytest.mark.parametrize("kind", [*STYLES, *FACIAL])
def test_every_kind_of_hair_is_within_its_recipe(body, kind):
    recipe = {**STYLES, **FACIAL}[kind]
    g = grow(body, regions.head_frame(body), kind, 3000, 3000, rng_for(0, "test", kind))
    assert g.points.shape == (3000, recipe["points"], 3) and g.radii.shape == (3000, recipe["points"])
    assert np.isfinite(g.points).all()
    lo, hi = recipe["length"]
    p10, p90 = np.percentile(strand_lengths(g.points), [10, 90])
    assert p90 <= 1.15 * hi, (kind, p90)  # flyaways may be longer: the top tenth is not checked
    if "cut" not in recipe:  # a bob's strands end at one height: short ones grow low
        assert p10 >= 0.8 * lo, (kind, p10)
    width_mm = 2e3 * g.radii.mean()  # a strand tapers from its root radius to its tip radius
    assert 2e3 * recipe["tip_radius"][0] < width_mm < 2e3 * recipe["root_radius"][1], (kind, width_mm)
    root_um = 2e6 * g.radii[:, 0]
    assert (
        root_um.min() >= 2e6 * recipe["root_radius"][0] - 1e-6
        and root_um.max() <= 2e6 * recipe["root_radius"][1]
    )
    # Guides are the first strands, one per clump.
    assert np.array_equal(g.guide_points, g.points[: len(g.guide_points)])
    assert len(g.guide_points) == math.ceil(3000 / 48) and g.owner.max() < len(g.guide_points)


def test_scalp_hair_keeps_clear_of_the_face_and_facial_hair_is_on_it(body):
    frame = regions.head_frame(body)
    s = frame.scale
    long = grow(body, frame, "long_straight", 3000, 3000, rng_for(0, "face"))
    p = long.points.reshape(-1, 3)
    in_face = (
        (p[:, 1] < frame.centre[1] - 0.4 * frame.radii[1])
        & (np.abs(p[:, 0] - frame.pivot[0]) < 0.05 * s)
        & (p[:, 2] < frame.pivot[2] + 0.02 * s)
        & (p[:, 2] > frame.pivot[2] - 0.12 * s)
    )
    assert in_face.mean() < 0.001, in_face.mean()
    for kind, limit in (("brows", frame.centre[1]), ("lashes", frame.centre[1]), ("beard", frame.pivot[1])):
        roots = grow(body, frame, kind, 500, 500, rng_for(0, kind)).points[:, 0]
        assert (roots[:, 1] < limit).all(), kind  # on the face, in front of the neck's line
    brows = grow(body, frame, "brows", 500, 500, rng_for(0, "b")).points[:, 0]
    beard = grow(body, frame, "beard", 500, 500, rng_for(0, "b")).points[:, 0]
    assert brows[:, 2].min() > beard[:, 2].max() - 0.02 * s  # brows above the jaw


def test_a_level_of_detail_keeps_a_prefix_and_widens_it(body):
    key = "someone"
    hair = {"style": "long_wavy", "facial": "beard", "density": 0.9}
    full = head_hair(body, hair, 4000, 1.0, key)
    part = head_hair(body, hair, 4000, 0.25, key)
    assert [g.name for g in full] == ["long_wavy", "brows", "lashes", "beard"]
    for f, q in zip(full, part, strict=True):
        k = len(q.points)
        assert k == max(1, round(len(f.points) * 0.25))
        assert np.array_equal(q.points, f.points[:k])
        assert np.array_equal(q.guide_points, f.guide_points)
        assert np.allclose(q.radii, f.radii[:k] * len(f.points) / k)
    # A beard does not move a single scalp strand; another identity has other strands.
    shaved = head_hair(body, {**hair, "facial": "none"}, 4000, 1.0, key)
    assert np.array_equal(shaved[0].points, full[0].points)
    other = head_hair(body, hair, 4000, 1.0, "someone else")
    assert not np.array_equal(other[0].points, full[0].points)


def test_a_full_head_has_tens_of_thousands_of_strands(body):
    groups = head_hair(body, {"style": "long_straight", "facial": "stubble", "density": 0.8}, 60000, 1.0, "k")
    counts = {g.name: len(g.points) for g in groups}
    assert counts["long_straight"] == 48000 and counts["stubble"] == 24000, counts
    assert 400 < counts["brows"] < 1000 and 100 < counts["lashes"] < 300, counts


def test_level_of_detail_by_the_head_on_screen():
    assert level_of_detail(1.2, 85.0, (2160, 3840)) == 1.0  # a 4K close-up
    wide = level_of_detail(6.0, 24.0, (2160, 3840))
    assert 0.05 < wide < 0.2
    assert level_of_detail(3.0, 35.0, (72, 128)) == 0.05  # a test render: the floor


def test_hairstyles_are_balanced_over_identities_and_facial_hair_is_on_men():
    chars = catalog(48)
    styles = [c.hair["style"] for c in chars]
    assert all(4 <= styles.count(s) <= 5 for s in HAIR_STYLES), {s: styles.count(s) for s in HAIR_STYLES}
    for c in chars:  # anny's gender: 0 male, 1 female
        if c.phenotype["gender"] >= 0.5:
            assert c.hair["facial"] == "none"
    assert any(c.hair["facial"] == "beard" for c in chars) and any(
        c.hair["facial"] == "stubble" for c in chars
    )


def _turn(steps: int, dt: float, start: float, duration: float, angle_deg: float) -> np.ndarray:
    """(T, 4, 4) a head turning about the vertical axis through (0, 0, 1.6)."""
    out = np.tile(np.eye(4), (steps, 1, 1))
    pivot = np.array([0.0, 0.0, 1.6])
    for k in range(steps):
        u = np.clip((k * dt - start) / duration, 0, 1)
        a = math.radians(angle_deg) * (3 * u**2 - 2 * u**3)
        r = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
        out[k, :3, :3] = r
        out[k, :3, 3] = pivot - r @ pivot
    return out


def _hanging(length: float, n: int = 3) -> np.ndarray:
    """(n, 12, 3) strands hanging behind the head from z = 1.75."""
    z = 1.75 - np.linspace(0, length, 12)
    x = np.linspace(-0.03, 0.03, n)
    return np.stack([np.stack([np.full(12, xi), np.full(12, 0.11), z], -1) for xi in x])


def _azimuth(p: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(p[..., 0], p[..., 1]))


def test_long_hair_lags_the_head_on_a_turn_and_settles():
    dt = 1 / 240
    steps = 600  # 2.5 s: a turn of 90° from 0.1 s to 0.4 s
    heads = _turn(steps, dt, 0.1, 0.3, -90.0)
    stiffness = STYLES["long_straight"]["stiffness"]
    sim = dynamics.simulate(_hanging(0.4), {"Head": heads}, [], dt, stiffness=stiffness, preroll=60)
    rigid = np.einsum("tij,gpj->tgpi", heads[:, :3, :3], _hanging(0.4)) + heads[:, None, None, :3, 3]
    mid, end_of_turn = round(0.25 / dt), round(0.4 / dt)
    for k in (mid, end_of_turn):
        # The turn moves the strands from azimuth 0° to 90° (atan2(x, y)): the tips trail behind.
        lag = _azimuth(rigid[k, :, -1]) - _azimuth(sim[k, :, -1])
        assert (lag > 8).all(), (k, lag)
        assert (np.linalg.norm(sim[k, :, -1] - rigid[k, :, -1], axis=-1) > 0.03).all()
    assert np.allclose(sim[:, :, :2], rigid[:, :, :2], atol=1e-5)  # roots stay on the head
    settled = np.linalg.norm(sim[-1] - rigid[-1], axis=-1).max()
    assert settled < 0.01, settled  # back to the style within 2 s
    # Segment lengths are kept (inextensible strands).
    seg = np.linalg.norm(np.diff(sim[end_of_turn], axis=1), axis=-1)
    assert np.allclose(seg, 0.4 / 11, atol=1e-5)
    # A stiffer style swings less (a bun against long hair).
    stiff = dynamics.simulate(_hanging(0.4), {"Head": heads}, [], dt, STYLES["bun"]["stiffness"], preroll=60)
    swing = np.linalg.norm(sim - rigid, axis=-1).max()
    assert np.linalg.norm(stiff - rigid, axis=-1).max() < 0.5 * swing


def test_a_walk_does_not_blow_the_hair_back():
    """A head moving at a steady 1.3 m/s (a walk), from the first step on: the hair keeps its
    style (damping acts on the velocity relative to the head)."""
    dt, steps = 1 / 240, 480
    heads = np.tile(np.eye(4), (steps, 1, 1))
    heads[:, 1, 3] = -1.3 * dt * np.arange(steps)  # walking forwards (-y)
    rest = _hanging(0.4)
    sim = dynamics.simulate(rest, {"Head": heads}, [], dt, STYLES["long_straight"]["stiffness"], preroll=120)
    rigid = rest[None] + heads[:, None, None, :3, 3]
    assert np.linalg.norm(sim - rigid, axis=-1).max() < 0.01


def test_a_ponytail_is_held_by_its_tie(body):
    groups = head_hair(body, {"style": "ponytail", "facial": "none", "density": 1.0}, 2000, 1.0, "p")
    tail = groups[0]
    assert tail.pinned == STYLES["ponytail"]["points"] // 3
    dt = 1 / 240
    heads = _turn(200, dt, 0.05, 0.3, 90.0)
    sim = dynamics.simulate(tail.guide_points, {"Head": heads}, [], dt, tail.stiffness, pinned=tail.pinned)
    rigid = np.einsum("tij,gpj->tgpi", heads[:, :3, :3], tail.guide_points) + heads[:, None, None, :3, 3]
    assert np.allclose(sim[:, :, : tail.pinned], rigid[:, :, : tail.pinned], atol=1e-5)
    assert np.linalg.norm(sim[:, :, -1] - rigid[:, :, -1], axis=-1).max() > 0.03  # the tail swings


def _inside_skin(body, points: np.ndarray, bone: str) -> np.ndarray:
    """(N,) points (N, 3), rest pose, more than 3 mm behind the nearest skin vertex of ``bone``
    (along its normal): inside the body, by the mesh itself rather than by a collider."""
    v, f = body.vertices, body.faces
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    vn = np.zeros_like(v)
    for i in range(3):
        np.add.at(vn, f[:, i], fn)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    centre = v.mean(axis=0)
    sel = body.dominant_bone() == body.bone_index(bone)
    sv, sn = v[sel], vn[sel]
    # Orient normals outwards from the selection's centre (winding can vary).
    sn *= np.sign(np.sum(sn * (sv - sv.mean(axis=0)), axis=1, keepdims=True) + 1e-12)
    del centre
    near = np.empty(len(points), dtype=np.int64)
    for i in range(0, len(points), 2048):
        near[i : i + 2048] = ((points[i : i + 2048, None] - sv[None]) ** 2).sum(-1).argmin(1)
    return np.sum((points - sv[near]) * sn[near], axis=1) < -0.003


def test_hair_is_kept_out_of_the_head(body):
    """The head backs into its own long hair (15 cm in 0.15 s, from rest to rest): with the colliders
    no more hair is inside the skin than at rest, judged by the mesh, not by the colliders;
    without them the same motion drives hair into the head."""
    groups = head_hair(body, {"style": "long_straight", "facial": "none", "density": 1.0}, 1500, 1.0, "x")
    rest = groups[0].guide_points
    dt, steps = 1 / 240, 120
    heads = np.tile(np.eye(4), (steps, 1, 1))
    u = np.clip((np.arange(steps) * dt - 0.02) / 0.15, 0, 1)
    heads[:, 1, 3] = 0.15 * (3 * u**2 - 2 * u**3)  # backwards (+y), from rest to rest
    cols = colliders(body)
    transforms = {c.bone: heads for c in cols}
    stiffness = STYLES["long_straight"]["stiffness"]
    held = dynamics.simulate(rest, transforms, cols, dt, stiffness)
    free = dynamics.simulate(rest, transforms, [], dt, stiffness)

    def inside(sim, k):
        return _inside_skin(body, (sim[k, :, 2:] - heads[k, :3, 3]).reshape(-1, 3), "Head").mean()

    at_rest = _inside_skin(body, rest[:, 2:].reshape(-1, 3), "Head").mean()
    k = round(0.15 / dt)  # near the end of the move, hair still trailing
    assert inside(held, k) <= at_rest + 0.01, (inside(held, k), at_rest)
    assert inside(free, k) > inside(held, k) + 0.02, (inside(free, k), inside(held, k))


SIMULATE = """
import hashlib, json, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from tests.test_hair import _hanging, _turn
from render.people import dynamics
heads = _turn(300, 1 / 240, 0.05, 0.3, 70.0)
out = dynamics.simulate(_hanging(0.35, 8), {"Head": heads}, [], 1 / 240, 45.0, preroll=30)
print(hashlib.sha256(out.tobytes()).hexdigest())
"""


def test_dynamics_are_bit_identical_in_another_process():
    heads = _turn(300, 1 / 240, 0.05, 0.3, 70.0)
    here = dynamics.simulate(_hanging(0.35, 8), {"Head": heads}, [], 1 / 240, 45.0, preroll=30)
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    r = subprocess.run(
        [sys.executable, "-c", SIMULATE, "x", root], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == hashlib.sha256(here.tobytes()).hexdigest()
    assert json.dumps(here.shape) == "[300, 8, 12, 3]"


def test_motion_gives_positions_and_velocities_between_steps():
    heads = _turn(41, 1 / 8, 0.0, 5.0, 90.0)  # 5 frames of 8 steps: a slow turn
    rest = _hanging(0.3)
    guides = np.einsum("tij,gpj->tgpi", heads[:, :3, :3], rest) + heads[:, None, None, :3, 3]
    m = dynamics.HairMotion(rest, np.arange(3), rest, guides.astype(np.float32), heads, t0=0.0, dt=1 / 8)
    pos, vel = m.at(2.5, fps=30)
    assert pos.shape == vel.shape == (3, 12, 3)
    a, _ = m.at(2.5 - 1 / 16, 30)
    b, _ = m.at(2.5 + 1 / 16, 30)
    assert np.allclose(vel, (b - a) / (1 / 8) * 30, atol=1e-4)
    assert np.abs(vel).max() > 0.01  # it moves
