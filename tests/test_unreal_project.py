"""unreal_project/: the UE-side scripts against a stub `unreal` module written from the UE 5.4/5.5
Python API docs (tests/ue_stub/unreal.py), the shot planner, and the project's config files."""

from __future__ import annotations

import ast
import configparser
import importlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "unreal_project"
PY = PROJECT / "Content" / "Python"
STUB_DIR = Path(__file__).resolve().parent / "ue_stub"
SCRIPTS = sorted(PY.rglob("*.py"))


@pytest.fixture(scope="module")
def ue():
    """The stub installed as `unreal`, Content/Python on sys.path; both removed afterwards."""
    saved = {k: v for k, v in sys.modules.items() if k == "unreal" or k.startswith("amatte4k")}
    spec = importlib.util.spec_from_file_location("unreal", STUB_DIR / "unreal.py")
    stub = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stub)
    sys.modules["unreal"] = stub
    sys.path.insert(0, str(PY))
    try:
        yield stub
    finally:
        sys.path.remove(str(PY))
        for name in [k for k in sys.modules if k == "unreal" or k.startswith("amatte4k")]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture
def stub(ue):
    """An empty world and no shot running (amatte4k.shot lives as long as the module fixture)."""
    ue.stub_reset()
    shot = sys.modules.get("amatte4k.shot")
    if shot is not None:
        shot._RUNNING.clear()
    return ue


def load_script(name: str):
    """Import Content/Python/<name>.py under a test-only module name (not __main__)."""
    spec = importlib.util.spec_from_file_location(f"ue_script_{name}", PY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_job(tmp_path: Path, frames: int = 3, warmup: int = 4, **render) -> dict:
    """A small valid schema-1 job: the camera dollies along x and pans through yaw 180."""
    out = tmp_path / "s00012"
    keys = range(-1, frames + 1)
    return {
        "schema": 1,
        "shot_id": "s00012",
        "map": "/Game/AlphaMatte4K/Maps/city_plaza/city_plaza",
        "character": {"id": "char07", "blueprint": "/Game/MetaHumans/AM4K_char07/BP_AM4K_char07"},
        "animation": {
            "clip": "jump_forward",
            "asset": "/Game/AlphaMatte4K/Anim/jump_forward",
            "start_seconds": 3.25,
            "play_rate": 0.85,
            "fps": 30,
        },
        "fps": 30,
        "resolution": [2160, 3840],
        "frames": frames,
        "warmup_frames": warmup,
        "character_keys": [
            {
                "frame": f,
                "location_cm": [10.0 * f, 0.0, 0.0],
                "rotation": {"roll": 0.0, "pitch": 0.0, "yaw": 90.0},
            }
            for f in keys
        ],
        "camera": {
            "sensor_mm": [20.25, 36.0],
            "keys": [
                {
                    "frame": f,
                    "location_cm": [100.0 + f, -300.0, 160.0],
                    "rotation": {"roll": 0.0, "pitch": -5.0, "yaw": 178.0 + 2.0 * f},
                    "focal_mm": 35.0 + f,
                    "focus_cm": 310.0,
                    "fstop": 2.8,
                }
                for f in keys
            ],
        },
        "render": {
            "spatial_samples": 2,
            "temporal_samples": 8,
            "motion_blur": True,
            "shutter": 0.5,
            "depth_of_field": True,
            "exposure_ev": -0.3,
            "layers": ["rgb", "matte", "plate"],
            **render,
        },
        "output": {
            "dir": str(out / "mrq"),
            "file_name_format": "frame_{frame_number}",
            "zero_pad": 4,
            "status": str(out / "status.json"),
            "done": str(out / "done.json"),
        },
    }


# ---------------------------------------------------------------- (1) imports


@pytest.mark.parametrize("path", SCRIPTS, ids=[str(p.relative_to(PY)) for p in SCRIPTS])
def test_every_script_imports_with_the_stub(ue, path):
    ue.stub_reset()
    if path.parent.name == "amatte4k":
        module = "amatte4k" if path.stem == "__init__" else f"amatte4k.{path.stem}"
        importlib.import_module(module)
    else:
        load_script(path.stem)


@pytest.mark.parametrize("path", SCRIPTS, ids=[str(p.relative_to(PY)) for p in SCRIPTS])
def test_scripts_import_only_stdlib_unreal_and_amatte4k(path):
    allowed = set(sys.stdlib_module_names) | {"unreal", "amatte4k", "__future__"}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


# ---------------------------------------------------------------- (2) API names against the stub


def _unreal_attributes(tree: ast.AST) -> set[str]:
    return {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "unreal"
    }


def _literal_property_names(tree: ast.AST) -> set[str]:
    """Names given literally to set/get_editor_property, as keys of a dict passed to
    `set_props`, as keys of a dict iterated with .items(), or as the first item of (name, value)
    pairs iterated by a loop whose body calls set_editor_property."""
    names: set[str] = set()
    for n in ast.walk(tree):
        if not isinstance(n, ast.Call):
            continue
        func = n.func
        if isinstance(func, ast.Attribute) and func.attr in ("set_editor_property", "get_editor_property"):
            if n.args and isinstance(n.args[0], ast.Constant):
                names.add(n.args[0].value)
        if (
            isinstance(func, ast.Name)
            and func.id == "set_props"
            and len(n.args) == 2
            and isinstance(n.args[1], ast.Dict)
        ):
            names |= {k.value for k in n.args[1].keys if isinstance(k, ast.Constant)}
        if isinstance(func, ast.Attribute) and func.attr == "items" and isinstance(func.value, ast.Dict):
            names |= {k.value for k in func.value.keys if isinstance(k, ast.Constant)}
    return names


def test_every_unreal_name_the_scripts_use_exists_in_the_stub(ue):
    for path in SCRIPTS:
        missing = {a for a in _unreal_attributes(ast.parse(path.read_text())) if not hasattr(ue, a)}
        assert not missing, f"{path.name}: {sorted(missing)}"


def test_literal_property_names_are_declared_by_a_stub_class(ue):
    declared: set[str] = set()
    for value in vars(ue).values():
        if isinstance(value, type) and issubclass(value, ue._Props):
            declared |= set(value._declared())
    for path in SCRIPTS:
        unknown = _literal_property_names(ast.parse(path.read_text())) - declared
        assert not unknown, f"{path.name}: {sorted(unknown)}"


def test_stub_raises_for_an_undeclared_property(ue):
    with pytest.raises(Exception, match="Failed to find property"):
        ue.MoviePipelineAntiAliasingSetting().set_editor_property("spatial_samples", 4)
    assert ue.MoviePipelineDeferredPassBase().get_editor_property("accumulator_includes_alpha") is False


# ---------------------------------------------------------------- (3) the shot plan


@pytest.fixture
def plan_mod(ue):
    return importlib.import_module("amatte4k.sequence_plan")


def test_plan_frame_ranges_and_warmup(plan_mod, tmp_path):
    plan = plan_mod.build_plan(make_job(tmp_path, frames=3, warmup=4))
    assert plan.mrq.playback == (0, 3)  # saved frames 0, 1, 2
    assert plan.section == (-4, 4)  # warm-up from -W, guard frame 3 inside [.., 4)
    assert plan.mrq.engine_warm_up_count == 4 and plan.mrq.use_camera_cut_for_warm_up
    assert plan.frames_total == 9
    no_warmup = plan_mod.build_plan(make_job(tmp_path, frames=3, warmup=0))
    assert no_warmup.section == (-1, 4)  # the guard frame still precedes frame 0
    assert [k.frame for k in no_warmup.camera_keys] == [-1, 0, 1, 2, 3]


def test_plan_guard_keys_outside_saved_range_and_held_values_before_them(plan_mod, tmp_path):
    plan = plan_mod.build_plan(make_job(tmp_path, frames=3, warmup=4))
    frames = [k.frame for k in plan.camera_keys]
    assert frames == [-4, -1, 0, 1, 2, 3]
    start, end = plan.mrq.playback
    assert frames[1] < start and frames[-1] >= end  # -1 and N are keyed but not saved
    hold, first = plan.camera_keys[0], plan.camera_keys[1]
    assert hold.location == first.location == (99.0, -300.0, 160.0)
    assert hold.rotation == first.rotation
    assert plan.lens_keys[0].focal_mm == plan.lens_keys[1].focal_mm == 34.0
    assert plan.character_keys[0].location == (-10.0, 0.0, 0.0)


def test_plan_unwinds_yaw_across_180(plan_mod, tmp_path):
    job = make_job(tmp_path, frames=3)
    job["camera"]["keys"][3]["rotation"]["yaw"] = -178.0  # 182 written the other way round
    yaws = [k.rotation[2] for k in plan_mod.build_plan(job).camera_keys]
    assert yaws == [176.0, 176.0, 178.0, 180.0, 182.0, 184.0]
    assert plan_mod.unwind_degrees([350.0, -5.0, 10.0]) == [350.0, 355.0, 370.0]


def test_plan_animation_offset_for_section_before_frame_zero(plan_mod, tmp_path):
    plan = plan_mod.build_plan(make_job(tmp_path, frames=3, warmup=4))
    anim = plan.anim
    assert (anim.start, anim.end, anim.play_rate) == (-4, 4, 0.85)
    # clip time at frame 0 = offset + 4 frames / 30 fps * 0.85 = start_seconds
    assert anim.start_offset_s == pytest.approx(3.25 - 4 / 30 * 0.85)
    assert anim.start_offset_s + (0 - anim.start) / 30 * anim.play_rate == pytest.approx(3.25)
    assert anim.start_frame_offset(24000) == round((3.25 - 4 / 30 * 0.85) * 24000)


def test_plan_animation_section_starts_late_when_the_clip_has_no_time_before(plan_mod, tmp_path):
    job = make_job(tmp_path, frames=3, warmup=32)
    job["animation"]["start_seconds"] = 0.1  # 0.1 s * 30 / 0.85 = 3.5 frames of clip before frame 0
    anim = plan_mod.build_plan(job).anim
    assert anim.start == -3
    assert anim.start_offset_s == pytest.approx(0.1 - 3 / 30 * 0.85)
    job["animation"]["start_seconds"] = 0.01  # not even the guard frame
    with pytest.raises(plan_mod.JobError, match="start_seconds"):
        plan_mod.build_plan(job)


def test_plan_hold_section_covers_the_warm_up_before_a_late_clip(plan_mod, tmp_path):
    job = make_job(tmp_path, frames=3, warmup=32)
    job["animation"]["start_seconds"] = 0.1
    anim = plan_mod.build_plan(job).anim
    assert anim.hold == (-32, -3)  # from -W up to the clip section, which starts at -3
    assert plan_mod.build_plan(make_job(tmp_path, warmup=4)).anim.hold is None  # clip covers -W
    job["warmup_frames"] = 3  # the clip section starts at -3 = -W: nothing to hold
    assert plan_mod.build_plan(job).anim.hold is None


def test_plan_layer_variants(plan_mod, tmp_path):
    plan = plan_mod.build_plan(make_job(tmp_path))
    by_name = {layer.name: layer for layer in plan.layers}
    assert [layer.name for layer in plan.layers] == ["rgb", "plate", "matte"]  # matte last
    assert (by_name["matte"].hold_out_environment, by_name["matte"].accumulate_alpha) == (True, True)
    assert not by_name["matte"].hide_character
    assert by_name["plate"].hide_character and not by_name["plate"].hold_out_environment
    assert not any(
        (by_name["rgb"].hold_out_environment, by_name["rgb"].hide_character, by_name["rgb"].accumulate_alpha)
    )
    assert by_name["matte"].output_dir == str(tmp_path / "s00012" / "mrq" / "matte")
    no_bg = plan_mod.build_plan(make_job(tmp_path, layers=["matte", "rgb"]))
    assert [layer.name for layer in no_bg.layers] == ["rgb", "matte"]
    assert no_bg.frames_total == 6


def test_plan_mrq_values(plan_mod, tmp_path):
    mrq = plan_mod.build_plan(make_job(tmp_path, depth_of_field=False)).mrq
    assert mrq.resolution == (2160, 3840)
    assert (mrq.spatial_samples, mrq.temporal_samples, mrq.override_anti_aliasing) == (2, 8, True)
    assert mrq.motion_blur_amount == 0.5
    assert dict(mrq.console_variables) == {"r.MotionBlurQuality": 0.0, "r.DepthOfFieldQuality": 0.0}
    still = plan_mod.build_plan(make_job(tmp_path, motion_blur=False, temporal_samples=1)).mrq
    assert still.motion_blur_amount == 0.0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda j: j.update(schema=2), "schema must be 1"),
        (lambda j: j.pop("map"), "missing 'map'"),
        (lambda j: j["camera"]["keys"].pop(2), "camera.keys' must key frames -1..3"),
        (lambda j: j["character_keys"].reverse(), "character_keys' must key frames -1..3"),
        (lambda j: j.update(resolution=[2160, 0]), "resolution"),
        (lambda j: j["output"].update(dir="relative/mrq"), "must be an absolute path"),
        (lambda j: j["output"].update(status="/abs/my shots/status.json"), "must not contain spaces"),
        (lambda j: j["render"].update(layers=["rgb", "alpha"]), "render.layers"),
        (lambda j: j["render"].update(temporal_samples=1), "motion_blur' needs"),
        (
            lambda j: j["render"].update(motion_blur=False, spatial_samples=1, temporal_samples=1),
            "never one sample",
        ),
        (lambda j: j["render"].update(shutter=1.5), "shutter"),
        (lambda j: j["camera"]["keys"][0].update(fstop=0.0), "fstop' must be positive"),
        (lambda j: j.update(fps=29.97), "'fps' must be an integer"),
        (lambda j: j["output"].update(file_name_format="frame"), "frame_number"),
        (lambda j: j["animation"].update(asset="Anim/jump"), "content path"),
    ],
)
def test_plan_validation_errors_are_one_line(plan_mod, tmp_path, mutate, message):
    job = make_job(tmp_path)
    mutate(job)
    with pytest.raises(plan_mod.JobError, match=message.replace(".", r"\.").replace("(", r"\(")) as err:
        plan_mod.build_plan(job)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- (4) builders against the stub


