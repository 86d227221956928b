"""Crop, resize, flip and colour jitter, identical across the T frames of a clip.

A sample has two views of the clip:

* the window FAR trains on: a square of a side drawn from ``crop_sizes`` (clamped to the
  frame), centred on the matte's edge (a fractional pixel of the context's alpha, see
  ``choose_crop``), resized to ``size`` x ``size`` (no resize when the side is ``size``: FAR
  then sees full-resolution pixels, as at inference);
* the context CAP trains on: the whole frame letterboxed on a ``context_size`` canvas
  (:mod:`matting.framing`), the view CAP gets at inference, and the window's ``box`` on it.

Only the window is read at full resolution, so the per-pixel work is proportional to the
crop, not to the 4K frame. Both views come in linear light; one look drawn for the clip
(exposure, camera curve: ``matting.data.color``) turns them into display values, then the
colour jitter (display values) and the flip apply to both alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from matting.data.clip import ClipView
from matting.data.color import CURVES, draw_look, encode
from matting.framing import fit, window_box


@dataclass(frozen=True)
class AugmentConfig:
    size: int = 512
    crop_sizes: tuple[int, ...] = (512,)  # windows resized to size; == size: full resolution
    flip_prob: float = 0.5
    color_jitter: float = 0.1  # max relative change of brightness, contrast and saturation
    exposure: float = 0.5  # max |EV| of the exposure change in linear light
    curves: tuple[str, ...] = CURVES  # camera curves; the first half the time (matting.data.color)
    context_size: int = 512  # CAP's canvas: the model's cap_size


def choose_crop(
    context_alpha: np.ndarray, frame: tuple[int, int], side: int, rng: np.random.Generator
) -> tuple[int, int, int]:
    """(y0, x0, side) of a square window inside (H, W) ``frame``, centred on a point of the
    matte's edge: a random fractional pixel (0 < alpha < 1) of a random frame of the (T, C, C)
    letterboxed ``context_alpha``, at a random place inside that pixel's footprint in the frame
    (anywhere in the frame when no pixel is fractional)."""
    height, width = frame
    side = int(min(side, height, width))
    t_count, size = context_alpha.shape[:2]
    h, w, top, left = fit(height, width, size)
    canvas = context_alpha[int(rng.integers(t_count)), top : top + h, left : left + w]
    unknown = np.flatnonzero((canvas > 0) & (canvas < 1))
    if len(unknown):
        py, px = divmod(int(unknown[int(rng.integers(len(unknown)))]), w)
        u, v = rng.random(2)
        cy, cx = int((py + u) * height / h), int((px + v) * width / w)
    else:
        cy, cx = int(rng.integers(height)), int(rng.integers(width))
    y0 = min(max(cy - side // 2, 0), height - side)
    x0 = min(max(cx - side // 2, 0), width - side)
    return y0, x0, side


def resize(img: np.ndarray, size: int) -> np.ndarray:
    """(S, S) or (S, S, C<=4) float32 -> (size, size[, C]); area filter when shrinking (it
    averages every source pixel, which keeps thin hair), bilinear when growing."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec.709, matching the renders


def jitter_factors(strength: float, rng: np.random.Generator) -> np.ndarray:
    """(brightness, contrast, saturation) factors, each uniform in [1 - strength, 1 + strength]."""
    return 1 + rng.uniform(-strength, strength, size=3)


def apply_jitter(rgb: np.ndarray, factors: np.ndarray, pivot: float) -> np.ndarray:
    """(..., 3) float32 display values: brightness x b, contrast c about ``pivot`` (the mean
    luma after brightness), saturation s about each pixel's luma; clipped to [0, 1].

    The three steps compose to one affine colour map (luma weights sum to 1),
    out = b c (s rgb + (1 - s) luma(rgb)) + pivot (1 - c), computed per pixel (no BLAS, whose
    rounding may differ between pixels)."""
    b, c, s = (float(f) for f in factors)
    rgb = np.asarray(rgb, dtype=np.float32)
    luma = rgb[..., 0] * LUMA[0] + rgb[..., 1] * LUMA[1] + rgb[..., 2] * LUMA[2]
    out = rgb * np.float32(b * c * s)
    out += (luma * np.float32(b * c * (1 - s)) + np.float32(pivot * (1 - c)))[..., None]
    return np.clip(out, 0.0, 1.0, out=out)


