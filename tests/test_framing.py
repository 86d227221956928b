"""One scale for CAP (issue 14, finding 1): the letterbox canvas, window boxes, cutting CAP's
output at a window, and training samples that give the model what inference gives it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from matting.data.augment import AugmentConfig, augment_clip
from matting.data.clip import PlanarFrames, RawClip
from matting.data.color import encode, to_display
from matting.framing import (
    clip_inputs,
    context_torch,
    cut,
    fit,
    frame_box,
    letterbox,
    letterbox_torch,
    window_box,
)
from matting.models.registry import build_model

PLAIN = {"exposure": 0.0, "curves": ("srgb",)}  # the default look: what evaluation uses


def test_a_4k_portrait_frame_keeps_its_aspect_on_the_canvas():
    assert fit(3840, 2160, 512) == (512, 288, 0, 112)  # 7.5x on both axes, centred
    assert fit(2160, 3840, 512) == (288, 512, 112, 0)
    assert frame_box(3840, 2160, 512) == (0.0, 112 / 512, 1.0, 400 / 512)
    # A 512 px window of the 4K frame covers 512 / 7.5 canvas pixels.
    y0, x0, y1, x1 = window_box(3840, 2160, 512, 1000, 500, 1512, 1012)
    assert (y1 - y0) * 512 == pytest.approx(512 / 7.5) and (x1 - x0) * 512 == pytest.approx(512 / 7.5)
    assert y0 * 512 == pytest.approx(1000 / 7.5) and x0 * 512 == pytest.approx(112 + 500 / 7.5)


def test_letterbox_shrinks_with_the_area_filter_and_pads_black():
    frames = np.random.default_rng(0).random((2, 60, 30, 3), dtype=np.float32) + 0.5
    canvas = letterbox(frames, 20)
    h, w, top, left = fit(60, 30, 20)
    assert canvas.shape == (2, 20, 20, 3) and (h, w, top, left) == (20, 10, 0, 5)
    inside = canvas[:, top : top + h, left : left + w]
    np.testing.assert_allclose(inside, frames.reshape(2, 20, 3, 10, 3, 3).mean(axis=(2, 4)), atol=1e-6)
    assert (canvas[:, :, :left] == 0).all() and (canvas[:, :, left + w :] == 0).all()
    # The tensor version (area weights as matrices, for a GPU) is OpenCV's area filter, also at
    # a factor that is not an integer (96 x 54 -> 64 x 36: 1.5).
    t = letterbox_torch(torch.from_numpy(frames).permute(0, 3, 1, 2), 20).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(t, canvas, atol=1e-6)
    noise = np.random.default_rng(1).random((2, 96, 54, 3), dtype=np.float32)
    t = letterbox_torch(torch.from_numpy(noise).permute(0, 3, 1, 2), 64).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(t, letterbox(noise, 64), atol=1e-6)
    # The whole view (decode, shrink, encode) on a device agrees with the data side's.
    _, numpy_view, _ = clip_inputs(noise, 64)
    torch_view = context_torch(torch.from_numpy(noise).permute(0, 3, 1, 2), 64)
    torch.testing.assert_close(torch_view, numpy_view[0], atol=3e-4, rtol=0)


@pytest.mark.parametrize("mode, ref", [("bilinear", "bilinear"), ("nearest", "nearest-exact")])
def test_cut_of_the_whole_canvas_is_plain_resampling(mode, ref):
    maps = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).expand(3, 4)
    # nearest: sizes whose sample positions never fall on a pixel edge, where float32 (torch)
    # and float64 (cut) may round a tie either way
    for size in ((24, 24), (16, 40)) if mode == "nearest" else ((24, 24), (19, 41), (5, 3)):
        expected = F.interpolate(
            maps, size=size, mode=ref, **({"align_corners": False} if ref == "bilinear" else {})
        )
        torch.testing.assert_close(cut(maps, boxes, size, mode), expected, atol=1e-6, rtol=0)


def test_cut_of_a_window_equals_the_window_of_the_whole_frame_cut():
    """What FAR gets in training (the window's cut) is what inference gives those pixels
    (the whole frame's cut, cropped): same sample positions, both modes."""
    maps = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    height, width, size = 90, 50, 16
    whole = torch.tensor([frame_box(height, width, size)]).expand(2, 4)
    win = torch.tensor([window_box(height, width, size, 30, 11, 60, 41)]).expand(2, 4)
    for mode in ("bilinear", "nearest"):
        full = cut(maps, whole, (height, width), mode)
        part = cut(maps, win, (30, 30), mode)
        torch.testing.assert_close(part, full[:, :, 30:60, 11:41], atol=1e-6, rtol=0)


def _clip(t=2, h=72, w=40, seed=0, linear=False):
    rng = np.random.default_rng(seed)
    alpha = np.zeros((t, h, w), np.float32)
    alpha[:, 20:60, 10:30] = 1.0
    alpha[:, 19, 10:30] = alpha[:, 60, 10:30] = 0.5
    if linear:
        planes = [[rng.random((h, w)).astype(np.float16) for _ in range(3)] for _ in range(t)]
        return RawClip(PlanarFrames(planes), alpha, "linear", "test", "k")
    return RawClip(rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8), alpha, "srgb", "test", "k")


@pytest.mark.parametrize("linear", [False, True])
def test_training_context_is_what_inference_makes_of_the_whole_frame(linear):
    raw = _clip(linear=linear)
    cfg = AugmentConfig(size=16, crop_sizes=(16,), flip_prob=0.0, color_jitter=0.0, context_size=32, **PLAIN)
    sample = augment_clip(raw, np.random.default_rng(0), cfg)
    frames = to_display(np.asarray(raw.rgb), raw.transfer)
    _, context, box = clip_inputs(frames, 32, context=encode(raw.context(32)[0]))
    torch.testing.assert_close(sample["context"], context[0])
    if not linear:  # display frames: the same numbers as inference's own letterbox
        torch.testing.assert_close(sample["context"], clip_inputs(frames, 32)[1][0])
    assert sample["context"].shape == (2, 3, 32, 32) and sample["context_alpha"].shape == (2, 1, 32, 32)
    torch.testing.assert_close(sample["context_alpha"][:, 0], torch.from_numpy(letterbox(raw.alpha, 32)))
    # The box is the window's place: 16 of the frame's 72 rows, on the 32 px canvas.
    y0, x0, y1, x1 = sample["box"].tolist()
    assert (y1 - y0) * 32 == pytest.approx(16 * 32 / 72) and box.shape == (1, 4)
    # On a canvas as large as the frame (no shrinking), the box cuts the window out of it.
    big = AugmentConfig(size=16, crop_sizes=(16,), flip_prob=0.0, color_jitter=0.0, context_size=72, **PLAIN)
    s = augment_clip(raw, np.random.default_rng(0), big)
    back = cut(s["context"], s["box"][None].expand(2, 4), (16, 16), "nearest")
    torch.testing.assert_close(back, s["rgb"], atol=1e-6, rtol=0)


def test_flip_mirrors_the_window_the_context_and_the_box():
    raw = _clip(seed=3)
    plain = AugmentConfig(
        size=16, crop_sizes=(16,), flip_prob=0.0, color_jitter=0.0, context_size=32, **PLAIN
    )
    flip = AugmentConfig(size=16, crop_sizes=(16,), flip_prob=1.0, color_jitter=0.0, context_size=32, **PLAIN)
    a = augment_clip(raw, np.random.default_rng(5), plain)
    b = augment_clip(raw, np.random.default_rng(5), flip)
    torch.testing.assert_close(b["rgb"], a["rgb"].flip(-1))
    torch.testing.assert_close(b["context"], a["context"].flip(-1))
    torch.testing.assert_close(b["context_alpha"], a["context_alpha"].flip(-1))
    y0, x0, y1, x1 = a["box"].tolist()
    torch.testing.assert_close(b["box"], torch.tensor([y0, 1 - x1, y1, 1 - x0], dtype=torch.float64))


def test_jitter_changes_window_and_context_alike_and_keeps_the_canvas_black():
    raw = _clip(seed=4)
    cfg = AugmentConfig(size=16, crop_sizes=(16,), flip_prob=0.0, color_jitter=0.4, context_size=32, **PLAIN)
    s = augment_clip(raw, np.random.default_rng(2), cfg)
    h, w, top, left = fit(72, 40, 32)
    assert (s["context"][:, :, :, :left] == 0).all() and (s["context"][:, :, :, left + w :] == 0).all()
    # Window and context get one colour change: on a canvas as large as the frame (no
    # shrinking) the window's pixels are the context's pixels at the box.
    big = AugmentConfig(
        size=16, crop_sizes=(16,), flip_prob=0.0, color_jitter=0.4, context_size=72
    )  # random looks too
    s = augment_clip(raw, np.random.default_rng(2), big)
    back = cut(s["context"], s["box"][None].expand(2, 4), (16, 16), "nearest")
    torch.testing.assert_close(back, s["rgb"], atol=1e-5, rtol=0)


def test_model_given_a_window_and_its_box_matches_the_whole_frame_on_those_pixels():
    """The model's coarse alpha and key regions for a training window are exactly the
    inference ones for the same pixels (one scale for CAP); FAR's own output may differ at
    the window's edge (its convolutions see less), so it is not compared."""
    torch.manual_seed(0)
    model = build_model("mumatting-tiny").eval()
    frames = np.random.default_rng(1).random((4, 96, 54, 3), dtype=np.float32)
    rgb, context, box = clip_inputs(frames, model.cap.cap_size)
    win = torch.tensor([window_box(96, 54, model.cap.cap_size, 40, 10, 72, 42)], dtype=torch.float64)
    with torch.no_grad():
        whole = model(rgb, "cap", context, box)
        part = model(rgb[..., 40:72, 10:42], "cap", context, win)
        fallback = model(rgb, "cap")  # no context given: letterboxed by the model itself
        own = context_torch(rgb[0], model.cap.cap_size)[None]
        explicit = model(rgb, "cap", own, box)
    for name in ("coarse", "key"):
        torch.testing.assert_close(part[name], whole[name][..., 40:72, 10:42], atol=1e-6, rtol=0)
        torch.testing.assert_close(fallback[name], explicit[name], atol=0, rtol=0)
    torch.testing.assert_close(fallback["coarse"], whole["coarse"], atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="must match"):
        model(rgb, "cap", context, box[:, :3])


def _hair_over_sky(height=240, width=136):
    """Scene-linear frame: a sky at L = 3 (brighter than white) with 1 px dark strands."""
    rgb = np.full((1, height, width, 3), 3.0, np.float32)
    rgb[:, 60:200, 20:120:3] = 0.02
    alpha = np.zeros((1, height, width), np.float32)
    alpha[:, 60:200, 20:120:3] = 1.0
    return rgb, alpha


def test_the_view_of_a_frame_brighter_than_white_is_what_inference_sees():
    """Inference gets display frames (clipped at white): the training view from lowres.exr
    must be made from the frame as a display shows it, not from its HDR values."""
    from render.lowres import lowres_rgb, shrink

    rgb, alpha = _hair_over_sky()
    small = RawClip(
        PlanarFrames([[lowres_rgb(rgb[0], 64)[..., c].astype(np.float16) for c in range(3)]]),
        shrink(alpha[0], 64)[None],
        "linear",
        "test",
        "k",
    )
    training, _ = small.context(32, frame=rgb.shape[1:3])
    _, inference, _ = clip_inputs(encode(rgb.astype(np.float16)), 32)
    np.testing.assert_allclose(encode(training), inference[0].permute(0, 2, 3, 1).numpy(), atol=2e-3)
    unclipped = letterbox(rgb, 32)  # what shrinking the HDR values would give: far off at the hair
    assert np.abs(encode(unclipped) - inference[0].permute(0, 2, 3, 1).numpy()).max() > 0.1


def test_a_small_copy_is_placed_where_the_full_frame_is():
    """lowres.exr rounds its own size: 2048 x 858 at 512 is 512 x 214; on a 384 canvas the full
    frame is 161 rows, the copy alone would give 160. The view follows the full frame."""
    full = np.ones((1, 858, 2048), np.float32)
    copy = np.ones((1, 214, 512), np.float32)
    h, w, top, left = fit(858, 2048, 384)
    assert (h, top) == (161, 111) and fit(214, 512, 384)[:3:2] == (160, 112)
    placed = letterbox(copy, 384, frame=(858, 2048))
    np.testing.assert_array_equal(placed > 0, letterbox(full, 384) > 0)


def test_the_device_view_is_float32_under_autocast():
    frames = torch.rand(2, 3, 96, 54, generator=torch.Generator().manual_seed(0))
    plain = context_torch(frames, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = context_torch(frames, 64)
    assert cast.dtype == torch.float32
    torch.testing.assert_close(cast, plain, atol=1e-6, rtol=0)
