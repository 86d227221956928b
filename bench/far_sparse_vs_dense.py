"""FAR run sparse (key sites only) versus the same weights as a genuine dense conv3d network.

For each key fraction a random smooth shape moves across the clip; the key region is the band of pixels
nearest its boundary, grown until it holds that fraction of the T x H x W sites (0.137 is the paper's
figure for pixels that change over a 2-second clip). The sparse FAR runs on those sites; the dense
replica (``FAR.forward_dense(masked=False)``: nn.functional.conv3d / conv_transpose3d with the same
weights over every site) is the baseline. Both run in eval mode under no_grad (inference); times are
best of --repeats after a warm-up.

Memory is the peak above the pre-call level: ``torch.cuda.max_memory_allocated`` on CUDA, resident set
size sampled every millisecond from /proc on the CPU (after glibc's malloc_trim; a coarser measure).
The dense network's cost does not depend on the mask, so it is timed once. A masked dense run (zeros
outside the sites after every layer) checks that the two compute the same function (first fraction only
unless --check-all).

    python bench/far_sparse_vs_dense.py                              # CPU defaults, ~1-2 min on 2 cores
    python bench/far_sparse_vs_dense.py --size 512 --channels 64,128,256,512 --device cuda
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matting.models.far import FAR  # noqa: E402
from matting.models.sparse import SparseBatchNorm, resolve_backend  # noqa: E402

FRACTIONS = (0.05, 0.137, 0.3, 0.5)


# --------------------------------------------------------------------------- inputs


def random_shape(t: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """(T, H, W) bool: a smooth random blob (sum of Gaussians, thresholded) drifting a few pixels a frame."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centres = size * (0.3 + 0.4 * torch.rand(6, 2, generator=gen))
    widths = size * (0.08 + 0.1 * torch.rand(6, generator=gen))
    drift = (torch.rand(2, generator=gen) - 0.5) * size * 0.02
    frames = []
    for i in range(t):
        c = centres + i * drift
        d2 = (yy[None] - c[:, 0, None, None]) ** 2 + (xx[None] - c[:, 1, None, None]) ** 2
        field = torch.exp(-d2 / (2 * widths[:, None, None] ** 2)).sum(0)
        frames.append(field > 0.5)
    return torch.stack(frames)


def boundary_band(shape: torch.Tensor, fraction: float, gen: torch.Generator) -> torch.Tensor:
    """(T, H, W) bool: the ``fraction`` of sites nearest the shape boundary (dilated boundary band)."""
    s = shape.float()[:, None]
    eroded = -F.max_pool2d(-s, 3, 1, 1)
    covered = (s - eroded) > 0  # boundary pixels, radius 0
    dist = torch.where(covered, 0.0, float("inf"))
    radius = 0
    while torch.isinf(dist).any():
        radius += 1
        covered = F.max_pool2d(covered.float(), 3, 1, 1) > 0
        dist = torch.where(covered & torch.isinf(dist), float(radius), dist)
    want = round(fraction * dist.numel())
    order = torch.argsort(dist.flatten() + 0.5 * torch.rand(dist.numel(), generator=gen))  # random ties
    key = torch.zeros(dist.numel(), dtype=torch.bool)
    key[order[:want]] = True
    return key.view(shape.shape)


def make_clip(args, fraction: float, device: torch.device):
    gen = torch.Generator().manual_seed(args.seed)
    shape = random_shape(args.frames, args.size, gen)
    key = boundary_band(shape, fraction, gen)[None, :, None]  # (1, T, 1, H, W)
    rgb = torch.rand(1, args.frames, 3, args.size, args.size, generator=gen)
    coarse = shape.float()[None, :, None]
    coarse = F.avg_pool2d(coarse.flatten(0, 1), 9, 1, 4).view_as(coarse)  # soft edges
    cls = torch.randn(1, args.frames, args.cls_dim, generator=gen)
    return [x.to(device) for x in (rgb, coarse, key, cls)]


# --------------------------------------------------------------------------- measurement


class PeakRSS:
    """Peak resident set size (bytes) above the level at entry, sampled from /proc/self/statm.

    Freed heap is handed back to the OS first (glibc ``malloc_trim``) so the entry level is honest."""

    PAGE = 4096

    def __enter__(self):
        gc.collect()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:  # not glibc: the baseline may then include cached, reusable heap
            pass
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.PAGE

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.used = self.peak - self.base


def measure(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` milliseconds (the minimum is the least disturbed by other processes on a shared
    machine) and the peak extra memory in MiB of a first, untimed warm-up call."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        sync()
        mem = torch.cuda.max_memory_allocated() - base
    else:
        with PeakRSS() as rss:
            fn()
        mem = rss.used
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times), mem / 2**20


def calibrate(far: FAR, inputs) -> None:
    """Realistic BatchNorm statistics from one training-mode batch (fresh ones shrink the signal)."""
    for m in far.modules():
        if isinstance(m, SparseBatchNorm):
            m.momentum = 1.0
    with torch.no_grad():
        far.train()(*inputs)
    far.eval()


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256, help="H = W of the clip")
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--channels", default="32,64,128,256", help="FAR stage widths; paper: 64,128,256,512")
    p.add_argument("--cls-dim", type=int, default=1024)
    p.add_argument("--fractions", default=",".join(map(str, FRACTIONS)))
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda uses the spconv backend)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--check-all", action="store_true", help="masked-dense check at every fraction, not the first"
    )
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    channels = tuple(int(c) for c in args.channels.split(","))
    torch.manual_seed(args.seed)
    far = FAR(channels=channels, cls_dim=args.cls_dim).to(device)
    backend = resolve_backend("auto", device)
    fractions = [float(f) for f in args.fractions.split(",")]
    sites = args.frames * args.size**2
    print(
        f"FAR channels={channels} clip 1x{args.frames}x{args.size}x{args.size} ({sites} sites), "
        f"device={device} sparse backend={backend} threads={torch.get_num_threads()} repeats={args.repeats}"
    )
    calibrate(far, make_clip(args, fractions[0], device))
    with torch.no_grad():
        dense_in = make_clip(args, fractions[0], device)
        dense_ms, dense_mb = measure(lambda: far.forward_dense(*dense_in, masked=False), device, args.repeats)
        print(f"dense: {dense_ms:.1f} ms, peak +{dense_mb:.1f} MiB (independent of the key region)")
        header = f"{'fraction':>9} {'sites':>8} {'sparse ms':>10} {'dense ms':>9} {'time s/d':>9} "
        print(header + f"{'sparse MiB':>10} {'dense MiB':>10} {'mem s/d':>8} {'max|s-dm|':>10}")
        for fraction in fractions:
            inputs = make_clip(args, fraction, device)
            n = int(inputs[2].sum())
            sparse_ms, sparse_mb = measure(lambda inputs=inputs: far(*inputs), device, args.repeats)
            diff = float("nan")
            if fraction == fractions[0] or args.check_all:
                diff = (far(*inputs) - far.forward_dense(*inputs, masked=True)).abs().max().item()
            print(
                f"{n / sites:>9.3f} {n:>8d} {sparse_ms:>10.1f} {dense_ms:>9.1f} {sparse_ms / dense_ms:>9.3f} "
                f"{sparse_mb:>10.1f} {dense_mb:>10.1f} {sparse_mb / max(dense_mb, 1e-9):>8.3f} {diff:>10.2e}"
            )


if __name__ == "__main__":
    main()
