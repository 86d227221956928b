"""αMatte4K clips: T consecutive frames of one shot, read from the tar shards by offset."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from matting.data.clip import PlanarFrames, RawClip
from matting.data.shard_index import Frame, read_member, scan_shard
from render import exrio
from render.manifest import load_dataset
from render.store import is_url

SPLITS = ("train", "val")
REQUIRED_FIELDS = ("rgb.exr", "alpha.exr")


def find_datasets(path: str | os.PathLike) -> tuple[list[tuple[str, int | None]], bool]:
    """The datasets at ``path``: ([(manifest dir, train frames or None if unreadable)], False)
    for a manifest dir (or a URL), or every manifest dir one level below a root that holds
    several, (…, True). FileNotFoundError (one line) when there is none."""
    if is_url(path):
        return [(str(path), None)], False
    root = Path(path).resolve()
    if (root / "index.json").is_file():
        return [(str(root), _train_frames(root / "index.json"))], False
    subs = sorted(p for p in Path(path).glob("*/index.json") if p.is_file()) if root.is_dir() else []
    if not subs:
        raise FileNotFoundError(
            f"{path}: no dataset index there or in its subfolders (render one: make demo)"
        )
    return [(str(p.parent.absolute()), _train_frames(p)) for p in subs], True


def _train_frames(index: Path) -> int | None:
    try:
        shards = json.loads(index.read_text())["shards"]
        return sum(int(s["frames"]) for s in shards if s.get("split") == "train")
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the loader names what is wrong with it


def index_shots(shards: list[dict]) -> dict[str, list[Frame]]:
    """Scan shards (entries of ``Dataset.split``) into shot id -> frames sorted by number."""
    shots: dict[str, list[Frame]] = defaultdict(list)
    for entry in shards:
        path = entry["path"]
        if "://" in path:
            raise ValueError(
                f"{entry['url']}: training reads shards by member offset, one request each in an object "
                "store (~5 per frame): copy the dataset to local disk first (e.g. aws s3 sync)"
            )
        frames = scan_shard(path, entry.get("shot_id"))
        if len(frames) != entry.get("frames", len(frames)):
            raise ValueError(f"{path}: {len(frames)} frames, but the manifest lists {entry['frames']}")
        for frame in frames:
            missing = [f for f in REQUIRED_FIELDS if f not in frame.fields]
            if missing:
                raise ValueError(f"{path}: frame {frame.key} lacks {missing}")
            shots[frame.shot_id].append(frame)
    for shot_id, frames in shots.items():
        frames.sort(key=lambda fr: fr.frame)
        numbers = [fr.frame for fr in frames]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"shot {shot_id}: duplicate frame numbers across its shards")
    return dict(sorted(shots.items()))


def clip_windows(shots: dict[str, list[Frame]], clip_len: int, stride: int = 1) -> list[tuple[str, int]]:
    """(shot id, position of the first frame) of every run of ``clip_len`` consecutive frame numbers."""
    windows = []
    for shot_id, frames in shots.items():
        for start in range(0, len(frames) - clip_len + 1, stride):
            if frames[start + clip_len - 1].frame - frames[start].frame == clip_len - 1:
                windows.append((shot_id, start))
    return windows


class AMatte4KSource:
    """Clips of ``clip_len`` consecutive frames of one shot from a manifest directory.

    ``load(i)`` returns rgb (T, H, W, 3) scene-linear float16 as stored (a
    :class:`PlanarFrames`; converted to display sRGB after cropping) and alpha (T, H, W)
    float32 clipped to [0, 1]. ``stride`` spaces the clip starts (1 for training,
    ``clip_len`` for non-overlapping evaluation clips).
    """

    name = "amatte4k"

    def __init__(self, manifest: str | os.PathLike, split: str = "train", clip_len: int = 4, stride: int = 1):
        if split not in SPLITS:
            raise ValueError(f"amatte4k: split {split!r} is not one of {SPLITS}")
        dataset = load_dataset(manifest)  # one-line errors for a missing index or shard
        shards = dataset.split(split)
        if not shards:
            raise ValueError(f"{dataset.manifest_dir}: no shards in split {split!r}")
        self.manifest_dir = dataset.manifest_dir
        self.clip_len = clip_len
        self.shots = index_shots(shards)
        self.windows = clip_windows(self.shots, clip_len, stride)
        if not self.windows:
            raise ValueError(
                f"{self.manifest_dir}: split {split!r} has no run of {clip_len} consecutive frames"
            )

    def __len__(self) -> int:
        return len(self.windows)

    def frames(self, index: int) -> list[Frame]:
        shot_id, start = self.windows[index]
        return self.shots[shot_id][start : start + self.clip_len]

    def load(self, index: int, rng: np.random.Generator | None = None) -> RawClip:
        frames = self.frames(index)
        planes, alpha = [], []
        for fr in frames:
            ch = exrio.decode(read_member(fr.fields["rgb.exr"], fr.key))
            missing = [c for c in "RGB" if c not in ch]
            if missing:
                raise ValueError(f"{fr.fields['rgb.exr'].path}: {fr.key}.rgb.exr lacks channels {missing}")
            planes.append([ch[c] for c in "RGB"])
            a = exrio.decode_alpha(read_member(fr.fields["alpha.exr"], fr.key))
            alpha.append(np.clip(a, 0.0, 1.0, out=a))  # renderer noise can leave alpha a hair outside
        keys = tuple(f.key for f in frames)
        return RawClip(PlanarFrames(planes), np.stack(alpha), "linear", self.name, keys[0], keys)
