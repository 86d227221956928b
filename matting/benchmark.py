"""Scoring in RobustVideoMatting's benchmark layout, clip by clip (VideoMatte-HD/4K style sets).

A benchmark root holds one folder per clip; each clip folder has ``pha/`` (ground-truth alpha
frames) and either ``com/`` (the composited frames) or ``fgr/`` and ``bgr/`` (foreground and
background, composited here as ``fgr * pha + bgr * (1 - pha)`` on the stored display values, as
RVM's own evaluation does). Predictions in the same layout have ``<clip>/pha/``.

Every clip is one sequence (dtSSD never links two clips). The model sees groups of
``CLIP_LEN`` frames with no state carried between them, so the report also splits dtSSD by frame
pair: pairs that cross a group boundary (t % CLIP_LEN == 0, t > 0) and pairs inside a group, to
show what the dropped state costs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from matting.video import list_frames, read_alpha, read_image

CLIP_LEN = 4


def benchmark_clips(root: str | os.PathLike) -> list[Path]:
    """Clip folders of a benchmark root (those with ``pha/``), sorted; ValueError when none."""
    root = Path(root)
    clips = sorted(p for p in root.iterdir() if (p / "pha").is_dir()) if root.is_dir() else []
    if not clips:
        raise ValueError(
            f"{root}: no clip folders with pha/ (RVM layout: <clip>/{{com|fgr,bgr}}, <clip>/pha)"
        )
    return clips


def clip_frames(clip: Path) -> tuple[list[Path], Callable[[int], np.ndarray]]:
    """(ground-truth alpha files, frame i -> (H, W, 3) float32 input) of one clip folder."""
    pha = list_frames(clip / "pha")
    if (clip / "com").is_dir():
        com = list_frames(clip / "com")
        if len(com) != len(pha):
            raise ValueError(f"{clip}: {len(com)} com frames but {len(pha)} pha frames")
        return pha, lambda i: read_image(com[i])
    if not ((clip / "fgr").is_dir() and (clip / "bgr").is_dir()):
        raise ValueError(f"{clip}: needs com/, or fgr/ and bgr/, beside pha/")
    fgr, bgr = list_frames(clip / "fgr"), list_frames(clip / "bgr")
    if not len(fgr) == len(bgr) == len(pha):
        raise ValueError(f"{clip}: {len(fgr)} fgr, {len(bgr)} bgr and {len(pha)} pha frames")

    def composite(i: int) -> np.ndarray:
        # In display values, as RobustVideoMatting's benchmark sets were composited (the
        # published figures assume it); training composites in linear light (matting.data.color).
        a = read_alpha(pha[i])[..., None]
        return (read_image(fgr[i]) * a + read_image(bgr[i]) * (1 - a)).astype(np.float32)

    return pha, composite


class PairSplit:
    """Per-frame RVM dtSSD terms (x1e2) of sequences fed in chunks, summed separately over frames
    that start a new model group (t % group == 0, t > 0: the model's state was dropped before
    them) and over the other frames t > 0. ``add(pred, gt)`` takes (k, H, W) chunks in order;
    ``new_sequence()`` starts a clip."""

    def __init__(self, group: int = CLIP_LEN):
        self.group = group
        self.sums = {"boundary": 0.0, "within": 0.0}
        self.counts = {"boundary": 0, "within": 0}
        self._t = 0
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def new_sequence(self) -> None:
        self._t, self._last = 0, None

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        p, g = (
            (pred, gt)
            if self._last is None
            else (np.concatenate([self._last[0], pred]), np.concatenate([self._last[1], gt]))
        )
        e = np.diff(p, axis=0) - np.diff(g, axis=0)
        per = np.sqrt((e**2).mean(axis=(1, 2))) * 1e2
        first = self._t if self._last is not None else self._t + 1  # frame index of per[0]
        for i, value in enumerate(per):
            kind = "boundary" if (first + i) % self.group == 0 else "within"
            self.sums[kind] += float(value)
            self.counts[kind] += 1
        self._t += len(pred)
        self._last = (pred[-1:], gt[-1:])

    def result(self) -> dict:
        return {
            kind: (self.sums[kind] / self.counts[kind] if self.counts[kind] else None) for kind in self.sums
        } | {"pairs": dict(self.counts)}
