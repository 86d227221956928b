"""A window of an EXR without decoding the rest: the chunks it touches, and nothing else.

Reading an 800 x 800 window of a 2160 x 3840 frame with the OpenEXR library decodes all
3840 rows. This reader uses the file's chunk offset table instead: for a tiled file (what
``render.exrio`` writes) it reads and inflates only the tiles under the window; for a
scanline file only the row blocks. It handles the layouts αMatte4K ships — single part, flat
(not deep), one level, channels HALF or FLOAT without subsampling, compression NONE, ZIPS or
ZIP — and answers ``None`` for anything else, so that the caller decodes the file with
OpenEXR. Tests check it against OpenEXR bit for bit.

``read(offset, size) -> bytes`` fetches bytes of the file (or of the tar member holding it),
so a window costs one small read for the header and offsets, then one read per row of tiles.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

Reader = Callable[[int, int], bytes]

MAGIC = b"\x76\x2f\x31\x01"
_TILED, _LONG_NAMES, _DEEP, _MULTIPART = 0x200, 0x400, 0x800, 0x1000
_NONE, _ZIPS, _ZIP = 0, 2, 3
_LINES = {_NONE: 1, _ZIPS: 1, _ZIP: 16}  # scanlines per chunk
_DTYPES = {1: np.dtype("<f2"), 2: np.dtype("<f4")}  # HALF, FLOAT
_HEAD = 1 << 16  # first read: the header and (for 4K frames) the offset table


class Unsupported(Exception):
    """A layout this reader does not handle (the caller falls back to OpenEXR)."""


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    x0: int
    y0: int
    channels: tuple[tuple[str, np.dtype], ...]  # in file order (sorted by name)
    compression: int
    tile: tuple[int, int] | None  # (x size, y size) or None for scanlines
    offsets: np.ndarray  # chunk offsets, uint64

    @property
    def bytes_per_pixel(self) -> int:
        return sum(dt.itemsize for _, dt in self.channels)


def _cstr(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(b"\0", pos)
    return buf[pos:end].decode("latin-1"), end + 1


def _parse_header(read: Reader) -> Layout:
    head = read(0, _HEAD)
    if head[:4] != MAGIC:
        raise ValueError("not an EXR file (bad magic number)")
    (version,) = struct.unpack_from("<I", head, 4)
    if version & (_DEEP | _MULTIPART):
        raise Unsupported("deep or multi-part")
    attrs: dict[str, bytes] = {}
    pos = 8
    while head[pos] != 0:
        name, pos = _cstr(head, pos)
        _type, pos = _cstr(head, pos)
        (size,) = struct.unpack_from("<i", head, pos)
        attrs[name] = head[pos + 4 : pos + 4 + size]
        pos += 4 + size
    pos += 1  # the header's terminating null byte
    x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"])
    width, height = x1 - x0 + 1, y1 - y0 + 1
    compression = attrs["compression"][0]
    if compression not in _LINES:
        raise Unsupported(f"compression {compression}")
    channels, chl, p = [], attrs["channels"], 0
    while chl[p] != 0:
        name, p = _cstr(chl, p)
        ptype, _linear, xs, ys = struct.unpack_from("<iB3xii", chl, p)
        p += 16
        if ptype not in _DTYPES or (xs, ys) != (1, 1):
            raise Unsupported(f"channel {name}: pixel type {ptype}, sampling {xs}x{ys}")
        channels.append((name, _DTYPES[ptype]))
    tile = None
    if version & _TILED:
        tx, ty, mode = struct.unpack("<IIB", attrs["tiles"])
        if mode & 0x0F != 0:  # ONE_LEVEL only
            raise Unsupported("mip or rip levels")
        tile = (tx, ty)
        count = -(-width // tx) * -(-height // ty)
    else:
        count = -(-height // _LINES[compression])
    need = pos + 8 * count
    if need > len(head):
        head = head + read(len(head), need - len(head))
    offsets = np.frombuffer(head, dtype="<u8", count=count, offset=pos)
    return Layout(width, height, x0, y0, tuple(channels), compression, tile, offsets)


def _unpack(data: bytes, raw_size: int, compression: int) -> np.ndarray:
    """A chunk's pixel bytes: as stored when compression did not pay (or NONE), else inflated,
    de-interleaved and the byte predictor undone (OpenEXR's ZIP)."""
    if compression == _NONE or len(data) >= raw_size:
        return np.frombuffer(data, np.uint8)
    try:
        d = np.frombuffer(zlib.decompress(data), np.uint8).copy()
    except zlib.error as exc:
        raise ValueError(f"damaged EXR chunk ({exc})") from exc
    if len(d) != raw_size:
        raise ValueError(f"EXR chunk inflates to {len(d)} bytes, expected {raw_size}")
    d[1:] -= 128  # t[i] = t[i-1] + d[i] - 128 (mod 256)
    t = np.cumsum(d, dtype=np.uint8)
    half = (raw_size + 1) // 2
    out = np.empty_like(t)
    out[0::2], out[1::2] = t[:half], t[half:]
    return out


def _place(
    out: dict[str, np.ndarray], pixels: np.ndarray, lay: Layout, cy: int, cx: int, w: int, win
) -> None:
    """Copy the part of one chunk (rows from ``cy``, columns from ``cx``, ``w`` wide; pixels
    one row per scanline, channels one after another) that falls inside ``win``."""
    y0, x0, y1, x1 = win
    rows = pixels.reshape(-1, w * lay.bytes_per_pixel)
    r0, r1 = max(y0, cy), min(y1, cy + len(rows))
    c0, c1 = max(x0, cx), min(x1, cx + w)
    if r0 >= r1 or c0 >= c1:
        return
    col = 0
    for name, dtype in lay.channels:
        size = dtype.itemsize  # the window's bytes of this channel, viewed in place (no copy)
        plane = rows[r0 - cy : r1 - cy, col + (c0 - cx) * size : col + (c1 - cx) * size]
        out[name][r0 - y0 : r1 - y0, c0 - x0 : c1 - x0] = plane.view(dtype)
        col += w * size


def read_window(read: Reader, y0: int, x0: int, y1: int, x1: int) -> dict[str, np.ndarray] | None:
    """Rows [y0, y1), columns [x0, x1) of the data window (0-based) of every channel, as
    ``{name: (y1 - y0, x1 - x0) array}`` in the stored dtype; None for a layout this reader
    does not handle. ValueError for a window outside the image or a damaged file."""
    try:
        lay = _parse_header(read)
    except Unsupported:
        return None
    except (KeyError, IndexError, struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"not a readable EXR header ({exc})") from exc
    if not (0 <= y0 < y1 <= lay.height and 0 <= x0 < x1 <= lay.width):
        raise ValueError(
            f"window rows {y0}:{y1}, columns {x0}:{x1} outside the {lay.width}x{lay.height} image"
        )
    win = (y0, x0, y1, x1)
    out = {name: np.empty((y1 - y0, x1 - x0), dtype) for name, dtype in lay.channels}
    bpp = lay.bytes_per_pixel
    if lay.tile is not None:
        tx, ty = lay.tile
        nx = -(-lay.width // tx)
        for j in range(y0 // ty, (y1 - 1) // ty + 1):
            first, last = j * nx + x0 // tx, j * nx + (x1 - 1) // tx
            chunks = _read_span(read, lay.offsets, first, last, header=20)
            for i, (cx, cy, data) in zip(range(x0 // tx, (x1 - 1) // tx + 1), chunks, strict=True):
                if (cx, cy) != (i, j):
                    raise ValueError(f"EXR tile {i},{j}: the chunk there is tile {cx},{cy}")
                w, h = min(tx, lay.width - i * tx), min(ty, lay.height - j * ty)
                _place(out, _unpack(data, w * h * bpp, lay.compression), lay, j * ty, i * tx, w, win)
        return out
    lines = _LINES[lay.compression]
    first, last = y0 // lines, (y1 - 1) // lines
    for k, (y, _, data) in enumerate(_read_span(read, lay.offsets, first, last, header=8)):
        row = (first + k) * lines
        if y - lay.y0 != row:
            raise ValueError(f"EXR chunk {first + k}: starts at line {y - lay.y0}, expected {row}")
        h = min(lines, lay.height - row)
        _place(out, _unpack(data, h * lay.width * bpp, lay.compression), lay, row, 0, lay.width, win)
    return out


def _read_span(read: Reader, offsets: np.ndarray, first: int, last: int, header: int):
    """Chunks first..last (consecutive in the offset table, and in the file for the files
    OpenEXR writes in increasing-y order) with one read when they are contiguous; yields
    (a, b, data): (tile x, tile y) or (line y, 0) and the chunk's compressed bytes."""
    starts = [int(o) for o in offsets[first : last + 1]]
    lo = min(starts)
    # The last chunk's end is known only from its own size field: read its header first.
    tail = read(max(starts), header)
    (size,) = struct.unpack_from("<i", tail, header - 4)
    hi = max(starts) + header + size
    blob = read(lo, hi - lo)
    for start in starts:
        at = start - lo
        if header == 20:
            cx, cy, _lx, _ly, n = struct.unpack_from("<5i", blob, at)
        else:
            cx, n = struct.unpack_from("<ii", blob, at)
            cy = 0
        if n < 0 or at + header + n > len(blob):
            raise ValueError("EXR chunk runs past the end of the file")
        yield cx, cy, blob[at + header : at + header + n]


def file_reader(file: str | BinaryIO, offset: int = 0, size: int | None = None) -> Reader:
    """``read`` for ``size`` bytes at ``offset`` of a file (a tar member by its offset): a path
    (opened for each read) or an open file (``os.pread`` on it: one open for many reads, which
    matters on network file systems); reads past the end return fewer bytes."""
    end = None if size is None else offset + size

    def read(at: int, n: int) -> bytes:
        if end is not None:
            n = max(0, min(n, end - offset - at))
        if isinstance(file, str):
            with open(file, "rb") as f:
                f.seek(offset + at)
                data = f.read(n)
        else:
            data = os.pread(file.fileno(), n, offset + at)
        if end is not None and len(data) < n:
            raise ValueError(f"truncated ({len(data)} of {n} bytes at {offset + at})")
        return data

    return read


def bytes_reader(data: bytes) -> Reader:
    view = memoryview(data)

    def read(at: int, n: int) -> bytes:
        return bytes(view[at : at + n])

    return read
