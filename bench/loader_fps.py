"""Frames per second of the αMatte4K clip loader (shard read + EXR decode + crop + sRGB + resize).

    python bench/loader_fps.py --data manifests --workers 2
    python bench/loader_fps.py --res 2160x3840 --workers 0 --clips 12   # synthetic shards

Without ``--data`` it writes a synthetic dataset with the real writers (noise images, which
compress about as badly as renders do) into a temporary directory and removes it afterwards.
"""

from __future__ import annotations

import argparse
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
    p.add_argument("--crop-sizes", type=int, nargs="+", default=[512, 640, 800])
    p.add_argument("--res", type=parse_resolution, default=(2160, 3840), help="synthetic WIDTHxHEIGHT")
    p.add_argument("--shots", type=int, default=2, help="synthetic shots")
    p.add_argument("--frames", type=int, default=6, help="synthetic frames per shot")
    p.add_argument("--breakdown", action="store_true", help="also time decode and augmentation separately")
    return p.parse_args(argv)


def measure(manifest: Path, args: argparse.Namespace) -> dict[str, float]:
    cfg = {
        "seed": 0,
        "clip_len": args.clip_len,
        "size": args.size,
        "crop_sizes": args.crop_sizes,
        "sources": [{"type": "amatte4k", "manifest": str(manifest), "split": args.split}],
    }
    t0 = time.perf_counter()
    ds = build_dataset(cfg)
    index_s = time.perf_counter() - t0
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
    if args.breakdown:
        source, decode_s, augment_s = ds.sources[0], 0.0, 0.0
        for i in range(args.clips):
            rng = np.random.default_rng(i)
            t0 = time.perf_counter()
            raw = source.load(int(rng.integers(len(source))), rng)
            t1 = time.perf_counter()
            augment_clip(raw, rng, ds.augment)
            decode_s += t1 - t0
            augment_s += time.perf_counter() - t1
        out["decode_ms_per_frame"] = 1e3 * decode_s / (args.clips * args.clip_len)
        out["augment_ms_per_frame"] = 1e3 * augment_s / (args.clips * args.clip_len)
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
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
    print(
        f"data: {where}, split {args.split}; clip_len {args.clip_len}, crops {args.crop_sizes} -> {args.size}"
    )
    print(f"index built in {r['index_s']:.2f} s")
    print(
        f"workers {args.workers}: {r['fps']:.2f} frames/s ({r['clips_per_s']:.2f} clips/s over {args.clips} clips)"
    )
    if args.breakdown:
        print(
            f"per frame, one process: decode {r['decode_ms_per_frame']:.1f} ms, "
            f"crop+sRGB+resize+flip+jitter {r['augment_ms_per_frame']:.1f} ms"
        )


if __name__ == "__main__":
    main()
