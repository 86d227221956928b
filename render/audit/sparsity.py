"""Temporal sparsity (pure, streaming): how many pixels change within 2-second windows.

The definition, :data:`DEFINITION`, is printed in the report. Memory: two ``(H, W)`` float32
arrays per measured value, whatever the window length.
"""

from __future__ import annotations

import numpy as np

DEFINITION = """\
A shot of N frames is cut into consecutive, non-overlapping windows of W = round(window_seconds x
fps) frames: window k holds frames kW .. kW + W - 1. Only whole windows count (the frames after
the last whole window are left out), except that a shot shorter than W is one window of all its
frames. A pixel changes in a window when the range (max - min) of its value over the window's
frames exceeds the threshold. The sparsity is the share of changed pixels, pooled over all
windows (each window weighs by its pixel count).

Two values are measured: alpha itself (what the sparse refiner works on), and the display
luminance of I (sRGB of the clipped linear Rec.709 Y), which also changes where the background
moves in frame with the camera and carries the renderer's sampling noise. When only some frames
are decoded (--sample), a window holds those of its frames that were decoded: a lower bound."""


def window_frames(fps: float, seconds: float) -> int:
    return max(2, round(fps * seconds))


class WindowedChange:
    """Feed ``(H, W)`` frames with their frame numbers, in order; :meth:`finish` at the end.

    ``frames``: the shot's frame count, which fixes the windows."""

    def __init__(self, window: int, threshold: float, frames: int):
        if window < 2:
            raise ValueError(f"window of {window} frames: need at least 2")
        self.window, self.threshold = window, threshold
        # Windows that count: whole ones, or the whole shot when it is shorter than one window.
        self.counted = frames // window if frames >= window else 1
        self.short = frames < window
        self.changed = 0
        self.pixels = 0
        self.windows = 0
        self.frames_in_windows = 0
        self._lo: np.ndarray | None = None
        self._hi: np.ndarray | None = None
        self._id = -1
        self._n = 0

    def add(self, x: np.ndarray, frame: int) -> None:
        wid = 0 if self.short else frame // self.window
        if wid >= self.counted:
            return  # after the last whole window
        x = np.asarray(x, dtype=np.float32)
        if wid != self._id:
            self._close()
            self._lo, self._hi, self._id, self._n = x.copy(), x.copy(), wid, 1
            return
        if x.shape != self._lo.shape:
            raise ValueError(f"frame of shape {x.shape} after {self._lo.shape}")
        np.minimum(self._lo, x, out=self._lo)
        np.maximum(self._hi, x, out=self._hi)
        self._n += 1

    def _close(self) -> None:
        if self._lo is not None and self._n >= 2:
            self.changed += int(np.count_nonzero(self._hi - self._lo > self.threshold))
            self.pixels += self._lo.size
            self.windows += 1
            self.frames_in_windows += self._n
        self._lo = self._hi = None
        self._n = 0

    def finish(self) -> float | None:
        """Close the open window; the share of changed pixels (None when no window had 2 frames)."""
        self._close()
        return self.changed / self.pixels if self.pixels else None

    def to_json(self) -> dict:
        return {
            "changed": self.changed,
            "pixels": self.pixels,
            "windows": self.windows,
            "frames_in_windows": self.frames_in_windows,
            "short_shot": self.short,
            "share": self.changed / self.pixels if self.pixels else None,
        }


def pooled(parts: list[dict]) -> float | None:
    """The share over several shots' :meth:`WindowedChange.to_json` results."""
    changed = sum(p["changed"] for p in parts)
    pixels = sum(p["pixels"] for p in parts)
    return changed / pixels if pixels else None
