"""Alpha-matte metrics in the units of the paper's tables.

Every metric takes ``(pred, gt)``: float numpy arrays of shape ``(T, H, W)`` with values in
[0, 1] (one clip of T frames), and returns a Python float:

* ``mad``   mean |p - g| * 1e3
* ``mse``   mean (p - g)^2 * 1e3
* ``grad``  per frame sum((|grad g| - |grad p|)^2) / 1e3, Gaussian first-derivative filters
            with sigma = 1.4; averaged over the T frames
* ``conn``  per frame sum|phi_g - phi_p| / 1e3 with RobustVideoMatting's connectivity
            (thresholds every 0.1, largest 4-connected component); averaged over frames
* ``dtssd`` temporal error * 1e2; ``variant="rvm"`` (default) is RobustVideoMatting's per-frame
            form averaged over frames with frame 0 counted as 0; ``variant="clip"`` is the
            official muMatting release's whole-clip form.

The definitions follow RobustVideoMatting's evaluation scripts (see docs in each function);
``grad`` and ``conn`` are per-frame sums, so they scale with the frame area and are only
comparable between results at the same resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

_RANGE_TOL = 1e-6  # float rounding of values that should be exactly 0 or 1


def _check(pred: np.ndarray, gt: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (T, H, W) pair in [0, 1] and return both as float64."""
    for what, a in (("pred", pred), ("gt", gt)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name}: {what} must be a numpy array, got {type(a).__name__}")
        if a.ndim != 3:
            raise ValueError(f"{name}: {what} must have shape (T, H, W), got {a.shape}")
        if not np.issubdtype(a.dtype, np.floating):
            raise TypeError(f"{name}: {what} must be a float array in [0, 1], got dtype {a.dtype}")
    if pred.shape != gt.shape:
        raise ValueError(f"{name}: pred shape {pred.shape} != gt shape {gt.shape}")
    if 0 in pred.shape:
        raise ValueError(f"{name}: empty input of shape {pred.shape}")
    for what, a in (("pred", pred), ("gt", gt)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: {what} contains NaN or inf")
        lo, hi = float(a.min()), float(a.max())
        if lo < -_RANGE_TOL or hi > 1 + _RANGE_TOL:
            raise ValueError(f"{name}: {what} values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
    return pred.astype(np.float64), gt.astype(np.float64)


def mad(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute difference over all T*H*W pixels, times 1e3."""
    p, g = _check(pred, gt, "mad")
    return float(np.abs(p - g).mean() * 1e3)


def mse(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean squared error over all T*H*W pixels, times 1e3."""
    p, g = _check(pred, gt, "mse")
    return float(((p - g) ** 2).mean() * 1e3)


def gaussian_derivative_filters(sigma: float = 1.4, epsilon: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D filters (fx, fy), each (S, S), that ``grad`` correlates with.

    ``fx[i, j] = G(i - h) * G'(j - h)`` (smoothing along y, derivative along x) with the
    half size ``h`` chosen where the Gaussian falls below ``epsilon`` (h = 4, S = 9 for
    sigma = 1.4), scaled to unit L2 norm; ``fy = fx.T``. This is RobustVideoMatting's filter.
    """
    half = np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * epsilon)))
    x = np.arange(-half, half + 1)
    g = np.exp(-(x**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    dg = -x * g / sigma**2
    fx = np.outer(g, dg)
    fx /= np.sqrt((fx**2).sum())
    return fx, fx.T.copy()


def _minmax(frame: np.ndarray) -> np.ndarray:
    # cv2.normalize(NORM_MINMAX) semantics, including an all-zero result for a constant frame.
    lo, hi = frame.min(), frame.max()
    return (frame - lo) / (hi - lo) if hi > lo else np.zeros_like(frame)


def _gradient_magnitude(frame: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    gx = cv2.filter2D(frame, -1, fx, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(frame, -1, fy, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx**2 + gy**2)


def grad(pred: np.ndarray, gt: np.ndarray, sigma: float = 1.4, normalize: bool = False) -> float:
    """Gradient error: mean over frames of sum((|grad g| - |grad p|)^2) / 1e3.

    Gradients are Gaussian first-derivative filter responses (replicated borders).
    ``normalize=True`` min-max normalises each frame first, as RobustVideoMatting's
    low-resolution script and the muMatting release do; its high-resolution (4K) script does
    not, and for mattes that already span [0, 1] the two agree, so the default is off.
    """
    p, g = _check(pred, gt, "grad")
    fx, fy = gaussian_derivative_filters(sigma)
    total = 0.0
    for pt, gtt in zip(p, g, strict=True):
        if normalize:
            pt, gtt = _minmax(pt), _minmax(gtt)
        total += float(((_gradient_magnitude(gtt, fx, fy) - _gradient_magnitude(pt, fx, fy)) ** 2).sum())
    return total / len(p) / 1000


def _conn_frame(p: np.ndarray, g: np.ndarray, step: float) -> float:
    # np.arange (not linspace) so that thresholds carry the same float rounding as RVM's code.
    thresholds = np.arange(0, 1 + step, step)
    round_down = np.full_like(g, -1.0)
    for i in range(1, len(thresholds)):
        both = ((g >= thresholds[i]) & (p >= thresholds[i])).astype(np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        areas = stats[1:, cv2.CC_STAT_AREA]  # label 0 is the background of the intersection
        largest = labels == (int(np.argmax(areas)) + 1) if len(areas) else np.zeros(g.shape, bool)
        # A pixel's level is the last threshold at which it still belonged to the main body.
        newly_cut = (round_down == -1) & ~largest
        round_down[newly_cut] = thresholds[i - 1]
    round_down[round_down == -1] = 1
    dg = g - round_down
    dp = p - round_down
    phi_g = 1 - dg * (dg >= 0.15)
    phi_p = 1 - dp * (dp >= 0.15)
    return float(np.abs(phi_g - phi_p).sum())


def conn(pred: np.ndarray, gt: np.ndarray, step: float = 0.1) -> float:
    """Connectivity error: mean over frames of sum|phi_g - phi_p| / 1e3.

    For each threshold theta = step, 2*step, ..., 1 the largest 4-connected component of
    (p >= theta) & (g >= theta) is found; a pixel's level l is the threshold just below the
    first theta at which it leaves that component (1 if it never does), d = alpha - l, and
    phi = 1 - d * (d >= 0.15). As in RobustVideoMatting's evaluation code.
    """
    p, g = _check(pred, gt, "conn")
    return sum(_conn_frame(pt, gtt, step) for pt, gtt in zip(p, g, strict=True)) / len(p) / 1000


def dtssd(pred: np.ndarray, gt: np.ndarray, variant: str = "rvm") -> float:
    """Temporal-derivative error times 1e2, with e_t = (p_t - p_{t-1}) - (g_t - g_{t-1}).

    * ``variant="rvm"`` (RobustVideoMatting, the default): per frame
      ``sqrt(sum(e_t^2) / (H*W))``, frame 0 counted as 0, averaged over all T frames
      (so a one-frame clip scores 0).
    * ``variant="clip"`` (official muMatting release): ``sqrt(mean over t >= 1 and all pixels
      of e_t^2)`` for the whole clip; needs T >= 2.
    """
    p, g = _check(pred, gt, "dtssd")
    e = np.diff(p, axis=0) - np.diff(g, axis=0)  # (T-1, H, W)
    if variant == "rvm":
        per_frame = np.sqrt((e**2).mean(axis=(1, 2))) if len(e) else np.zeros(0)
        return float(per_frame.sum() / len(p) * 1e2)
    if variant == "clip":
        if len(p) < 2:
            raise ValueError(f"dtssd: variant 'clip' needs at least 2 frames, got T={len(p)}")
        return float(np.sqrt((e**2).mean()) * 1e2)
    raise ValueError(f"dtssd: unknown variant {variant!r}; expected 'rvm' or 'clip'")


METRICS = ("mad", "mse", "grad", "conn", "dtssd")


def evaluate_clip(
    pred: np.ndarray, gt: np.ndarray, metrics: tuple[str, ...] = METRICS, dtssd_variant: str = "rvm"
) -> dict[str, float]:
    """All requested metrics of one ``(T, H, W)`` clip, keyed by name."""
    fns = {"mad": mad, "mse": mse, "grad": grad, "conn": conn}
    out = {}
    for name in metrics:
        if name == "dtssd":
            out[name] = dtssd(pred, gt, variant=dtssd_variant)
        elif name in fns:
            out[name] = fns[name](pred, gt)
        else:
            raise ValueError(f"evaluate_clip: unknown metric {name!r}; expected one of {METRICS}")
    return out
