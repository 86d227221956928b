"""Windows of EXR files read chunk by chunk, against the OpenEXR library bit for bit."""

from __future__ import annotations

import io
import struct

import numpy as np
import OpenEXR
import pytest

from render import exrio
from render.exrwindow import _parse_header, bytes_reader, file_reader, read_window

WINDOWS = [(0, 0, 260, 300), (5, 3, 140, 129), (259, 299, 260, 300), (128, 128, 256, 256), (0, 200, 1, 300)]


def _frames(h=260, w=300, seed=0):
    rng = np.random.default_rng(seed)
    smooth = np.linspace(0, 4, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    rgb = smooth + rng.normal(0, 0.05, (h, w, 3)).astype(np.float32)
    # Random mantissas: ZIP cannot shrink these, so their chunks are stored as they are.
    alpha = (1 + rng.random((h, w), dtype=np.float32)) / 2
    return rgb, alpha


def _check(data: bytes, windows=WINDOWS) -> None:
    full = exrio.decode(data)
    for y0, x0, y1, x1 in windows:
        got = read_window(bytes_reader(data), y0, x0, y1, x1)
        assert got is not None and set(got) == set(full)
        for name, plane in full.items():
            assert got[name].dtype == plane.dtype
            assert np.array_equal(got[name], plane[y0:y1, x0:x1]), (name, (y0, x0, y1, x1))


def test_tiled_fields_as_the_packer_writes_them():
    rgb, alpha = _frames()
    for data in (exrio.encode_rgb(rgb), exrio.encode_alpha(alpha), exrio.encode_rgba(rgb, alpha)):
        _check(data)


def test_incompressible_tiles_are_read_as_stored():
    _, alpha = _frames()
    data = exrio.encode_alpha(alpha)
    stored = 0
    # Count chunks whose stored size equals their raw size (OpenEXR keeps them uncompressed).
    f = OpenEXR.File(io.BytesIO(data), header_only=True)
    assert f.parts[0].header["type"] == OpenEXR.tiledimage
    for ty in range(3):
        for tx in range(3):
            off = _chunk_offset(data, ty * 3 + tx)
            _, _, _, _, size = struct.unpack_from("<5i", data, off)
            th, tw = min(128, 260 - ty * 128), min(128, 300 - tx * 128)
            stored += size == th * tw * 4
    assert stored > 0
    _check(data)


def _chunk_offset(data: bytes, index: int) -> int:
    return int(_parse_header(bytes_reader(data)).offsets[index])


@pytest.mark.parametrize(
    "compression",
    [OpenEXR.ZIP_COMPRESSION, OpenEXR.ZIPS_COMPRESSION, OpenEXR.NO_COMPRESSION],
)
def test_scanline_files_of_older_shards(compression):
    rgb, alpha = _frames(seed=1)
    channels = {c: np.ascontiguousarray(rgb[..., i].astype(np.float16)) for i, c in enumerate("RGB")}
    channels["A"] = np.ascontiguousarray(alpha)
    buf = io.BytesIO()
    OpenEXR.File({"compression": compression, "type": OpenEXR.scanlineimage}, channels).write(buf)
    _check(buf.getvalue())


def test_layouts_it_does_not_read_are_left_to_openexr():
    rgb, _ = _frames()
    buf = io.BytesIO()
    channels = {c: np.ascontiguousarray(rgb[..., i].astype(np.float16)) for i, c in enumerate("RGB")}
    OpenEXR.File({"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.scanlineimage}, channels).write(buf)
    assert read_window(bytes_reader(buf.getvalue()), 0, 0, 10, 10) is None


def test_bad_windows_and_damaged_files_fail_in_one_line(tmp_path):
    rgb, _ = _frames()
    data = exrio.encode_rgb(rgb)
    with pytest.raises(ValueError, match="outside the 300x260 image"):
        read_window(bytes_reader(data), 0, 0, 261, 10)
    with pytest.raises(ValueError, match="not an EXR"):
        read_window(bytes_reader(b"nope" + data[4:]), 0, 0, 1, 1)
    damaged = bytearray(data)
    off = _chunk_offset(data, 4)
    damaged[off + 20 : off + 40] = bytes(20)  # the tile's zlib stream
    with pytest.raises(ValueError, match="damaged EXR chunk") as info:
        read_window(bytes_reader(bytes(damaged)), 128, 128, 200, 200)
    assert "\n" not in str(info.value)
    # A tar member cut short: the reader names the shortfall.
    path = tmp_path / "frame.exr"
    path.write_bytes(b"xx" + data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_window(file_reader(str(path), 2, len(data)), 200, 0, 260, 300)
    path.write_bytes(b"xx" + data)
    assert read_window(file_reader(str(path), 2, len(data)), 200, 0, 260, 300)["R"].shape == (60, 300)
