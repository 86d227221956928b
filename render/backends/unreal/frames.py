"""The EXR files Movie Render Queue writes for a shot: checked before anything is packed.

Layout (unreal_project/README.md): ``<mrq>/<layer>/frame_NNNN.exr`` for layers rgb (beauty),
matte (environment held out: RGB is the character's light premultiplied by coverage, A the
accumulated α) and plate (character hidden: the clean background), multilayer EXR with the
final image as R, G, B, A.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import OpenEXR

from render.backends.base import FramePasses
from render.backends.unreal.job import frame_name

RGBA = ("R", "G", "B", "A")
# Accumulating α over many samples in half floats can land a hair outside [0, 1].
ALPHA_SLACK = 2e-3


class FrameError(ValueError):
    """A frame the engine wrote that cannot be shipped (one line naming file and fault)."""


def expected(mrq: Path, layers: list[str], frames: int) -> dict[str, list[Path]]:
    return {layer: [mrq / layer / frame_name(i) for i in range(frames)] for layer in layers}


def check_headers(mrq: str | os.PathLike, layers: list[str], frames: int, size: tuple[int, int]) -> None:
    """Every layer has exactly frames 0..N-1, each of ``size`` (width, height) with R, G, B (and
    A for the matte), read from the headers alone. Raises :class:`FrameError`."""
    mrq = Path(mrq)
    for layer, paths in expected(mrq, layers, frames).items():
        folder = mrq / layer
        found = sorted(p.name for p in folder.glob("*.exr")) if folder.is_dir() else []
        want = [p.name for p in paths]
        missing = sorted(set(want) - set(found))
        extra = sorted(set(found) - set(want))
        if missing or extra:
            what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
            raise FrameError(f"{layer}: {len(found)} frames written, {frames} planned ({what})")
        for p in paths:
            _check_header(p, layer, size)


def _check_header(path: Path, layer: str, size: tuple[int, int]) -> None:
    try:
        f = OpenEXR.File(str(path), header_only=True)
        header = f.header()
        channels = {c.name for c in header["channels"]}
    except Exception as exc:  # OpenEXR raises bare RuntimeErrors without the file name
        raise FrameError(f"{layer}/{path.name}: not a readable EXR ({exc})") from None
    (x0, y0), (x1, y1) = header["dataWindow"]
    got = (int(x1 - x0 + 1), int(y1 - y0 + 1))
    if got != tuple(size):
        raise FrameError(f"{layer}/{path.name}: {got[0]}x{got[1]} pixels, planned {size[0]}x{size[1]}")
    need = RGBA if layer == "matte" else RGBA[:3]
    lack = [c for c in need if c not in channels]
    if lack:
        raise FrameError(f"{layer}/{path.name}: no channel {lack[0]} (has {', '.join(sorted(channels))})")


def _rgba(path: Path, layer: str, alpha: bool) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        f = OpenEXR.File(str(path), separate_channels=True)
        ch = {k: np.asarray(v.pixels, dtype=np.float32) for k, v in f.channels().items()}
    except Exception as exc:
        raise FrameError(f"{layer}/{path.name}: not a readable EXR ({exc})") from None
    rgb = np.stack([ch["R"], ch["G"], ch["B"]], axis=-1)
    a = ch["A"] if alpha else None
    for name, arr in (("RGB", rgb), ("A", a)):
        if arr is not None and not np.isfinite(arr).all():
            raise FrameError(
                f"{layer}/{path.name}: {int((~np.isfinite(arr)).sum())} non-finite {name} values"
            )
    if (rgb < 0).any() and rgb.min() < -ALPHA_SLACK:
        raise FrameError(f"{layer}/{path.name}: negative light ({float(rgb.min()):.4g})")
    if a is not None:
        lo, hi = float(a.min()), float(a.max())
        if lo < -ALPHA_SLACK or hi > 1 + ALPHA_SLACK:
            raise FrameError(f"{layer}/{path.name}: alpha outside [0, 1] ({lo:.4g} .. {hi:.4g})")
        a = np.clip(a, 0.0, 1.0)
    return np.maximum(rgb, 0.0), a


def read(rgb_path: str | os.PathLike, passes: tuple[str, ...]) -> FramePasses:
    """One frame from its beauty file and the matte/plate files of the same name. Raises
    :class:`FrameError` for non-finite values, negative light or α outside [0, 1]."""
    rgb_path = Path(rgb_path)
    mrq, name = rgb_path.parent.parent, rgb_path.name
    rgb, _ = _rgba(rgb_path, "rgb", alpha=False)
    fg, alpha = _rgba(mrq / "matte" / name, "matte", alpha=True)
    assert alpha is not None
    out = FramePasses(rgb=rgb, alpha=alpha)
    if "fg" in passes:
        out.fg, out.fg_alpha = fg, alpha
    if "bg" in passes:
        out.bg, _ = _rgba(mrq / "plate" / name, "plate", alpha=False)
    return out
