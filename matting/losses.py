"""Training losses of the two muMatting stages, each term named in the returned dict.

All alpha tensors are ``(B, T, 1, H, W)``. Key regions K have the same shape and hold 0/1
(bool or float; fractional values act as weights).

Laplacian pyramid: G_0 = x, G_l = blur(G_{l-1}) subsampled by 2, band
L_l = G_{l-1} - expand(G_l) for l = 1..5 (L_1 is the finest), with the 5x5 binomial
Gaussian ([1, 4, 6, 4, 1] / 16, outer product). The Laplacian loss is
sum_l w_l * mean|L_l(p) - L_l(g)| with the paper's weights w_l = 1 / 2^(2l)
(the official release sums the levels unweighted; pass ``level_weights`` to get that).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

LEVELS = 5
PAPER_LEVEL_WEIGHTS = tuple(1.0 / 2 ** (2 * level) for level in range(1, LEVELS + 1))


def _gaussian_kernel(x: torch.Tensor) -> torch.Tensor:
    k1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device) / 16
    return torch.outer(k1, k1).view(1, 1, 5, 5)


def _pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    # Reflection keeps high-frequency patterns (e.g. stripes) intact at the border; it needs
    # pad < size, so levels smaller than that (tiny crops, deep levels) replicate instead.
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.pad(x, (pad, pad, pad, pad), mode=mode)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) -> (N, 1, H, W) binomial blur."""
    return F.conv2d(_pad(x, 2), _gaussian_kernel(x))


