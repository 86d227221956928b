"""Scoring in RobustVideoMatting's benchmark layout, clip by clip (VideoMatte-HD/4K style sets).

A benchmark root holds one folder per clip; each clip folder has ``pha/`` (ground-truth alpha
frames) and either ``com/`` (the composited frames) or ``fgr/`` and ``bgr/`` (foreground and
background, composited here as ``fgr * pha + bgr * (1 - pha)`` on the stored display values, as
RVM's own evaluation does). Predictions in the same layout have ``<clip>/pha/``.

Every clip is one sequence (dtSSD never links two clips). The model sees groups of
``CLIP_LEN`` frames with no state carried between them, so the report also splits dtSSD by frame
pair: pairs whose second frame's output came from another group than the first's (without
overlap, t % CLIP_LEN == 0, t > 0) and pairs inside a group, to show what the dropped state
costs.
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
    that start a new model group (the model's state was dropped before them) and over the other
    frames t > 0. ``add(pred, gt, groups)`` takes (k, H, W) chunks in order with the group each
    frame's output came from (default: consecutive groups of ``group``, t // group);
    ``new_sequence()`` starts a clip."""

    def __init__(self, group: int = CLIP_LEN):
        self.group = group
        self.sums = {"boundary": 0.0, "within": 0.0}
        self.counts = {"boundary": 0, "within": 0}
        self._t = 0
        self._group = None  # the group of the last frame fed
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def new_sequence(self) -> None:
        self._t, self._last, self._group = 0, None, None

    def add(self, pred: np.ndarray, gt: np.ndarray, groups=None) -> None:
        p, g = (
            (pred, gt)
            if self._last is None
            else (np.concatenate([self._last[0], pred]), np.concatenate([self._last[1], gt]))
        )
        e = np.diff(p, axis=0) - np.diff(g, axis=0)
        per = np.sqrt((e**2).mean(axis=(1, 2))) * 1e2
        t = np.arange(self._t, self._t + len(pred))
        groups = [int(x) for x in (t // self.group if groups is None else groups)]
        if len(groups) != len(pred):
            raise ValueError(f"PairSplit.add: {len(groups)} group indices for {len(pred)} frames")
        previous = [self._group, *groups[:-1]]
        skip = 1 if self._last is None else 0  # the sequence's first frame has no pair
        for value, group, before in zip(per, groups[skip:], previous[skip:], strict=True):
            kind = "boundary" if group != before else "within"
            self.sums[kind] += float(value)
            self.counts[kind] += 1
        self._t += len(pred)
        self._group = groups[-1]
        self._last = (pred[-1:].copy(), gt[-1:].copy())  # not a view that keeps a whole group alive

    def result(self) -> dict:
        return {
            kind: (self.sums[kind] / self.counts[kind] if self.counts[kind] else None) for kind in self.sums
        } | {"pairs": dict(self.counts)}
