"""Motion: BVH reading, retargeting onto the Mixamo rig, playback, foot contact, the clip catalog
and clips brought from folders (BVH and Mixamo FBX, the FBX made by Blender in the test)."""

from __future__ import annotations

import dataclasses
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from render.catalog import load_clips, load_scenes
from render.config import REPO_ROOT, ConfigError, load_config
from render.motion import bvh, library, mixamo, play
from render.motion.contact import BALLS, fk, foot_slide, joint_positions
from render.motion.retarget import retarget
from render.motion.rotations import between, euler, euler_xyz, slerp, to_matrix, to_quat
from render.motion.source import MotionError
from render.people.identities import identity
from render.plan import SLOWEST, plan_shots
from render.timeline import frame_states

CATALOG = REPO_ROOT / "animations" / "clips.yaml"

# A two-joint BVH: the root turns 90° about Y (ZXY channel order) and moves; the child hangs
# 2 units below it.
TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Knee
  {
    OFFSET 0 -2 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -2 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
0 5 0 0 0 0 0 0 0
1 5 0 0 90 90 0 0 0
"""


def test_rotation_helpers_round_trip():
    rng = np.random.default_rng(0)
    angles = rng.uniform(-170, 170, size=(50, 3))
    m = euler_xyz(angles)
    assert np.allclose(to_matrix(to_quat(m)), m, atol=1e-9)
    # Blender's XYZ Euler applies x first: R = Rz Ry Rx.
    assert np.allclose(euler_xyz([30, 0, 0]) @ [0, 1, 0], [0, np.cos(np.pi / 6), np.sin(np.pi / 6)])
    assert np.allclose(euler("ZYX", [90, 0, 0]) @ [1, 0, 0], [0, 1, 0])
    q0, q1 = to_quat(np.eye(3)), to_quat(euler("z", [[90]])[0])
    assert np.allclose(to_matrix(slerp(q0, q1, 0.5)), euler("z", [[45]])[0])
    for a, b in ([1, 0, 0], [0, 1, 0]), ([0, 0, 1], [0, 0, -1]), ([1, 2, 3], [1, 2, 3]):
        r = between(np.array(a, float), np.array(b, float))
        assert np.allclose(r @ (np.array(a) / np.linalg.norm(a)), np.array(b) / np.linalg.norm(b))
        assert np.isclose(np.linalg.det(r), 1.0)


def test_bvh_channels_in_their_order_and_z_up():
    m = bvh.parse(TINY, "tiny.bvh")
    assert m.names == ("Hips", "Knee") and m.fps == 30.0 and m.frames == 2
    # Frame 0: root at height 5 (y up in the file → z here), the knee 2 below it.
    assert np.allclose(m.positions[0, 0], [0, 0, 5]) and np.allclose(m.positions[0, 1], [0, 0, 3])
    # Frame 1: root moved 1 along x; its rotation R = Rz(0) Rx(90) Ry(90) (ZXY as listed) takes the
    # knee's offset (0, -2, 0) to (0, 0, -2) in the file's axes, which is (0, 2, 0) here.
    assert np.allclose(m.positions[1, 0], [1, 0, 5])
    assert np.allclose(m.positions[1, 1], [1, 2, 5], atol=1e-9)


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "not a BVH file"),
        ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n", "is not a number"),
        (TINY.replace("Frames: 2", "Frames: 3"), "2 of 3 frames"),
        (
            TINY.replace("Zrotation Xrotation Yrotation\n    End", "Wrotation Xrotation Yrotation\n    End"),
            "unknown channel",
        ),
        ("solid cube\nfacet normal 0 0 1\n", "not a BVH file"),
    ],
)
def test_bad_bvh_is_one_line_naming_the_file(text, says):
    with pytest.raises(MotionError) as e:
        bvh.parse(text, "broken.bvh")
    assert says in str(e.value) and "broken.bvh" in str(e.value) and "\n" not in str(e.value)


def test_mixamo_hierarchy_is_the_body_rigs(body):
    names = tuple(n.removeprefix("mixamorig:") for n in body.bone_names)
    assert names == mixamo.BONES
    assert tuple(int(p) for p in body.bone_parents) == mixamo.PARENTS


def _catalog():
    return load_clips(CATALOG)


def test_catalog_lists_source_licence_range_fps_and_tags_for_every_clip():
    clips = _catalog()
    captured = {k: c for k, c in clips.items() if c["source"] != "procedural"}
    assert len(clips) >= 12 and len(captured) >= len(clips) / 2
    for name, c in clips.items():
        assert c["licence"] and c["tags"], name
    for name, c in captured.items():
        assert c["fps"] > 0 and len(c["frames"]) == 2 and c["duration"] >= 4.0, name
        assert len(c["sha256"]) == 64 and Path(library.clip_path(c)).is_file(), name
    assert len(load_scenes(load_config().scene_catalog_path())) == 22
    # Captured clips cover walking, turning and jumping; NOTICE credits every shipped file.
    tags = {t for c in captured.values() for t in c["tags"]}
    assert {"walk", "turn", "jump"} <= tags
    notice = (REPO_ROOT / "NOTICE").read_text()
    for c in captured.values():
        assert c["file"] in notice, c["file"]


def test_the_digest_ignores_where_the_catalog_lies(tmp_path):
    from render.identity import digest

    here = _catalog()
    shutil.copytree(REPO_ROOT / "animations", tmp_path / "animations")
    there = load_clips(tmp_path / "animations" / "clips.yaml")
    assert here["jump_forward"]["_path"] != there["jump_forward"]["_path"]
    assert digest(here) == digest(there)
    there["jump_forward"]["frames"] = [100, 901]
    assert digest(here) != digest(there)


def test_shipped_bvh_retargets_moving_the_way_it_faces():
    clips = _catalog()
    m = library.motion(clips["walk_and_reach"])
    assert m.bones[0] == "Hips" and {"LeftFoot", "RightHand", "Head"} <= set(m.bones)
    assert "LeftHandIndex1" not in m.bones  # CMU has no fingers: they keep their rest pose
    clip = clips["jump_forward"]
    m = library.motion(clip)
    t0 = clip["frames"][0] / clip["fps"]
    rest = np.broadcast_to(np.eye(3), (len(m.bones), 3, 3))
    # At the shot's start the pelvis faces -y; each forward jump moves the way the body faces.
    facing = to_matrix(np.array(play.bone_rotations(m, t0, t0, rest)["Hips"])) @ [0, -1, 0]
    assert facing[1] < -0.99
    jumps = 0
    for t in np.arange(t0, t0 + 6.0, 0.1):
        v = (play.root_offset(m, t + 0.1, t0) - play.root_offset(m, t, t0)) / 0.1
        if np.hypot(v[0], v[1]) > 1.0:  # legs per second: in flight
            jumps += 1
            turn = play.start_yaw(m, t) - play.start_yaw(m, t0)
            want = np.array([np.sin(turn), -np.cos(turn)])
            assert v[:2] @ want / np.hypot(v[0], v[1]) > 0.95, t
    assert jumps >= 6
    # Between jumps the hip joints stand near their standing height (legs as the unit).
    assert abs(play.root_offset(m, t0, t0)[2]) < 0.1


def _shot(clip_name: str, clips: dict, frames: int = 130, index: int = 3):
    cfg = load_config(None, {"cams": 22})
    scenes = [s["name"] for s in load_scenes(cfg.scene_catalog_path())]
    shot = plan_shots(cfg, scenes, list(clips))[0]
    c = clips[clip_name]
    start = c["frames"][0] / c["fps"] if "fps" in c else 0.0
    return dataclasses.replace(
        shot,
        character=identity(index),
        frame_count=frames,
        animation=dataclasses.replace(shot.animation, clip=clip_name, start=start, speed=1.0),
    )


def _balls(shot, clip, body, rest):
    from render.body import BONE_PREFIX

    names = [n.removeprefix(BONE_PREFIX) for n in body.bone_names]
    idx = [names.index(b) for b in BALLS]
    out = []
    for s in frame_states(shot, clip, rest)[1:-1]:
        pos = joint_positions(names, body.bone_parents, body.bone_heads, s.origin, s.heading_deg, s.bones)
        out.append(pos[idx])
    return np.array(out)


@pytest.mark.parametrize("who", [3, 40])  # char40's leg is 2.8 % longer than the stature estimate
def test_retargeted_walk_keeps_the_captures_foot_contact(bodies, who):
    """The walk on our bodies slides its planted feet no more than the capture itself does (the
    capture, scaled to the same leg), each foot stands at its rest height over the ground; a
    procedural walk, whose root glides while the legs swing, fails the same measure."""
    from render.body import rig_rest

    clips = _catalog()
    clip = clips["walk_and_reach"]
    body = bodies(who)
    shot = _shot("walk_and_reach", clips, index=who)
    rest = rig_rest(body)
    balls = _balls(shot, clip, body, rest)
    ours = foot_slide(balls, shot.fps)
    # The capture's own balls of the feet over the same window, at 30 fps, in metres of this leg.
    src = bvh.read(library.clip_path(clip))
    first = clip["frames"][0]
    step = round(src.fps / shot.fps)
    leg = np.linalg.norm(
        src.rest_positions[src.index("LeftLeg")] - src.rest_positions[src.index("LeftUpLeg")]
    )
    leg += np.linalg.norm(
        src.rest_positions[src.index("LeftFoot")] - src.rest_positions[src.index("LeftLeg")]
    )
    scale = rest.leg * (1 - 0.0861) / leg
    own = foot_slide(
        src.positions[first : first + step * len(balls) : step][:, [src.index(b) for b in BALLS]] * scale,
        shot.fps,
    )
    assert ours["planted"] > 0.2
    assert ours["speed"] <= 1.1 * own["speed"] + 0.01, (ours, own)
    # Each foot, when it stands (its 5th percentile), within 2 cm of its rest height; never
    # more than 3 cm under it.
    rest_ball = rest.heads["LeftToeBase"][2]
    standing = np.percentile(balls[:, :, 2], 5, axis=0)
    assert np.all(np.abs(standing - rest_ball) < 0.02), (standing, rest_ball)
    assert np.all(balls[:, :, 2].min(axis=0) > rest_ball - 0.03)

    glide = {
        "source": "procedural",
        "period": 1.1,
        "root": {"speed": 1.3, "bob": 0.0},
        "osc": [["LeftUpLeg", "x", 24.0, 1, 0.0], ["RightUpLeg", "x", 24.0, 1, 0.5]],
    }
    shot_g = dataclasses.replace(shot, animation=dataclasses.replace(shot.animation, clip="glide", start=0.0))
    slid = foot_slide(_balls(shot_g, glide, body, rest), shot.fps)
    assert slid["speed"] > 5 * ours["speed"], (slid, ours)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


@pytest.mark.parametrize("name", ["walk_and_reach", "turn_around", "boxing_punches"])
def test_limbs_bend_as_the_capture_bends_and_the_shoulders_stay_put(bodies, name):
    """On an A-pose body playing a T-pose capture: knees and elbows bend by the capture's angles
    (within 3°, frame by frame, from the capture's own joint positions); the clavicles keep the
    body's rest (each shoulder joint on average within 2.5 cm of its rest place in the chest's
    frame, the capture's own shrugs aside)."""
    from render.body import BONE_PREFIX, rig_rest

    clips = _catalog()
    clip = clips[name]
    body = bodies(3)
    rest = rig_rest(body)
    shot = _shot(name, clips, frames=60, index=3)
    names = [n.removeprefix(BONE_PREFIX) for n in body.bone_names]
    at = {n: i for i, n in enumerate(names)}
    skeleton = library.load_skeletons()[clip["skeleton"]]
    src = library.read_source("bvh", library.clip_path(clip))
    chest = at["Spine2"]
    worst_bend, shoulder = 0.0, []
    for state in frame_states(shot, clip, rest)[1:-1]:
        pos, rot = fk(names, body.bone_parents, body.bone_heads, state.origin, state.heading_deg, state.bones)
        f = min(int(round(state.clip_time * src.fps)), src.frames - 1)
        for a, b, c in (("LeftUpLeg", "LeftLeg", "LeftFoot"), ("RightArm", "RightForeArm", "RightHand")):
            ours = _angle(pos[at[b]] - pos[at[a]], pos[at[c]] - pos[at[b]])
            j = [src.index(skeleton[x]) for x in (a, b, c)]
            theirs = _angle(
                src.positions[f, j[1]] - src.positions[f, j[0]],
                src.positions[f, j[2]] - src.positions[f, j[1]],
            )
            worst_bend = max(worst_bend, abs(float(ours - theirs)))
        for side in ("Left", "Right"):
            now = rot[chest].T @ (pos[at[f"{side}Arm"]] - pos[chest])
            then = body.bone_heads[at[f"{side}Arm"]] - body.bone_heads[chest]
            shoulder.append(float(np.linalg.norm(now - then)))
    assert worst_bend < 3.0, worst_bend
    # The capture's own shrugs move them (CMU: 0; the boxer's guard 2 cm, at most 3.6); no offset of its own.
    assert np.mean(shoulder) < 0.025 and max(shoulder) < 0.05, (np.mean(shoulder), max(shoulder))


def test_planned_heads_are_near_where_the_body_puts_them(bodies):
    """Framing places a captured clip's head on the reference rig at the identity's stature;
    the body's own rig puts it within 6 cm, every frame."""
    from render.body import rig_rest
    from render.timeline import head_tops

    clips = _catalog()
    for who, name in ((3, "walk_and_reach"), (40, "jump_back"), (17, "boxing_footwork")):
        shot = _shot(name, clips, index=who)
        frames = list(range(shot.frame_count))
        est = head_tops(shot, clips[name], frames)
        real = head_tops(shot, clips[name], frames, rig_rest(bodies(who)))
        assert np.linalg.norm(est - real, axis=1).max() < 0.06, (name, who)


@pytest.fixture(scope="module")
def bodies():
    from render.body import BodyModel

    model, made = BodyModel(), {}

    def get(index: int):
        if index not in made:
            made[index] = model.body(identity(index).phenotype)
        return made[index]

    return get


@pytest.fixture(scope="module")
def body(bodies):
    return bodies(3)


def test_plan_windows_lie_inside_each_captured_clips_range():
    cfg = load_config(None, {"cams": 120})
    clips = _catalog()
    scenes = [s["name"] for s in load_scenes(cfg.scene_catalog_path())]
    shots = plan_shots(cfg, scenes, clips)
    seen = set()
    for s in shots:
        c = clips[s.animation.clip]
        if c["source"] == "procedural":
            continue
        seen.add(s.animation.clip)
        step = s.animation.speed / s.fps
        begin = s.animation.start - step  # the motion-blur guard frames -1 and N are inside too
        end = s.animation.start + s.frame_count * step
        first, last = (f / c["fps"] for f in c["frames"])
        # Inside the range, played slower where the shot is longer (down to SLOWEST, then from
        # the range's start).
        assert first - 1e-9 <= begin
        assert end <= last + 1e-4 or (
            begin == pytest.approx(first, abs=1e-4) and s.animation.speed == SLOWEST
        )
        assert s.animation.speed >= SLOWEST
    assert len(seen) >= 5
    again = plan_shots(cfg, scenes, _catalog())
    assert [s.animation for s in again] == [s.animation for s in shots]


def _folder_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    d = tmp_path / "clips"
    d.mkdir()
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


def test_a_bvh_folder_joins_the_catalog_and_bad_files_are_reported_one_line_each(tmp_path):
    good = gzip.decompress((REPO_ROOT / "animations" / "cmu" / "01_01.bvh.gz").read_bytes())
    folder = _folder_with(
        tmp_path,
        {
            "Run Fast.bvh": good,
            "broken.bvh": good[: len(good) // 3],
            "cube.bvh": b"solid cube\n",
            "tiny.bvh": TINY.encode(),  # a skeleton no map knows
            "notes.txt": b"ignored: not a clip file",
        },
    )
    said: list[str] = []
    clips = load_clips(CATALOG, {"bvh": str(folder)}, said.append)
    assert "bvh_run_fast" in clips and clips["bvh_run_fast"]["skeleton"] == "cmu"
    assert clips["bvh_run_fast"]["tags"] == ["fast", "run"]
    assert library.motion(clips["bvh_run_fast"]).frames == 2752
    assert len(said) == 3 and all("\n" not in s for s in said), said
    assert any("broken.bvh" in s and "frames present" in s for s in said)
    assert any("cube.bvh" in s and "not a BVH file" in s for s in said)
    assert any("tiny.bvh" in s and "no known skeleton" in s for s in said)
    with pytest.raises(ConfigError, match="no such directory"):
        load_clips(CATALOG, {"bvh": str(tmp_path / "nowhere")})


MIXAMO_FBX = r"""
import json, sys
import bpy
import numpy as np
from mathutils import Euler
from render.motion import mixamo
out, kind = sys.argv[1], sys.argv[2]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps = 30
scene.frame_start, scene.frame_end = 1, 120
if kind == "cube":
    bpy.ops.mesh.primitive_cube_add()
    bpy.ops.export_scene.fbx(filepath=out)
    sys.exit(0)
prefix = "bone_" if kind == "other" else "mixamorig:"
bones = [(b, p) for b, p in zip(mixamo.BONES, mixamo.PARENTS) if kind != "nofingers" or "Hand" not in b or b.endswith("Hand")]
data = bpy.data.armatures.new("rig")
obj = bpy.data.objects.new("Armature", data)
scene.collection.objects.link(obj)
bpy.context.view_layer.objects.active = obj
bpy.ops.object.mode_set(mode="EDIT")
edit = {}
for name, p in bones:
    e = data.edit_bones.new(prefix + name)
    side = 1.0 if name.startswith("Left") else -1.0
    if p < 0:
        head, d = np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0])
    else:
        head = np.array(edit[mixamo.BONES[p]].tail)
        d = np.array([0.0, 0.0, 1.0])
        if name.endswith("UpLeg"):
            head = head + [0.1 * side, 0.0, -0.12]
        if "Leg" in name or name.endswith("Foot"):
            d = np.array([0.0, 0.0, -1.0])
        if name.endswith("ToeBase"):
            d = np.array([0.0, -1.0, 0.0])
        if any(k in name for k in ("Shoulder", "Arm", "Hand")):
            d = np.array([side, 0.0, -0.4])
    e.head = head.tolist()
    e.tail = (head + 0.12 * d / np.linalg.norm(d)).tolist()
    if p >= 0:
        e.parent = edit[mixamo.BONES[p]]
    edit[name] = e
bpy.ops.object.mode_set(mode="OBJECT")
truth = {}
for f in range(1, 13):
    obj.location = (0.04 * f, -0.02 * f, 0.0)  # frame 0: at the origin, at rest
    obj.keyframe_insert("location", frame=f)
    for k, b in enumerate(("Hips", "LeftUpLeg", "LeftLeg", "Spine1", "RightArm", "RightForeArm", "Head")):
        pb = obj.pose.bones[prefix + b]
        pb.rotation_mode = "XYZ"
        pb.rotation_euler = Euler((0.08 * f, -0.05 * f * (k % 2), 0.03 * f * k))
        pb.keyframe_insert("rotation_euler", frame=f)
for f in range(1, 13):
    scene.frame_set(f)
    truth[f] = {
        b.name.split(":")[-1]: [list(r) for r in (obj.matrix_world @ b.matrix).to_3x3() @ (obj.matrix_world @ b.bone.matrix_local).to_3x3().inverted()]
        for b in obj.pose.bones
    }
# Hold the last pose to frame 120: a clip must last 3.55 s to be used.
for b in obj.pose.bones:
    b.keyframe_insert("rotation_euler", frame=120)
obj.keyframe_insert("location", frame=120)
# Without a mesh there is no bind pose: the file's bones stand as they do when it is written,
# which for a Mixamo download is its T-pose rest. Write it at frame 0, keyed at rest.
for b in obj.pose.bones:
    b.rotation_mode = "XYZ"
    b.rotation_euler = (0.0, 0.0, 0.0)
    b.keyframe_insert("rotation_euler", frame=0)
obj.location = (0.0, 0.0, 0.0)
obj.keyframe_insert("location", frame=0)
scene.frame_set(0)
bpy.ops.export_scene.fbx(filepath=out, add_leaf_bones=False, bake_anim=True, bake_anim_simplify_factor=0.0)
print("TRUTH" + json.dumps(truth))
"""


def _make_fbx(path: Path, kind: str) -> dict:
    import json
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-c", MIXAMO_FBX, str(path), kind], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("TRUTH")), None)
    return json.loads(line[5:]) if line else {}


def test_mixamo_fbx_imports_with_the_bone_rotations_blender_exported(tmp_path):
    """A Mixamo-named armature animated in Blender and exported as FBX reads back with every
    bone's global rotation (away from its rest) as Blender had it, and joins the catalog from a
    folder; a damaged file, a mesh-only FBX and a non-Mixamo rig are each reported in one line."""
    folder = tmp_path / "mixamo"
    folder.mkdir()
    truth = _make_fbx(folder / "Hip Hop Dancing.fbx", "mixamo")
    _make_fbx(folder / "cube.fbx", "cube")
    _make_fbx(folder / "robot.fbx", "other")
    _make_fbx(folder / "no fingers.fbx", "nofingers")  # Mixamo's rigs without finger bones play too
    (folder / "damaged.fbx").write_bytes((folder / "Hip Hop Dancing.fbx").read_bytes()[:3000])
    (folder / "garbage.fbx").write_bytes(b"\x00" * 64 + b"not an fbx at all")

    src = library.read_source("mixamo", folder / "Hip Hop Dancing.fbx")
    assert src.fps == 30.0 and src.frames == 121  # frames 0 (rest) to 120
    deltas = src.deltas()
    assert np.allclose(deltas[0], np.eye(3), atol=1e-4)
    worst = 0.0
    for f in range(1, 13):
        for name, want in truth[str(f)].items():
            worst = max(worst, float(np.abs(deltas[f, src.index(name)] - np.array(want)).max()))
    assert worst < 1e-3, worst
    moved = src.positions[12, src.index("Hips")] - src.positions[0, src.index("Hips")]
    assert np.allclose(moved, [0.48, -0.24, 0.0], atol=1e-3)

    said: list[str] = []
    clips = load_clips(CATALOG, {"mixamo": str(folder)}, said.append)
    assert "mixamo_hip_hop_dancing" in clips and clips["mixamo_hip_hop_dancing"]["skeleton"] == "mixamo"
    m = library.motion(clips["mixamo_hip_hop_dancing"])
    assert "LeftHandIndex1" in m.bones  # a Mixamo clip drives every bone, fingers too
    assert (
        "mixamo_no_fingers" in clips
        and "LeftHandIndex1" not in library.motion(clips["mixamo_no_fingers"]).bones
    )
    assert len(said) == 4 and all("\n" not in s for s in said), said
    assert any("cube.fbx" in s and "no armature" in s for s in said)
    assert any("robot.fbx" in s and "not a Mixamo rig" in s for s in said)
    assert any("damaged.fbx" in s for s in said) and any("garbage.fbx" in s for s in said)


def test_retargeting_a_rig_onto_itself_reproduces_its_pose():
    """A source with the rig's own hierarchy and rest, retargeted with the identity map and no
    alignment, gives back the bone rotations it was posed with."""
    from render.motion.source import SourceMotion

    rng = np.random.default_rng(1)
    n = len(mixamo.BONES)
    heads = np.zeros((n, 3))
    for i, p in enumerate(mixamo.PARENTS):
        name = mixamo.BONES[i]
        down = -0.1 if ("Leg" in name or "Foot" in name or "Toe" in name) else 0.1
        heads[i] = [0, 0, 1.0] if p < 0 else heads[p] + rng.normal(0, 0.03, 3) + [0, 0, down]
        if name.endswith("UpLeg"):  # hips left and right of the root: the rest faces -y
            heads[i] = heads[0] + [0.1 if name.startswith("Left") else -0.1, 0.0, -0.1]
    # A pose and small steps from it (a first frame far from the second reads as a calibration pose).
    steps = np.cumsum(rng.normal(0, 3, size=(4, n, 3)), axis=0)
    local = to_matrix(to_quat(euler_xyz(rng.uniform(-30, 30, size=(n, 3)) + steps)))
    glob = np.empty_like(local)
    pos = np.empty((4, n, 3))
    for i, p in enumerate(mixamo.PARENTS):
        glob[:, i] = local[:, i] if p < 0 else glob[:, p] @ local[:, i]
        pos[:, i] = heads[i] if p < 0 else pos[:, p] + np.einsum("tij,j->ti", glob[:, p], heads[i] - heads[p])
    src = SourceMotion(
        names=mixamo.BONES,
        parents=np.array(mixamo.PARENTS),
        rest_positions=heads,
        rest_rotations=np.broadcast_to(np.eye(3), (n, 3, 3)).copy(),
        rotations=glob,
        positions=pos,
        fps=30.0,
        origin="self",
    )
    same = library.load_skeletons()["mixamo"]
    m = retarget(src, same, mixamo.BONES, mixamo.PARENTS)
    align = np.broadcast_to(np.eye(3), (n, 3, 3))
    # At t0 the pose is turned so the pelvis faces -y: undo that turn to compare.
    yaw = play.start_yaw(m, 0.0)
    for k in range(4):
        rot = play.bone_rotations(m, k / 30.0, 0.0, align)
        for i, b in enumerate(mixamo.BONES):
            got = to_matrix(np.array(rot[b]))
            if mixamo.PARENTS[i] < 0:
                c, s = np.cos(yaw), np.sin(yaw)
                got = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ got
            assert np.allclose(got, local[k, i], atol=1e-6), (k, b)


def test_a_catalog_clip_with_a_missing_file_is_an_error(tmp_path):
    data = yaml.safe_load(CATALOG.read_text())
    data["clips"]["ghost"] = {
        "source": "bvh",
        "file": "nowhere.bvh",
        "skeleton": "cmu",
        "tags": ["x"],
        "licence": "x",
    }
    (tmp_path / "clips.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="ghost.*no such file"):
        load_clips(tmp_path / "clips.yaml")


def test_a_calibration_pose_before_the_take_is_not_played():
    """The CMU BVH conversions start with a T-pose frame: playback starts after it."""
    src = bvh.read(REPO_ROOT / "animations" / "cmu" / "01_01.bvh.gz")
    maps = library.load_skeletons()
    m = retarget(src, maps["cmu"], mixamo.BONES, mixamo.PARENTS)
    assert m.first == 1
    steady = retarget(src, maps["cmu"], mixamo.BONES, mixamo.PARENTS, (100, 900))
    assert np.allclose(play.root_offset(steady, -1.0, 0.0), play.root_offset(steady, 1 / 120, 0.0))


def test_files_that_cannot_make_a_clip_say_why_in_one_line(tmp_path, monkeypatch):
    short = TINY  # 2 frames: far under a shot
    upright = gzip.decompress((REPO_ROOT / "animations" / "cmu" / "01_01.bvh.gz").read_bytes()).decode()
    folder = _folder_with(
        tmp_path,
        {
            "short.bvh": short.encode(),
            "nan.bvh": TINY.replace("0 5 0 0 0 0 0 0 0", "0 nan 0 0 0 0 0 0 0").encode(),
            "big.bvh.gz": gzip.compress(b"HIERARCHY\n" + b" " * 4096),
        },
    )
    monkeypatch.setattr(bvh, "MAX_BYTES", 1024)  # the cap on decompressed text, small for the test
    said: list[str] = []
    clips = load_clips(CATALOG, {"bvh": str(folder)}, said.append)
    assert not [k for k in clips if k.startswith("bvh_")]
    assert any("big.bvh.gz" in m and "over" in m for m in said), said
    assert any("nan.bvh" in m and "non-finite" in m for m in said), said
    assert any("short.bvh" in m for m in said), said
    assert len(said) == 3 and all("\n" not in m for m in said)
    # Z-up data read as Y-up lies on its back: refused, not played.
    src = bvh.parse(upright, "upright.bvh")
    z_up = dataclasses.replace(
        src,
        rest_positions=src.rest_positions @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]]).T,
    )
    with pytest.raises(MotionError, match="head is not above its hips"):
        retarget(z_up, library.load_skeletons()["cmu"], mixamo.BONES, mixamo.PARENTS)
