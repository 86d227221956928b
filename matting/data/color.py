"""Scene-linear to display sRGB, the colour space the trainer works in.

αMatte4K stores the beauty render as scene-linear Rec.709 half floats; the other matting
sets are 8-bit sRGB images. To train on one kind of input, linear frames are clipped to
[0, 1] (no tone mapping: highlights above 1 saturate, as a camera would) and encoded with
the sRGB OETF (IEC 61966-2-1):

    V = 12.92 * L                     for L <= 0.0031308
    V = 1.055 * L ** (1 / 2.4) - 0.055  otherwise
"""

from __future__ import annotations

import numpy as np

_LUT_HALF: np.ndarray | None = None


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Clip scene-linear values to [0, 1] and apply the sRGB OETF; float32 out, any shape.

    NaN maps to 0 and +inf to 1 so that a bad pixel cannot poison a batch.
    """
    x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """Inverse of :func:`linear_to_srgb` on [0, 1] (float32 out)."""
    v = np.asarray(v, dtype=np.float32)
    return np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4)).astype(np.float32)


def _half_lut() -> np.ndarray:
    # Every float16 bit pattern mapped once: converting a half image is then one gather.
    global _LUT_HALF
    if _LUT_HALF is None:
        _LUT_HALF = linear_to_srgb(np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16))
    return _LUT_HALF


def to_display(rgb: np.ndarray, transfer: str) -> np.ndarray:
    """(..., 3) frames to float32 display sRGB in [0, 1].

    ``transfer="srgb"``: uint8 / uint16 codes or floats already in sRGB (clipped);
    ``transfer="linear"``: scene-linear floats (float16 goes through a lookup table).
    """
    if transfer == "linear":
        if rgb.dtype == np.float16:
            return _half_lut()[rgb.view(np.uint16)]
        return linear_to_srgb(rgb)
    if transfer == "srgb":
        if rgb.dtype == np.uint8:
            return rgb.astype(np.float32) / 255
        if rgb.dtype == np.uint16:
            return rgb.astype(np.float32) / 65535
        return np.clip(rgb.astype(np.float32), 0.0, 1.0)
    raise ValueError(f"unknown transfer {transfer!r}; expected 'linear' or 'srgb'")