def test_status_files_are_atomic_json(ue, tmp_path):
    status = importlib.import_module("amatte4k.status")
    path = tmp_path / "a" / "status.json"
    status.StatusWriter("s1", str(path), 6).write("rendering", "rgb", 2, "line one\nline two")
    record = json.loads(path.read_text())
    assert record["message"] == "line one line two" and record["frames_total"] == 6
    assert sorted(record) == [
        "frames_done",
        "frames_total",
        "layer",
        "message",
        "shot_id",
        "state",
        "updated",
    ]
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]  # no temporary left
    assert status.completion_record("s1", "", {"rgb": 3}, "5.5", 1.0)["state"] == "done"
    with pytest.raises(ValueError):
        status.status_record("s1", "paused", None, 0, 0)


def _rate(params) -> float:
    """The play rate stored in skeletal animation params: a float (5.4) or a time-warp (5.5)."""
    value = params.get_editor_property("play_rate")
    return value if isinstance(value, float) else value.to_fixed_play_rate()


def _build_shot(stub, tmp_path, **render):
    scene = importlib.import_module("amatte4k.scene")
    sequence = importlib.import_module("amatte4k.sequence")
    plan = importlib.import_module("amatte4k.sequence_plan").build_plan(make_job(tmp_path, **render))
    character = scene.spawn_character(plan)
    actors = scene.ShotActors(character, scene.find_body(character), scene.spawn_camera(plan))
    return plan, actors, sequence.build(plan, actors)


