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
    "lowres.exr": {"R": HALF, "G": HALF, "B": HALF, "A": FLOAT},
}
HIST_BINS = 20  # the α histogram: α = 0, HIST_BINS bins over (0, 1), α = 1


@dataclass(frozen=True)
class Thresholds:
    """Where a figure becomes a finding. Every value is printed in the report."""

    evidence: float = 0.05  # display-value difference |I − B| that counts as visible
    evidence_share: float = 0.01  # a frame is flagged when more than this share lacks evidence / label
    residual: float = 0.02  # mean composite residual over fractional pixels (linear) flagged above
    residual_all: float = 0.005  # ... and over all pixels (a label that lost or gained solid regions)
    flicker_share: float = 0.1  # deep: frames where more of the α changes lack image evidence
    full_frame: float = 0.98  # share of pixels with α ≥ 0.999 above which the subject fills the frame
    change: float = 0.02  # temporal sparsity: a pixel changes when its range in a window exceeds this
    window_seconds: float = 2.0  # temporal sparsity window

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


# Every half float's value (bit pattern -> float32): a gather is several times faster than
# numpy's half-to-float conversion on 4K frames.
_HALF_TO_FLOAT = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)


def f32(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 (half floats through a table; float32 unchanged, not copied)."""
    if x.dtype == np.float16:
        return _HALF_TO_FLOAT[x.view(np.uint16)]
    return np.asarray(x, dtype=np.float32)


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
    if linear.dtype == np.float16:  # the table clips by itself
        return _HALF_TO_DISPLAY[linear.view(np.uint16)]
    h = np.clip(linear, 0.0, 1.0).astype(np.float16, copy=False)
    return _HALF_TO_DISPLAY[h.view(np.uint16)]


def channel_luminance(channels: dict[str, np.ndarray]) -> np.ndarray:
    """(H, W) float32 linear Y from decoded ``R G B`` channels (no (H, W, 3) copy)."""
    y = f32(channels["R"]) * np.float32(0.2126)
    y += f32(channels["G"]) * np.float32(0.7152)
    y += f32(channels["B"]) * np.float32(0.0722)
    return y


def check_channels(
    field: str, channels: dict[str, np.ndarray], resolution: tuple[int, int] | None
) -> list[tuple[str, str]]:
    """``(check, message)`` for every way one decoded EXR differs from its specification:
    channel names, storage type, resolution ``(width, height)`` (unchecked when None), NaN/Inf,
    and α outside [0, 1]."""
    out: list[tuple[str, str]] = []
    expected = EXPECTED_CHANNELS.get(field)
    if expected is None:
        return [("unknown_field", f"{field}: not a field of the format")]
    if set(channels) != set(expected):
        out.append(("channels", f"{field}: channels {sorted(channels)}, expected {sorted(expected)}"))
    shapes = {tuple(a.shape) for a in channels.values()}
    if resolution is not None and shapes != {(resolution[1], resolution[0])}:
        w, h = resolution
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


def split(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """(H, W, 3) → {"R", "G", "B": (H, W) views}."""
    return {c: rgb[..., i] for i, c in enumerate("RGB")}


def colour(channels: dict[str, np.ndarray]) -> np.ndarray:
    """(H, W, 3) float32 from decoded ``R G B`` channels."""
    return np.stack([f32(channels[c]) for c in "RGB"], axis=-1)


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


Channels = dict[str, np.ndarray]  # "R", "G", "B" -> (H, W) half or float


def frame_figures(
    rgb: Channels | None,
    alpha: np.ndarray,
    fg: Channels | None,
    bg: Channels | None,
    thresholds: Thresholds,
    maps: bool = False,
) -> tuple[dict[str, float | None], dict[str, np.ndarray]]:
    """Label-quality figures of one frame, computed channel by channel (no (H, W, 3) copies).

    ``rgb``, ``bg``: I and B as decoded channels; ``fg``: the stored **premultiplied** αF, so the
    composite is ``αF + (1 − α)B = fg + (1 − α)B`` with no division; ``alpha``: (H, W) float32.

    * ``fractional`` (share of 0.002 < α < 0.998), ``coverage`` (mean α), ``solid`` (share of
      α ≥ 0.999), the subject box, ``brightness`` (mean display luminance of I);
    * with B: ``evidence_without_label``, the share of α = 0 pixels where I differs from B by more
      than ``thresholds.evidence`` in display values (max over channels), and
      ``label_without_evidence``, the share of the pixels where the label predicts a visible
      difference (|comp − B| > 2·evidence; without F, α ≥ 0.5 stands in) yet |I − B| < evidence/2;
    * with F and B: ``residual_fractional`` and ``residual_all``, the composite residual
      |I − (αF + (1 − α)B)| (linear, channel mean) over fractional pixels and over all pixels
      (the definition of :func:`render.labels.composite_residual`).

    Returns (figures, maps): "luminance", the display luminance of I (H, W) when I is given; with
    ``maps`` also "residual" and "evidence" (max display difference |I − B|) where computed.
    """
    out: dict[str, float | None] = {
        "fractional": float(labels.fractional(alpha).mean()),
        "coverage": float(alpha.mean(dtype=np.float64)),
        "solid": float((alpha >= 0.999).mean()),
    }
    box = subject_box(alpha)
    out |= {f"subject_{k}": (box[k] if box else None) for k in ("height", "width", "cx", "cy")}
    found: dict[str, np.ndarray] = {}
    if rgb is None:
        return out, found
    shown = display(channel_luminance(rgb))
    out["brightness"] = float(shown.mean(dtype=np.float64))
    found["luminance"] = shown
    if bg is None:
        return out, found
    clear = 1.0 - alpha
    diff = predicted = resid = None
    for c in "RGB":
        plate = display(bg[c])
        d = np.abs(display(rgb[c]) - plate)
        diff = d if diff is None else np.maximum(diff, d, out=diff)
        if fg is not None:
            comp = f32(fg[c]) + clear * f32(bg[c])
            p = np.abs(display(comp) - plate)
            predicted = p if predicted is None else np.maximum(predicted, p, out=predicted)
            r = np.abs(f32(rgb[c]) - comp)
            resid = r if resid is None else np.add(resid, r, out=resid)
    empty = alpha <= 0
    out["evidence_without_label"] = float((diff[empty] > thresholds.evidence).mean()) if empty.any() else 0.0
    expect = predicted > 2 * thresholds.evidence if predicted is not None else alpha >= 0.5
    out["label_without_evidence"] = (
        float((diff[expect] < thresholds.evidence / 2).mean()) if expect.any() else 0.0
    )
    if maps:
        found["evidence"] = diff
    if resid is not None:
        resid /= 3.0
        frac = labels.fractional(alpha)
        out["residual_fractional"] = float(resid[frac].mean()) if frac.any() else None
        out["residual_all"] = float(resid.mean(dtype=np.float64))
        if maps:
            found["residual"] = resid
    return out, found


def label_findings(fig: dict[str, float | None], t: Thresholds) -> list[tuple[str, str]]:
    """``(check, message)`` label-quality warnings of one frame from its figures."""
    out = []
    if fig["coverage"] <= 0.0:
        out.append(("subject_lost", "α is 0 everywhere: the subject is not in the frame"))
    if fig["solid"] > t.full_frame:
        out.append(("fills_frame", f"α ≥ 0.999 on {fig['solid']:.1%} of the frame: the subject fills it"))
    # (figure, its limit, check, message) for the figures that are bad above a limit
    limits = (
        (
            "label_without_evidence",
            t.evidence_share,
            "label_without_evidence",
            "{:.2%} of the labelled pixels show no difference between I and B",
        ),
        (
            "evidence_without_label",
            t.evidence_share,
            "evidence_without_label",
            "{:.2%} of the α = 0 pixels differ from B in I",
        ),
        (
            "residual_fractional",
            t.residual,
            "composite_residual",
            f"composite residual {{:.4f}} on fractional pixels (> {t.residual})",
        ),
        (
            "label_flicker",
            t.flicker_share,
            "label_flicker",
            "{:.1%} of the pixels whose α moved since the last frame show no change in I",
        ),
        (
            "residual_all",
            t.residual_all,
            "composite_residual",
            f"composite residual {{:.4f}} over the frame (> {t.residual_all})",
        ),
    )
    for key, limit, check, message in limits:
        value = fig.get(key)
        if value is not None and value > limit:
            out.append((check, message.format(value)))
    return out
