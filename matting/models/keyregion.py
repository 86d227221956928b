"""Key regions K: where FAR refines the coarse alpha.

The seed is the fractional band ``low < A_c < high`` of the coarse alpha. Binary
morphology on it (per frame, square ``kernel`` x ``kernel`` structuring element, odd size,
applied ``iterations`` times) turns it into a smooth, widened band:

- ``"none"``: the band itself.
- ``"dilate"``: dilation, D(band). The official release: one 5 x 5 max-pool.
- ``"close"``: closing, E(D(band)). Fills holes and gaps narrower than the kernel without
  widening the band; smooths it.
- ``"close_dilate"``: closing, then dilation, D(E(D(band))). Our reading of the paper's
  "erosion/dilation ... smooth, widened band": gaps are filled first, then the band is widened.

Dilation is a max-pool; erosion is ``-maxpool(-x)``. Both treat pixels beyond the border as
neutral (the pool pads with -inf), so the image edge neither grows nor erodes the band.
Everything runs without autograd: K is a selection, not a differentiable quantity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

OPS = ("none", "dilate", "close", "close_dilate")


def _dilate(x: torch.Tensor, kernel: int, iterations: int) -> torch.Tensor:
    for _ in range(iterations):
        x = F.max_pool2d(x, kernel, stride=1, padding=kernel // 2)
    return x


def _erode(x: torch.Tensor, kernel: int, iterations: int) -> torch.Tensor:
    return -_dilate(-x, kernel, iterations)


def check_key_args(low: float, high: float, op: str, kernel: int, iterations: int) -> None:
    """Raise ValueError for arguments ``key_regions`` cannot use."""
    if op not in OPS:
        raise ValueError(f"key region op must be one of {OPS}, got {op!r}")
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"key region kernel must be a positive odd size, got {kernel}")
    if iterations < 1:
        raise ValueError(f"key region iterations must be >= 1, got {iterations}")
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"key region thresholds need 0 <= low < high <= 1, got {low}, {high}")


@torch.no_grad()
def key_regions(
    coarse: torch.Tensor,
    low: float = 0.01,
    high: float = 0.99,
    op: str = "dilate",
    kernel: int = 5,
    iterations: int = 1,
) -> torch.Tensor:
    """Coarse alpha (..., 1, h, w) -> bool key mask of the same shape.

    ``low < coarse < high`` selects the fractional band, widened by ``op`` (see module doc).
    """
    check_key_args(low, high, op, kernel, iterations)
    if coarse.ndim < 3 or coarse.shape[-3] != 1:
        raise ValueError(f"key_regions expects (..., 1, h, w), got shape {tuple(coarse.shape)}")
    shape = coarse.shape
    band = ((coarse > low) & (coarse < high)).reshape(-1, 1, *shape[-2:])
    x = band.float()
    if op == "dilate":
        x = _dilate(x, kernel, iterations)
    elif op == "close":
        x = _erode(_dilate(x, kernel, iterations), kernel, iterations)
    elif op == "close_dilate":
        x = _dilate(_erode(_dilate(x, kernel, iterations), kernel, iterations), kernel, iterations)
    return (x > 0.5).reshape(shape)
