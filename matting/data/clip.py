"""The raw clip every source produces, before cropping and augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class PlanarFrames:
    """T frames of C separate (H, W) planes that behave like a (T, H, W, C) array.

    EXR decoding yields one array per channel; interleaving four 4K frames into one
    (T, H, W, 3) array costs a 200 MB copy that cropping throws away again. ``crop`` interleaves
    only the window; anything else materialises the full array.
    """

    def __init__(self, frames: Sequence[Sequence[np.ndarray]]):
        self.frames = [tuple(planes) for planes in frames]
        first = self.frames[0][0]
        for planes in self.frames:
            if any(p.shape != first.shape or p.dtype != first.dtype for p in planes):
                raise ValueError(f"frame planes differ in shape or dtype from {first.shape} {first.dtype}")
        self.shape = (len(self.frames), *first.shape, len(self.frames[0]))
        self.dtype = first.dtype
        self.ndim = 4

    def crop(self, ys: slice, xs: slice) -> np.ndarray:
        """(T, h, w, C) copy of one window of every frame."""
        return np.stack([np.stack([p[ys, xs] for p in planes], axis=-1) for planes in self.frames])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        full = self.crop(slice(None), slice(None))
        return full if dtype is None else full.astype(dtype)

    def __getitem__(self, index) -> np.ndarray:
        return np.asarray(self)[index]

    def __len__(self) -> int:
        return self.shape[0]


def crop_frames(x: np.ndarray | PlanarFrames, ys: slice, xs: slice) -> np.ndarray:
    """(T, H, W, ...) -> (T, h, w, ...) window of all frames."""
    return x.crop(ys, xs) if isinstance(x, PlanarFrames) else x[:, ys, xs]


@dataclass
class RawClip:
    """T consecutive frames at the source's own resolution.

    rgb: (T, H, W, 3) array or :class:`PlanarFrames`, either display sRGB (uint8, uint16 or
    float in [0, 1]) or scene-linear float (``transfer="linear"``); conversion is deferred
    until after cropping because it is the costly part at 4K. alpha: (T, H, W) float32 in
    [0, 1].
    """

    rgb: np.ndarray | PlanarFrames
    alpha: np.ndarray
    transfer: str
    source: str
    key: str
    frame_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        t, h, w = self.alpha.shape
        if tuple(self.rgb.shape) != (t, h, w, 3):
            raise ValueError(
                f"{self.source} {self.key}: rgb {tuple(self.rgb.shape)} does not match alpha {self.alpha.shape}"
            )


class ClipSource(Protocol):
    """A set of clips addressable by index; randomness (backgrounds, motion) comes from ``rng``."""

    name: str
    clip_len: int

    def __len__(self) -> int: ...

    def load(self, index: int, rng: np.random.Generator) -> RawClip: ...
