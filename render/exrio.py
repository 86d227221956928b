"""EXR reading and writing with the OpenEXR library (the only EXR codec we trust).

Canonical αMatte4K files:

* ``rgb.exr`` / ``bg.exr``: channels ``R``, ``G``, ``B`` as half floats, scene-linear Rec.709,
  ZIP compressed.
* ``fg.exr``: premultiplied αF as half ``R``, ``G``, ``B`` plus ``A`` = α as float32
  (:func:`decode_fg` returns F unpremultiplied).
* ``alpha.exr``: one channel ``A`` as float32, ZIP compressed.
* ``lowres.exr``: the frame and its alpha shrunk for whole-frame readers (the area filter,
  in linear light): half ``R``, ``G``, ``B`` and float32 ``A`` (the ``fg.exr`` layout, but
  not premultiplied).

All are tiled (``TILE`` x ``TILE``, one level), so ``render.exrwindow`` can read a window.

Arrays are ``(H, W, 3)`` for colour and ``(H, W)`` for alpha.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import OpenEXR

_COMPRESSION = OpenEXR.ZIP_COMPRESSION
# The shipped fields are tiled, so that a reader can decode a window of a 4K frame without the
# rest (``render.exrwindow``); any EXR reader reads tiled files like scanline ones.
TILE = 128


def _tiles(size: int) -> OpenEXR.TileDescription:
    tiles = OpenEXR.TileDescription()
    tiles.xSize = tiles.ySize = size
    tiles.mode = OpenEXR.ONE_LEVEL
    return tiles


def _header(attrs: dict[str, str] | None, tiled: bool = True) -> dict:
    header = {"compression": _COMPRESSION, "type": OpenEXR.scanlineimage}
    if tiled:
        header |= {"type": OpenEXR.tiledimage, "tiles": _tiles(TILE)}
    for key, value in (attrs or {}).items():
        header[key] = str(value)
    return header


def encode_rgb(rgb: np.ndarray, attrs: dict[str, str] | None = None) -> bytes:
    """Encode an ``(H, W, 3)`` float array as a half-float RGB EXR."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) colour array, got shape {rgb.shape}")
    channels = {name: np.ascontiguousarray(rgb[..., i], dtype=np.float16) for i, name in enumerate("RGB")}
    return _encode(_header(attrs), channels)


def encode_alpha(alpha: np.ndarray, attrs: dict[str, str] | None = None) -> bytes:
    """Encode an ``(H, W)`` alpha array as a single float32 channel ``A``."""
    if alpha.ndim != 2:
        raise ValueError(f"expected an (H, W) alpha array, got shape {alpha.shape}")
    return _encode(_header(attrs), {"A": np.ascontiguousarray(alpha, dtype=np.float32)})


def encode_rgba(premultiplied: np.ndarray, alpha: np.ndarray, attrs: dict[str, str] | None = None) -> bytes:
    """Encode premultiplied colour ``(H, W, 3)`` as half ``R G B`` and its alpha ``(H, W)`` as
    float32 ``A`` (the ``fg.exr`` layout)."""
    if premultiplied.ndim != 3 or premultiplied.shape[2] != 3 or alpha.shape != premultiplied.shape[:2]:
        raise ValueError(
            f"expected (H, W, 3) colour and (H, W) alpha, got {premultiplied.shape}, {alpha.shape}"
        )
    channels = {c: np.ascontiguousarray(premultiplied[..., i], dtype=np.float16) for i, c in enumerate("RGB")}
    channels["A"] = np.ascontiguousarray(alpha, dtype=np.float32)
    return _encode(_header(attrs), channels)


def encode_lowres(rgb: np.ndarray, alpha: np.ndarray, attrs: dict[str, str] | None = None) -> bytes:
    """Encode a shrunk frame ``(h, w, 3)`` as half ``R G B`` and its shrunk alpha ``(h, w)`` as
    float32 ``A`` (the ``lowres.exr`` layout; colour not premultiplied)."""
    return encode_rgba(rgb, alpha, attrs)


