"""Reading the 8/16-bit image folders (VideoMatte-style clips, image matting sets, backgrounds)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 or uint16 sRGB, channel order R, G, B."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:  # an RGBA foreground: colour only, the matte comes from its own file
        img = img[..., :3]
    return np.ascontiguousarray(img[..., ::-1])


def read_alpha(path: str | os.PathLike) -> np.ndarray:
    """(H, W) float32 alpha in [0, 1] from an 8- or 16-bit grey (or colour: first channel) image."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    if img.ndim == 3:
        img = img[..., 0]
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535
    raise ValueError(f"{path}: unsupported alpha image dtype {img.dtype}")