def test_sequence_keys_match_the_job(stub, tmp_path):
    plan, actors, seq = _build_shot(stub, tmp_path)
    job = make_job(tmp_path)
    assert (seq.display_rate.numerator, seq.playback) == (30, [0, 3])
    camera, lens, character, body = seq.bindings
    assert camera.bound is actors.camera and character.bound is actors.character
    assert lens.parent is camera and body.parent is character and body.bound.get_name() == "Body"
    section = camera.tracks[0].sections[0]
    assert section.range == (-4, 4)
    channels = section.get_all_channels()
    x_keys, yaw_keys = channels[0].keys, channels[5].keys
    assert len(x_keys) == len(job["camera"]["keys"]) + 1  # N+2 job keys and the warm-up hold
    assert [(f, v) for f, v, _ in x_keys[1:]] == [
        (k["frame"], k["location_cm"][0]) for k in job["camera"]["keys"]
    ]
    assert [v for _, v, _ in yaw_keys] == [176.0, 176.0, 178.0, 180.0, 182.0, 184.0]
    assert all(i is stub.MovieSceneKeyInterpolation.LINEAR for _, _, i in x_keys)
    props = {t.property_path: t.sections[0].get_all_channels()[0].keys for t in lens.tracks}
    assert [v for _, v, _ in props["CurrentFocalLength"]] == [34.0, 34.0, 35.0, 36.0, 37.0, 38.0]
    assert "FocusSettings.ManualFocusDistance" in props
    cut = seq.tracks[0].sections[0]
    assert cut.range == (-4, 4) and cut.get_editor_property("camera_binding_id").binding is camera
    anim = body.tracks[0].sections[0]
    params = anim.get_editor_property("params")
    assert anim.range == (-4, 4) and _rate(params) == 0.85
    assert isinstance(params.get_editor_property("play_rate"), stub.MovieSceneTimeWarpVariant)  # 5.5
    assert params.get_editor_property("start_frame_offset").value == round((3.25 - 4 / 30 * 0.85) * 24000)
    assert params.get_editor_property("animation").get_path_name() == "/Game/AlphaMatte4K/Anim/jump_forward"
    char_x = character.tracks[0].sections[0].get_all_channels()[0].keys
    assert [v for _, v, _ in char_x] == [-10.0, -10.0, 0.0, 10.0, 20.0, 30.0]


def test_camera_settings_from_the_job(stub, tmp_path):
    _, actors, _ = _build_shot(stub, tmp_path, depth_of_field=False)
    cam = actors.camera.get_cine_camera_component()
    filmback = cam.get_editor_property("filmback")
    assert (filmback.get_editor_property("sensor_width"), filmback.get_editor_property("sensor_height")) == (
        20.25,
        36.0,
    )
    focus = cam.get_editor_property("focus_settings").get_editor_property("focus_method")
    assert focus is stub.CameraFocusMethod.DISABLE
    pp = cam.get_editor_property("post_process_settings")
    # the map keeps its exposure method: only the compensation is overridden (no map PPV: 0 + ev)
    assert not pp.get_editor_property("override_auto_exposure_method")
    assert pp.get_editor_property("auto_exposure_method") is stub.AutoExposureMethod.AEM_HISTOGRAM
    assert pp.get_editor_property("override_auto_exposure_bias")
    assert pp.get_editor_property("auto_exposure_bias") == -0.3
    assert pp.get_editor_property("override_auto_exposure_apply_physical_camera_exposure")
    assert (
        pp.get_editor_property("override_motion_blur_amount")
        and pp.get_editor_property("motion_blur_amount") == 0.5
    )
    assert not pp.get_editor_property("auto_exposure_apply_physical_camera_exposure")


def test_layers_hold_out_the_environment_and_hide_the_character(stub, tmp_path):
    scene = importlib.import_module("amatte4k.scene")
    plan, actors, _ = _build_shot(stub, tmp_path)
    wall = stub.stub_add_level_actor(stub.Actor(name="wall"))
    mesh = wall.stub_add_component(stub.StaticMeshComponent(name="WallMesh"))
    fog = stub.stub_add_level_actor(stub.Actor(name="fog")).stub_add_component(
        stub.ExponentialHeightFogComponent()
    )
    scene.collect_environment(actors)
    assert actors.environment == [mesh] and actors.sky_and_fog == [fog]
    layers = {layer.name: layer for layer in plan.layers}
    scene.apply_layer(actors, layers["plate"])
    assert actors.character.hidden_in_game and not mesh.get_editor_property("holdout")
    assert scene.apply_layer(actors, layers["matte"]) == []
    assert not actors.character.hidden_in_game
    assert mesh.get_editor_property("holdout") and fog.get_editor_property("holdout")
    hair = actors.character.get_components_by_class(stub.PrimitiveComponent)
    assert hair and not any(c.get_editor_property("holdout") for c in hair)


def _build_job(stub, job: dict):
    scene = importlib.import_module("amatte4k.scene")
    sequence = importlib.import_module("amatte4k.sequence")
    plan = importlib.import_module("amatte4k.sequence_plan").build_plan(job)
    character = scene.spawn_character(plan)
    actors = scene.ShotActors(character, scene.find_body(character), scene.spawn_camera(plan))
    return plan, actors, sequence.build(plan, actors)


def test_plan_hold_offsets_loop_one_tick_at_the_clip_offset(plan_mod, tmp_path):
    job = make_job(tmp_path, frames=3, warmup=32)
    job["animation"]["start_seconds"] = 0.1
    anim = plan_mod.build_plan(job).anim
    for tick, clip_s in ((24000, 10.0), (60000, 2.345678), (30, 1.0)):
        start, end = anim.hold_offsets(clip_s, tick)
        assert round(clip_s * tick) - start - end == 1  # the looped length is one tick
        assert start == anim.start_frame_offset(tick)  # the pose is the clip section's first
        assert start / tick == pytest.approx(anim.start_offset_s, abs=0.5 / tick)
    with pytest.raises(ValueError, match="shorter than its start offset"):
        anim.hold_offsets(anim.start_offset_s / 2, 24000)


@pytest.mark.parametrize("engine", ["5.4", "5.5"])
def test_sequence_hold_section_shows_the_first_pose_before_a_late_clip(stub, tmp_path, engine):
    stub.stub_set_engine(engine)
    job = make_job(tmp_path, frames=3, warmup=32)
    job["animation"]["start_seconds"] = 0.1
    _, _, seq = _build_job(stub, job)
    clip, hold = seq.bindings[3].tracks[0].sections
    clip_params, hold_params = clip.get_editor_property("params"), hold.get_editor_property("params")
    assert clip.range == (-3, 4) and hold.range == (-32, -3)
    play_rate_type = float if engine == "5.4" else stub.MovieSceneTimeWarpVariant
    assert isinstance(clip_params.get_editor_property("play_rate"), play_rate_type)
    assert isinstance(hold_params.get_editor_property("play_rate"), play_rate_type)
    assert _rate(clip_params) == 0.85
    # Sequencer plays a near-zero rate at 1: the hold plays at 1 on a clip trimmed to one tick
    assert _rate(hold_params) == 1.0
    offset = round((0.1 - 3 / 30 * 0.85) * 24000)
    clip_ticks = round(stub.AnimSequenceBase.STUB_LENGTH_S * 24000)
    assert clip_params.get_editor_property("start_frame_offset").value == offset
    assert clip_params.get_editor_property("end_frame_offset").value == 0
    assert hold_params.get_editor_property("start_frame_offset").value == offset
    assert hold_params.get_editor_property("end_frame_offset").value == clip_ticks - offset - 1
    assert hold_params.get_editor_property("animation") is clip_params.get_editor_property("animation")
    _, _, seq = _build_job(stub, make_job(tmp_path, frames=3, warmup=4))
    assert len(seq.bindings[3].tracks[0].sections) == 1  # the clip covers the warm-up itself


def test_a_clip_asset_shorter_than_the_shot_is_refused(stub, tmp_path, monkeypatch):
    """Sequencer loops a section past its asset's end: the shot must fail, not wrap around."""
    job = make_job(tmp_path, frames=3, warmup=4)
    need = 3.25 + 4 / 30 * 0.85  # the clip time at the section's end, frame N + 1 = 4
    plan_mod = importlib.import_module("amatte4k.sequence_plan")
    assert abs(plan_mod.build_plan(job).anim.needs_seconds(30) - need) < 1e-9
    monkeypatch.setattr(stub.AnimSequenceBase, "STUB_LENGTH_S", need - 0.01)
    with pytest.raises(RuntimeError, match=rf"lasts {need - 0.01:.2f} s; the shot plays it to {need:.2f} s"):
        _build_job(stub, job)
    monkeypatch.setattr(stub.AnimSequenceBase, "STUB_LENGTH_S", need)
    _build_job(stub, job)


