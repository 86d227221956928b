"""Image matting sets (``images/`` + ``alphas/`` with matching stems) as pseudo-clips.

One image becomes T frames under a small random affine motion (a random walk of translation,
rotation and scale applied identically to image and alpha), so the temporal losses see
motion. Frame 0 is the image itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from matting.data.clip import RawClip
from matting.data.imageio import list_images, read_alpha, read_rgb


def motion_matrices(
    t_count: int, h: int, w: int, motion: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """T affine 2x3 matrices about the image centre; the first is the identity.

    Per frame step: translation ~ N(0, motion * max(h, w)) px, rotation ~ N(0, 50 * motion)
    degrees, log-scale ~ N(0, motion / 2) (motion = 0.02: ~1 % of the size, 1 degree, 1 %).
    """
    tx = ty = angle = log_scale = 0.0
    mats = []
    for t in range(t_count):
        if t:
            tx += rng.normal(0, motion * max(h, w))
            ty += rng.normal(0, motion * max(h, w))
            angle += rng.normal(0, 50 * motion)
            log_scale += rng.normal(0, motion / 2)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, float(np.exp(log_scale)))
        m[:, 2] += (tx, ty)
        mats.append(m)
    return mats


class ImageMatteSource:
    """Pseudo-clips of ``clip_len`` frames, one per image.

    ``load`` returns rgb (T, H, W, 3) uint8/uint16 display sRGB and alpha (T, H, W) float32.
    """

    name = "images"

    def __init__(self, root: str | os.PathLike, clip_len: int = 4, motion: float = 0.02):
        root = Path(root)
        img_dir, alpha_dir = root / "images", root / "alphas"
        for d in (img_dir, alpha_dir):
            if not d.is_dir():
                raise FileNotFoundError(f"{root}: no {d.name}/ folder")
        alphas = {p.stem: p for p in list_images(alpha_dir)}
        self.pairs = []
        for img in list_images(img_dir):
            if img.stem not in alphas:
                raise FileNotFoundError(f"{alpha_dir}: no alpha for image {img.name}")
            self.pairs.append((img, alphas[img.stem]))
        if not self.pairs:
            raise ValueError(f"{img_dir}: no images")
        self.clip_len = clip_len
        self.motion = motion

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int, rng: np.random.Generator) -> RawClip:
        img_path, alpha_path = self.pairs[index]
        img, alpha = read_rgb(img_path), read_alpha(alpha_path)
        h, w = alpha.shape
        if img.shape[:2] != (h, w):
            raise ValueError(f"{img_path}: image {img.shape[:2]} and alpha {(h, w)} sizes differ")
        rgb_frames, alpha_frames = [], []
        for m in motion_matrices(self.clip_len, h, w, self.motion, rng):
            # Reflected borders keep image and alpha consistent where the warp looks outside.
            kw = {"flags": cv2.INTER_LINEAR, "borderMode": cv2.BORDER_REFLECT_101}
            rgb_frames.append(cv2.warpAffine(img, m, (w, h), **kw))
            alpha_frames.append(cv2.warpAffine(alpha, m, (w, h), **kw))
        alpha_arr = np.clip(np.stack(alpha_frames), 0.0, 1.0)
        return RawClip(np.stack(rgb_frames), alpha_arr, "srgb", self.name, img_path.stem)
