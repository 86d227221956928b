"""A real Cycles render at a tiny size: exact alpha, clean plate, reproducibility."""

import dataclasses

import cv2
import numpy as np
import pytest

from render.backends import RenderSettings, create_renderer
from render.catalog import load_clips, load_scenes
from render.config import load_config
from render.plan import plan_shots

pytestmark = pytest.mark.slow
KERNEL = np.ones((3, 3), np.uint8)


def erode(mask: np.ndarray, n: int) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), KERNEL, iterations=n).astype(bool)


def dilate(mask: np.ndarray, n: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), KERNEL, iterations=n).astype(bool)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    cfg = load_config(
        None,
        {
            "cams": 3,
            "scenes": 2,
            "frames": 2,
            "resolution": "72x128",
            "samples": 8,
            "alpha_samples": 64,
            "hair_strands": 3000,
            "frames_jitter": 0.0,
        },
    )
    scenes = {s["name"]: s for s in load_scenes(cfg.scene_catalog_path())}
    clips = load_clips(cfg.clip_catalog_path())
    shot = plan_shots(cfg, list(scenes), list(clips))[0]
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
        animation=dataclasses.replace(shot.animation, clip="walk", position=(0.0, 0.0)),
    )
    renderer = create_renderer("blender")
    settings = RenderSettings.from_config(cfg, threads=2)
    work = tmp_path_factory.mktemp("render")
    files = renderer.render_shot(shot, scenes[shot.scene], clips["walk"], settings, work)
    frames = [renderer.read_frame(f, settings.passes) for f in files]
    return shot, scenes, clips, renderer, settings, frames, tmp_path_factory


def test_files_and_shapes(setup):
    shot, *_, frames, _ = setup
    assert len(frames) == shot.frame_count == 2
    for fr in frames:
        assert fr.rgb.shape == (128, 72, 3) and fr.bg.shape == (128, 72, 3) and fr.alpha.shape == (128, 72)
        assert fr.rgb.dtype == fr.alpha.dtype == np.float32
        assert np.isfinite(fr.rgb).all() and np.isfinite(fr.bg).all()
        assert 0.01 < fr.rgb.mean() < 5.0  # exposed like daylight, not black or blown out


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


def test_same_seed_same_pixels(setup):
    shot, scenes, clips, renderer, settings, frames, factory = setup
    again = renderer.render_shot(shot, scenes[shot.scene], clips["walk"], settings, factory.mktemp("again"))
    fr = renderer.read_frame(again[0], settings.passes)
    assert np.array_equal(fr.alpha, frames[0].alpha)
    assert np.allclose(fr.rgb, frames[0].rgb, atol=1e-5)
