"""The audit's pure pieces on arrays with known answers: channel checks, label findings,
temporal sparsity, metadata against the plan."""

from __future__ import annotations

import numpy as np
import pytest

from render.audit import frames, metadata
from render.audit.scan import chosen_frames
from render.audit.sparsity import WindowedChange, pooled, window_frames
from render.config import load_config
from render.plan import plan_shots

T = frames.Thresholds()


def channels(h=4, w=6, a=None):
    return {"A": np.zeros((h, w), np.float32) if a is None else a}


def test_channel_checks_name_each_defect():
    ok = {c: np.zeros((4, 6), np.float16) for c in "RGB"}
    assert frames.check_channels("rgb.exr", ok, (6, 4)) == []
    assert [c for c, _ in frames.check_channels("rgb.exr", ok, (6, 5))] == ["resolution"]
    wrong_type = dict(ok, G=np.zeros((4, 6), np.float32))
    assert [c for c, _ in frames.check_channels("rgb.exr", wrong_type, (6, 4))] == ["channel_type"]
    assert [c for c, _ in frames.check_channels("rgb.exr", {"R": ok["R"]}, (6, 4))] == ["channels"]
    inf = dict(ok, B=np.full((4, 6), np.inf, np.float16))
    ((check, msg),) = frames.check_channels("rgb.exr", inf, (6, 4))
    assert check == "nonfinite" and "24" in msg and "channel B" in msg
    a = np.zeros((4, 6), np.float32)
    a[1, 1], a[2, 2] = -0.1, 1.0001
    ((check, msg),) = frames.check_channels("alpha.exr", channels(a=a), (6, 4))
    assert check == "alpha_range" and msg.startswith("alpha.exr: 2 α values")
    assert frames.check_channels("alpha.exr", channels(a=np.ones((4, 6), np.float32)), (6, 4)) == []


def test_alpha_histogram_counts_every_pixel_once():
    a = np.array([[0, 0, 1, 0.5], [0.01, 0.99, 1, 0.25]], np.float32)
    h = frames.alpha_histogram(a)
    assert h.sum() == a.size and h[0] == 2 and h[-1] == 2
    assert h[1] == 1 and h[frames.HIST_BINS] == 1  # 0.01 in the first bin, 0.99 in the last


def test_subject_box_and_centre():
    a = np.zeros((10, 20), np.float32)
    a[2:6, 10:14] = 1.0
    box = frames.subject_box(a)
    assert box == pytest.approx({"height": 0.4, "width": 0.2, "cx": 11.5 / 20, "cy": 3.5 / 10})
    assert frames.subject_box(np.zeros((3, 3), np.float32)) is None


def _scene(h=32, w=32):
    """alpha (H, W), premultiplied fg, bg and unpremultiplied F as (H, W, 3) arrays."""
    rng = np.random.default_rng(0)
    bg = rng.uniform(0.1, 0.3, (h, w, 3)).astype(np.float32)
    f = np.zeros_like(bg)
    f[...] = (0.9, 0.5, 0.1)
    a = np.zeros((h, w), np.float32)
    a[8:24, 8:24] = 1.0
    a[8:24, 24] = 0.5
    return a, f * a[..., None], bg, f


def figs(rgb, a, fg, bg, maps=False):
    ch = frames.split
    return frames.frame_figures(
        ch(rgb) if rgb is not None else None,
        a,
        ch(fg) if fg is not None else None,
        ch(bg) if bg is not None else None,
        T,
        maps,
    )


def test_a_consistent_frame_has_no_label_findings():
    a, fg, bg, _ = _scene()
    rgb = fg + (1 - a[..., None]) * bg
    fig, maps = figs(rgb, a, fg, bg, maps=True)
    assert fig["residual_all"] == pytest.approx(0, abs=1e-6)
    assert fig["evidence_without_label"] == 0 and fig["label_without_evidence"] == 0
    assert frames.label_findings(fig, T) == []
    assert set(maps) == {"luminance", "evidence", "residual"}


def test_label_without_evidence_and_evidence_without_label():
    a, fg, bg, _ = _scene()
    # The label says a subject is there, the image shows only the plate: no evidence.
    fig, _ = figs(bg.copy(), a, fg, bg)
    assert fig["label_without_evidence"] == pytest.approx(1.0)
    checks = {c for c, _ in frames.label_findings(fig, T)}
    assert {"label_without_evidence", "composite_residual"} <= checks
    # The image shows a subject the label does not cover.
    rgb = fg + (1 - a[..., None]) * bg
    fig, _ = figs(rgb, np.zeros_like(a), np.zeros_like(fg), bg)
    assert fig["evidence_without_label"] == pytest.approx((16 * 17) / 32**2)
    assert {c for c, _ in frames.label_findings(fig, T)} >= {"evidence_without_label", "subject_lost"}


def test_a_label_that_lost_a_solid_region_fails_the_residual_over_all_pixels():
    a, fg, bg, _ = _scene()
    rgb = fg + (1 - a[..., None]) * bg
    cut = a.copy()
    cut[8:16] = 0.0  # half the subject gone from α (and F), no fractional pixels lost there
    fig, _ = figs(rgb, cut, fg * cut[..., None], bg)
    assert fig["residual_all"] > T.residual_all
    assert "composite_residual" in {c for c, _ in frames.label_findings(fig, T)}