def _encode(header: dict, channels: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    OpenEXR.File(header, channels).write(buf)
    return buf.getvalue()


def write_channels(path: str | os.PathLike, channels: dict[str, np.ndarray]) -> None:
    """Write float32 ``(H, W)`` channels under their names (e.g. ``alpha.Combined.A``) as one EXR."""
    data = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in channels.items()}
    OpenEXR.File(_header(None, tiled=False), data).write(str(path))


def write_exr(path: str | os.PathLike, data: bytes) -> None:
    Path(path).write_bytes(data)


def data_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an EXR's data window, read from its header alone (no pixels decoded);
    the largest over its parts."""
    try:
        f = OpenEXR.File(io.BytesIO(bytes(data)), header_only=True)
    except Exception as exc:  # OpenEXR raises bare RuntimeError with no file context
        raise ValueError(f"<bytes>: not a readable EXR header ({exc})") from exc
    sizes = []
    for part in f.parts:
        (x0, y0), (x1, y1) = part.header["dataWindow"]
        sizes.append((int(x1) - int(x0) + 1, int(y1) - int(y0) + 1))
    if not sizes:
        raise ValueError("<bytes>: an EXR without parts")
    return max(sizes, key=lambda s: s[0] * s[1])


def decode(data: bytes | str | os.PathLike) -> dict[str, np.ndarray]:
    """Decode an EXR (bytes or a path) into ``{channel name: (H, W) array}``.

    Multi-part files (Blender 5 writes one part per view layer) are merged; their channels are
    already prefixed with the layer name (``beauty.Combined.R``)."""
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            f = OpenEXR.File(io.BytesIO(bytes(data)), separate_channels=True)
        else:
            f = OpenEXR.File(str(data), separate_channels=True)
    except Exception as exc:  # OpenEXR raises bare RuntimeError with no file context
        where = "<bytes>" if isinstance(data, (bytes, bytearray, memoryview)) else str(data)
        raise ValueError(f"{where}: not a readable EXR ({exc})") from exc
    out: dict[str, np.ndarray] = {}
    for part in f.parts:
        for name, ch in part.channels.items():
            out[name] = np.asarray(ch.pixels)
    return out


def decode_rgb(data: bytes | str | os.PathLike) -> np.ndarray:
    """Decode a colour EXR into ``(H, W, 3)`` float32."""
    ch = decode(data)
    missing = [c for c in "RGB" if c not in ch]
    if missing:
        raise ValueError(f"colour EXR lacks channels {missing}; has {sorted(ch)}")
    return np.stack([ch[c].astype(np.float32) for c in "RGB"], axis=-1)


def decode_alpha(data: bytes | str | os.PathLike) -> np.ndarray:
    """Decode an alpha EXR (channel ``A``) into ``(H, W)`` float32."""
    ch = decode(data)
    if "A" not in ch:
        raise ValueError(f"alpha EXR lacks channel 'A'; has {sorted(ch)}")
    return ch["A"].astype(np.float32)


def decode_fg(data: bytes | str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``fg.exr`` into (F unpremultiplied ``(H, W, 3)`` float32, its alpha ``(H, W)``).

    F = RGB / A where A > 0 and 0 elsewhere; the stored RGB is premultiplied."""
    ch = decode(data)
    missing = [c for c in "RGBA" if c not in ch]
    if missing:
        raise ValueError(f"foreground EXR lacks channels {missing}; has {sorted(ch)}")
    a = ch["A"].astype(np.float32)
    rgb = np.stack([ch[c].astype(np.float32) for c in "RGB"], axis=-1)
    f = np.zeros_like(rgb)
    seen = a > 0
    f[seen] = rgb[seen] / a[seen, None]
    return f, a


def read_rgba_file(path: str | os.PathLike) -> np.ndarray:
    """Read an RGBA EXR as written by a renderer into ``(H, W, 4)`` float32."""
    ch = decode(path)
    missing = [c for c in "RGBA" if c not in ch]
    if missing:
        raise ValueError(f"{path}: render output lacks channels {missing}; has {sorted(ch)}")
    return np.stack([ch[c].astype(np.float32) for c in "RGBA"], axis=-1)