def test_play_rate_is_set_in_the_engines_type(stub, tmp_path):
    sequence = importlib.import_module("amatte4k.sequence")
    assert sequence.play_rate_value(1.0, 0.85) == 0.85  # 5.4
    warp = sequence.play_rate_value(stub.MovieSceneTimeWarpVariant(), 0.85)  # 5.5
    assert isinstance(warp, stub.MovieSceneTimeWarpVariant) and warp.to_fixed_play_rate() == 0.85
    with pytest.raises(TypeError, match="nativize"):  # what a float does to a 5.5 variant property
        stub.MovieSceneSkeletalAnimationParams().set_editor_property("play_rate", 0.85)
    stub.stub_set_engine("5.4")
    assert not hasattr(stub, "MovieSceneTimeWarpExtensions")
    with pytest.raises(TypeError, match="nativize"):
        stub.MovieSceneSkeletalAnimationParams().set_editor_property(
            "play_rate", stub._REMOVED["MovieSceneTimeWarpVariant"]()
        )


def _ppv(stub, bias: float, priority: float = 0.0, unbound: bool = True, enabled: bool = True):
    volume = stub.stub_add_level_actor(stub.PostProcessVolume())
    volume.set_editor_property("unbound", unbound)
    volume.set_editor_property("enabled", enabled)
    volume.set_editor_property("priority", priority)
    settings = volume.get_editor_property("settings")
    settings.set_editor_property("override_auto_exposure_method", True)
    settings.set_editor_property("auto_exposure_method", stub.AutoExposureMethod.AEM_MANUAL)
    settings.set_editor_property("override_auto_exposure_bias", True)
    settings.set_editor_property("auto_exposure_bias", bias)
    return volume


def test_camera_exposure_is_an_offset_from_the_maps_own(stub, tmp_path):
    _ppv(stub, 9.0, priority=10.0, unbound=False)  # bound: depends on where the camera is
    _ppv(stub, 8.0, priority=20.0, enabled=False)
    _ppv(stub, 5.0, priority=0.0)
    chosen = _ppv(stub, 1.5, priority=1.0)
    _, actors, _ = _build_shot(stub, tmp_path)
    pp = actors.camera.get_cine_camera_component().get_editor_property("post_process_settings")
    assert pp.get_editor_property("auto_exposure_bias") == pytest.approx(1.5 - 0.3)
    assert not pp.get_editor_property("override_auto_exposure_method")  # the map's method stays
    assert not pp.get_editor_property("auto_exposure_apply_physical_camera_exposure")
    map_settings = chosen.get_editor_property("settings")  # the map's volume is left alone
    assert map_settings.get_editor_property("auto_exposure_bias") == 1.5
    assert map_settings.get_editor_property("auto_exposure_method") is stub.AutoExposureMethod.AEM_MANUAL


def test_sky_and_fog_without_holdout_are_hidden_for_matte_and_restored(stub, tmp_path, monkeypatch):
    scene = importlib.import_module("amatte4k.scene")
    monkeypatch.setattr(stub.ExponentialHeightFogComponent, "PROPS", {})  # as on 5.4: no holdout
    monkeypatch.setattr(stub.SkyAtmosphereComponent, "PROPS", {})
    plan, actors, _ = _build_shot(stub, tmp_path)
    fog_actor = stub.stub_add_level_actor(stub.Actor(name="fog"))
    fog = fog_actor.stub_add_component(stub.ExponentialHeightFogComponent(name="Fog"))
    sky_actor = stub.stub_add_level_actor(stub.Actor(name="sky"))
    sky = sky_actor.stub_add_component(stub.SkyAtmosphereComponent(name="Sky"))
    sky.set_editor_property("hidden_in_game", True)  # the map author hid it already
    wall = stub.stub_add_level_actor(stub.Actor(name="wall"))
    mesh = wall.stub_add_component(stub.StaticMeshComponent(name="WallMesh"))
    scene.collect_environment(actors)
    layers = {layer.name: layer for layer in plan.layers}
    assert scene.apply_layer(actors, layers["rgb"]) == []
    assert not fog.get_editor_property("hidden_in_game")
    assert scene.apply_layer(actors, layers["matte"]) == ["fog.Fog", "sky.Sky"]
    assert fog.get_editor_property("hidden_in_game") and sky.get_editor_property("hidden_in_game")
    assert mesh.get_editor_property("holdout")
    scene.apply_layer(actors, layers["plate"])  # a later non-matte layer shows them again
    assert not fog.get_editor_property("hidden_in_game")
    scene.apply_layer(actors, layers["matte"])
    scene.clean_up(actors)
    assert not fog.get_editor_property("hidden_in_game")
    assert sky.get_editor_property("hidden_in_game")  # as the map had it
    assert not mesh.get_editor_property("holdout")
    destroyed = [c[1][0] for c in stub.CALLS if c[0] == "EditorActorSubsystem.destroy_actor"]
    assert destroyed == [actors.character, actors.camera]  # never a level actor
    assert {fog_actor, sky_actor, wall} <= set(stub._WORLD)


def _chains():
    """The LayerChains of the running shots."""
    shot = importlib.import_module("amatte4k.shot")
    return [s.chain for s in shot._RUNNING.values() if s.chain is not None]


def _tick_chains(stub, dt: float = 0.0):
    """One Slate tick of every running shot's chain, `dt` seconds after its clock's last tick."""
    for chain in _chains():
        if dt:
            now = chain.clock() + dt
            chain.clock = lambda now=now: now
        if chain.tick_handle in stub.stub_ticks():
            stub.stub_ticks()[chain.tick_handle](0.016)


def _finish_layer(stub, layer_dir: Path, frames: int, success: bool = True):
    """MRQ writes `frames` files and finishes; the next Slate tick moves the chain on."""
    executor = stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem).rendered[-1][0]
    layer_dir.mkdir(parents=True, exist_ok=True)
    for f in range(frames):
        (layer_dir / f"frame_{f:04d}.exr").write_bytes(b"exr")
    executor.on_executor_finished_delegate.broadcast(executor, success)
    _tick_chains(stub)


def test_entry_script_renders_every_layer_then_writes_the_record(stub, tmp_path):
    entry = load_script("amatte4k_render_shot")
    job = make_job(tmp_path)
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    out = Path(job["output"]["dir"])
    (out / "rgb").mkdir(parents=True)
    (out / "rgb" / "frame_0007.exr").write_bytes(b"stale")  # left by an earlier attempt
    entry.main(["amatte4k_render_shot.py", str(job_path)])
    status = json.loads(Path(job["output"]["status"]).read_text())
    assert status["state"] == "rendering" and status["layer"] == "rgb" and status["frames_total"] == 9
    subsystem = stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem)
    (rgb_job,) = subsystem.rendered[-1][1]
    config = rgb_job.get_configuration()
    output = config.find_or_add_setting_by_class(stub.MoviePipelineOutputSetting)
    assert output.get_editor_property("output_directory").get_editor_property("path") == str(out / "rgb")
    assert output.get_editor_property("zero_pad_frame_numbers") == 4
    assert output.get_editor_property("file_name_format") == "frame_{frame_number}"
    assert (
        output.get_editor_property("custom_start_frame"),
        output.get_editor_property("custom_end_frame"),
    ) == (0, 3)
    exr = config.find_or_add_setting_by_class(stub.MoviePipelineImageSequenceOutput_EXR)
    assert exr.get_editor_property(
        "compression"
    ) is stub.EXRCompressionFormat.ZIP and exr.get_editor_property("multilayer")
    aa = config.find_or_add_setting_by_class(stub.MoviePipelineAntiAliasingSetting)
    assert (
        aa.get_editor_property("spatial_sample_count"),
        aa.get_editor_property("temporal_sample_count"),
    ) == (2, 8)
    assert aa.get_editor_property("anti_aliasing_method") is stub.AntiAliasingMethod.AAM_NONE
    deferred = config.find_or_add_setting_by_class(stub.MoviePipelineDeferredPassBase)
    assert deferred.get_editor_property("accumulator_includes_alpha") is False
    sequence_path = f"/Game/AlphaMatte4K/Sequences/{os.getpid()}/LS_s00012"
    assert rgb_job.get_editor_property("sequence").path == f"{sequence_path}.LS_s00012"
    assert not [c for c in stub.CALLS if c[0] == "EditorAssetLibrary.save_loaded_asset"]  # not saved
    assert not (out / "rgb" / "frame_0007.exr").exists()

    _finish_layer(stub, out / "rgb", 3)
    (plate_job,) = subsystem.rendered[-1][1]
    assert plate_job.get_editor_property("job_name") == "s00012_plate"
    _finish_layer(stub, out / "plate", 3)
    (matte_job,) = subsystem.rendered[-1][1]
    matte_pass = matte_job.get_configuration().find_or_add_setting_by_class(
        stub.MoviePipelineDeferredPassBase
    )
    assert matte_pass.get_editor_property("accumulator_includes_alpha") is True
    next(iter(stub.stub_ticks().values()))(0.1)  # one heartbeat
    assert json.loads(Path(job["output"]["status"]).read_text())["frames_done"] == 6
    _finish_layer(stub, out / "matte", 3)

    done = json.loads(Path(job["output"]["done"]).read_text())
    assert done["state"] == "done" and done["reason"] == ""
    assert done["layers"] == {"rgb": 3, "plate": 3, "matte": 3} and done["engine"] == "5.5.0-stub"
    assert json.loads(Path(job["output"]["status"]).read_text())["state"] == "done"
    assert not stub.stub_ticks()  # heartbeat unregistered
    assert not stub.EditorAssetLibrary.does_asset_exist(sequence_path)
    spawned = [a for a in stub._WORLD if isinstance(a, (stub.StubMetaHuman, stub.CineCameraActor))]
    assert spawned == []


