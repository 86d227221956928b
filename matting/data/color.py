"""One colour pipeline for every source: scene-linear light in, one camera look out.

Every source is first brought to scene-linear Rec.709: αMatte4K frames are stored that way;
8/16-bit sRGB images (VideoMatte foregrounds and backgrounds, image matting sets, video
frames) are decoded with the inverse of the sRGB OETF. Compositing (VideoMatte's
I = αF + (1 − α)B) and shrinking (CAP's whole-frame view) happen in linear light, where they
are what a camera would record. What the model sees is then one **look** of the linear values:

    V = curve(L · 2^ev)        (values clipped to [0, 1] before the curve, except "reinhard")

The default look (ev 0, curve "srgb") is what evaluation and inference use, and what a
display-referred video is taken to be. Training draws a look per clip (``draw_look``) so that
the renderer's "Standard" view transform is not the only look the model knows.

Curves (``CURVES``):

- ``srgb``: the sRGB OETF (IEC 61966-2-1), V = 12.92 L for L <= 0.0031308, else
  1.055 L^(1/2.4) − 0.055;
- ``rec709``: the BT.709 camera OETF, V = 4.5 L for L < 0.018, else 1.099 L^0.45 − 0.099;
- ``gamma22``: V = L^(1/2.2);
- ``reinhard``: highlights rolled off instead of clipped, L' = L (1 + L / 16) / (1 + L)
  (white at L = 4, which the renders hold above 1), then the sRGB OETF.

Looks are applied through a table over every half-float value (65,536 entries, about 2 ms to
make for a clip's look), so a look costs one gather, not a power function per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CURVES = ("srgb", "rec709", "gamma22", "reinhard")
_HALVES = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)


@dataclass(frozen=True)
class Look:
    """How linear light becomes what the model sees: exposure ``ev`` (stops) and a ``curve``."""

    ev: float = 0.0
    curve: str = "srgb"

    def __post_init__(self) -> None:
        if self.curve not in CURVES:
            raise ValueError(f"unknown curve {self.curve!r}; expected one of {list(CURVES)}")


DEFAULT_LOOK = Look()


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


def apply_curve(x: np.ndarray, curve: str) -> np.ndarray:
    """Linear values (float32, any shape; NaN -> 0, +inf -> the top) -> display values in [0, 1]."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=np.float32(1e4), neginf=0.0)
    x = np.maximum(x, 0.0)
    if curve == "reinhard":
        return linear_to_srgb(x * (1 + x / 16) / (1 + x))
    x = np.minimum(x, 1.0)
    if curve == "srgb":
        return linear_to_srgb(x)
    if curve == "rec709":
        return np.where(x < 0.018, 4.5 * x, 1.099 * np.power(x, 0.45) - 0.099).astype(np.float32)
    if curve == "gamma22":
        return np.power(x, 1 / 2.2).astype(np.float32)
    raise ValueError(f"unknown curve {curve!r}; expected one of {list(CURVES)}")


@lru_cache(maxsize=64)
def _look_table(look: Look) -> np.ndarray:
    # Every float16 bit pattern mapped once: a look on a half image is then one gather.
    with np.errstate(invalid="ignore", over="ignore"):  # the NaN and inf bit patterns
        return apply_curve(_HALVES.astype(np.float32) * np.float32(2.0**look.ev), look.curve)


def encode(linear: np.ndarray, look: Look = DEFAULT_LOOK) -> np.ndarray:
    """(..., 3) scene-linear values (float16 or float32) -> float32 display values in [0, 1]
    under ``look``; float32 goes through float16 (relative error <= 2^-11, below 8-bit steps)."""
    half = linear if linear.dtype == np.float16 else np.asarray(linear, dtype=np.float32).astype(np.float16)
    return _look_table(look)[half.view(np.uint16)]


def draw_look(exposure: float, curves: tuple[str, ...], rng: np.random.Generator) -> Look:
    """A training look: ev uniform in [-exposure, exposure]; the first of ``curves`` half the
    time, otherwise one of the others (each equally likely)."""
    ev = float(rng.uniform(-exposure, exposure)) if exposure > 0 else 0.0
    curve = curves[0]
    if len(curves) > 1 and rng.random() >= 0.5:
        curve = curves[1 + int(rng.integers(len(curves) - 1))]
    return Look(round(ev, 6), curve)


@lru_cache(maxsize=2)
def _to_linear_table(bits: int) -> np.ndarray:
    codes = np.arange(1 << bits, dtype=np.float32) / ((1 << bits) - 1)
    return srgb_to_linear(codes)


def to_linear(rgb: np.ndarray, transfer: str) -> np.ndarray:
    """(..., 3) frames to scene-linear values: ``transfer="linear"`` as they are (float16 kept,
    other floats as float32); ``"srgb"``: uint8 / uint16 codes through a table, floats in
    [0, 1] quantised to 16 bits first (a table, not a power per pixel)."""
    if transfer == "linear":
        return rgb if rgb.dtype == np.float16 else np.asarray(rgb, dtype=np.float32)
    if transfer == "srgb":
        if rgb.dtype == np.uint8:
            return _to_linear_table(8)[rgb]
        if rgb.dtype == np.uint16:
            return _to_linear_table(16)[rgb]
        codes = np.rint(np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0) * 65535).astype(np.uint16)
        return _to_linear_table(16)[codes]
    raise ValueError(f"unknown transfer {transfer!r}; expected 'linear' or 'srgb'")


def to_display(rgb: np.ndarray, transfer: str) -> np.ndarray:
    """(..., 3) frames to float32 display sRGB in [0, 1] (the default look).

    ``transfer="srgb"``: uint8 / uint16 codes or floats already in sRGB (clipped), unchanged;
    ``transfer="linear"``: scene-linear floats through the default look.
    """
    if transfer == "linear":
        if rgb.dtype == np.float16:
            return encode(rgb)
        return linear_to_srgb(rgb)
    if transfer == "srgb":
        if rgb.dtype == np.uint8:
            return rgb.astype(np.float32) / 255
        if rgb.dtype == np.uint16:
            return rgb.astype(np.float32) / 65535
        return np.clip(rgb.astype(np.float32), 0.0, 1.0)
    raise ValueError(f"unknown transfer {transfer!r}; expected 'linear' or 'srgb'")