def color_jitter(rgb: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Same brightness, contrast and saturation change for all frames of (T, H, W, 3) float32,
    pivoting on the clip's own mean luma."""
    factors = jitter_factors(strength, rng)
    pivot = float((rgb @ LUMA).mean()) * factors[0]  # one pivot for the clip keeps frames consistent
    return apply_jitter(rgb, factors, pivot)


def augment_clip(clip: ClipView, rng: np.random.Generator, cfg: AugmentConfig) -> dict:
    """A clip -> {"rgb": (T, 3, S, S) float32 [0, 1], "alpha": (T, 1, S, S) float32 [0, 1],
    "context": (T, 3, C, C) float32 [0, 1], "context_alpha": (T, 1, C, C), "box": (4,) float64,
    "source": str, "key": str} with S = cfg.size, C = cfg.context_size; ``box`` is the
    window's place on the context canvas (see :mod:`matting.framing`). The context is read
    first, the window is chosen on it, and only the window is read at full resolution."""
    t_count, height, width = clip.shape
    c = cfg.context_size
    context, context_alpha = clip.context(c)  # (T, C, C, 3), (T, C, C)
    side = int(cfg.crop_sizes[int(rng.integers(len(cfg.crop_sizes)))])
    y0, x0, side = choose_crop(context_alpha, (height, width), side, rng)
    rgb, alpha = clip.window(slice(y0, y0 + side), slice(x0, x0 + side))  # (T, s, s, 3), (T, s, s)
    # One look (exposure, camera curve) turns the linear light of both views into display values.
    look = draw_look(cfg.exposure, cfg.curves, rng)
    rgb, context = encode(rgb, look), encode(context, look)
    rgb_out = np.empty((t_count, cfg.size, cfg.size, 3), np.float32)
    alpha_out = np.empty((t_count, cfg.size, cfg.size), np.float32)
    for t in range(t_count):  # one frame at a time: contiguous inputs, no big transposes
        rgb_out[t] = resize(rgb[t], cfg.size)
        alpha_out[t] = resize(np.ascontiguousarray(alpha[t], dtype=np.float32), cfg.size)
    rgb, alpha = rgb_out, alpha_out
    box = np.array(window_box(height, width, c, y0, x0, y0 + side, x0 + side))
    if cfg.color_jitter > 0:  # one change for window and context, pivoting on the whole frame
        factors = jitter_factors(cfg.color_jitter, rng)
        h, w, top, left = fit(height, width, c)
        inside = (slice(None), slice(top, top + h), slice(left, left + w))
        pivot = float((context[inside] @ LUMA).mean()) * factors[0]
        rgb = apply_jitter(rgb, factors, pivot)
        context[inside] = apply_jitter(context[inside], factors, pivot)  # the canvas stays black
    if rng.random() < cfg.flip_prob:
        rgb, alpha = rgb[:, :, ::-1], alpha[:, :, ::-1]
        context, context_alpha = context[:, :, ::-1], context_alpha[:, :, ::-1]
        box = np.array([box[0], 1 - box[3], box[2], 1 - box[1]])
    return {
        "rgb": _chw(rgb),
        "alpha": torch.from_numpy(np.ascontiguousarray(np.clip(alpha[:, None], 0.0, 1.0))),
        "context": _chw(context),
        "context_alpha": torch.from_numpy(np.ascontiguousarray(np.clip(context_alpha[:, None], 0.0, 1.0))),
        "box": torch.from_numpy(box),
        "source": clip.source,
        "key": clip.key,
    }


def _chw(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) -> (T, 3, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2), dtype=np.float32))
