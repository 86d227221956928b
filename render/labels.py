"""Label figures over arrays (pure): fractional share, composite residual, noise floor.

Definitions (docs/rendering.md, "Label figures"):

* fractional pixel: ``FRACTIONAL[0] < α < FRACTIONAL[1]``;
* composite residual: ``|I − (αF + (1 − α)B)|`` in linear values, averaged over the three
  channels, then over fractional pixels or over all pixels;
* noise floor: ``mean |α₁ − α₂|`` over pixels fractional in either of two renders that differ
  only in the sampler seed.
"""

from __future__ import annotations

import numpy as np

FRACTIONAL = (0.002, 0.998)  # alpha strictly inside this range counts as fractional


def fractional(alpha: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose alpha is strictly inside FRACTIONAL."""
    lo, hi = FRACTIONAL
    return (alpha > lo) & (alpha < hi)


def unpremultiply(fg: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """F from premultiplied αF (H, W, 3) and its coverage (H, W): fg / coverage where the
    coverage is positive, 0 elsewhere (no colour where nothing was seen)."""
    out = np.zeros_like(fg, dtype=np.float32)
    seen = coverage > 0
    out[seen] = fg[seen] / coverage[seen, None]
    return out


def composite(alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """αF + (1 − α)B for alpha (H, W), unpremultiplied F and B (H, W, 3)."""
    a = alpha[..., None].astype(np.float32)
    return a * fg + (1.0 - a) * bg


def residual_map(rgb: np.ndarray, alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """(H, W) |I − (αF + (1 − α)B)| averaged over channels; F unpremultiplied."""
    return np.abs(rgb.astype(np.float32) - composite(alpha, fg, bg)).mean(axis=-1)


def composite_residual(
    rgb: np.ndarray, alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray
) -> dict[str, float]:
    """Mean residual over fractional pixels (nan if there are none) and over all pixels.

    rgb, fg (unpremultiplied), bg: (H, W, 3); alpha: (H, W)."""
    r = residual_map(rgb, alpha, fg, bg)
    frac = fractional(alpha)
    return {
        "fractional": float(r[frac].mean()) if frac.any() else float("nan"),
        "all": float(r.mean()),
    }


def noise_floor(alpha1: np.ndarray, alpha2: np.ndarray) -> tuple[float, int]:
    """(mean |α₁ − α₂| over pixels fractional in either render, how many such pixels); both
    alphas (H, W) of the same frame, rendered with different sampler seeds."""
    either = fractional(alpha1) | fractional(alpha2)
    n = int(either.sum())
    if n == 0:
        return float("nan"), 0
    return float(np.abs(alpha1[either].astype(np.float64) - alpha2[either]).mean()), n


def alpha_stats(alpha: np.ndarray) -> dict[str, float]:
    """Coverage figures of one (H, W) alpha frame."""
    return {
        "fractional": float(fractional(alpha).mean()),
        "opaque": float(np.mean(alpha >= FRACTIONAL[1])),
        "coverage": float(alpha.mean()),
    }


def fill_foreground(
    fg: np.ndarray, fg_alpha: np.ndarray, alpha: np.ndarray, bg: np.ndarray, radius: int = 2
) -> tuple[np.ndarray, dict[str, int]]:
    """Unpremultiplied F (H, W, 3) wherever the α label is positive.

    ``fg`` (H, W, 3) is premultiplied by ``fg_alpha`` (H, W), the coverage of the shading layer's
    own samples. Where the label sees the character but none of those samples hit it (a strand
    tip at low ``samples``), F is the coverage-weighted mean of its neighbours within
    ``radius`` pixels (normalised convolution); where there is none, F = B (``bg``, (H, W, 3)),
    which makes :func:`coverage_corrected` leave the pixel as rendered.

    Returns F and ``{"filled": pixels F came from neighbours, "fallback": pixels F = B}``.
    """
    import cv2

    out = unpremultiply(fg, fg_alpha)
    need = (alpha > 0) & (fg_alpha <= 0)
    counts = {"filled": 0, "fallback": 0}
    if need.any():
        k = (2 * radius + 1, 2 * radius + 1)
        num = cv2.boxFilter(fg.astype(np.float32), -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT)
        den = cv2.boxFilter(
            fg_alpha.astype(np.float32), -1, k, normalize=False, borderType=cv2.BORDER_CONSTANT
        )
        ok = need & (den > 1e-6)
        out[ok] = num[ok] / den[ok, None]
        out[need & ~ok] = bg[need & ~ok]
        counts = {"filled": int(ok.sum()), "fallback": int((need & ~ok).sum())}
    return out, counts


def coverage_corrected(
    rgb: np.ndarray, alpha: np.ndarray, fg: np.ndarray, fg_alpha: np.ndarray, bg: np.ndarray
) -> np.ndarray:
    """The direct render I (H, W, 3) with its own coverage estimate replaced by the α label.

    Shapes: rgb, fg (unpremultiplied F), bg (H, W, 3); alpha, fg_alpha (H, W).

    I's camera samples saw the character with coverage ``fg_alpha`` (H, W) — the same samples as
    the fg layer — while α (H, W) is the far better converged coverage of the alpha layer. A
    control variate (approximately unbiased: F = fg / fg_alpha is a ratio estimator):
    ``I + (α − fg_alpha)(F − B)``, F unpremultiplied (H, W, 3) and B (H, W, 3). It removes I's
    coverage noise and nothing else, so ``I − (αF + (1 − α)B)`` afterwards equals
    ``I − (fg_alpha·F + (1 − fg_alpha)·B)`` before: the direct render's own residual. Radiance is
    clamped at 0.
    """
    delta = (alpha - fg_alpha).astype(np.float32)[..., None]
    return np.maximum(rgb + delta * (fg.astype(np.float32) - bg), 0.0).astype(np.float32)
