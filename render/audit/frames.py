"""Per-frame checks and figures over decoded arrays (pure; no file I/O).

Arrays: colour ``(H, W, 3)`` scene-linear float32, alpha ``(H, W)`` float32. The checks that
compare the image with the clean plate work in display values (sRGB of the clipped linear
values), where a fixed threshold means the same visible step in shadows and highlights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render import labels

HALF, FLOAT = np.dtype(np.float16), np.dtype(np.float32)
# The channels and storage types of every field (docs/dataset_format.md).
EXPECTED_CHANNELS: dict[str, dict[str, np.dtype]] = {
    "rgb.exr": {"R": HALF, "G": HALF, "B": HALF},
    "bg.exr": {"R": HALF, "G": HALF, "B": HALF},
    "alpha.exr": {"A": FLOAT},
    "fg.exr": {"R": HALF, "G": HALF, "B": HALF, "A": FLOAT},
}
HIST_BINS = 20  # the α histogram: α = 0, HIST_BINS bins over (0, 1), α = 1


@dataclass(frozen=True)
class Thresholds:
    """Where a figure becomes a finding. Every value is printed in the report."""

    evidence: float = 0.05  # display-value difference |I − B| that counts as visible
    evidence_share: float = 0.01  # a frame is flagged when more than this share lacks evidence / label
    residual: float = 0.02  # mean composite residual over fractional pixels (linear) flagged above
    full_frame: float = 0.98  # share of pixels with α ≥ 0.999 above which the subject fills the frame
    change: float = 0.02  # temporal sparsity: a pixel changes when its range in a window exceeds this
    window_seconds: float = 2.0  # temporal sparsity window

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


# sRGB of every half float (bit pattern -> display value; negatives and NaN -> 0, above 1 -> 1).
_HALF_TO_DISPLAY = _srgb(
    np.nan_to_num(
        np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32), nan=0.0
    ).clip(0.0, 1.0)
).astype(np.float32)


def display(linear: np.ndarray) -> np.ndarray:
    """Scene-linear → sRGB-encoded display values in [0, 1] (clipped first), same shape, float32.

    Looked up through half floats (what the shipped colour fields store): exact for them, within
    one half-float step for float32 input, and ~20x faster than the power law at 4K."""
    h = np.clip(linear, 0.0, 1.0).astype(np.float16, copy=False)
    return _HALF_TO_DISPLAY[h.view(np.uint16)]


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) linear Rec.709 → (H, W) relative luminance Y (linear)."""
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


def channel_luminance(channels: dict[str, np.ndarray]) -> np.ndarray:
    """(H, W) float32 linear Y from decoded ``R G B`` channels (no (H, W, 3) copy)."""
    y = channels["R"].astype(np.float32) * np.float32(0.2126)
    y += channels["G"].astype(np.float32) * np.float32(0.7152)
    y += channels["B"].astype(np.float32) * np.float32(0.0722)
    return y


def check_channels(
    field: str, channels: dict[str, np.ndarray], resolution: tuple[int, int]
) -> list[tuple[str, str]]:
    """``(check, message)`` for every way one decoded EXR differs from its specification:
    channel names, storage type, resolution ``(width, height)``, NaN/Inf, and α outside [0, 1]."""
    out: list[tuple[str, str]] = []
    expected = EXPECTED_CHANNELS.get(field)
    if expected is None:
        return [("unknown_field", f"{field}: not a field of the format")]
    if set(channels) != set(expected):
        out.append(("channels", f"{field}: channels {sorted(channels)}, expected {sorted(expected)}"))
    w, h = resolution
    shapes = {tuple(a.shape) for a in channels.values()}
    if shapes != {(h, w)}:
        got = ", ".join(f"{s[1]}x{s[0]}" if len(s) == 2 else str(s) for s in sorted(shapes))
        out.append(("resolution", f"{field}: {got}, the plan says {w}x{h}"))
    for name, arr in sorted(channels.items()):
        want = expected.get(name)
        if want is not None and arr.dtype != want:
            out.append(("channel_type", f"{field} channel {name}: {arr.dtype}, expected {want}"))
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            out.append(("nonfinite", f"{field} channel {name}: {bad} NaN/Inf values"))
        if name == "A" and arr.size:
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            if lo < 0.0 or hi > 1.0:
                n = int(np.count_nonzero((arr < 0) | (arr > 1)))
                out.append(
                    ("alpha_range", f"{field}: {n} α values outside [0, 1] (min {lo:.4g}, max {hi:.4g})")
                )
    return out


def colour(channels: dict[str, np.ndarray]) -> np.ndarray:
    """(H, W, 3) float32 from decoded ``R G B`` channels."""
    return np.stack([channels[c].astype(np.float32) for c in "RGB"], axis=-1)


def alpha_histogram(alpha: np.ndarray) -> np.ndarray:
    """(HIST_BINS + 2,) int64 counts: α == 0, HIST_BINS equal bins over (0, 1), α == 1."""
    a = alpha.ravel()
    inner = a[(a > 0) & (a < 1)]
    mid = np.histogram(inner, bins=HIST_BINS, range=(0.0, 1.0))[0]
    return np.concatenate([[np.count_nonzero(a <= 0)], mid, [np.count_nonzero(a >= 1)]]).astype(np.int64)