def test_without_bg_only_the_coverage_figures():
    a, fg, bg, _ = _scene()
    fig, maps = figs(bg, a, None, None)
    assert "residual_all" not in fig and "evidence_without_label" not in fig
    assert fig["fractional"] == pytest.approx(16 / 32**2) and "brightness" in fig
    assert set(maps) == {"luminance"}


def test_fills_frame():
    fig, _ = frames.frame_figures(None, np.ones((4, 4), np.float32), None, None, T)
    assert [c for c, _ in frames.label_findings(fig, T)] == ["fills_frame"]


def test_windowed_change_counts_ranges_over_whole_windows():
    base = np.zeros((2, 5), np.float32)
    seq = [base.copy() for _ in range(7)]
    seq[1][0, 0] = 0.5  # changes in window 0 (frames 0-2)
    seq[2][0, 1] = 0.05  # below the threshold
    seq[4][1, 4] = 0.2  # changes in window 1 (frames 3-5)
    seq[6][1, 1] = 0.9  # frame 6 is after the last whole window: left out
    w = WindowedChange(window=3, threshold=0.1, frames=7)
    for i, x in enumerate(seq):
        w.add(x, i)
    assert w.finish() == pytest.approx(2 / 20)
    assert (w.windows, w.frames_in_windows) == (2, 6)
    # A shot shorter than the window is one window.
    w = WindowedChange(window=10, threshold=0.1, frames=3)
    for i, x in enumerate(seq[:3]):
        w.add(x, i)
    assert w.finish() == pytest.approx(1 / 10) and w.windows == 1 and w.to_json()["short_shot"]
    # Sampled frames stay in the window of their frame number: frames 0 and 4 are not compared.
    w = WindowedChange(window=3, threshold=0.1, frames=6)
    w.add(seq[0], 0)
    w.add(seq[4], 4)
    assert w.finish() is None and w.windows == 0
    assert pooled([{"changed": 1, "pixels": 10}, {"changed": 3, "pixels": 10}]) == pytest.approx(0.2)
    assert window_frames(30, 2.0) == 60 and window_frames(24, 2.0) == 48
    with pytest.raises(ValueError):
        WindowedChange(window=1, threshold=0.1, frames=5)


def test_chosen_frames_include_first_and_last():
    assert chosen_frames(10, None) == set(range(10))
    assert chosen_frames(10, 2) == {0, 9}
    assert chosen_frames(130, 5) == {0, 32, 64, 97, 129}
    assert chosen_frames(3, 7) == {0, 1, 2}


def test_metadata_findings_name_the_field(tiny_config):
    cfg = load_config(tiny_config)
    shot = plan_shots(cfg, ["a", "b"], ["walk"])[0]
    w, h = shot.resolution
    from render.camera import intrinsics

    meta = {
        "shot_id": shot.shot_id,
        "scene": shot.scene,
        "split": shot.split,
        "frame": 1,
        "frame_count": shot.frame_count,
        "fps": shot.fps,
        "resolution": [w, h],
        "camera": {
            "K": np.round(intrinsics(shot.camera.focal_mm, w, h), 6).tolist(),
            "focal_length_mm": shot.camera.focal_mm,
            "preset": shot.camera.preset,
            "depth_of_field": True,
            "fstop": shot.camera.fstop,
        },
        "character": {"id": shot.character.id, "hair": dict(shot.character.hair)},
        "animation": {"clip": shot.animation.clip, "start": shot.animation.start},
        "seeds": {"shot": shot.seed},
    }
    assert metadata.json_findings(meta, shot, 1) == []
    assert metadata.json_findings(meta, shot, 2) == ["frame is 1, the plan says 2"]
    bad = {**meta, "camera": {**meta["camera"], "K": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}
    (msg,) = metadata.json_findings(bad, shot, 1)
    assert msg.startswith("camera.K is")
    del bad["scene"]
    assert "scene is missing" in metadata.json_findings(bad, shot, 1)
    assert metadata.json_findings([1, 2], shot, 1) == ["the JSON is a list, not an object"]


def test_residual_is_the_label_definition():
    from render import labels

    rng = np.random.default_rng(3)
    a = rng.uniform(-0.5, 1.5, (16, 16)).clip(0, 1).astype(np.float32)
    rgb, f, bg = (rng.uniform(0, 2, (16, 16, 3)).astype(np.float32) for _ in range(3))
    fig, _ = figs(rgb, a, f * a[..., None], bg)
    want = labels.composite_residual(rgb, a, f, bg)
    assert fig["residual_fractional"] == pytest.approx(want["fractional"], rel=1e-5)
    assert fig["residual_all"] == pytest.approx(want["all"], rel=1e-5)


def test_display_matches_the_srgb_curve():
    x = np.linspace(-0.2, 1.5, 1001, dtype=np.float32)
    ref = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.clip(x, 0, 1), 1 / 2.4) - 0.055).clip(0, 1)
    assert np.abs(frames.display(x) - ref).max() < 1e-3
    assert frames.display(np.float32([np.nan]))[0] == 0
