"""4K inference cost of muMatting: time per frame and peak memory, one group of T = 4 frames at a time.

Runs the inference path of ``python -m matting.infer`` (``predict_group``: clip to the device, model
forward, fused alpha back to the host) on random 2160x3840 frames with the full-size config
``mumatting-sapiens03b`` (random weights: the cost does not depend on them).

Random weights would make CAP's coarse alpha about 0.5 everywhere, so the key region K would cover
the whole frame, which no trained model does. A forward hook therefore replaces CAP's output (CAP
still runs in full) with a portrait-like coarse alpha: an ellipse with a soft edge whose ramp is
``--edge`` coarse pixels wide, on CAP's letterboxed canvas. K is printed as a fraction of the
T x H x W sites of the frame; the default edge gives 13.7 % for a 2160 x 3840 portrait frame with
the full-size model (256 x 256 coarse map over the 512 canvas, 5 x 5 dilation), the paper's share
of pixels that change over a clip.

Memory: on the CPU the process's peak resident set size (``ru_maxrss``, includes the weights), on
CUDA ``torch.cuda.max_memory_allocated`` (tensors only; the caching allocator reserves a little more).

    python bench/infer_4k.py                         # CPU, 1 group (4 frames); needs > 24 GiB RAM (FAR)
    python bench/infer_4k.py --size 1080x1920        # CPU, 2K: ~2 min on 2 cores, 5.3 GiB
    python bench/infer_4k.py --device cuda --groups 10 --warmup 2 --amp bf16
    python bench/infer_4k.py --size 1920x1080 --model mumatting-tiny
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from matting.framing import cut, frame_box
from matting.infer import GROUP, predict_group
from matting.models import build_model, count_parameters, key_regions
from matting.training.distributed import resolve_device
from render.config import parse_resolution


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--size", type=parse_resolution, default=(2160, 3840), help="WIDTHxHEIGHT (default 2160x3840)"
    )
    p.add_argument("--model", default="mumatting-sapiens03b")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda[:N]")
    p.add_argument("--groups", type=int, default=1, help="timed groups of 4 frames (default 1)")
    p.add_argument("--warmup", type=int, default=None, help="untimed groups first (default 0 CPU, 1 CUDA)")
    p.add_argument(
        "--amp", choices=["off", "bf16", "fp16"], default=None, help="autocast on CUDA (default bf16)"
    )
    p.add_argument("--edge", type=float, default=6.7, help="soft-edge width of the coarse alpha, coarse px")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    return p.parse_args(argv)


def portrait_alpha(side: int, edge: float, t: int) -> torch.Tensor:
    """(T, 1, side, side) coarse alpha: a head-and-shoulders ellipse with a linear soft edge,
    drifting one pixel per frame."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    frames = []
    for i in range(t):
        cy, cx = side * 0.6, side * 0.5 + i
        d = np.sqrt(((yy - cy) / (side * 0.45)) ** 2 + ((xx - cx) / (side * 0.3)) ** 2)  # 1 on the ellipse
        frames.append(np.clip((1 - d) * side * 0.3 / edge + 0.5, 0, 1))
    return torch.from_numpy(np.stack(frames))[:, None]


def install_coarse_override(model: torch.nn.Module, edge: float) -> None:
    """Make CAP return ``portrait_alpha`` (same shape and dtype) in place of its own coarse alpha."""

    def hook(module, inputs, output):
        coarse, cls = output
        b, t, _, side, _ = coarse.shape
        alpha = portrait_alpha(side, edge, t).to(coarse.device, coarse.dtype)
        return alpha.unsqueeze(0).expand(b, -1, -1, -1, -1).contiguous(), cls

    model.cap.register_forward_hook(hook)


def key_fraction(model: torch.nn.Module, edge: float, height: int, width: int) -> float:
    """Share of the frame's sites inside K for the overriding coarse alpha: K is computed on
    CAP's canvas and cut at the frame's place on it, as the model does (the canvas's letterbox
    margins are not sites)."""
    k = model.config.key
    coarse = portrait_alpha(model.cap.out_size, edge, GROUP)
    key = key_regions(coarse, k.low, k.high, k.op, k.kernel, k.iterations).float()
    box = torch.tensor([frame_box(height, width, model.cap.cap_size)], dtype=torch.float64).expand(GROUP, 4)
    return float(cut(key, box, (height // 8, width // 8), "nearest").mean())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    warmup = args.warmup if args.warmup is not None else (1 if cuda else 0)
    amp = (args.amp or "bf16") if cuda else "off"
    width, height = args.size

    t0 = time.perf_counter()
    model = build_model(args.model).to(device).eval()
    install_coarse_override(model, args.edge)
    params = count_parameters(model)["total"]
    print(f"model {args.model}: {params / 1e6:.2f}M parameters, built in {time.perf_counter() - t0:.1f} s")
    print(
        f"device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if cuda else f", {torch.get_num_threads()} threads")
    )
    print(
        f"input {GROUP} x {width}x{height} per group; {warmup} warm-up + {args.groups} timed group(s); amp {amp}"
    )

    rng = np.random.default_rng(0)
    frames = [rng.random((height, width, 3), dtype=np.float32) for _ in range(GROUP)]
    print(
        f"key region K: {100 * key_fraction(model, args.edge, height, width):.1f} % of the sites (coarse edge {args.edge} px)"
    )

    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)
        if amp != "off"
        else torch.autocast("cpu", enabled=False)
    )
    times, cpu_times = [], []
    with autocast:
        for g in range(warmup + args.groups):
            if cuda:
                torch.cuda.synchronize(device)
                if g == warmup:
                    torch.cuda.reset_peak_memory_stats(device)
            t, c = time.perf_counter(), time.process_time()
            alpha = predict_group(model, frames, "far", device)  # includes host<->device copies
            if cuda:
                torch.cuda.synchronize(device)
            if g >= warmup:
                times.append(time.perf_counter() - t)
                cpu_times.append(time.process_time() - c)
    assert alpha.shape == (GROUP, height, width)

    per_frame = sum(times) / (len(times) * GROUP)
    print(f"time per frame: {per_frame:.3f} s  ({1 / per_frame:.2f} FPS) over {len(times) * GROUP} frames")
    if not cuda:  # wall time above CPU time / threads means other processes were competing for the cores
        cpu = sum(cpu_times) / (len(cpu_times) * GROUP)
        print(f"process CPU time per frame: {cpu:.3f} s ({torch.get_num_threads()} threads)")
    if cuda:
        print(f"peak VRAM (max allocated): {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
        print(f"peak VRAM (max reserved):  {torch.cuda.max_memory_reserved(device) / 2**30:.2f} GiB")
        print("paper (muMatting, 4K): 11.8 FPS, 6.8 GB VRAM")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(f"peak host memory (max RSS of this process, weights included): {peak:.2f} GiB")


if __name__ == "__main__":
    main()
