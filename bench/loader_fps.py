"""Clips per second of the αMatte4K training loader: the whole-frame context from
``lowres.exr``, the window from the EXR tiles under it, sRGB, resize, flip, jitter.

    python bench/loader_fps.py --data manifests --workers 2
    python bench/loader_fps.py --res 2160x3840 --one-core --clips 12 --breakdown   # synthetic shards

``--one-core`` pins the process (and its threads) to one CPU: the figure is then clips/s per
loader core, the unit of the target (>= 4 at 4K: 8 GPUs fed by a few cores each). ``--baseline``
also times the same samples built from whole decoded frames (the whole-frame view included);
the loader before the window reads, which made no whole-frame view, measured 0.72 clips/s.

Without ``--data`` it writes a synthetic dataset with the real writers (noise images, which
compress about as badly as renders do) into a temporary directory and removes it afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from torch.utils.data import DataLoader

from matting.data import build_dataset, synthetic
from matting.data.augment import augment_clip
from render.config import parse_resolution


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, help="manifest directory; default: synthetic shards in a temp dir")
    p.add_argument("--split", default="train")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--clips", type=int, default=16, help="clips to time (after one warm-up clip per worker)")
    p.add_argument("--clip-len", type=int, default=4)
    p.add_argument("--size", type=int, default=512, help="training size the crops are resized to")
    p.add_argument("--crop-sizes", type=int, nargs="+", default=[512])
    p.add_argument("--res", type=parse_resolution, default=(2160, 3840), help="synthetic WIDTHxHEIGHT")
    p.add_argument("--shots", type=int, default=2, help="synthetic shots")
    p.add_argument("--frames", type=int, default=6, help="synthetic frames per shot")
    p.add_argument("--breakdown", action="store_true", help="also time the reads and augmentation separately")
    p.add_argument("--one-core", action="store_true", help="pin to one CPU: clips/s per loader core")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also time clips decoded whole (the loader before window reads)",
    )
    p.add_argument("--context-size", type=int, default=512, help="CAP's canvas (the model's cap_size)")
    return p.parse_args(argv)


def measure(manifest: Path, args: argparse.Namespace, whole: bool = False) -> dict[str, float]:
    cfg = {
        "seed": 0,
        "clip_len": args.clip_len,
        "size": args.size,
        "crop_sizes": args.crop_sizes,
        "sources": [{"type": "amatte4k", "manifest": str(manifest), "split": args.split}],
    }
    t0 = time.perf_counter()
    ds = build_dataset(cfg, context_size=args.context_size)
    index_s = time.perf_counter() - t0
    if whole:
        ds.sources = [WholeFrames(s) for s in ds.sources]
    loader = iter(DataLoader(ds, batch_size=None, num_workers=args.workers))
    for _ in range(max(1, args.workers)):  # worker start-up and first decode are not throughput
        next(loader)
    t0 = time.perf_counter()
    for _ in range(args.clips):
        next(loader)
    elapsed = time.perf_counter() - t0
    out = {
        "index_s": index_s,
        "clips_per_s": args.clips / elapsed,
        "fps": args.clips * args.clip_len / elapsed,
    }
    if args.breakdown and not whole:
        source, times = ds.sources[0], {"context": 0.0, "window": 0.0, "total": 0.0}
        for i in range(args.clips):
            rng = np.random.default_rng(i)
            clip = source.load(int(rng.integers(len(source))), rng)
            t0 = time.perf_counter()
            clip.context(args.context_size)
            t1 = time.perf_counter()
            side = args.crop_sizes[0]
            clip.window(slice(0, side), slice(0, side))
            t2 = time.perf_counter()
            augment_clip(source.load(int(rng.integers(len(source))), rng), rng, ds.augment)
            times["context"] += t1 - t0
            times["window"] += t2 - t1
            times["total"] += time.perf_counter() - t2
        frames = args.clips * args.clip_len
        out |= {f"{k}_ms_per_frame": 1e3 * v / frames for k, v in times.items()}
    return out


class WholeFrames:
    """A source whose clips are decoded whole before augmentation: the loader as it was
    before it read windows and ``lowres.exr``."""

    def __init__(self, source):
        self.source, self.name, self.clip_len = source, source.name, source.clip_len

    def __len__(self) -> int:
        return len(self.source)

    def load(self, index: int, rng=None):
        return self.source.load(index, rng).full()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one_core:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory(prefix="loader_fps_") as tmp:
        if args.data is None:
            w, h = args.res
            t0 = time.perf_counter()
            manifest = synthetic.write_amatte4k(
                tmp, frames=args.frames, width=w, height=h, splits=["train"] * args.shots, coded=False
            )
            print(
                f"wrote {args.shots} synthetic shots of {args.frames} frames at {w}x{h} in "
                f"{time.perf_counter() - t0:.1f} s"
            )
            where = f"synthetic {w}x{h}"
        else:
            manifest, where = args.data, str(args.data)
        r = measure(manifest, args)
        base = measure(manifest, args, whole=True) if args.baseline else None
    print(
        f"data: {where}, split {args.split}; clip_len {args.clip_len}, windows {args.crop_sizes} -> {args.size}, "
        f"context {args.context_size}"
    )
    print(f"index built in {r['index_s']:.2f} s")
    print(
        f"workers {args.workers}: {r['fps']:.2f} frames/s ({r['clips_per_s']:.2f} clips/s over {args.clips} clips)"
    )
    if args.breakdown:
        print(
            f"per frame, one process: context (lowres.exr -> canvas) {r['context_ms_per_frame']:.1f} ms, "
            f"a {args.crop_sizes[0]} px window read {r['window_ms_per_frame']:.1f} ms, "
            f"the whole sample {r['total_ms_per_frame']:.1f} ms"
        )
    if base is not None:
        print(
            f"clips decoded whole (before): {base['clips_per_s']:.2f} clips/s; "
            f"window reads: {r['clips_per_s'] / base['clips_per_s']:.1f}x as many"
        )
    if args.one_core:
        print(f"per loader core: {r['clips_per_s']:.2f} clips/s (target >= 4 at 4K)")


if __name__ == "__main__":
    main()