def _expand(coarse: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upsample (N, 1, h, w) to (N, 1, *size) by zero insertion and a 4x binomial blur.

    The coarse image is padded before zero insertion so that a constant stays exactly
    constant up to the border (padding after insertion would mix in the inserted zeros).
    """
    n = coarse.shape[0]
    padded = _pad(coarse, 2)
    ph, pw = padded.shape[-2:]
    up = coarse.new_zeros(n, 1, 2 * ph, 2 * pw)
    up[..., ::2, ::2] = padded
    out = F.conv2d(up, 4 * _gaussian_kernel(coarse))  # valid: output i is centred on input i + 2
    # Fine pixel y sits at inserted row y + 4 (two padded coarse rows), i.e. output row y + 2.
    return out[..., 2 : 2 + size[0], 2 : 2 + size[1]]


def laplacian_pyramid(x: torch.Tensor, levels: int = LEVELS) -> list[torch.Tensor]:
    """Bands [L_1 .. L_levels] of (N, 1, H, W) images; L_l has G_{l-1}'s size
    (H, then ceil(H/2), ...)."""
    bands = []
    current = x
    for _ in range(levels):
        down = _blur(current)[..., ::2, ::2]
        bands.append(current - _expand(down, current.shape[-2:]))
        current = down
    return bands


def _downsample_mask(mask: torch.Tensor) -> torch.Tensor:
    # A coarse pixel belongs to the region if any of its 2x2 children does; ceil_mode matches
    # the [::2] subsampling of odd sizes.
    return F.max_pool2d(mask, kernel_size=2, stride=2, ceil_mode=True)


def laplacian_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor | None = None,
    level_weights: Sequence[float] = PAPER_LEVEL_WEIGHTS,
) -> torch.Tensor:
    """sum_l w_l * mean|L_l(pred) - L_l(gt)| for (N, 1, H, W) inputs.

    With a ``mask`` (N, 1, H, W) the difference is zeroed outside the mask before the pyramid
    (the pyramid is linear, so this is the pyramid of a prediction equal to gt outside the
    mask), and each band's error is averaged over the mask carried down to that level
    (max-pooled), so values outside the mask never reach the loss.
    """
    diff = pred - gt
    if mask is not None:
        diff = diff * mask
    total = diff.new_zeros(())
    bands = laplacian_pyramid(diff, levels=len(level_weights))
    level_mask = mask
    for weight, band in zip(level_weights, bands, strict=True):
        if level_mask is None:
            total = total + weight * band.abs().mean()
        else:
            total = total + weight * (band.abs() * level_mask).sum() / level_mask.sum().clamp_min(1)
            level_mask = _downsample_mask(level_mask)
    return total


def _frames(x: torch.Tensor) -> torch.Tensor:
    """(B, T, 1, H, W) -> (B*T, 1, H, W)."""
    return x.reshape(-1, 1, *x.shape[-2:])


def _check_alpha(name: str, fn: str, x: torch.Tensor, like: torch.Tensor | None = None) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 5 or x.shape[2] != 1:
        raise ValueError(f"{fn}: {name} must have shape (B, T, 1, H, W), got {tuple(x.shape)}")
    if like is not None and x.shape != like.shape:
        raise ValueError(f"{fn}: {name} shape {tuple(x.shape)} != {tuple(like.shape)}")


def stage1_losses(
    coarse_lr: torch.Tensor, gt_lr: torch.Tensor, level_weights: Sequence[float] = PAPER_LEVEL_WEIGHTS
) -> dict[str, torch.Tensor]:
    """CAP loss on the low-resolution coarse alpha.

    coarse_lr, gt_lr: (B, T, 1, h, w). Returns ``l1`` (mean |A_c - A_gt|), ``laplacian``
    and ``total = l1 + laplacian``.
    """
    _check_alpha("coarse_lr", "stage1_losses", coarse_lr)
    _check_alpha("gt_lr", "stage1_losses", gt_lr, like=coarse_lr)
    gt_lr = gt_lr.to(coarse_lr.dtype)
    l1 = (coarse_lr - gt_lr).abs().mean()
    lap = laplacian_loss(_frames(coarse_lr), _frames(gt_lr), level_weights=level_weights)
    return {"l1": l1, "laplacian": lap, "total": l1 + lap}


def temporal_loss(refined: torch.Tensor, gt: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """sum over t of the mean over K_t & K_{t+1} of ((A_d^t - A_d^{t+1}) - (A_gt^t - A_gt^{t+1}))^2.

    Inputs (B, T, 1, H, W); the mean for each t pools the batch. Zero for T = 1, and a pair of
    frames whose regions do not overlap contributes 0.
    """
    both = key[:, :-1] * key[:, 1:]  # (B, T-1, 1, H, W); logical and for 0/1 masks
    err = ((refined[:, :-1] - refined[:, 1:]) - (gt[:, :-1] - gt[:, 1:])) ** 2
    dims = (0, 2, 3, 4)
    per_t = (err * both).sum(dim=dims) / both.sum(dim=dims).clamp_min(1)
    return per_t.sum()


def stage2_losses(
    refined: torch.Tensor,
    fused: torch.Tensor,
    key: torch.Tensor,
    gt: torch.Tensor,
    weights: Sequence[float] = (1.0, 0.5, 0.5),
    level_weights: Sequence[float] = PAPER_LEVEL_WEIGHTS,
) -> dict[str, torch.Tensor]:
    """FAR losses at full resolution.

    refined: A_d (B, T, 1, H, W), meaningful only inside the key region; fused: A = K*A_d +
    (1-K)*A_c; key: K; gt: A_gt; all (B, T, 1, H, W). ``weights`` = (region, entire, temporal).

    Returns ``region_l1`` (sum of K*|A_d - A_gt| / sum K), ``region_laplacian`` (masked, see
    :func:`laplacian_loss`), ``region`` (their sum), ``entire`` (L1 + Laplacian of the fused
    alpha over the whole frame), ``temporal`` (:func:`temporal_loss`) and
    ``total = w_r * region + w_e * entire + w_t * temporal``.
    """
    fn = "stage2_losses"
    _check_alpha("refined", fn, refined)
    for name, x in (("fused", fused), ("key", key), ("gt", gt)):
        _check_alpha(name, fn, x, like=refined)
    if len(weights) != 3:
        raise ValueError(f"{fn}: weights must be (region, entire, temporal), got {tuple(weights)}")
    k = key.to(refined.dtype)
    gt = gt.to(refined.dtype)
    region_l1 = (k * (refined - gt).abs()).sum() / k.sum().clamp_min(1)
    region_lap = laplacian_loss(_frames(refined), _frames(gt), mask=_frames(k), level_weights=level_weights)
    region = region_l1 + region_lap
    entire = (fused - gt).abs().mean() + laplacian_loss(
        _frames(fused), _frames(gt), level_weights=level_weights
    )
    temporal = temporal_loss(refined, gt, k)
    w_region, w_entire, w_temporal = weights
    return {
        "region_l1": region_l1,
        "region_laplacian": region_lap,
        "region": region,
        "entire": entire,
        "temporal": temporal,
        "total": w_region * region + w_entire * entire + w_temporal * temporal,
    }
