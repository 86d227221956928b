"""Frame I/O for inference and evaluation: videos and folders of frames in, alpha frames and a
composited preview out.

Input frames come out as (H, W, 3) float32 display sRGB in [0, 1] (what the model takes):
8/16-bit images and video frames are divided by their range, EXR frames are taken as
scene-linear and encoded with the sRGB curve like the training data. Alpha frames are
(H, W) float32 in [0, 1], written as 16-bit PNG (OpenCV) or float32 EXR (OpenEXR).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from matting.data.color import linear_to_srgb, to_display
from render import exrio

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr")
ALPHA_FORMATS = {"png16": ".png", "exr": ".exr"}


class VideoError(ValueError):
    """Unreadable or unwritable frames; one-line message naming the path."""


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """Image files of ``folder`` sorted by name."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise VideoError(f"{folder}: no image frames ({', '.join(IMAGE_EXTS)})")
    return files


def _decode_exr(path: Path) -> dict[str, np.ndarray]:
    try:
        return exrio.decode(path)
    except ValueError as exc:
        raise VideoError(str(exc)) from exc


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One frame file -> (H, W, 3) float32 display sRGB in [0, 1]."""
    path = Path(path)
    if path.suffix.lower() == ".exr":
        ch = _decode_exr(path)
        if not all(c in ch for c in "RGB"):
            raise VideoError(f"{path}: EXR frame lacks R, G, B channels; has {sorted(ch)}")
        return linear_to_srgb(np.stack([ch[c] for c in "RGB"], axis=-1))
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise VideoError(f"{path}: unreadable image")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    else:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    return to_display(img, "srgb")


def read_alpha(path: str | os.PathLike) -> np.ndarray:
    """An alpha frame -> (H, W) float32 in [0, 1]: grey PNG/JPEG (8 or 16 bit; the alpha
    channel of an RGBA image, else the first channel) or EXR channel A (else Y, R)."""
    path = Path(path)
    if path.suffix.lower() == ".exr":
        ch = _decode_exr(path)
        name = next((c for c in ("A", "Y", "R") if c in ch), None)
        if name is None:
            raise VideoError(f"{path}: alpha EXR has none of the channels A, Y, R; has {sorted(ch)}")
        return np.clip(ch[name].astype(np.float32), 0.0, 1.0)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise VideoError(f"{path}: unreadable image")
    if img.ndim == 3:
        img = img[..., 3] if img.shape[2] == 4 else img[..., 0]
    return np.clip(to_display(img[..., None], "srgb")[..., 0], 0.0, 1.0)


class FrameReader:
    """Frames of a video file or a folder of images, read one at a time.

    ``len(reader)`` is the frame count (for a video, the container's estimate); ``fps`` the
    frame rate (30 for folders); iterating yields (H, W, 3) float32 display sRGB frames.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.files: list[Path] | None = None
        if self.path.is_dir():
            self.files = list_frames(self.path)
            self.fps = 30.0
            first = read_image(self.files[0])
            self.count = len(self.files)
        elif self.path.is_file():
            cap = cv2.VideoCapture(str(self.path))
            ok, frame = cap.read() if cap.isOpened() else (False, None)
            self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or 30.0
            self.count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            cap.release()
            if not ok or frame is None:
                raise VideoError(f"{self.path}: unreadable video (no frame could be decoded)")
            first = frame
        else:
            raise VideoError(f"{self.path}: no such video file or frame folder")
        self.height, self.width = first.shape[:2]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.files is not None:
            for f in self.files:
                frame = read_image(f)
                self._check_size(frame, f)
                yield frame
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                self._check_size(frame, self.path)
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
        finally:
            cap.release()

    def _check_size(self, frame: np.ndarray, where: Path) -> None:
        if frame.shape[:2] != (self.height, self.width):
            raise VideoError(
                f"{where}: frame size {frame.shape[1]}x{frame.shape[0]} differs from the first frame's "
                f"{self.width}x{self.height}"
            )


def write_alpha(path: str | os.PathLike, alpha: np.ndarray, fmt: str = "png16") -> Path:
    """Write (H, W) alpha in [0, 1] as a 16-bit grey PNG or a float32 EXR (channel A)."""
    path = Path(path)
    alpha = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)
    if fmt == "png16":
        if not cv2.imwrite(str(path), np.rint(alpha * 65535).astype(np.uint16)):
            raise VideoError(f"{path}: could not write PNG")
    elif fmt == "exr":
        exrio.write_exr(path, exrio.encode_alpha(alpha))
    else:
        raise VideoError(f"unknown alpha format {fmt!r}; expected one of {sorted(ALPHA_FORMATS)}")
    return path


def checkerboard(height: int, width: int, cell: int = 16) -> np.ndarray:
    """(H, W, 3) float32 grey checkerboard, the usual transparency backdrop."""
    yy, xx = np.mgrid[0:height, 0:width]
    board = ((yy // cell + xx // cell) % 2).astype(np.float32)
    return np.repeat((0.4 + 0.2 * board)[..., None], 3, axis=-1)


class PreviewWriter:
    """An mp4 of the frames composited over a checkerboard: rgb * alpha + board * (1 - alpha)."""

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not self.writer.isOpened():
            raise VideoError(f"{self.path}: cannot open a video writer (mp4v)")
        self.board = checkerboard(height, width, cell=max(8, min(height, width) // 24))

    def write(self, rgb: np.ndarray, alpha: np.ndarray) -> None:
        """rgb (H, W, 3) float32 display sRGB, alpha (H, W) float32."""
        a = alpha[..., None]
        comp = rgb * a + self.board * (1 - a)
        bgr = cv2.cvtColor(np.clip(np.rint(comp * 255), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        self.writer.write(bgr)

    def close(self) -> None:
        self.writer.release()
