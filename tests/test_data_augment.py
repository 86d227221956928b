"""Crop, resize, flip and colour jitter, shared by the frames of a clip."""

import numpy as np
import pytest
import torch

from matting.data.augment import AugmentConfig, augment_clip, choose_crop, color_jitter, resize
from matting.data.clip import PlanarFrames, RawClip


def _raw(t=3, h=40, w=50, seed=0, identical=False):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (1 if identical else t, h, w, 3), dtype=np.uint8)
    alpha = rng.random((1 if identical else t, h, w), dtype=np.float32)
    if identical:
        rgb, alpha = np.repeat(rgb, t, axis=0), np.repeat(alpha, t, axis=0)
    return RawClip(rgb, alpha, "srgb", "test", "k")


def test_crop_is_centred_on_an_unknown_pixel():
    # A 40 x 50 frame on a 50 px canvas (rows 5..45): one canvas pixel per frame pixel.
    canvas = np.zeros((2, 50, 50), np.float32)
    canvas[:, 5 + 10, 20] = 0.5
    rng = np.random.default_rng(0)
    assert choose_crop(canvas, (40, 50), 8, rng) == (6, 16, 8)
    canvas[:] = 0
    canvas[:, 5 + 1, 1] = 0.5  # near the corner the window is pushed inside the frame
    assert choose_crop(canvas, (40, 50), 8, rng) == (0, 0, 8)
    assert choose_crop(canvas, (40, 50), 100, rng) == (0, 0, 40)  # side clamped to the frame
    for _ in range(20):  # no unknown pixel: anywhere, but inside
        y0, x0, side = choose_crop(np.ones((2, 50, 50), np.float32), (40, 50), 16, rng)
        assert 0 <= y0 <= 24 and 0 <= x0 <= 34 and side == 16
    # On a canvas 4x smaller, the centre falls anywhere inside the pixel's 4 x 4 footprint.
    small = np.zeros((1, 13, 13), np.float32)  # 40 x 50 -> 10 x 13 at rows 1..11
    small[0, 1 + 5, 6] = 0.5
    centres = {
        (y0 + 8, x0 + 8) for y0, x0, _ in (choose_crop(small, (400, 500), 16, rng) for _ in range(200))
    }
    ys, xs = {c[0] for c in centres}, {c[1] for c in centres}
    assert min(ys) >= 200 and max(ys) < 240 and min(xs) >= 6 * 500 // 13 and max(xs) < 7 * 500 // 13 + 1
    assert len(centres) > 100  # spread over the footprint, not one point


def test_output_shapes_types_and_ranges():
    cfg = AugmentConfig(size=12, crop_sizes=(8, 16, 30), flip_prob=0.5, color_jitter=0.3)
    for seed in range(6):
        out = augment_clip(_raw(), np.random.default_rng(seed), cfg)
        assert out["rgb"].shape == (3, 3, 12, 12) and out["alpha"].shape == (3, 1, 12, 12)
        assert out["rgb"].dtype == out["alpha"].dtype == torch.float32
        for x in (out["rgb"], out["alpha"]):
            assert x.is_contiguous() and 0 <= x.min() and x.max() <= 1
        assert (out["source"], out["key"]) == ("test", "k")


def test_frames_share_crop_flip_and_jitter():
    # Identical input frames stay identical whatever the crop, flip and jitter were.
    cfg = AugmentConfig(size=10, crop_sizes=(17, 23), flip_prob=0.5, color_jitter=0.4)
    for seed in range(6):
        out = augment_clip(_raw(identical=True), np.random.default_rng(seed), cfg)
        for t in range(1, 3):
            assert torch.equal(out["rgb"][t], out["rgb"][0])
            assert torch.equal(out["alpha"][t], out["alpha"][0])


def test_flip_mirrors_every_frame():
    raw = _raw()
    plain = augment_clip(
        raw, np.random.default_rng(3), AugmentConfig(12, (20,), flip_prob=0.0, color_jitter=0.0)
    )
    flipped = augment_clip(
        raw, np.random.default_rng(3), AugmentConfig(12, (20,), flip_prob=1.0, color_jitter=0.0)
    )
    assert torch.equal(flipped["rgb"], plain["rgb"].flip(-1))
    assert torch.equal(flipped["alpha"], plain["alpha"].flip(-1))


def test_crop_without_resize_is_exact():
    raw = _raw()
    cfg = AugmentConfig(16, (16,), flip_prob=0.0, color_jitter=0.0, exposure=0.0, curves=("srgb",))
    out = augment_clip(raw, np.random.default_rng(1), cfg)
    # The same draws give the window; the output is that window of the input, through linear
    # light and back (half floats in between: within a tenth of an 8-bit step).
    rng = np.random.default_rng(1)
    rng.integers(1)  # crop-size draw
    y0, x0, side = choose_crop(raw.context(512)[1], raw.shape[1:], 16, rng)
    expected = raw.rgb[:, y0 : y0 + side, x0 : x0 + side].astype(np.float32) / 255
    np.testing.assert_allclose(out["rgb"].numpy(), expected.transpose(0, 3, 1, 2), atol=4e-4)
    assert np.array_equal(out["alpha"].numpy()[:, 0], raw.alpha[:, y0 : y0 + side, x0 : x0 + side])