def test_entry_script_reports_mrq_errors_and_short_layers(stub, tmp_path):
    entry = load_script("amatte4k_render_shot")
    job = make_job(tmp_path, layers=["rgb", "matte"])
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    entry.main(["x.py", str(job_path)])
    out = Path(job["output"]["dir"])
    _finish_layer(stub, out / "rgb", 2)  # MRQ says success but one frame is missing
    _finish_layer(stub, out / "matte", 3)
    done = json.loads(Path(job["output"]["done"]).read_text())
    assert done["state"] == "error" and done["reason"] == "rgb wrote 2 of 3 frames"

    stub.stub_reset()
    Path(job["output"]["done"]).unlink()
    entry.main(["x.py", str(job_path)])
    executor = stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem).rendered[-1][0]
    executor.on_executor_errored_delegate.broadcast(executor, None, True, "disk full")
    assert not Path(job["output"]["done"]).exists()  # until MRQ has stopped
    executor.on_executor_finished_delegate.broadcast(executor, False)
    _tick_chains(stub)
    done = json.loads(Path(job["output"]["done"]).read_text())
    assert done["state"] == "error" and "disk full" in done["reason"] and "rgb" in done["reason"]


def test_entry_script_writes_an_error_record_for_a_bad_job(stub, tmp_path):
    entry = load_script("amatte4k_render_shot")
    job = make_job(tmp_path)
    job["schema"] = 7
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    entry.main(["x.py", str(job_path)])
    done = json.loads(Path(job["output"]["done"]).read_text())
    assert done["state"] == "error" and done["reason"] == "JobError: job schema must be 1, got 7"
    job_path.write_text("{not json")
    entry.main(["x.py", str(job_path)])
    assert json.loads((tmp_path / "done.json").read_text())["reason"].startswith("JSONDecodeError")


def test_entry_script_error_while_building_still_writes_the_record(stub, tmp_path, monkeypatch):
    entry = load_script("amatte4k_render_shot")
    job = make_job(tmp_path)
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    monkeypatch.setattr(stub.EditorAssetLibrary, "load_blueprint_class", classmethod(lambda cls, p: None))
    entry.main(["x.py", str(job_path)])
    done = json.loads(Path(job["output"]["done"]).read_text())
    assert done["state"] == "error" and "BP_AM4K_char07 not found" in done["reason"]


# ---------------------------------------------------------------- (5) the inbox


@pytest.fixture
def inbox_mod(ue):
    return importlib.import_module("amatte4k.inbox")


@pytest.mark.parametrize(
    "line, expected",
    [
        ("/p/AlphaMatte4K.uproject -RenderOffScreen -AM4KInbox=/a/b -cvport=9000", "/a/b"),
        ('/p/AlphaMatte4K.uproject "-AM4KInbox=/a/b" -nosound', "/a/b"),
        ('/p/AlphaMatte4K.uproject -AM4KInbox="/a/b"', "/a/b"),
        ("-am4kinbox=/a/b", "/a/b"),  # UE matches switches case-insensitively
        ("-AM4KInbox=/old -AM4KInbox=/new", "/new"),
        ("-AM4KInbox=C:\\in\\box", "C:\\in\\box"),
        ("/p/AlphaMatte4K.uproject -RenderOffScreen", None),
        ("-AM4KInbox= -x", None),
        ("-AM4KInboxes=/a/b", None),
        ("", None),
    ],
)
def test_inbox_from_the_command_line(inbox_mod, line, expected):
    assert inbox_mod.inbox_from_command_line(line) == expected


def test_resolve_inbox_prefers_the_command_line_and_checks_the_folder(inbox_mod):
    assert inbox_mod.resolve_inbox("-AM4KInbox=/a/b/", {"AM4K_INBOX": "/env"}) == "/a/b"
    assert inbox_mod.resolve_inbox("-x", {"AM4K_INBOX": "/env"}) == "/env"
    assert inbox_mod.resolve_inbox("-x", {}) is None
    with pytest.raises(ValueError, match="absolute"):
        inbox_mod.resolve_inbox("-AM4KInbox=rel/box", {})
    with pytest.raises(ValueError, match="spaces"):
        inbox_mod.resolve_inbox('"-AM4KInbox=/my box"', {})


def test_next_job_is_the_first_finished_job_file_by_name(inbox_mod):
    names = [
        "b.job.json",
        "a.job.json.taken",
        ".a.job.json",  # a client's temporary
        "a.job.json.tmp",
        "engine.json",
        "cancel.json",
        ".job.json",
        "c.job.json",
        "a.done.json",
    ]
    assert inbox_mod.next_job(names) == "b.job.json"
    assert inbox_mod.next_job(names + ["a.job.json"]) == "a.job.json"
    assert inbox_mod.next_job(["engine.json", "x.job.json.taken"]) is None
    assert inbox_mod.taken_name("s1.job.json") == "s1.job.json.taken"
    assert inbox_mod.done_name("s1.job.json") == "s1.done.json"


def test_engine_record_and_cancel_requests(inbox_mod, tmp_path):
    busy = inbox_mod.engine_record(42, "5.5.0", "s1", "/in", 12.5)
    assert busy == {
        "pid": 42,
        "engine": "5.5.0",
        "state": "busy",
        "shot_id": "s1",
        "updated": 12.5,
        "inbox": "/in",
    }
    idle = inbox_mod.engine_record(42, "5.5.0", None, "/in", 13.0)
    assert (idle["state"], idle["shot_id"]) == ("idle", None)
    assert inbox_mod.parse_cancel('{"shot_id": "s1"}') == "s1"
    for text in ("{half", "[]", '{"shot": "s1"}', '{"shot_id": ""}', '{"shot_id": 3}', ""):
        assert inbox_mod.parse_cancel(text) is None, text
    assert inbox_mod.take_cancel(str(tmp_path)) == (False, None)
    (tmp_path / "cancel.json").write_text("{half")
    assert inbox_mod.take_cancel(str(tmp_path)) == (True, None)
    assert not (tmp_path / "cancel.json").exists()  # deleted whatever it said


def test_throttle_acts_at_most_every_half_second(inbox_mod):
    throttle = inbox_mod.Throttle()
    assert [throttle.due(t) for t in (10.0, 10.2, 10.49, 10.5, 10.9, 11.0, 11.6)] == [
        True,
        False,
        False,
        True,
        False,
        True,
        True,
    ]


