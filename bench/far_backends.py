"""FAR through spconv versus FAR through the pure-PyTorch sparse path: agreement and speed.

Two copies of one FAR (same weights, same BatchNorm statistics) run the same clip, one with every
sparse conv on ``backend="torch"`` (gather / matmul / index_add), one on ``backend="spconv"``:

* forward, eval mode: max |A_spconv - A_torch| over the key sites, beside how far the refiner moves
  the alpha at all (max |A_d - A_c|), so that the agreement means something;
* backward, train mode (CUDA only: spconv's CPU build has no backward): the loss sum(A_d * g) for a
  fixed random g, and per parameter the gradient error max|g_spconv - g_torch| / max|g_torch|;
* time (best of --repeats after a warm-up) and peak memory of inference and of a training step
  (forward + backward) for each backend, and for spconv under autocast (--amp; spconv computes in
  fp16 under any autocast: its custom_fwd casts its inputs).

The clip is built as in ``far_sparse_vs_dense.py``: a smooth random shape and the band of key sites
nearest its boundary holding --fraction of the T x H x W sites.

    python bench/far_backends.py --device cuda                       # full-size FAR, 4 x 1024 x 1024
    python bench/far_backends.py --device cuda --size 2048 --amp bf16
    python bench/far_backends.py --device cpu --threads 1 --size 128 --channels 16,32,64,128
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from far_sparse_vs_dense import calibrate, make_clip, measure  # noqa: E402

from matting.models.far import FAR  # noqa: E402
from matting.models.sparse import spconv_available  # noqa: E402


def set_backend(model: torch.nn.Module, backend: str) -> torch.nn.Module:
    for m in model.modules():
        if hasattr(m, "backend"):
            m.backend = backend
    return model


def train_step(model: FAR, inputs, probe: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    (model(*inputs) * probe).sum().backward()


def autocast(device: torch.device, amp: str):
    if amp == "off":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (forward + backward) or cpu (forward only)")
    p.add_argument("--size", type=int, default=1024, help="H = W of the clip")
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--fraction", type=float, default=0.137, help="share of the sites in the key region")
    p.add_argument("--channels", default="64,128,256,512", help="FAR stage widths (paper: 64,128,256,512)")
    p.add_argument("--cls-dim", type=int, default=1024)
    p.add_argument("--amp", default="bf16", help="comma list of autocast modes to time spconv under")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not spconv_available():
        sys.exit("far_backends: spconv is not importable (CUDA machines: pip install spconv-cu12x)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if not cuda and torch.get_num_threads() != 1:
        print("note: spconv's CPU kernels are only right with one thread; use --threads 1")
    channels = tuple(int(c) for c in args.channels.split(","))
    torch.manual_seed(args.seed)
    inputs = make_clip(argparse.Namespace(**vars(args)), args.fraction, device)
    rgb, coarse, key, cls = inputs
    n = int(key.sum())
    sites = key.numel()
    print(
        f"FAR channels={channels} clip 1x{args.frames}x{args.size}x{args.size}: {n} key sites "
        f"({100 * n / sites:.1f} %), device={device}"
        + (f" ({torch.cuda.get_device_name(device)})" if cuda else f", {torch.get_num_threads()} threads")
    )
    base = set_backend(FAR(channels=channels, cls_dim=args.cls_dim), "torch").to(device)
    with torch.no_grad():
        base.head.weight.normal_(std=0.5)  # a refiner that visibly changes the alpha
    calibrate(base, inputs)
    models = {"torch": base, "spconv": set_backend(copy.deepcopy(base), "spconv")}

    # ---- forward agreement (eval)
    with torch.no_grad():
        out = {name: m.eval()(*inputs) for name, m in models.items()}
    keep = key.bool()
    moved = (out["torch"][keep] - coarse[keep]).abs().max().item()
    diff = (out["spconv"][keep] - out["torch"][keep]).abs().max().item()
    outside = out["spconv"][~keep].abs().max().item() if (~keep).any() else 0.0
    print(
        f"forward (eval): max|spconv - torch| = {diff:.2e} over key sites; refiner moves A by up to {moved:.3f}"
    )
    print(f"                spconv output outside K: max {outside:.1e} (must be 0)")

    # ---- backward agreement (train mode, batch statistics), both against a float64 run of the torch path
    probe = torch.randn(out["torch"].shape, generator=torch.Generator().manual_seed(1)).to(device)
    if cuda:
        reference = copy.deepcopy(base).double()
        runs = {**models, "float64": reference}
        grads = {}
        for name, m in runs.items():
            wide = name == "float64"
            args64 = [x.double() if wide and x.is_floating_point() else x for x in inputs]
            train_step(m.train(), args64, probe.double() if wide else probe)
            grads[name] = {p: t.grad.detach().double() for p, t in m.named_parameters() if t.grad is not None}
        print(f"backward (train): {len(grads['float64'])} parameter gradients against the float64 torch path")
        print(f"{'backend':>8} {'median rel. L2 err':>19} {'worst rel. L2 err':>18}  worst parameter")
        for name in models:
            missing = sorted(set(grads[name]) ^ set(grads["float64"]))
            if missing:
                print(f"{name:>8} gradients missing or extra: {missing}")
            errs = sorted(
                (float((grads[name][p] - g).norm() / g.norm().clamp_min(1e-30)), p)
                for p, g in grads["float64"].items()
                if p in grads[name]
            )
            print(f"{name:>8} {errs[len(errs) // 2][0]:>19.2e} {errs[-1][0]:>18.2e}  {errs[-1][1]}")
        del reference, runs
    else:
        print("backward: not checked on the CPU (spconv's CPU build has no backward)")

    # ---- speed and memory
    rows = []
    for name, m in models.items():
        m.eval()
        with torch.no_grad():
            rows.append((name, "fp32", "inference", *measure(lambda m=m: m(*inputs), device, args.repeats)))
    amps = [a for a in args.amp.split(",") if a and a != "off"] if cuda else []
    for amp in amps:
        m = models["spconv"].eval()
        with torch.no_grad(), autocast(device, amp):
            got = m(*inputs).float()
            err = (got[keep] - out["torch"][keep]).abs().max().item()
            rows.append(("spconv", amp, "inference", *measure(lambda m=m: m(*inputs), device, args.repeats)))
        print(f"autocast {amp}: max|A_amp - A_fp32| = {err:.2e} over key sites")
    if cuda:
        for name, m in models.items():
            m.train()
            rows.append(
                (
                    name,
                    "fp32",
                    "train step",
                    *measure(lambda m=m: train_step(m, inputs, probe), device, args.repeats),
                )
            )
        for amp in amps:
            m = models["spconv"].train()
            with autocast(device, amp):
                step = measure(lambda m=m: train_step(m, inputs, probe), device, args.repeats)
            rows.append(("spconv", amp, "train step", *step))
    print(f"{'backend':>8} {'precision':>9} {'what':>10} {'ms':>9} {'peak MiB':>9}")
    for name, prec, what, ms, mib in rows:
        print(f"{name:>8} {prec:>9} {what:>10} {ms:>9.1f} {mib:>9.0f}")
    by = {(r[0], r[1], r[2]): r[3] for r in rows}
    for what in ("inference", "train step"):
        if ("torch", "fp32", what) in by:
            ratio = by[("torch", "fp32", what)] / by[("spconv", "fp32", what)]
            print(f"{what}: spconv is {ratio:.2f}x the speed of the torch path (fp32, same run)")


if __name__ == "__main__":
    main()