def test_resize_shapes_and_constants():
    img = np.random.default_rng(0).random((30, 30, 3), dtype=np.float32)
    for size in (7, 45):
        assert resize(img, size).shape == (size, size, 3)
        assert resize(img[..., 0], size).shape == (size, size)
    assert resize(img, 30) is img
    assert np.allclose(resize(np.full((30, 30), 0.25, np.float32), 11), 0.25)


def test_color_jitter_zero_strength_is_identity_and_range_is_kept():
    rgb = np.random.default_rng(0).random((2, 5, 5, 3), dtype=np.float32)
    assert np.allclose(color_jitter(rgb.copy(), 0.0, np.random.default_rng(0)), rgb)
    out = color_jitter(rgb.copy(), 0.9, np.random.default_rng(1))
    assert out.min() >= 0 and out.max() <= 1 and not np.allclose(out, rgb)


def test_color_jitter_changes_brightness_contrast_and_saturation_as_documented():
    """The documented factors, on images that isolate them: a constant grey clip changes by
    brightness alone, a grey ramp by brightness and contrast (no chroma to saturate), a red one by
    all three (contrast pivots on the clip's mean luma); every frame changes alike."""
    b, c, s = 1 + np.random.default_rng(5).uniform(-0.3, 0.3, size=3)
    grey = np.full((2, 4, 4, 3), 0.4, np.float32)
    out = color_jitter(grey.copy(), 0.3, np.random.default_rng(5))
    np.testing.assert_allclose(out, 0.4 * b, rtol=1e-5)  # brightness only: contrast pivots on the mean
    ramp = np.broadcast_to(np.linspace(0.3, 0.6, 4, dtype=np.float32)[None, None, :, None], (2, 4, 4, 3))
    out = color_jitter(np.ascontiguousarray(ramp), 0.3, np.random.default_rng(5))
    mean = (ramp * b).mean()
    np.testing.assert_allclose(out, (ramp * b - mean) * c + mean, rtol=1e-5)  # grey: no saturation change
    np.testing.assert_allclose(out[0], out[1])  # frames alike
    red = np.zeros((1, 2, 2, 3), np.float32)
    red[..., 0] = 0.5
    out = color_jitter(red.copy(), 0.3, np.random.default_rng(5))
    weights = np.array([0.2126, 0.7152, 0.0722])  # Rec.709 luma
    pivot = 0.2126 * 0.5 * b  # the clip's mean luma after brightness
    v = (np.array([0.5 * b, 0.0, 0.0]) - pivot) * c + pivot  # contrast about that pivot
    luma = v @ weights
    np.testing.assert_allclose(out[0, 0, 0], np.clip(luma + (v - luma) * s, 0, 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("transfer", ["linear", "srgb"])
def test_float_inputs(transfer):
    rgb = np.full((2, 8, 8, 3), 0.5, np.float32)
    raw = RawClip(rgb, np.full((2, 8, 8), 0.5, np.float32), transfer, "test", "k")
    cfg = AugmentConfig(8, (8,), 0.0, 0.0, exposure=0.0, curves=("srgb",))
    out = augment_clip(raw, np.random.default_rng(0), cfg)
    expected = 1.055 * 0.5 ** (1 / 2.4) - 0.055 if transfer == "linear" else 0.5
    assert out["rgb"].numpy() == pytest.approx(expected, abs=2e-4)  # through half floats


def test_planar_frames_behave_like_the_interleaved_array():
    planes = np.random.default_rng(0).random((2, 3, 10, 12), dtype=np.float32).astype(np.float16)
    full = planes.transpose(0, 2, 3, 1)  # (T, H, W, 3)
    lazy = PlanarFrames(planes)
    assert lazy.shape == full.shape and lazy.dtype == np.float16 and len(lazy) == 2
    assert np.array_equal(np.asarray(lazy), full) and np.array_equal(lazy[..., 1], full[..., 1])
    assert np.array_equal(lazy.crop(slice(2, 7), slice(3, 9)), full[:, 2:7, 3:9])
    raw = RawClip(lazy, np.full((2, 10, 12), 0.5, np.float32), "linear", "test", "k")
    dense = RawClip(full.copy(), raw.alpha, "linear", "test", "k")
    cfg = AugmentConfig(6, (8,), 0.5, 0.2)
    a, b = (
        augment_clip(raw, np.random.default_rng(2), cfg),
        augment_clip(dense, np.random.default_rng(2), cfg),
    )
    assert torch.equal(a["rgb"], b["rgb"]) and torch.equal(a["alpha"], b["alpha"])
    with pytest.raises(ValueError, match="rgb"):
        RawClip(lazy, np.zeros((3, 10, 12), np.float32), "linear", "test", "k")
