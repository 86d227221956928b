"""αMatte4K clips: T consecutive frames of one shot, read from the tar shards by offset."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from matting.data.clip import PlanarFrames, RawClip
from matting.data.shard_index import Frame, Member, read_member, scan_shard
from render import exrio
from render.exrwindow import file_reader, read_window
from render.manifest import FIELDS, load_dataset
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

    ``load(i)`` returns a :class:`ShardClip`, which reads what augmentation asks for: the
    whole-frame context from ``lowres.exr``, the window from the EXR tiles under it. ``stride`` spaces the clip starts (1 for training,
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
        self._sizes: dict[str, tuple[int, int]] = {}  # shot id -> (width, height)
        if not self.windows:
            raise ValueError(
                f"{self.manifest_dir}: split {split!r} has no run of {clip_len} consecutive frames"
            )

    def __len__(self) -> int:
        return len(self.windows)

    def frames(self, index: int) -> list[Frame]:
        shot_id, start = self.windows[index]
        return self.shots[shot_id][start : start + self.clip_len]

    def load(self, index: int, rng: np.random.Generator | None = None) -> ShardClip:
        shot_id, _ = self.windows[index]
        if shot_id not in self._sizes:  # one header read per shot, not one per clip
            self._sizes[shot_id] = exrio.data_size(_head(self.shots[shot_id][0].fields["alpha.exr"]))
        return ShardClip(self.frames(index), self.name, self._sizes[shot_id])


class ShardClip:
    """T frames of one shot in the shards, read lazily (a :class:`ClipView`).

    ``context`` reads each frame's ``lowres.exr`` (the frame as a display shows it, shrunk in
    linear light, a few MB at 4K) and shrinks it on to CAP's canvas; ``window`` reads only the EXR tiles under the
    window (``render.exrwindow``). Shards written before ``lowres.exr`` existed, or EXRs in a
    layout that reader does not handle, are decoded whole once and kept for the clip.
    """

    def __init__(self, frames: list[Frame], source: str, size: tuple[int, int]):
        """``size``: (width, height) of the shot's frames."""
        self.frames = frames
        self.source = source
        self.frame_keys = tuple(f.key for f in frames)
        self.key = self.frame_keys[0]
        self._full: RawClip | None = None
        width, height = size
        self.shape = (len(frames), height, width)

    def full(self) -> RawClip:
        """The whole clip decoded: rgb scene-linear float16 planes, alpha float32 in [0, 1]."""
        if self._full is None:
            planes, alpha = [], []
            for fr in self.frames:
                ch = _decode(fr, "rgb.exr", "RGB")
                planes.append([ch[c] for c in "RGB"])
                alpha.append(_alpha(_decode(fr, "alpha.exr", "A")["A"]))
            self._full = RawClip(
                PlanarFrames(planes), np.stack(alpha), "linear", self.source, self.key, self.frame_keys
            )
        return self._full

    def context(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`RawClip.context`; from ``lowres.exr`` when every frame has one as large as
        the canvas needs."""
        small = [fr.fields.get(FIELDS["lowres"]) for fr in self.frames]
        if self._full is not None or any(m is None for m in small):
            return self.full().context(size)
        decoded = [_decode(fr, FIELDS["lowres"], "RGBA") for fr in self.frames]
        if max(decoded[0]["A"].shape) < min(size, max(self.shape[1:])):
            return self.full().context(size)
        planes = [[ch[c] for c in "RGB"] for ch in decoded]
        alpha = np.stack([_alpha(ch["A"]) for ch in decoded])
        lowres = RawClip(PlanarFrames(planes), alpha, "linear", self.source, self.key, self.frame_keys)
        return lowres.context(size, frame=self.shape[1:])

    def window(self, ys: slice, xs: slice) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`RawClip.window`."""
        y0, y1, _ = ys.indices(self.shape[1])
        x0, x1, _ = xs.indices(self.shape[2])
        if self._full is not None or (y1 - y0, x1 - x0) == self.shape[1:]:  # whole frames: OpenEXR
            return self.full().window(ys, xs)
        rgb, alpha = [], []
        for fr in self.frames:
            ch = _window(fr, "rgb.exr", (y0, x0, y1, x1))
            a = _window(fr, "alpha.exr", (y0, x0, y1, x1))
            if ch is None or a is None:  # a layout the window reader leaves to OpenEXR
                return self.full().window(ys, xs)
            _require(fr, "rgb.exr", ch, "RGB")
            _require(fr, "alpha.exr", a, "A")
            rgb.append(np.stack([ch[c] for c in "RGB"], axis=-1))
            alpha.append(_alpha(a["A"].astype(np.float32)))
        return np.stack(rgb), np.stack(alpha)


def _head(member: Member) -> bytes:
    return file_reader(member.path, member.offset, member.size)(0, 1 << 16)


def _require(fr: Frame, field: str, ch: dict, names: str) -> None:
    missing = [c for c in names if c not in ch]
    if missing:
        raise ValueError(f"{fr.fields[field].path}: {fr.key}.{field} lacks channels {missing}")


def _decode(fr: Frame, field: str, names: str) -> dict[str, np.ndarray]:
    ch = exrio.decode(read_member(fr.fields[field], fr.key))
    _require(fr, field, ch, names)
    return ch


def _window(fr: Frame, field: str, win: tuple[int, int, int, int]) -> dict[str, np.ndarray] | None:
    m = fr.fields[field]
    try:
        with open(m.path, "rb") as f:  # one open for the header and every row of tiles
            return read_window(file_reader(f, m.offset, m.size), *win)
    except ValueError as exc:
        raise ValueError(f"{m.path}: {fr.key}.{field}: {exc}") from exc


def _alpha(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    return np.clip(a, 0.0, 1.0, out=a)  # renderer noise can leave alpha a hair outside