def test_claim_renames_once(inbox_mod, tmp_path):
    (tmp_path / "s1.job.json").write_text("{}")
    assert inbox_mod.claim(str(tmp_path), "s1.job.json") == str(tmp_path / "s1.job.json.taken")
    assert inbox_mod.claim(str(tmp_path), "s1.job.json") is None  # another taker won
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s1.job.json.taken"]


def test_watcher_logs_errors_and_never_raises(inbox_mod, tmp_path):
    logged = []

    def start(path, done):
        raise RuntimeError("boom")

    (tmp_path / "s1.job.json").write_text("{}")
    watcher = inbox_mod.Watcher(
        str(tmp_path), "5.5", start, lambda: None, lambda s, r: None, logged.append, pid=7
    )
    watcher.tick(0.01)
    assert logged == ["AlphaMatte4K inbox: RuntimeError: boom"]
    watcher.inbox = str(tmp_path / "gone")
    watcher.clock = lambda: 1e9
    watcher.tick(0.01)
    assert "FileNotFoundError" in logged[-1]


def _inbox_job(tmp_path: Path, inbox: Path, name: str, shot_id: str) -> dict:
    job = make_job(tmp_path / shot_id)
    job["shot_id"] = shot_id
    (inbox / f"{name}.job.json").write_text(json.dumps(job))
    return job


def _engine(inbox: Path) -> dict:
    return json.loads((inbox / "engine.json").read_text())


def _start_editor(stub, inbox: Path):
    """init_unreal.py as the editor runs it, with -AM4KInbox on the command line."""
    stub.stub_set_command_line(f"/p/AlphaMatte4K.uproject -RenderOffScreen -AM4KInbox={inbox} -cvport=9000")
    return load_script("init_unreal")


def test_no_inbox_means_a_normal_editor_session(stub, monkeypatch):
    monkeypatch.delenv("AM4K_INBOX", raising=False)
    init = load_script("init_unreal")
    assert init.WATCHER is None and not stub.stub_ticks()
    monkeypatch.setenv("AM4K_INBOX", "relative/box")
    assert load_script("init_unreal").WATCHER is None and not stub.stub_ticks()
    assert any(c[0] == "log_error" and "absolute" in c[1][0] for c in stub.CALLS)


def test_inbox_watcher_takes_one_job_at_a_time(stub, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first = _inbox_job(tmp_path, inbox, "0001_s00012", "s00012")
    watcher = _start_editor(stub, inbox).WATCHER
    tick = stub.stub_ticks()[watcher.handle]
    clock, wall = [100.0], iter(range(1000, 2000))
    watcher.clock, watcher.wall = (lambda: clock[0]), (lambda: float(next(wall)))

    tick(0.016)
    assert sorted(p.name for p in inbox.iterdir()) == ["0001_s00012.job.json.taken", "engine.json"]
    assert _engine(inbox) == {
        "pid": os.getpid(),
        "engine": "5.5.0-stub",
        "state": "busy",
        "shot_id": "s00012",
        "updated": 1000.0,
        "inbox": str(inbox),
    }
    subsystem = stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem)
    assert subsystem.rendered[-1][1][0].get_editor_property("job_name") == "s00012_rgb"
    assert json.loads(Path(first["output"]["status"]).read_text())["state"] == "rendering"

    second = _inbox_job(tmp_path, inbox, "0002_s00013", "s00013")
    tick(0.016)  # within 0.5 s: nothing done
    assert _engine(inbox)["updated"] == 1000.0
    clock[0] += 0.5
    tick(0.016)  # busy: the second job waits
    assert (inbox / "0002_s00013.job.json").exists()
    assert (_engine(inbox)["shot_id"], _engine(inbox)["updated"]) == ("s00012", 1001.0)
    assert len(subsystem.rendered) == 1

    out = Path(first["output"]["dir"])
    for layer in ("rgb", "plate", "matte"):
        _finish_layer(stub, out / layer, 3)
    assert json.loads(Path(first["output"]["done"]).read_text())["state"] == "done"
    assert not (inbox / "0001_s00012.job.json.taken").exists()  # deleted once the record is written
    clock[0] += 0.5
    tick(0.016)
    assert (inbox / "0002_s00013.job.json.taken").exists()
    assert (_engine(inbox)["state"], _engine(inbox)["shot_id"]) == ("busy", "s00013")
    assert subsystem.rendered[-1][1][0].get_editor_property("job_name") == "s00013_rgb"
    assert json.loads(Path(second["output"]["status"]).read_text())["shot_id"] == "s00013"


def test_inbox_cancel_stops_the_running_shot(stub, tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"  # the watcher creates it
    monkeypatch.setenv("AM4K_INBOX", str(inbox))
    watcher = load_script("init_unreal").WATCHER  # from the environment: no -AM4KInbox
    watcher.throttle.interval = 0.0
    inbox.mkdir(exist_ok=True)
    job = _inbox_job(tmp_path, inbox, "s00012", "s00012")
    watcher.tick(0.016)
    executor = stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem).rendered[-1][0]

    (inbox / "cancel.json").write_text('{"shot_id": "s00099"}')  # not the running shot
    watcher.tick(0.016)
    assert not (inbox / "cancel.json").exists() and not executor.cancelled
    assert _engine(inbox)["state"] == "busy"

    (inbox / "cancel.json").write_text('{"shot_id": "s00012"}')
    watcher.tick(0.016)
    assert executor.cancelled and not (inbox / "cancel.json").exists()
    assert _engine(inbox)["shot_id"] == "s00012"  # until the executor has stopped
    assert not Path(job["output"]["done"]).exists()
    executor.on_executor_errored_delegate.broadcast(executor, None, False, "pipeline shut down")
    executor.on_executor_finished_delegate.broadcast(executor, False)
    _tick_chains(stub)
    done = json.loads(Path(job["output"]["done"]).read_text())
    assert (done["state"], done["reason"]) == ("error", "cancelled by the client")
    assert json.loads(Path(job["output"]["status"]).read_text())["state"] == "error"
    watcher.tick(0.016)
    assert (_engine(inbox)["state"], _engine(inbox)["shot_id"]) == ("idle", None)
    assert not stub.stub_ticks().keys() - {watcher.handle}  # the shot's heartbeat is gone
    assert not [a for a in stub._WORLD if isinstance(a, (stub.StubMetaHuman, stub.CineCameraActor))]
    assert not stub.EditorAssetLibrary.does_asset_exist(
        f"/Game/AlphaMatte4K/Sequences/{os.getpid()}/LS_s00012"
    )


