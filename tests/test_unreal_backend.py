"""The Unreal backend against a fake engine (tests/unreal_fake.py) that speaks UnrealCV's wire
format and writes frames as Movie Render Queue would: jobs, coordinates, frame checks, every
failure an engine can have, launching and restarting engines, the launcher's one-line errors,
and a whole tiny plan rendered into shards that the audit and webdataset read.

No Unreal Engine runs here (none can on these machines): what needs one is listed in
docs/unreal.md."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from render.backends.base import RenderSettings
from render.backends.unreal import ShotFailed, UnrealRenderer, frames, job
from render.catalog import load_clips, load_metahumans, load_scenes
from render.config import UnrealConfig, load_config
from render.plan import plan_shots
from render.shot import consistent_frame
from render.timeline import frame_states
from tests.cli_helpers import run_audit
from tests.conftest import TINY
from tests.unreal_fake import EngineFaults, FakeUnreal, _sequence_plan

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plan():
    cfg = load_config(None, dict(TINY, frames=4, backend="unreal"))
    scenes = {s["name"]: s for s in load_scenes(cfg.scene_catalog_path())}
    clips = load_clips(cfg.clip_catalog_path())
    shots = plan_shots(cfg, list(scenes)[: cfg.scenes], clips)
    return cfg, scenes, clips, shots


def settings_of(cfg) -> RenderSettings:
    return RenderSettings.from_config(cfg)


def renderer(srv: FakeUnreal, **kw) -> UnrealRenderer:
    """A renderer attached to ``srv`` (its UnrealCV port and its inbox)."""
    opts = {
        "endpoint": srv.endpoint,
        "inbox": srv.inbox,
        "poll_seconds": 0.05,
        "request_timeout": 2.0,
        "connect_timeout": 5.0,
        **kw,
    }
    return UnrealRenderer(opts)


@pytest.fixture
def box(tmp_path) -> str:
    path = tmp_path / "inbox"
    path.mkdir()
    return str(path)


# -- coordinates and the job ----------------------------------------------------------------


def test_points_and_rotations_map_to_unreal_axes():
    assert job.to_ue((1.0, 2.0, 0.5)) == [100.0, -200.0, 50.0]
    rng = np.random.default_rng(0)
    for _ in range(50):
        f = rng.normal(size=3)
        f /= np.linalg.norm(f)
        up = np.cross(np.cross(f, [0, 0, 1.0]), f)
        up /= np.linalg.norm(up)
        tilt = rng.uniform(-0.3, 0.3)  # some roll too
        side = np.cross(f, up)
        up = math.cos(tilt) * up + math.sin(tilt) * side
        x, _, z = job.axes(job.rotator(f, up))
        assert np.allclose(x, [f[0], -f[1], f[2]], atol=1e-6)
        assert np.allclose(z, [up[0], -up[1], up[2]], atol=1e-6)
    # A character at heading h faces (sin h, -cos h, 0): the actor's +x there, mirrored.
    for h in (0.0, 30.0, -120.0, 179.0):
        x, _, _ = job.axes({"roll": 0.0, "pitch": 0.0, "yaw": job.actor_yaw(h)})
        r = math.radians(h)
        assert np.allclose(x, [math.sin(r), math.cos(r), 0.0], atol=1e-6)
    assert job.sensor_mm(2160, 3840) == [20.25, 36.0]


def test_the_job_keys_every_frame_from_the_plan(plan, tmp_path):
    cfg, scenes, clips, shots = plan
    shot = shots[0]
    clip = clips[shot.animation.clip]
    metahumans = load_metahumans(UnrealConfig().metahumans_path())
    spec = job.build(shot, scenes[shot.scene], clip, settings_of(cfg), cfg.unreal, metahumans, tmp_path)
    n = shot.frame_count
    states = frame_states(shot, clip)
    assert [k["frame"] for k in spec["camera"]["keys"]] == list(range(-1, n + 1))
    assert [k["frame"] for k in spec["character_keys"]] == list(range(-1, n + 1))
    for key, state in zip(spec["camera"]["keys"], states, strict=True):
        assert key["location_cm"] == job.to_ue(state.cam_to_world[:3, 3])
        x, _, _ = job.axes(key["rotation"])
        fwd = -state.cam_to_world[:3, 2]
        assert np.allclose(x, [fwd[0], -fwd[1], fwd[2]], atol=1e-5)
        head = np.array(state.root) + [0, 0, shot.character.traits["stature"] - job.FOCUS_BELOW_TOP]
        assert abs(key["focus_cm"] / 100 - (head - state.cam_to_world[:3, 3]) @ fwd) < 0.3
    for key, state in zip(spec["character_keys"], states, strict=True):
        assert key["location_cm"][:2] == job.to_ue(state.root)[:2] and key["location_cm"][2] == 0.0
    assert spec["map"] == scenes[shot.scene]["ue_map"] and spec["animation"]["asset"] == clip["ue_anim"]
    assert spec["character"]["blueprint"] == metahumans[shot.character.id]
    assert spec["render"]["layers"] == ["rgb", "matte", "plate"]
    assert spec["output"]["dir"] == str(tmp_path.resolve() / "mrq")
    assert job.layers(("rgb", "alpha")) == ["rgb", "matte"]
    # The UE-side planner (unreal_project/Content/Python/amatte4k) takes every job we make.
    ue = _sequence_plan()
    for sh in shots:
        for dof in (True, False):
            st = dataclasses.replace(settings_of(cfg), depth_of_field=dof)
            made = ue.build_plan(
                job.build(
                    sh, scenes[sh.scene], clips[sh.animation.clip], st, cfg.unreal, metahumans, tmp_path
                )
            )
            assert made.frames == sh.frame_count and made.depth_of_field is (dof and sh.camera.fstop > 0)
            assert [k.frame for k in made.camera_keys][-sh.frame_count - 2 :] == list(
                range(-1, sh.frame_count + 1)
            )
    with pytest.raises(job.JobError, match="scene 'x' has no ue_map"):
        job.asset_paths({"name": "x"}, "idle", {"ue_anim": "/Game/A"}, "char00", metahumans)
    with pytest.raises(job.JobError, match="identity 'char99' has no MetaHuman"):
        job.asset_paths(
            {"name": "x", "ue_map": "/Game/M"}, "idle", {"ue_anim": "/Game/A"}, "char99", metahumans
        )


def test_every_catalog_id_has_its_unreal_asset():
    scenes = load_scenes(REPO / "scenes" / "catalog.yaml")
    clips = load_clips(REPO / "animations" / "clips.yaml")
    people = load_metahumans(REPO / "render" / "people" / "metahumans.yaml")
    assert len({s["ue_map"] for s in scenes}) == len(scenes) == 22
    assert len({c["ue_anim"] for c in clips.values()}) == len(clips)
    assert sorted(people) == [f"char{i:02d}" for i in range(48)]
    assert all(s["ue_map"].endswith("/" + s["name"]) for s in scenes)


# -- a shot through the fake engine -----------------------------------------------------------


def test_a_shot_renders_through_the_engine_and_reads_back(plan, tmp_path, box):
    cfg, scenes, clips, shots = plan
    shot = shots[0]
    with FakeUnreal(inbox=box) as srv:
        r = renderer(srv)
        seen = []
        files = r.render_shot(
            shot,
            scenes[shot.scene],
            clips[shot.animation.clip],
            settings_of(cfg),
            tmp_path / "w",
            seen.append,
        )
    assert len(files) == shot.frame_count and seen == list(range(shot.frame_count))
    # Claimed, rendered, recorded: the engine removed the claimed job; nothing waits.
    assert list(Path(box).glob("*.job.json*")) == [] and len(srv.jobs) == 1
    assert srv.jobs[0]["shot_id"] == shot.shot_id and srv.jobs[0]["frames"] == shot.frame_count
    assert not [c for c in srv.requests if c.startswith("vrun")]  # no console command in the editor
    # Attached, the engine writes into the shared inbox (it need not see this worker's disk).
    assert Path(srv.jobs[0]["output"]["dir"]).is_relative_to(box)
    assert [layer.name for layer in srv.plans[0].layers] == ["rgb", "plate", "matte"]
    w, h = shot.resolution
    p = r.read_frame(files[1], cfg.passes)
    assert p.rgb.shape == p.fg.shape == p.bg.shape == (h, w, 3) and p.alpha.shape == (h, w)
    frac = (p.alpha > 0) & (p.alpha < 1)
    assert frac.any() and (p.alpha == 0).any() and (p.alpha == 1).any()
    shipped, figures = consistent_frame(p)
    assert figures["direct_residual_fractional"] < 2e-3  # I = αF + (1-α)B, in half floats
    assert r.describe(settings_of(cfg))["engine"].startswith("Unreal Engine 5.5")
    assert len(r.last_frame_info) == shot.frame_count and "exposure_ev" in r.last_frame_info[0]
    r.close()  # attached: the shot's folder in the shared inbox goes
    assert not (Path(box) / "work" / shot.shot_id).exists()


@pytest.mark.parametrize(
    "fault, expect",
    [
        (
            EngineFaults(stall_after=2),
            "no heartbeat from the engine for 1 s (rendering, layer rgb, 2/12 frames)",
        ),
        (EngineFaults(error="LevelSequence failed to load"), "the engine failed the shot: LevelSequence"),
        (EngineFaults(bad="missing"), "plate: 3 frames written, 4 planned (missing frame_0003.exr)"),
        (EngineFaults(bad="resolution"), "64x110 pixels, planned 64x112"),
        (EngineFaults(bad="channels"), "matte/frame_0000.exr: no channel A"),
        (EngineFaults(frame_seconds=0.25), "the shot's deadline of 2 s passed"),
        (EngineFaults(crash_after=3), "the connection closed mid-shot"),
        (EngineFaults(frozen_after=5), "no frame written for"),
        (EngineFaults(unwritable=True), "the engine failed the shot: cannot write /proc/am4k/status.json"),
    ],
    ids=["stall", "error", "missing", "resolution", "channels", "deadline", "crash", "frozen", "unwritable"],
)
def test_an_engine_failure_fails_the_shot_with_its_reason_and_the_next_shot_renders(
    plan, tmp_path, box, fault, expect
):
    cfg, scenes, clips, shots = plan
    shot = shots[0]
    args = (scenes[shot.scene], clips[shot.animation.clip], settings_of(cfg))
    with FakeUnreal(inbox=box, engine=fault) as srv:
        r = renderer(srv, stall_timeout=1.0, layer_stall_seconds=0.5)
        r.deadline = (2.0 / 0.95, 0.0) if fault.frame_seconds else (0.0, 0.0)
        t = time.monotonic()
        with pytest.raises(ShotFailed) as err:
            r.render_shot(shot, *args, tmp_path / "a")
        assert expect in str(err.value) and "\n" not in str(err.value)
        assert time.monotonic() - t < 6.0  # never past its stall timeout / deadline by much
        if fault.frame_seconds or fault.frozen_after:  # the client asked the engine to stop the shot
            done = Path(srv.jobs[0]["output"]["done"])
            assert (
                _wait_for(done.exists) and json.loads(done.read_text())["reason"] == "cancelled by the client"
            )
        if fault.crash_after is not None or fault.stall_after is not None:
            srv.restart()  # the operator restarts the engine on the same port
        srv.engine = EngineFaults()
        r.deadline = (0.0, 0.0)
        files = r.render_shot(shot, *args, tmp_path / "b")
        assert len(files) == shot.frame_count
        r.close()


def _wait_for(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_job_the_engine_never_takes_is_withdrawn(plan, tmp_path, box):
    """An attached engine still busy with something else: the shot fails after the stall
    timeout, naming what the engine is doing, and its job leaves the inbox (it must not be
    rendered later, after another attempt has started)."""
    cfg, scenes, clips, shots = plan
    shot = shots[0]
    with FakeUnreal(inbox=box) as srv:
        srv.busy = "shot_of_someone_else"
        r = renderer(srv, stall_timeout=1.0)
        with pytest.raises(
            ShotFailed, match="the job was not taken; the engine is busy with shot shot_of_someone_else"
        ):
            r.render_shot(
                shot, scenes[shot.scene], clips[shot.animation.clip], settings_of(cfg), tmp_path / "w"
            )
        assert list(Path(box).glob("*.job.json*")) == [] and srv.jobs == []
        r.close()


def test_an_engine_of_another_version_is_refused(plan, tmp_path, box):
    cfg, scenes, clips, shots = plan
    shot = shots[0]
    with FakeUnreal(inbox=box) as srv:
        r = renderer(srv, engine_version="5.4")
        with pytest.raises(ShotFailed, match=r"reports Unreal Engine 5\.5\.1.*made with 5\.4"):
            r.render_shot(
                shot, scenes[shot.scene], clips[shot.animation.clip], settings_of(cfg), tmp_path / "w"
            )
        assert srv.jobs == []
        r.close()


@pytest.mark.parametrize(
    "bad, expect", [("nan", "non-finite RGB"), ("alpha_range", r"alpha outside \[0, 1\] \(0 \.\. 1\.5\)")]
)
def test_bad_values_are_caught_when_the_frame_is_read(plan, tmp_path, box, bad, expect):
    cfg, scenes, clips, shots = plan
    shot = shots[0]
    with FakeUnreal(inbox=box, engine=EngineFaults(bad=bad)) as srv:
        r = renderer(srv)
        files = r.render_shot(
            shot, scenes[shot.scene], clips[shot.animation.clip], settings_of(cfg), tmp_path
        )
    with pytest.raises(frames.FrameError, match=expect):
        r.read_frame(files[0], cfg.passes)
    r.close()


# -- engines this backend launches and owns ---------------------------------------------------


@pytest.fixture
def fake_binary(tmp_path) -> Path:
    """An executable that starts like UnrealEditor (project, flags, -cvport=N) and runs the fake."""
    exe = tmp_path / "UnrealEditor"
    exe.write_text(f'#!/bin/sh\ncd "{REPO}" && exec "{sys.executable}" -m tests.unreal_fake "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_launched_engines_get_their_own_port_and_restart(plan, tmp_path, fake_binary, monkeypatch):
    cfg, scenes, clips, shots = plan
    shot = shots[0]
    args = (scenes[shot.scene], clips[shot.animation.clip], settings_of(cfg))
    monkeypatch.setenv("FAKE_UE_START_DELAY", "0.5")  # the engine listens only after a while
    monkeypatch.setenv("FAKE_UE_EDITOR_DELAY", "0.5")  # and its Python runs later still
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    r = UnrealRenderer(
        {
            "engine": str(fake_binary),
            "restart_after": 2,
            "poll_seconds": 0.05,
            "connect_timeout": 30.0,
            "port": 19300,
        }
    )
    try:
        r.render_shot(shot, *args, tmp_path / "w" / "s0")
        first = r.engine.proc.pid
        assert "-graphicsadapter=3" in r.engine.argv and "-cvport=19303" in r.engine.argv  # base + GPU
        assert f"-AM4KInbox={r.inbox}" in r.engine.argv and r.inbox.is_relative_to(tmp_path / "w")
        assert r.engine.argv[1] == str(REPO / "unreal_project" / "AlphaMatte4K.uproject")
        r.render_shot(shot, *args, tmp_path / "w" / "s1")
        assert r.engine.proc.pid == first
        r.render_shot(shot, *args, tmp_path / "w" / "s2")  # after restart_after shots: a new engine
        second = r.engine.proc.pid
        assert second != first and _gone(first)
        os.kill(second, 9)  # the engine dies between shots: the next shot starts another
        r.render_shot(shot, *args, tmp_path / "w" / "s3")
        assert r.engine.proc.pid not in (first, second)
        assert list((tmp_path / "w").glob("engine-*.log"))
    finally:
        last = r.engine.proc.pid if r.engine else None
        r.close()
    assert last is not None and _gone(last)


def test_an_engine_that_exits_while_starting_is_a_clear_failure(plan, tmp_path):
    cfg, scenes, clips, shots = plan
    shot = shots[0]
    exe = tmp_path / "UnrealEditor"
    exe.write_text("#!/bin/sh\necho 'LogInit: Error: GPU not found' ; exit 3\n")
    exe.chmod(0o755)
    r = UnrealRenderer({"engine": str(exe), "poll_seconds": 0.05, "connect_timeout": 20.0})
    with pytest.raises(ShotFailed, match="engine exited with code 3; log: LogInit: Error: GPU not found"):
        r.render_shot(
            shot, scenes[shot.scene], clips[shot.animation.clip], settings_of(cfg), tmp_path / "w" / "s"
        )


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie of ours counts as gone
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


# -- the launcher -----------------------------------------------------------------------------


def _launch(args, tmp_path):
    from click.testing import CliRunner

    from render.launch import main

    return CliRunner().invoke(main, args, catch_exceptions=False)


def tiny_yaml(tmp_path, **extra) -> Path:
    cfg = dict(TINY, frames=3, out=str(tmp_path / "data"), manifests=str(tmp_path / "manifests"), **extra)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(
    "unreal, expect",
    [
        ({}, "give --unreal-endpoint HOST:PORT (a running engine) or unreal.engine"),
        ({"engine": "/nonexistent/UnrealEditor"}, "unreal.engine /nonexistent/UnrealEditor: no such file"),
        ({"engine": "NOTEXEC"}, "not executable"),
        ({"engine": "EXE", "project": "/nonexistent/P.uproject"}, "no such .uproject file"),
        ({"engine": "EXE", "project": "EMPTY"}, "lacks Content/Python/init_unreal.py"),
        ({"endpoint": "127.0.0.1:CLOSED", "inbox": "BOX"}, "nothing answers"),
        ({"endpoint": "127.0.0.1:CLOSED"}, "give unreal.inbox too"),
        ({"endpoint": "nonsense"}, "expected HOST:PORT"),
        ({"metahumans": "SHORT", "engine": "EXE"}, "identity 'char00' has no MetaHuman"),
    ],
    ids=[
        "nothing",
        "missing-binary",
        "not-executable",
        "missing-project",
        "no-scripts",
        "refused",
        "no-inbox",
        "bad",
        "catalog",
    ],
)
def test_bad_unreal_input_is_one_line_before_anything_is_written(tmp_path, unreal, expect):
    import socket

    exe = tmp_path / "UnrealEditor"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    notexec = tmp_path / "notexec"
    notexec.write_text("")
    empty = tmp_path / "p" / "P.uproject"
    empty.parent.mkdir()
    empty.write_text("{}")
    short = tmp_path / "mh.yaml"
    short.write_text("metahumans:\n  char47: /Game/MetaHumans/X/BP_X\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    swap = {
        "EXE": str(exe),
        "NOTEXEC": str(notexec),
        "EMPTY": str(empty),
        "SHORT": str(short),
        "BOX": str(tmp_path),
    }
    u = {k: swap.get(v, v.replace("CLOSED", str(closed))) for k, v in unreal.items()}
    r = _launch(["--config", str(tiny_yaml(tmp_path, backend="unreal", unreal=u)), "--quiet"], tmp_path)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert expect in lines[0]
    assert not (tmp_path / "manifests").exists() and not (tmp_path / "data").exists()


def test_a_wrong_protocol_endpoint_is_named(tmp_path):
    import socket
    import threading

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(2)

    def serve():
        try:
            conn, _ = lsock.accept()
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            time.sleep(0.3)
            conn.close()
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    port = lsock.getsockname()[1]
    r = _launch(
        [
            "--config",
            str(tiny_yaml(tmp_path, unreal={"inbox": str(tmp_path)})),
            "--backend",
            "unreal",
            "--unreal-endpoint",
            f"127.0.0.1:{port}",
        ],
        tmp_path,
    )
    lsock.close()
    assert r.exit_code == 2 and "does not speak UnrealCV" in r.output, r.output


@pytest.mark.slow
def test_a_tiny_plan_through_the_fake_engine_reads_like_a_blender_dataset(tmp_path):
    """``render.launch --backend unreal --unreal-endpoint`` on Ray: shards with rgb, alpha, fg,
    bg and metadata that webdataset reads and the audit passes; re-running resumes."""
    import webdataset as wds

    from render import exrio
    from render.manifest import load_dataset

    box = tmp_path / "inbox"
    box.mkdir()
    with FakeUnreal(inbox=str(box)) as srv:
        config = tiny_yaml(tmp_path, unreal={"poll_seconds": 0.1, "inbox": str(box)})
        args = ["--config", str(config), "--backend", "unreal", "--unreal-endpoint", srv.endpoint, "--quiet"]
        r = _launch(args, tmp_path)
        assert r.exit_code == 0, r.output
        assert len(srv.jobs) == 3
        again = _launch(args, tmp_path)
        assert again.exit_code == 0 and "3 already done, 0 to render" in again.output
        assert len(srv.jobs) == 3
    manifests = tmp_path / "manifests"
    ds = load_dataset(manifests)
    assert ds.index["completed_shots"] == 3
    saved = yaml.safe_load((manifests / "config.yaml").read_text())
    assert saved["backend"] == "unreal" and "metahumans" in saved["identity"]
    n = 0
    for sample in wds.WebDataset([s["path"] for s in ds.shards], shardshuffle=False):
        meta = json.loads(sample["json"])
        assert meta["render"]["backend"] == "unreal" and meta["render"]["temporal_samples"] == 8
        alpha = exrio.decode_alpha(sample["alpha.exr"])
        fg, fg_alpha = exrio.decode_fg(sample["fg.exr"])
        assert alpha.shape == (112, 64) and np.array_equal(fg_alpha, alpha)
        assert exrio.decode_rgb(sample["bg.exr"]).shape == (112, 64, 3)
        n += 1
    assert n == 9
    code, summary, _ = run_audit(manifests, "--deep")
    assert code == 0, summary["problem_list"]
    assert summary["verdict"] == "clean" and summary["counts"]["frames_decoded"] == 9


def test_workers_attach_to_one_engine_or_take_a_gpu_each():
    from render.orchestrate import ClusterError, _engine_shape, backend_options

    cfg = load_config(None, {"backend": "unreal", "workers": 4, "unreal": {"endpoint": "10.0.0.2:9000"}})
    attached, gpus = _engine_shape(cfg, 1, True)
    assert attached.workers == 1 and gpus == 0  # one engine, one client at a time
    owned = load_config(None, {"backend": "unreal", "unreal": {"engine": "/opt/UE/UnrealEditor"}})
    assert _engine_shape(owned, 0, True) == (owned, 1)
    with pytest.raises(ClusterError, match="one engine per GPU"):
        _engine_shape(owned, 0, False)
    opts = backend_options(owned)
    assert opts["unreal"]["engine"] == "/opt/UE/UnrealEditor" and opts["deadline"] == [600.0, 3600.0]
    # A worker on a node without the engine does not start (the orchestrator names why).
    with pytest.raises(
        RuntimeError, match="unreal.engine /opt/UE/UnrealEditor: not an executable file on this node"
    ):
        UnrealRenderer(opts["unreal"], tuple(opts["deadline"]))
    with pytest.raises(RuntimeError, match="unreal.endpoint needs unreal.inbox"):
        UnrealRenderer(backend_options(attached)["unreal"])
    blender = load_config()
    assert backend_options(blender) is None and _engine_shape(blender, 1, True) == (blender, 1)


def test_an_endpoint_whose_engine_does_not_see_the_inbox_is_refused(tmp_path):
    """The engine answers, but nothing beats in the inbox the client was given (another folder,
    or storage the engine does not share): refused before anything is written."""
    elsewhere = tmp_path / "not_the_engines"
    elsewhere.mkdir()
    with FakeUnreal(inbox=str(tmp_path / "engines")) as srv:
        (tmp_path / "engines").mkdir(exist_ok=True)
        config = tiny_yaml(tmp_path, unreal={"inbox": str(elsewhere), "stall_timeout": 3})
        r = _launch(
            ["--config", str(config), "--backend", "unreal", "--unreal-endpoint", srv.endpoint], tmp_path
        )
    assert r.exit_code == 2 and "no engine heartbeat there within 3 s" in r.output, r.output
    assert not (tmp_path / "manifests").exists()


def test_a_captured_clip_faces_the_way_the_blender_shot_does(plan):
    """The clip asset is baked from the clip's time 0 at heading 0; the job's actor yaw turns it
    so the hips face, at every frame, as the Blender backend poses them."""
    from render.motion import library, play
    from render.motion.retarget import alignments
    from render.motion.rig import estimate

    _, scenes, clips, _ = plan
    shots = plan_shots(load_config(None, {"cams": 60}), list(scenes), clips)

    def rz(a: float) -> np.ndarray:
        return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])

    checked, turned = 0, 0
    for shot in shots:
        clip = clips[shot.animation.clip]
        if clip.get("source", "procedural") == "procedural":
            continue
        m = library.motion(clip)
        align = alignments(m, estimate(shot.character.traits["stature"]).dirs)
        t = shot.animation.start + np.arange(0, shot.frame_count, 7) / shot.fps * shot.animation.speed
        shot_hips = play.hips_rotation(m, t, shot.animation.start, align)  # the shot's frame
        asset_hips = play.hips_rotation(m, t, 0.0, align)  # as baked
        yaw = job.character_yaw(shot, clip)
        assert np.allclose(
            rz(math.radians(shot.animation.heading_deg)) @ shot_hips,
            rz(math.radians(yaw)) @ asset_hips,
            atol=1e-9,
        )
        checked += 1
        turned += abs(yaw - shot.animation.heading_deg) > 30  # the clip's own facing turned
    assert checked >= 10 and turned >= 1, (checked, turned)


def test_a_job_left_behind_by_a_dead_worker_expires_instead_of_rendering(plan, tmp_path, box):
    """A worker killed while its job waited cannot withdraw it: the job carries its expiry, and
    the engine records it as expired instead of rendering it for nobody."""
    cfg, scenes, clips, shots = plan
    shot = shots[0]
    from render.backends.unreal import inbox
    from render.backends.unreal.job import build
    from render.catalog import load_metahumans

    spec = build(
        shot,
        scenes[shot.scene],
        clips[shot.animation.clip],
        settings_of(cfg),
        cfg.unreal,
        load_metahumans(UnrealConfig().metahumans_path()),
        tmp_path / "gone",
    )
    spec["expires_at"] = time.time() - 1.0
    job_file = inbox.submit(box, spec)
    with FakeUnreal(inbox=box) as srv:
        assert _wait_for(inbox.fallback_record(job_file).exists)
        assert inbox.read_json(inbox.fallback_record(job_file))["reason"] == "expired before it was taken"
        assert srv.jobs == []
    # The job a live worker submits carries its expiry (the stall timeout from now) and owner.
    with FakeUnreal(inbox=box) as srv:
        r = renderer(srv, stall_timeout=30.0)
        t = time.time()
        r.render_shot(shot, scenes[shot.scene], clips[shot.animation.clip], settings_of(cfg), tmp_path / "w")
        r.close()
    job = srv.jobs[0]
    assert t + 29 < job["expires_at"] < time.time() + 31 and job["client"]["pid"] == os.getpid()


def test_baked_clips_reach_as_far_as_any_shot_plays_them():
    """clip_export bakes each clip to render.plan.clip_seconds: every shot of the plan, guard
    frame N included, ends inside the baked asset (Sequencer would loop past its end)."""
    from render.plan import clip_seconds

    cfg = load_config(None, {"cams": 200})
    scenes = [s["name"] for s in load_scenes(cfg.scene_catalog_path())]
    clips = load_clips(cfg.clip_catalog_path())
    worst = min(
        clip_seconds(clips[s.animation.clip], cfg)
        - (s.animation.start + s.frame_count * s.animation.speed / s.fps)
        for s in plan_shots(cfg, scenes, clips)
    )
    assert worst >= 0.0, worst
    longer = load_config(None, {"frames": 260})  # longer shots: longer bakes
    assert clip_seconds(clips["wave"], longer) > clip_seconds(clips["wave"], cfg) + 4.0


def test_shared_folders_of_dead_workers_are_removed(box):
    """Attached, a worker's frames live in the shared inbox under <host>-<pid>; a worker killed
    mid-shot cannot remove them, the next worker on that host does (never a live one's)."""
    import socket
    import subprocess

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    dead = Path(box) / "work" / f"{host}-{gone.pid}" / "shot00001" / "attempt-x"
    live = Path(box) / "work" / f"{host}-{os.getpid()}" / "shot00002"
    other = Path(box) / "work" / f"another-host-{gone.pid}"
    for p in (dead, live, other):
        p.mkdir(parents=True)
    UnrealRenderer({"endpoint": "127.0.0.1:9", "inbox": box})
    assert not dead.parent.parent.exists() and live.exists() and other.exists()
