"""CAP's view of a frame and the windows FAR refines: one geometry for training and inference.

CAP sees the whole frame, shrunk with its aspect kept so that the longer side is ``size``
and centred on a black ``size`` x ``size`` canvas (letterbox). A 2160 x 3840 portrait frame
becomes 288 x 512 on a 512 canvas, in training and at inference alike, so CAP learns at the
scale it is used at. FAR works on full-resolution windows of the frame; its coarse alpha and
key regions are cut from CAP's canvas-wide output at the window's place (``cut``).

Boxes are (y0, x0, y1, x1) in canvas units (0..1 across the canvas, pixel edges, not
centres): the whole frame's box is :func:`frame_box`, a window's box is
:func:`window_box`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def fit(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """(h, w, top, left) of an ``height`` x ``width`` frame letterboxed on a ``size`` canvas."""
    if height < 1 or width < 1 or size < 1:
        raise ValueError(f"letterbox: sizes must be positive, got {height}x{width} on {size}")
    scale = size / max(height, width)
    h = min(size, max(1, round(height * scale)))
    w = min(size, max(1, round(width * scale)))
    return h, w, (size - h) // 2, (size - w) // 2


def frame_box(height: int, width: int, size: int) -> tuple[float, float, float, float]:
    """Box of the whole frame on its canvas."""
    h, w, top, left = fit(height, width, size)
    return top / size, left / size, (top + h) / size, (left + w) / size


def window_box(
    height: int, width: int, size: int, y0: float, x0: float, y1: float, x1: float
) -> tuple[float, float, float, float]:
    """Box on the canvas of the frame window rows [y0, y1), columns [x0, x1) (frame pixels)."""
    fy0, fx0, fy1, fx1 = frame_box(height, width, size)
    sy, sx = (fy1 - fy0) / height, (fx1 - fx0) / width
    return fy0 + y0 * sy, fx0 + x0 * sx, fy0 + y1 * sy, fx0 + x1 * sx


def letterbox(
    frames: np.ndarray, size: int, frame: tuple[int, int] | None = None, limit: float | None = None
) -> np.ndarray:
    """(T, H, W[, C]) float -> (T, size, size[, C]) float32: shrunk with the area filter (grown
    bilinearly), centred, zero outside the frame. ``frame``: the (height, width) whose place
    on the canvas to fill, when ``frames`` is a smaller copy of it (``lowres.exr``: its own
    rounding must not move the view by a pixel); ``limit``: values clipped to [0, limit] first."""
    t_count, height, width = frames.shape[:3]
    h, w, top, left = fit(*(frame or (height, width)), size)
    out = np.zeros((t_count, size, size, *frames.shape[3:]), np.float32)
    interp = cv2.INTER_AREA if h < height else cv2.INTER_LINEAR
    for t in range(t_count):
        image = np.ascontiguousarray(frames[t], dtype=np.float32)
        if limit is not None:  # a new array: the caller's frames stay as they are
            image = np.clip(image, 0.0, limit)
        out[t, top : top + h, left : left + w] = cv2.resize(image, (w, h), interpolation=interp).reshape(
            h, w, *frames.shape[3:]
        )
    return out


def area_weights(n_in: int, n_out: int, device=None) -> torch.Tensor:
    """(n_out, n_in) float32: each output pixel the mean of the input span it covers, partial
    pixels weighted by their overlap (OpenCV's INTER_AREA when shrinking)."""
    scale = n_in / n_out
    edges = torch.arange(n_out + 1, dtype=torch.float64, device=device) * scale
    pixel = torch.arange(n_in, dtype=torch.float64, device=device)
    overlap = torch.minimum(edges[1:, None], pixel[None] + 1) - torch.maximum(edges[:-1, None], pixel[None])
    return (overlap.clamp_min(0) / scale).float()


def letterbox_torch(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) float -> (N, C, size, size) float32: :func:`letterbox` for tensors, on their
    device. Shrinking multiplies by :func:`area_weights` on each axis (OpenCV's area filter up
    to rounding; dense matrices, meant for a GPU), growing is bilinear."""
    height, width = frames.shape[-2:]
    h, w, top, left = fit(height, width, size)
    frames = frames.float()
    if h < height:
        rows = area_weights(height, h, frames.device)
        cols = area_weights(width, w, frames.device)
        small = torch.matmul(rows, torch.matmul(frames, cols.T))
    else:
        small = F.interpolate(frames, size=(h, w), mode="bilinear", align_corners=False)
    return F.pad(small, (left, size - w - left, top, size - h - top))


def srgb_decode_torch(v: torch.Tensor) -> torch.Tensor:
    """Inverse sRGB OETF (display values in [0, 1] -> linear), float32."""
    v = v.float().clamp(0, 1)
    return torch.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode_torch(x: torch.Tensor) -> torch.Tensor:
    """sRGB OETF of linear values clipped to [0, 1], float32."""
    x = x.float().clamp(0, 1)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def context_torch(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) display sRGB -> (N, 3, size, size) CAP's view, made as the data side makes
    it (decoded to linear light, shrunk, letterboxed, encoded; :func:`clip_inputs`), on the
    frames' device, in float32 whatever autocast the caller runs under."""
    with torch.autocast(frames.device.type, enabled=False):
        return srgb_encode_torch(letterbox_torch(srgb_decode_torch(frames.float()), size))


def _taps(lo: torch.Tensor, hi: torch.Tensor, n_out: int, n_in: int) -> tuple[torch.Tensor, ...]:
    """Bilinear taps (i0, i1, weight of i1), each (N, n_out), sampling pixel centres of the
    span [lo, hi) (canvas units, (N,)) of an ``n_in``-pixel axis; edges clamped."""
    centres = (torch.arange(n_out, device=lo.device, dtype=torch.float64) + 0.5) / n_out
    pos = (lo[:, None] + centres[None] * (hi - lo)[:, None]) * n_in - 0.5  # (N, n_out) source pixel
    pos = pos.clamp(0, n_in - 1)
    i0 = pos.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, (pos - i0).float()


def cut(
    maps: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], mode: str = "bilinear"
) -> torch.Tensor:
    """Resample the box of each canvas map to ``size``.

    maps (N, C, h, w) over the canvas; boxes (N, 4) (y0, x0, y1, x1) in canvas units; returns
    (N, C, H, W) sampled at the output pixel centres, ``mode`` "bilinear" (float32 out) or
    "nearest" (the input dtype). Separable gathers: memory is the output plus (N, C, H, w).
    For the whole canvas this equals ``F.interpolate`` with ``mode`` "bilinear"
    (``align_corners=False``) or "nearest-exact".
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"cut: mode must be bilinear or nearest, got {mode!r}")
    n, c, h_in, w_in = maps.shape
    h_out, w_out = size
    boxes = boxes.to(device=maps.device, dtype=torch.float64)
    y0, y1, wy = _taps(boxes[:, 0], boxes[:, 2], h_out, h_in)
    x0, x1, wx = _taps(boxes[:, 1], boxes[:, 3], w_out, w_in)
    if mode == "nearest":
        ys = torch.where(wy >= 0.5, y1, y0)
        xs = torch.where(wx >= 0.5, x1, x0)
        rows = torch.gather(maps, 2, ys[:, None, :, None].expand(n, c, h_out, w_in))
        return torch.gather(rows, 3, xs[:, None, None, :].expand(n, c, h_out, w_out))
    maps = maps.float()

    def gather_rows(index: torch.Tensor) -> torch.Tensor:
        return torch.gather(maps, 2, index[:, None, :, None].expand(n, c, h_out, w_in))

    wy = wy[:, None, :, None]
    rows = gather_rows(y0) * (1 - wy) + gather_rows(y1) * wy  # (N, C, H, w)

    def gather_cols(index: torch.Tensor) -> torch.Tensor:
        return torch.gather(rows, 3, index[:, None, None, :].expand(n, c, h_out, w_out))

    wx = wx[:, None, None, :]
    return gather_cols(x0) * (1 - wx) + gather_cols(x1) * wx


def clip_inputs(
    frames: np.ndarray, size: int, device: torch.device | str = "cpu", context: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's inputs for one clip of whole frames, with the context made as the training
    data makes it (decoded to linear light, shrunk, encoded with the default look): frames
    (T, H, W, 3) float32 display sRGB -> rgb (1, T, 3, H, W), context (1, T, 3, size, size)
    (``context`` given, (T, size, size, 3) display values: used as it is) and box (1, 4)."""
    from matting.data.color import encode, to_linear  # the data package imports this module

    height, width = frames.shape[1:3]
    if context is None:
        context = encode(letterbox(to_linear(frames, "srgb"), size))

    def tensor(x: np.ndarray) -> torch.Tensor:
        return (
            torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2)[None].to(device)
        )

    box = torch.tensor([frame_box(height, width, size)], dtype=torch.float64, device=device)
    return tensor(frames), tensor(context), box


def frames_inputs(
    frames: np.ndarray, size: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(rgb, context, box) for ``model(rgb, stage, context, box)`` from (T, H, W, 3) display
    frames: on a CPU the context is made here with OpenCV (:func:`clip_inputs`); elsewhere it
    is left to the model, which makes it on the device (``context_torch``, equal within 2e-4)."""
    device = torch.device(device)
    if device.type == "cpu":
        return clip_inputs(frames, size, device)
    rgb = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).permute(0, 3, 1, 2)[None]
    return rgb.to(device), None, None