def _cancel_running(stub, tmp_path: Path):
    """An editor watching an inbox, its shot s00012 running, then cancelled by the client:
    (inbox, job, watcher)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    job = _inbox_job(tmp_path, inbox, "s00012", "s00012")
    watcher = _start_editor(stub, inbox).WATCHER
    watcher.throttle.interval = 0.0
    watcher.tick(0.016)
    (inbox / "cancel.json").write_text('{"shot_id": "s00012"}')
    watcher.tick(0.016)
    return inbox, job, watcher


def test_inbox_cancel_ends_the_shot_when_the_executor_never_reports(stub, tmp_path, monkeypatch):
    inbox, job, watcher = _cancel_running(stub, tmp_path)
    assert not Path(job["output"]["done"]).exists()
    monkeypatch.setattr(importlib.import_module("amatte4k.queue"), "CANCEL_GRACE_S", 0.0)
    (chain_tick,) = [fn for handle, fn in stub.stub_ticks().items() if handle is not watcher.handle]
    chain_tick(0.016)
    assert not Path(job["output"]["done"]).exists()  # PIE still renders: the shot stays busy
    watcher.tick(0.016)
    assert _engine(inbox)["state"] == "busy"
    stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem).active = None  # PIE has closed
    chain_tick(0.016)
    assert json.loads(Path(job["output"]["done"]).read_text())["reason"] == "cancelled by the client"


def test_inbox_cancel_without_cancel_all_jobs_ends_at_once(stub, tmp_path, monkeypatch):
    monkeypatch.delattr(stub.MoviePipelineExecutorBase, "cancel_all_jobs")
    inbox, job, _ = _cancel_running(stub, tmp_path)
    assert json.loads(Path(job["output"]["done"]).read_text())["reason"] == "cancelled by the client"
    assert _engine(inbox)["state"] == "idle"


def test_inbox_unreadable_job_gets_its_own_error_record(stub, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "0003_bad.job.json").write_text("{not json")
    watcher = _start_editor(stub, inbox).WATCHER
    watcher.tick(0.016)
    done = json.loads((inbox / "0003_bad.done.json").read_text())
    assert done["state"] == "error" and done["reason"].startswith("JSONDecodeError")
    assert not (inbox / "0003_bad.job.json.taken").exists()  # deleted once its record is written
    assert _engine(inbox)["state"] == "idle"


def _inbox_engine(stub, tmp_path: Path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    watcher = _start_editor(stub, inbox).WATCHER
    watcher.throttle.interval = 0.0
    return inbox, watcher


def test_fallback_record_names_and_job_keys(inbox_mod):
    assert inbox_mod.fallback_done_path("/in/0001_s1.job.json.taken") == "/in/0001_s1.done.json"
    assert inbox_mod.fallback_done_path("/in/0001_s1.job.json") == "/in/0001_s1.done.json"
    assert inbox_mod.fallback_done_path("/jobs/job.json") == "/jobs/done.json"  # started by hand
    assert inbox_mod.expires_at({"expires_at": None}) is None and inbox_mod.expires_at({}) is None
    assert inbox_mod.is_expired({"expires_at": 99.5}, 100.0)
    assert not inbox_mod.is_expired({"expires_at": 100.5}, 100.0)
    assert not inbox_mod.is_expired({"expires_at": None}, 1e12)
    for bad in ("soon", True, [1]):
        with pytest.raises(ValueError, match="expires_at"):
            inbox_mod.expires_at({"expires_at": bad})
    assert inbox_mod.client_of({"client": {"host": "n1", "pid": 42}}) == "n1:42"
    assert inbox_mod.client_of({"client": "x"}) == ""


def test_inbox_expired_job_is_claimed_and_answered_not_rendered(stub, tmp_path):
    inbox, watcher = _inbox_engine(stub, tmp_path)
    job = _inbox_job(tmp_path, inbox, "0001_s00012", "s00012")
    job.update(expires_at=time.time() - 5.0, client={"host": "node7", "pid": 4242})
    (inbox / "0001_s00012.job.json").write_text(json.dumps(job))
    watcher.tick(0.016)
    done = json.loads((inbox / "0001_s00012.done.json").read_text())
    assert (done["shot_id"], done["state"], done["reason"]) == (
        "s00012",
        "error",
        "expired before it was taken",
    )
    assert sorted(done) == ["engine", "layers", "reason", "seconds", "shot_id", "state"]
    assert not (inbox / "0001_s00012.job.json.taken").exists()
    assert not Path(job["output"]["status"]).exists() and not Path(job["output"]["done"]).exists()
    assert not stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem).rendered
    assert _engine(inbox)["state"] == "idle"

    later = _inbox_job(tmp_path, inbox, "0002_s00013", "s00013")
    later.update(expires_at=time.time() + 600.0, client={"host": "node7", "pid": 4242})
    (inbox / "0002_s00013.job.json").write_text(json.dumps(later))
    watcher.tick(0.016)
    assert _engine(inbox)["shot_id"] == "s00013"
    assert any(c[0] == "log" and "node7:4242" in c[1][0] for c in stub.CALLS)


def test_unwritable_output_reports_through_the_inbox(stub, tmp_path):
    inbox, watcher = _inbox_engine(stub, tmp_path)
    job = _inbox_job(tmp_path, inbox, "0001_s00012", "s00012")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")  # fails for root too
    job["output"].update(status=str(blocked / "status.json"), done=str(blocked / "done.json"))
    (inbox / "0001_s00012.job.json").write_text(json.dumps(job))
    watcher.tick(0.016)
    done = json.loads((inbox / "0001_s00012.done.json").read_text())
    assert done["state"] == "error" and done["shot_id"] == "s00012"
    assert done["reason"].startswith(f"cannot write {blocked / 'status.json'}: ")
    assert "\n" not in done["reason"] and sorted(done) == [
        "engine",
        "layers",
        "reason",
        "seconds",
        "shot_id",
        "state",
    ]
    assert not (inbox / "0001_s00012.job.json.taken").exists()
    assert _engine(inbox)["state"] == "idle"
    assert not [a for a in stub._WORLD if isinstance(a, stub.StubMetaHuman)]


def test_unwritable_record_after_rendering_reports_through_the_inbox(stub, tmp_path):
    inbox, watcher = _inbox_engine(stub, tmp_path)
    job = _inbox_job(tmp_path, inbox, "0001_s00012", "s00012")
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    job["output"]["done"] = str(blocked / "done.json")
    (inbox / "0001_s00012.job.json").write_text(json.dumps(job))
    watcher.tick(0.016)
    out = Path(job["output"]["dir"])
    for layer in ("rgb", "plate", "matte"):
        _finish_layer(stub, out / layer, 3)
    assert json.loads(Path(job["output"]["status"]).read_text())["state"] == "done"
    done = json.loads((inbox / "0001_s00012.done.json").read_text())
    assert done["state"] == "error" and done["reason"].startswith(f"cannot write {blocked / 'done.json'}: ")
    assert done["layers"] == {"rgb": 3, "plate": 3, "matte": 3}
    assert not (inbox / "0001_s00012.job.json.taken").exists()


def test_a_layer_is_not_started_while_mrq_is_busy(stub, tmp_path):
    inbox, watcher = _inbox_engine(stub, tmp_path)
    job = _inbox_job(tmp_path, inbox, "0001_s00012", "s00012")
    _inbox_job(tmp_path, inbox, "0002_s00013", "s00013")
    subsystem = stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem)
    subsystem.active = stub.MoviePipelinePIEExecutor()  # someone else's render
    watcher.tick(0.016)
    done = json.loads(Path(job["output"]["done"]).read_text())
    assert (done["state"], done["reason"]) == ("error", "the movie render queue is still busy")
    assert not subsystem.rendered
    assert (_engine(inbox)["state"], _engine(inbox)["shot_id"]) == ("busy", "s00012")  # stuck
    watcher.tick(0.016)
    assert (inbox / "0002_s00013.job.json").exists()  # no new job while MRQ is busy
    subsystem.active = None
    _tick_chains(stub)
    watcher.tick(0.016)
    assert (_engine(inbox)["state"], _engine(inbox)["shot_id"]) == ("busy", "s00013")
    assert not [a for a in stub._WORLD if a.get_actor_label().endswith("_s00012")]


def test_next_layer_waits_for_mrq_to_release_the_last_one(stub, tmp_path):
    inbox, watcher = _inbox_engine(stub, tmp_path)
    job = _inbox_job(tmp_path, inbox, "0001_s00012", "s00012")
    watcher.tick(0.016)
    subsystem = stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem)
    executor = subsystem.rendered[-1][0]
    (chain,) = _chains()
    seen = []
    executor.on_executor_finished_delegate.callables.insert(
        1, lambda e, ok: seen.append((subsystem.is_rendering(), len(subsystem.rendered)))
    )
    _finish_layer(stub, Path(job["output"]["dir"]) / "rgb", 3)
    assert seen == [(True, 1)]  # in the delegate MRQ still holds the executor: nothing started
    assert len(subsystem.rendered) == 2 and chain.current.name == "plate"  # started on the tick


def test_cancel_keeps_the_engine_busy_while_pie_renders_then_reports_stuck(stub, tmp_path):
    queue = importlib.import_module("amatte4k.queue")
    inbox, watcher = _inbox_engine(stub, tmp_path)
    job = _inbox_job(tmp_path, inbox, "0001_s00012", "s00012")
    watcher.tick(0.016)
    _inbox_job(tmp_path, inbox, "0002_s00013", "s00013")
    (inbox / "cancel.json").write_text('{"shot_id": "s00012"}')
    watcher.tick(0.016)
    _tick_chains(stub, queue.CANCEL_GRACE_S + 1.0)  # the grace is over, PIE still runs
    watcher.tick(0.016)
    assert not Path(job["output"]["done"]).exists()
    assert (_engine(inbox)["state"], _engine(inbox)["shot_id"]) == ("busy", "s00012")
    _tick_chains(stub, queue.STOP_CAP_S)
    watcher.tick(0.016)
    done = json.loads(Path(job["output"]["done"]).read_text())
    assert done["state"] == "error"
    assert done["reason"] == (
        "cancelled by the client; the movie render queue is still rendering 300 s after the shot stopped"
    )
    assert (_engine(inbox)["state"], _engine(inbox)["shot_id"]) == ("busy", "s00012")  # stuck
    assert (inbox / "0002_s00013.job.json").exists()  # no new job is claimed
    assert not (inbox / "0001_s00012.job.json.taken").exists()  # its record is written
    stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem).active = None  # PIE closes at last
    _tick_chains(stub)
    assert json.loads(Path(job["output"]["done"]).read_text()) == done  # written once
    watcher.tick(0.016)
    assert _engine(inbox)["shot_id"] == "s00013"
    assert not [a for a in stub._WORLD if a.get_actor_label().endswith("_s00012")]


def test_watchdog_cancels_a_layer_that_writes_no_frame(stub, tmp_path):
    inbox, watcher = _inbox_engine(stub, tmp_path)
    job = _inbox_job(tmp_path, inbox, "0001_s00012", "s00012")
    job["render"]["layer_stall_seconds"] = 5
    (inbox / "0001_s00012.job.json").write_text(json.dumps(job))
    watcher.tick(0.016)
    executor = stub.get_editor_subsystem(stub.MoviePipelineQueueSubsystem).rendered[-1][0]
    rgb = Path(job["output"]["dir"]) / "rgb"
    status_path = Path(job["output"]["status"])
    _tick_chains(stub, 3.0)  # heartbeat, no frame yet, not stalled
    assert json.loads(status_path.read_text())["frames_done"] == 0 and not executor.cancelled
    rgb.mkdir(parents=True, exist_ok=True)
    (rgb / "frame_0000.exr").write_bytes(b"exr")
    _tick_chains(stub, 3.0)  # 6 s in, but a frame came: the stall clock restarts
    assert json.loads(status_path.read_text())["frames_done"] == 1 and not executor.cancelled
    _tick_chains(stub, 3.0)
    assert not executor.cancelled
    _tick_chains(stub, 3.0)  # 6 s without a new frame
    assert executor.cancelled
    executor.on_executor_finished_delegate.broadcast(executor, False)
    _tick_chains(stub)
    done = json.loads(Path(job["output"]["done"]).read_text())
    assert done["reason"] == "no frame written for 5 s (layer rgb, 1/3 frames)"
    assert _engine(inbox)["state"] == "busy"  # the watcher writes engine.json on its next tick
    watcher.tick(0.016)
    assert _engine(inbox)["state"] == "idle"


def test_plan_layer_stall_seconds(plan_mod, tmp_path):
    assert plan_mod.build_plan(make_job(tmp_path)).layer_stall_s == 900.0
    assert plan_mod.build_plan(make_job(tmp_path, layer_stall_seconds=None)).layer_stall_s == 900.0
    assert plan_mod.build_plan(make_job(tmp_path, layer_stall_seconds=60)).layer_stall_s == 60.0
    with pytest.raises(plan_mod.JobError, match="layer_stall_seconds"):
        plan_mod.build_plan(make_job(tmp_path, layer_stall_seconds=0))
    assert plan_mod.build_plan(make_job(tmp_path), owner="4242").sequence_path == (
        "/Game/AlphaMatte4K/Sequences/4242/LS_s00012"
    )


# ---------------------------------------------------------------- (6) retargeting


@pytest.fixture
def retarget(ue):
    return load_script("retarget_mixamo")


@pytest.mark.parametrize(
    "names, has_inputs, expected",
    [
        (
            {"duplicate_and_retarget"},
            False,
            ["duplicate_and_retarget_57", "duplicate_and_retarget_53"],
        ),  # 5.3
        ({"duplicate_and_retarget"}, True, ["duplicate_and_retarget_57", "duplicate_and_retarget_53"]),  # 5.7
        (
            {"duplicate_and_retarget", "run_batch_retarget"},
            True,
            ["run_batch_retarget", "duplicate_and_retarget_57", "duplicate_and_retarget_53"],
        ),  # newest
        ({"run_batch_retarget"}, True, ["run_batch_retarget"]),
        (set(), False, []),
    ],
)
def test_batch_retarget_variant_chooser(retarget, names, has_inputs, expected):
    assert retarget.choose_batch_variants(names, has_inputs) == expected


def test_batch_retarget_falls_back_on_type_error(stub, retarget, monkeypatch):
    calls = []

    def old_signature(
        assets, src, tgt, rtg, search="", replace="", prefix="", suffix="", remap_referenced_assets=True
    ):
        calls.append(remap_referenced_assets)
        return ["new"]

    monkeypatch.delattr(stub.IKRetargetBatchOperation, "run_batch_retarget")
    monkeypatch.setattr(stub.IKRetargetBatchOperation, "duplicate_and_retarget", staticmethod(old_signature))
    assert retarget.batch_retarget(["a"], None, None, None) == ["new"] and calls == [False]


def test_clip_map_json_and_yaml(retarget):
    assert retarget.parse_clip_map('{"jump_forward": "Jumping.fbx"}', yaml_like=False) == {
        "jump_forward": "Jumping.fbx"
    }
    text = "# clips\njump_forward: Jumping.fbx\nwave: 'Waving.fbx'  # hello\n"
    assert retarget.parse_clip_map(text, yaml_like=True) == {
        "jump_forward": "Jumping.fbx",
        "wave": "Waving.fbx",
    }
    with pytest.raises(ValueError, match="line 1"):
        retarget.parse_clip_map("- Jumping.fbx", yaml_like=True)
    assert retarget.clip_of_output("jump_forward_MH") == "jump_forward"


def test_retarget_folder_names_assets_after_clip_ids(stub, retarget, tmp_path):
    (tmp_path / "clips.json").write_text(json.dumps({"wave": "Waving.fbx", "jump_forward": "Jumping.fbx"}))
    done = retarget.retarget_folder(str(tmp_path), "/Game/AlphaMatte4K/Anim")
    assert done == {
        "jump_forward": "/Game/AlphaMatte4K/Anim/jump_forward",
        "wave": "/Game/AlphaMatte4K/Anim/wave",
    }
    forced = [c for c in stub.CALLS if c[0] == "AnimationLibrary.set_is_root_motion_lock_forced"]
    assert len(forced) == 2 and all(c[1][1] is True for c in forced)
    assert any(c[0] == "IKRetargetBatchOperation.run_batch_retarget" for c in stub.CALLS)


# ---------------------------------------------------------------- (7) project files


def test_uproject_lists_the_plugins():
    project = json.loads((PROJECT / "AlphaMatte4K.uproject").read_text())
    assert project["EngineAssociation"] == "5.5"
    enabled = {p["Name"] for p in project["Plugins"] if p["Enabled"]}
    assert {
        "UnrealCV",
        "PythonScriptPlugin",
        "EditorScriptingUtilities",
        "SequencerScripting",
        "MovieRenderPipeline",
        "MoviePipelineMaskRenderPass",
        "HairStrands",
        "RigLogic",
        "IKRig",
    } <= enabled


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=(";",))
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


def test_ini_files_parse():
    engine = _ini(PROJECT / "Config" / "DefaultEngine.ini")
    assert engine["/Script/Engine.RendererSettings"]["r.PostProcessing.PropagateAlpha"] == "True"
    assert engine["/Script/PythonScriptPlugin.PythonScriptPluginSettings"]["bRemoteExecution"] == "True"
    assert _ini(PROJECT / "Config" / "DefaultGame.ini")["/Script/EngineSettings.GeneralProjectSettings"]
    template = (PROJECT / "unrealcv.ini.template").read_text().replace("{port}", "9012")
    core = configparser.ConfigParser(strict=False, comment_prefixes=(";",))
    core.optionxform = str
    core.read_string(template)
    assert core["UnrealCV.Core"]["Port"] == "9012" and core["UnrealCV.Core"]["EnableInput"] == "False"
