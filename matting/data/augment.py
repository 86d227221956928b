"""Crop, resize, flip and colour jitter, identical across the T frames of a clip.

The crop is a square of a side drawn from ``crop_sizes`` (clamped to the frame), centred on a
random pixel with 0 < alpha < 1 of a random frame (anywhere when a frame has none), then
resized to ``size`` x ``size``. Cropping before the colour conversion keeps the per-pixel
work proportional to the crop, not to the 4K frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from matting.data.clip import RawClip, crop_frames
from matting.data.color import to_display


@dataclass(frozen=True)
class AugmentConfig:
    size: int = 512
    crop_sizes: tuple[int, ...] = (512, 640, 800)
    flip_prob: float = 0.5
    color_jitter: float = 0.1  # max relative change of brightness, contrast and saturation


def choose_crop(alpha: np.ndarray, side: int, rng: np.random.Generator) -> tuple[int, int, int]:
    """(y0, x0, side) of a square window inside the (T, H, W) frames, centred on an unknown pixel."""
    t_count, h, w = alpha.shape
    side = int(min(side, h, w))
    frame = alpha[int(rng.integers(t_count))]
    unknown = np.flatnonzero((frame > 0) & (frame < 1))
    if len(unknown):
        cy, cx = divmod(int(unknown[int(rng.integers(len(unknown)))]), w)
    else:
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0 = min(max(cy - side // 2, 0), h - side)
    x0 = min(max(cx - side // 2, 0), w - side)
    return y0, x0, side


def resize(img: np.ndarray, size: int) -> np.ndarray:
    """(S, S) or (S, S, C<=4) float32 -> (size, size[, C]); area filter when shrinking (it
    averages every source pixel, which keeps thin hair), bilinear when growing."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def color_jitter(rgb: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Same brightness, contrast and saturation change for all frames of (T, H, W, 3) float32."""
    b, c, s = 1 + rng.uniform(-strength, strength, size=3)
    luma_weights = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec.709, matching the renders
    out = rgb * b
    mean = float((out @ luma_weights).mean())  # one pivot for the clip keeps frames consistent
    out = (out - mean) * c + mean
    luma = (out @ luma_weights)[..., None]
    out = luma + (out - luma) * s
    return np.clip(out, 0.0, 1.0, out=out)


def augment_clip(raw: RawClip, rng: np.random.Generator, cfg: AugmentConfig) -> dict:
    """RawClip -> {"rgb": (T, 3, S, S) float32 [0, 1], "alpha": (T, 1, S, S) float32 [0, 1],
    "source": str, "key": str} with S = cfg.size."""
    t_count = raw.alpha.shape[0]
    side = int(cfg.crop_sizes[int(rng.integers(len(cfg.crop_sizes)))])
    y0, x0, side = choose_crop(raw.alpha, side, rng)
    ys, xs = slice(y0, y0 + side), slice(x0, x0 + side)
    rgb = to_display(crop_frames(raw.rgb, ys, xs), raw.transfer)  # (T, s, s, 3)
    alpha = raw.alpha[:, ys, xs]  # (T, s, s)
    rgb_out = np.empty((t_count, cfg.size, cfg.size, 3), np.float32)
    alpha_out = np.empty((t_count, cfg.size, cfg.size), np.float32)
    for t in range(t_count):  # one frame at a time: contiguous inputs, no big transposes
        rgb_out[t] = resize(rgb[t], cfg.size)
        alpha_out[t] = resize(np.ascontiguousarray(alpha[t], dtype=np.float32), cfg.size)
    rgb, alpha = rgb_out, alpha_out
    if rng.random() < cfg.flip_prob:
        rgb, alpha = rgb[:, :, ::-1], alpha[:, :, ::-1]
    if cfg.color_jitter > 0:
        rgb = color_jitter(np.ascontiguousarray(rgb), cfg.color_jitter, rng)
    return {
        "rgb": torch.from_numpy(np.ascontiguousarray(rgb.transpose(0, 3, 1, 2), dtype=np.float32)),
        "alpha": torch.from_numpy(np.ascontiguousarray(np.clip(alpha[:, None], 0.0, 1.0))),
        "source": raw.source,
        "key": raw.key,
    }
