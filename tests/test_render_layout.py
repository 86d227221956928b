"""Pure scene logic: per-frame states, camera aim, prop clearing, occluders."""

import numpy as np
import pytest

from render.camera import intrinsics, opencv_world_to_camera
from render.catalog import load_clips, load_scenes
from render.config import load_config
from render.layout import ROOM_KINDS, Prop, clear_for_shot, occluder_for_shot, scene_props
from render.plan import plan_shots
from render.timeline import frame_metadata, frame_states


@pytest.fixture(scope="module")
def world():
    cfg = load_config(None, {"cams": 60, "frames": 20})
    scenes = load_scenes(cfg.scene_catalog_path())
    clips = load_clips(cfg.clip_catalog_path())
    shots = plan_shots(cfg, [s["name"] for s in scenes], clips)
    return {s["name"]: s for s in scenes}, clips, shots


def _project(meta, point):
    k = np.array(meta["camera"]["K"])
    w2c = np.array(meta["camera"]["world_to_camera"])
    p = w2c @ np.append(point, 1.0)
    assert p[2] > 0, "point behind the camera"
    uv = k @ (p[:3] / p[2])
    return uv[:2]


def test_states_cover_guard_frames_and_track_the_character(world):
    _, clips, shots = world
    for shot in shots[:30]:
        states = frame_states(shot, clips[shot.animation.clip])
        assert [s.index for s in states] == list(range(-1, shot.frame_count + 1))
        for s in states[1:-1]:
            meta = frame_metadata(shot, s, {"backend": "test"})
            target = np.array([s.root[0], s.root[1], shot.camera.aim_height])
            u, v = _project(meta, target)
            w, h = shot.resolution
            # Every preset aims at the character: its aim point projects to the image centre.
            assert abs(u - w / 2) < 1e-3 * w and abs(v - h / 2) < 1e-3 * h


def test_opencv_extrinsics_match_blender_pose():
    c2w = np.eye(4)
    c2w[:3, 3] = [0.0, -5.0, 1.0]
    c2w[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # Blender camera looking along +y
    w2c = opencv_world_to_camera(c2w)
    p = w2c @ np.array([0.0, 0.0, 1.0, 1.0])  # 5 m straight ahead
    assert np.allclose(p[:3], [0.0, 0.0, 5.0])
    k = intrinsics(50.0, 2160, 3840)
    assert k[0, 0] == pytest.approx(50 / 36 * 3840)


def test_scene_props_are_stable_and_outside_the_stage(world):
    scenes, _, _ = world
    for s in scenes.values():
        a, b = scene_props(s), scene_props(s)
        assert a == b
        for p in a:
            if p.kind not in ROOM_KINDS:  # a room's ceiling and its lights hang over the stage
                assert np.hypot(p.x, p.y) >= 3.0


def test_clearing_removes_props_on_the_sight_line(world):
    _, clips, shots = world
    shot = shots[0]
    states = frame_states(shot, clips[shot.animation.clip])
    mid = states[len(states) // 2]
    eye, root = mid.cam_to_world[:3, 3], np.array(mid.root)
    half = (eye + root) / 2
    blocker = Prop("building", float(half[0]), float(half[1]), 20.0, 2.0, 2.0, 0.0, (0.5, 0.5, 0.5))
    far = Prop("building", 500.0, 500.0, 20.0, 2.0, 2.0, 0.0, (0.5, 0.5, 0.5))
    low = Prop("rock", float(half[0]), float(half[1]), 0.2, 0.5, 0.5, 0.0, (0.5, 0.5, 0.5))
    kept = clear_for_shot([blocker, far, low], states)
    assert blocker not in kept and far in kept
    assert (low in kept) == (min(s.cam_to_world[2, 3] for s in states) > 0.4 + 0.2)


def test_occluder_stands_between_camera_and_character(world):
    _, clips, shots = world
    for shot in shots[:20]:
        states = frame_states(shot, clips[shot.animation.clip])
        occ = occluder_for_shot(shot, states)
        mid = states[len(states) // 2]
        eye, root = mid.cam_to_world[:2, 3], np.array(mid.root[:2])
        to_occ, to_eye = np.array([occ.x, occ.y]) - root, eye - root
        assert np.dot(to_occ, to_eye) > 0  # on the camera's side of the character
        assert np.linalg.norm(to_occ) < np.linalg.norm(to_eye)
        assert occ == occluder_for_shot(shot, states)
