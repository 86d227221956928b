"""VideoMatte-style clips (``fgr/<clip>/*``, ``pha/<clip>/*``) composited onto backgrounds online.

Backgrounds come from a folder holding still images, folders of video frames, or both. Each
clip gets one background item; a video background contributes T consecutive frames, a still
the same image T times. The composite I = alpha * F + (1 - alpha) * B is formed in linear
light (foreground and background decoded from sRGB), as a camera would record it; the look
that turns it into display values is drawn by the augmentation (``matting.data.color``).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from matting.data.clip import RawClip
from matting.data.color import to_linear
from matting.data.imageio import list_images, read_alpha, read_rgb


def _pair_frames(fgr_dir: Path, pha_dir: Path) -> list[tuple[Path, Path]]:
    if not pha_dir.is_dir():
        raise FileNotFoundError(f"{pha_dir}: no alpha folder for foreground clip {fgr_dir.name}")
    alphas = {p.stem: p for p in list_images(pha_dir)}
    pairs = []
    for fg in list_images(fgr_dir):
        if fg.stem not in alphas:
            raise FileNotFoundError(f"{pha_dir}: no alpha frame {fg.stem!r} for {fg}")
        pairs.append((fg, alphas[fg.stem]))
    return pairs


def index_backgrounds(root: Path) -> list[list[Path]]:
    """Background items: [image] for each still, [frame, frame, ...] for each video folder."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: background folder does not exist")
    items = [[p] for p in list_images(root)]
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        frames = list_images(sub)
        if frames:
            items.append(frames)
    if not items:
        raise ValueError(f"{root}: no background images or video-frame folders")
    return items


def fit_background(bg: np.ndarray, h: int, w: int, fy: float, fx: float) -> np.ndarray:
    """Scale (h', w', 3) to cover (h, w) keeping the aspect ratio, then crop at relative offset (fy, fx)."""
    bh, bw = bg.shape[:2]
    scale = max(h / bh, w / bw)
    if scale != 1.0:
        size = (max(w, round(bw * scale)), max(h, round(bh * scale)))
        bg = cv2.resize(bg, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y0 = round(fy * (bg.shape[0] - h))
    x0 = round(fx * (bg.shape[1] - w))
    return bg[y0 : y0 + h, x0 : x0 + w]


class VideoMatteSource:
    """Clips of ``clip_len`` consecutive frames of a foreground clip over a random background.

    ``load`` returns rgb (T, H, W, 3) float32 scene-linear and alpha (T, H, W) float32, at the
    foreground's resolution.
    """

    name = "videomatte"

    def __init__(
        self, root: str | os.PathLike, backgrounds: str | os.PathLike, clip_len: int = 4, stride: int = 1
    ):
        root = Path(root)
        self.backgrounds = index_backgrounds(Path(backgrounds))
        fgr = root / "fgr"
        if not fgr.is_dir():
            raise FileNotFoundError(f"{root}: no fgr/ folder of foreground clips")
        self.clip_len = clip_len
        self.clips: dict[str, list[tuple[Path, Path]]] = {}
        for clip_dir in sorted(p for p in fgr.iterdir() if p.is_dir()):
            self.clips[clip_dir.name] = _pair_frames(clip_dir, root / "pha" / clip_dir.name)
        self.windows = [
            (name, start)
            for name, frames in self.clips.items()
            for start in range(0, len(frames) - clip_len + 1, stride)
        ]
        if not self.windows:
            raise ValueError(f"{fgr}: no clip has {clip_len} frames")

    def __len__(self) -> int:
        return len(self.windows)

    def load(self, index: int, rng: np.random.Generator) -> RawClip:
        name, start = self.windows[index]
        pairs = self.clips[name][start : start + self.clip_len]
        fg = [to_linear(read_rgb(f), "srgb") for f, _ in pairs]
        alpha = np.stack([read_alpha(a) for _, a in pairs])  # (T, H, W)
        t_count, h, w = alpha.shape
        for f, (path, _) in zip(fg, pairs, strict=True):
            if f.shape[:2] != (h, w):
                raise ValueError(f"{path}: foreground {f.shape[:2]} and alpha {(h, w)} sizes differ")
        item = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
        first = int(rng.integers(max(1, len(item) - t_count + 1)))
        fy, fx = rng.random(2)
        # A video shorter than the clip holds its last frame.
        bg_paths = [item[min(first + t, len(item) - 1)] for t in range(t_count)]
        bg = np.stack([fit_background(to_linear(read_rgb(p), "srgb"), h, w, fy, fx) for p in bg_paths])
        a = alpha[..., None]
        rgb = a * np.stack(fg) + (1 - a) * bg
        keys = tuple(f"{name}/{f.stem}" for f, _ in pairs)
        return RawClip(rgb.astype(np.float32), alpha, "linear", self.name, keys[0], keys)
