"""The clips sources produce, before cropping and augmentation.

A source's ``load`` returns a :class:`ClipView`: the clip's size, CAP's whole-frame view of it
(``context``) and any full-resolution window of it (``window``). :class:`RawClip` holds its
frames in memory; an αMatte4K clip (``matting.data.amatte4k.ShardClip``) reads from the shards
only what is asked for: the small ``lowres.exr`` for the context and the tiles under the
window, never a whole 4K frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from matting.data.color import to_linear
from matting.framing import letterbox


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

    rgb: (T, H, W, 3) array or :class:`PlanarFrames`, either sRGB-encoded (uint8, uint16 or
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

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.alpha.shape

    def context(self, size: int, frame: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """CAP's view: (T, size, size, 3) float32 linear light, every frame as a display shows
        it (values clipped to [0, 1], as a camera's would be: inference sees nothing brighter)
        shrunk and letterboxed (0 outside the frame), and the alpha (T, size, size) alike.
        ``frame``: the full frame's (height, width) when these frames are a smaller copy."""
        if isinstance(self.rgb, PlanarFrames):  # one plane at a time: no interleaved 4K copy
            planes = [
                letterbox(np.stack([f[c] for f in self.rgb.frames]), size, frame, limit=1.0) for c in range(3)
            ]
            return np.stack(planes, axis=-1), letterbox(self.alpha, size, frame)
        rgb = to_linear(np.asarray(self.rgb), self.transfer)
        return letterbox(rgb, size, frame, limit=1.0), letterbox(self.alpha, size, frame)

    def window(self, ys: slice, xs: slice) -> tuple[np.ndarray, np.ndarray]:
        """(T, h, w, 3) scene-linear (float16 when stored so, else float32) and (T, h, w)
        float32 alpha of one window."""
        return to_linear(crop_frames(self.rgb, ys, xs), self.transfer), self.alpha[:, ys, xs]


class ClipView(Protocol):
    """What augmentation and evaluation read of a clip (see :class:`RawClip` for the meaning)."""

    source: str
    key: str
    frame_keys: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(T, H, W) of the full-resolution frames."""
        ...

    def context(self, size: int) -> tuple[np.ndarray, np.ndarray]: ...

    def window(self, ys: slice, xs: slice) -> tuple[np.ndarray, np.ndarray]: ...


class ClipSource(Protocol):
    """A set of clips addressable by index; randomness (backgrounds, motion) comes from ``rng``."""

    name: str
    clip_len: int

    def __len__(self) -> int: ...

    def load(self, index: int, rng: np.random.Generator) -> ClipView: ...