def subject_box(alpha: np.ndarray) -> dict[str, float] | None:
    """Where the subject is, as fractions of the frame: height and width of the box around
    α > 0.01 and the α-weighted centre (x right, y down); None when there is no subject."""
    seen = alpha > 0.01
    if not seen.any():
        return None
    h, w = alpha.shape
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    total = float(alpha.sum(dtype=np.float64))
    cy = float((alpha.sum(axis=1, dtype=np.float64) * np.arange(h)).sum() / total) / h
    cx = float((alpha.sum(axis=0, dtype=np.float64) * np.arange(w)).sum() / total) / w
    return {
        "height": (rows[-1] - rows[0] + 1) / h,
        "width": (cols[-1] - cols[0] + 1) / w,
        "cx": cx,
        "cy": cy,
    }


def frame_figures(
    rgb: np.ndarray | None,
    alpha: np.ndarray,
    fg: np.ndarray | None,
    bg: np.ndarray | None,
    thresholds: Thresholds,
    deep: bool,
    shown_luminance: np.ndarray | None = None,
) -> dict[str, float | None]:
    """Label-quality figures of one frame.

    Always: ``fractional`` (share of 0.002 < α < 0.998), ``coverage`` (mean α), ``solid`` (share
    of α ≥ 0.999), the subject box, ``brightness`` (mean display luminance of I).
    ``shown_luminance``: ``display(luminance(I))`` when the caller has it (I itself is then
    needed only for the deep checks).
    With ``deep`` and B: ``evidence_without_label`` (share of α = 0 pixels where |I − B| exceeds
    ``thresholds.evidence`` in display values) and ``label_without_evidence`` (share of the
    pixels where the label predicts a visible difference, |αF + (1 − α)B − B| > 2·evidence, yet
    |I − B| < evidence / 2; without F, the pixels with α ≥ 0.5 stand in for the prediction).
    With ``deep``, F and B: ``residual_fractional`` and ``residual_all``, the composite residual
    |I − (αF + (1 − α)B)| (linear, channel mean) over fractional pixels and over all pixels.
    """
    out: dict[str, float | None] = {
        "fractional": float(labels.fractional(alpha).mean()),
        "coverage": float(alpha.mean(dtype=np.float64)),
        "solid": float((alpha >= 0.999).mean()),
    }
    box = subject_box(alpha)
    out |= {f"subject_{k}": (box[k] if box else None) for k in ("height", "width", "cx", "cy")}
    if shown_luminance is None and rgb is not None:
        shown_luminance = display(luminance(rgb))
    if shown_luminance is not None:
        out["brightness"] = float(shown_luminance.mean(dtype=np.float64))
    if not deep or rgb is None:
        return out
    comp = labels.composite(alpha, fg, bg) if fg is not None and bg is not None else None
    if bg is not None:
        plate = display(bg)
        diff = np.abs(display(rgb) - plate).max(axis=-1)
        empty = alpha <= 0
        out["evidence_without_label"] = (
            float((diff[empty] > thresholds.evidence).mean()) if empty.any() else 0.0
        )
        if comp is not None:
            expect = np.abs(display(comp) - plate).max(axis=-1) > 2 * thresholds.evidence
        else:
            expect = alpha >= 0.5
        out["label_without_evidence"] = (
            float((diff[expect] < thresholds.evidence / 2).mean()) if expect.any() else 0.0
        )
    if comp is not None:  # labels.composite_residual's definition, on the composite made above
        resid = np.abs(rgb - comp).mean(axis=-1)
        frac = labels.fractional(alpha)
        out["residual_fractional"] = float(resid[frac].mean()) if frac.any() else None
        out["residual_all"] = float(resid.mean(dtype=np.float64))
    return out


def label_findings(fig: dict[str, float | None], t: Thresholds) -> list[tuple[str, str]]:
    """``(check, message)`` label-quality warnings of one frame from its figures."""
    out = []
    if fig["coverage"] <= 0.0:
        out.append(("subject_lost", "α is 0 everywhere: the subject is not in the frame"))
    if fig["solid"] > t.full_frame:
        out.append(("fills_frame", f"α ≥ 0.999 on {fig['solid']:.1%} of the frame: the subject fills it"))
    lwe = fig.get("label_without_evidence")
    if lwe is not None and lwe > t.evidence_share:
        out.append(
            ("label_without_evidence", f"{lwe:.2%} of the labelled pixels show no difference between I and B")
        )
    ewl = fig.get("evidence_without_label")
    if ewl is not None and ewl > t.evidence_share:
        out.append(("evidence_without_label", f"{ewl:.2%} of the α = 0 pixels differ from B in I"))
    res = fig.get("residual_fractional")
    if res is not None and res > t.residual:
        out.append(
            ("composite_residual", f"composite residual {res:.4f} on fractional pixels (> {t.residual})")
        )
    return out
