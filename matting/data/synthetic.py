"""Small synthetic datasets in the real on-disk formats, for tests and loader benchmarks.

αMatte4K shots are written with the project's own writers (``render.shards``,
``render.exrio``, ``render.manifest``). In "coded" frames the red and green channels are
constant and encode the frame and shot (linear R = (frame + 1) / 64, G = (shot + 1) / 8, both
exact in half floats), so a test can read back which frames a clip came from after cropping
and resizing; otherwise all channels are noise, which compresses like real renders do.
The alpha is a soft-edged disc moving right by one pixel per frame.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from render import exrio
from render.lowres import LOWRES_SIDE, lowres_rgb, shrink
from render.manifest import FIELDS, ShardEntry, ShotRecord, build_index, relative_url, write_shot_record
from render.shards import write_shards


def disc_alpha(height: int, width: int, frame: int, edge: float = 3.0) -> np.ndarray:
    """(H, W) float32: 1 inside a disc, 0 outside, a linear ramp ``edge`` px wide between."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx, r = height / 2, width / 3 + frame, min(height, width) / 4
    dist = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    return np.clip((r - dist) / edge + 0.5, 0.0, 1.0).astype(np.float32)


def frame_arrays(shot: int, frame: int, height: int, width: int, coded: bool = True, seed: int = 0):
    """(rgb (H, W, 3) float32 scene-linear, alpha (H, W) float32) of one synthetic frame."""
    rng = np.random.default_rng([seed, shot, frame])
    rgb = rng.random((height, width, 3), dtype=np.float32) * 1.2  # a few values above 1, like highlights
    if coded:
        rgb[..., 0] = (frame + 1) / 64
        rgb[..., 1] = (shot + 1) / 8
    return rgb, disc_alpha(height, width, frame)


def decode_codes(rgb_display: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3, H, W) display sRGB of coded frames -> (frame numbers (T,), shot numbers (T,))."""
    from matting.data.color import srgb_to_linear

    lin = srgb_to_linear(rgb_display[:, :2].reshape(len(rgb_display), 2, -1).mean(axis=2))
    return np.rint(lin[:, 0] * 64 - 1).astype(int), np.rint(lin[:, 1] * 8 - 1).astype(int)


def _frame_json(shot_id: str, split: str, frame: int, frames: int, width: int, height: int) -> bytes:
    meta = {
        "shot_id": shot_id,
        "scene": "synthetic",
        "split": split,
        "frame": frame,
        "frame_count": frames,
        "fps": 30,
        "resolution": [width, height],
        "camera": {
            "K": [[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]],
            "world_to_camera": np.eye(4).tolist(),
            "focal_length_mm": 35.0,
            "sensor_mm": 36.0,
            "sensor_fit": "longer_side",
            "preset": "static",
        },
        "character": {"id": "none", "phenotype": {}, "hair": {}},
        "animation": {"clip": "none", "start": 0.0},
        "seeds": {"shot": 0, "render": 0},
        "render": {
            "backend": "synthetic",
            "samples": 0,
            "alpha_samples": 0,
            "motion_blur": False,
            "shutter": 0.0,
        },
    }
    return json.dumps(meta).encode("utf-8")


def write_amatte4k(
    root: str | os.PathLike,
    frames: int = 6,
    width: int = 32,
    height: int = 24,
    splits: Sequence[str] = ("train", "train"),
    frames_per_shard: int = 4,
    coded: bool = True,
    lowres: int | None = LOWRES_SIDE,
) -> Path:
    """Write one shot per entry of ``splits`` under ``root/data/shards`` with records and an index
    under ``root/manifests``; a shot longer than ``frames_per_shard`` spans several shards.
    ``lowres``: the longer side of the ``lowres.exr`` field, as the renderer's packer writes
    it (None: no such field, as in shards written before it). Returns the manifest directory."""
    root = Path(root)
    manifest_dir, shard_dir = root / "manifests", root / "data" / "shards"
    for shot, split in enumerate(splits):
        shot_id = f"shot{shot:05d}"

        def samples(shot=shot, shot_id=shot_id, split=split) -> Iterator[dict]:
            for f in range(frames):
                rgb, alpha = frame_arrays(shot, f, height, width, coded)
                sample = {
                    "__key__": f"{shot_id}_{f:04d}",
                    "rgb.exr": exrio.encode_rgb(rgb),
                    "alpha.exr": exrio.encode_alpha(alpha),
                    "json": _frame_json(shot_id, split, f, frames, width, height),
                }
                if lowres is not None:
                    sample[FIELDS["lowres"]] = exrio.encode_lowres(
                        lowres_rgb(rgb, lowres), shrink(alpha, lowres)
                    )
                yield sample

        infos = write_shards(samples(), shard_dir, shot_id, maxcount=frames_per_shard)
        entries = tuple(
            ShardEntry(relative_url(i.path, manifest_dir), i.sha256, i.bytes, i.samples) for i in infos
        )
        write_shot_record(manifest_dir, ShotRecord(shot_id, "synthetic", split, frames, entries))
    build_index(manifest_dir, planned_shots=len(splits), seed=0)
    return manifest_dir


def _write_png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if img.ndim == 3:
        img = img[..., ::-1]  # RGB -> OpenCV's BGR
    if not cv2.imwrite(str(path), np.ascontiguousarray(img)):
        raise OSError(f"{path}: could not write image")


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def write_videomatte(
    root: str | os.PathLike, clips: int = 2, frames: int = 5, width: int = 32, height: int = 24
) -> Path:
    """``root/fgr/<clip>/NNNN.png`` + ``root/pha/<clip>/NNNN.png``; returns ``root``."""
    root = Path(root)
    for c in range(clips):
        for f in range(frames):
            rng = np.random.default_rng([1, c, f])
            _write_png(
                root / "fgr" / f"clip{c:02d}" / f"{f:04d}.png",
                rng.integers(0, 256, (height, width, 3), np.uint8),
            )
            _write_png(root / "pha" / f"clip{c:02d}" / f"{f:04d}.png", _u8(disc_alpha(height, width, f)))
    return root


def write_backgrounds(
    root: str | os.PathLike,
    stills: int = 2,
    videos: int = 1,
    frames: int = 3,
    width: int = 40,
    height: int = 30,
) -> Path:
    """Still images ``root/bgNN.png`` and video-frame folders ``root/videoNN/NNNN.png``."""
    root = Path(root)
    for i in range(stills):
        _write_png(
            root / f"bg{i:02d}.png",
            np.random.default_rng([2, i]).integers(0, 256, (height, width, 3), np.uint8),
        )
    for v in range(videos):
        for f in range(frames):
            img = np.random.default_rng([3, v, f]).integers(0, 256, (height, width, 3), np.uint8)
            _write_png(root / f"video{v:02d}" / f"{f:04d}.png", img)
    return root


def write_image_matte(root: str | os.PathLike, count: int = 3, width: int = 32, height: int = 24) -> Path:
    """``root/images/imgNN.png`` + ``root/alphas/imgNN.png``; returns ``root``."""
    root = Path(root)
    for i in range(count):
        img = np.random.default_rng([4, i]).integers(0, 256, (height, width, 3), np.uint8)
        _write_png(root / "images" / f"img{i:02d}.png", img)
        _write_png(root / "alphas" / f"img{i:02d}.png", _u8(disc_alpha(height, width, i)))
    return root
