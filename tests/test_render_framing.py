"""The subject's head stays in frame (issue 11): the projection, the planned sample, reframing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from render.camera import intrinsics, opencv_world_to_camera
from render.catalog import load_clips, load_scenes
from render.config import load_config
from render.framing import HEAD_HALF_WIDTH, head_heights, head_in_frame, reframe
from render.plan import ShotSpec, plan_shots
from render.timeline import frame_states, root_and_camera


def _plan(**over):
    cfg = load_config(None, over)
    scenes = [s["name"] for s in load_scenes(cfg.scene_catalog_path())]
    clips = load_clips(cfg.clip_catalog_path())
    return plan_shots(cfg, scenes, clips), plan_shots(cfg, scenes, list(clips)), clips


def test_head_in_frame_projects_as_the_renderers_camera_does():
    shots, _, clips = _plan(cams=40)
    for shot in shots[:6]:
        w, h = shot.resolution
        k = intrinsics(shot.camera.focal_mm, w, h)
        expected = []
        for st in frame_states(shot, clips[shot.animation.clip])[1:-1]:
            w2c = opencv_world_to_camera(st.cam_to_world)
            ok = True
            for z in head_heights(shot):
                for side in (-HEAD_HALF_WIDTH, 0.0, HEAD_HALF_WIDTH):
                    q = np.array([st.root[0], st.root[1], st.root[2] + z]) + side * st.cam_to_world[:3, 0]
                    p = w2c @ np.append(q, 1.0)
                    uv = k @ (p[:3] / p[2])
                    ok &= bool(p[2] > 0 and 0 <= uv[0] < w and 0 <= uv[1] < h)
            expected.append(ok)
        assert np.array_equal(head_in_frame(shot, clips[shot.animation.clip]), expected)
        # A coarser check always includes the last frame (where a walker is nearest).
        assert len(head_in_frame(shot, clips[shot.animation.clip], step=6)) == len(
            range(0, len(expected), 6)
        ) + ((len(expected) - 1) % 6 != 0)


def test_every_planned_shot_keeps_the_head_in_frame():
    shots, raw, clips = _plan()
    shares = np.array([head_in_frame(s, clips[s.animation.clip]).mean() for s in shots[::3]])
    assert shares.min() >= 0.9, shares.min()
    before = np.array([head_in_frame(s, clips[s.animation.clip]).mean() for s in raw[::3]])
    assert (before < 0.9).any()  # without reframing some shots lose the head
    # Reframing keeps each shot's preset, focal length and path; most shots are untouched.
    changed = [(a, b) for a, b in zip(raw, shots, strict=True) if a.camera != b.camera]
    assert 0 < len(changed) < 0.1 * len(shots)
    for a, b in changed:
        assert (a.camera.preset, a.camera.focal_mm, a.camera.azimuth_deg) == (
            b.camera.preset,
            b.camera.focal_mm,
            b.camera.azimuth_deg,
        )
        assert b.camera.distance >= a.camera.distance and b.camera.aim_height >= a.camera.aim_height


def test_reframe_rescues_a_shot_that_walks_into_a_long_lens():
    shots, _, clips = _plan(cams=40)
    shot = next(s for s in shots if s.animation.clip == "walk")
    bad = dataclasses.replace(
        shot,
        camera=dataclasses.replace(
            shot.camera, preset="static", distance=2.0, aim_height=0.9, focal_mm=85.0, azimuth_deg=0.0
        ),
    )
    clip = clips["walk"]
    assert head_in_frame(bad, clip).mean() < 0.5
    good = reframe(bad, clip)
    assert head_in_frame(good, clip).mean() >= 0.9
    assert good.camera.preset == "static" and good.camera.focal_mm == 85.0
    assert reframe(good, clip) == good  # a framed shot is left alone


def test_reframing_never_makes_a_shot_worse():
    """With too few tries to reach the target, the best camera tried (or the original) is kept."""
    _, raw, clips = _plan(cams=300)
    for shot in raw:
        clip = clips[shot.animation.clip]
        before = head_in_frame(shot, clip, 6).mean()
        if before >= 0.95:
            continue
        after = reframe(shot, clip, tries=1)
        assert head_in_frame(after, clip, 6).mean() >= before


def test_plans_from_before_the_middle_anchor_keep_their_cameras():
    """A plan line without ``camera.anchor`` (written before it) measures the camera's distance
    from the start, as it was rendered; new plans measure it from the middle."""
    shots, _, clips = _plan(cams=40)
    shot = next(s for s in shots if s.animation.clip == "walk")
    shot = dataclasses.replace(shot, camera=dataclasses.replace(shot.camera, preset="static", shake=0.0))
    assert shot.camera.anchor == "middle"
    line = shot.to_json()
    del line["camera"]["anchor"]
    old = ShotSpec.from_json(line)
    assert old.camera.anchor == "start"
    clip = clips["walk"]
    ((root0, cam_old),) = root_and_camera(old, clip, [0])
    ((_, cam_new),) = root_and_camera(shot, clip, [0])
    ((root_mid, _),) = root_and_camera(shot, clip, [(shot.frame_count - 1) / 2])
    ground = lambda c, r: float(np.hypot(c[0, 3] - r[0], c[1, 3] - r[1]))  # noqa: E731
    assert ground(cam_old, root0) == pytest.approx(shot.camera.distance, abs=0.05)
    assert ground(cam_new, root_mid) == pytest.approx(shot.camera.distance, abs=0.05)
    assert not np.allclose(cam_old, cam_new)
