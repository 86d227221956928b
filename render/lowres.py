"""The ``lowres.exr`` field: each frame and its alpha shrunk for readers that need the whole
frame small (a matting model's whole-frame view; thumbnails), so they need not decode 4K.

The colour is the frame as a display shows it, scene-linear values clipped to [0, 1] (what a
camera records and what a matting model meets at inference), shrunk with the area filter
(every output pixel the mean of the input area it covers) in linear light, so that the longer
side is ``LOWRES_SIDE`` (frames already that small are stored at their own size). Pure
functions; no file I/O.
"""

from __future__ import annotations

import cv2
import numpy as np

LOWRES_SIDE = 512  # the canvas of the paper's CAP: its whole-frame view is a copy of this field


def lowres_size(width: int, height: int, side: int = LOWRES_SIDE) -> tuple[int, int]:
    """(width, height) of the shrunk frame: the longer side ``side`` (at most the frame's own)."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def lowres_rgb(rgb: np.ndarray, side: int = LOWRES_SIDE) -> np.ndarray:
    """(H, W, 3) scene-linear -> the ``lowres.exr`` colour: clipped to [0, 1], then shrunk."""
    return shrink(np.clip(rgb, 0.0, 1.0), side)


def shrink(image: np.ndarray, side: int = LOWRES_SIDE) -> np.ndarray:
    """(H, W) or (H, W, C) float -> float32 of :func:`lowres_size`, area filter."""
    h, w = image.shape[:2]
    size = lowres_size(w, h, side)
    image = np.asarray(image, dtype=np.float32)
    if size == (w, h):
        return image.copy()
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
