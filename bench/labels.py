"""Label figures of the Blender backend, measured side by side on the same frames.

For one portrait shot (hair, walk, depth of field, motion blur) it prints:

1. the defaults: α noise floor between two sampler seeds, composite residual of the shipped
   fields and of the direct render against its own coverage, α-pass cost (α-pass time over
   beauty-pass time), fractional-pixel share, each layer's time;
2. the noise-floor curve over alpha samples: brute force (every pixel gets N, one render over
   the shutter), adaptive (N at most), and adaptive with the stratified shutter (the default),
   with the α layer's time for each;
3. the composite residual with OpenImageDenoise on the rgb, fg and bg layers;
4. with ``--share-4k``: the fractional-pixel share at 2160x3840 (what the α cost scales with);
   with ``--frame-4k``: one 2160x3840 frame with all layers at the defaults (long on a CPU), the
   frames per hour per device and the device-hours for the default plan (900 shots x 130
   frames); ``--device gpu`` renders it with Cycles on OptiX/CUDA (issue 12's GPU figure).

Definitions are those of ``render/labels.py`` (docs/rendering.md, "Label figures").

    python bench/labels.py                                   # ~15 min on 2 cores
    python bench/labels.py --resolution 144x256 --curve 64,256,1024 --adaptive 1024,4096
    python bench/labels.py --skip-defaults --skip-curve --skip-denoise --frame-4k   # the 4K frame (~3 h on 2 cores)
    python bench/labels.py --skip-defaults --skip-curve --skip-denoise --frame-4k --device gpu   # on one GPU
    python bench/labels.py --skip-defaults --skip-curve --skip-denoise --share-4k   # minutes
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from render import exrio, labels  # noqa: E402
from render.backends import RenderSettings, create_renderer  # noqa: E402
from render.catalog import load_clips, load_scenes  # noqa: E402
from render.config import load_config, parse_resolution  # noqa: E402
from render.plan import ShotSpec, plan_shots  # noqa: E402
from render.shot import shipped_frame  # noqa: E402

WALK = "walk_and_reach"  # captured (CMU), retargeted


def portrait_shot(cfg, scenes, clips) -> ShotSpec:
    """Shot 0 of the plan, framed as a medium close-up from the chest up (hair fills the frame
    edge), walking, static camera, no occluder."""
    shot = plan_shots(cfg, list(scenes), clips)[0]
    return dataclasses.replace(
        shot,
        occluder=False,
        camera=dataclasses.replace(
            shot.camera,
            preset="static",
            distance=2.2,
            height=1.5,
            aim_height=1.4,
            focal_mm=50.0,
            azimuth_deg=20.0,
            shake=0.0,
        ),
        animation=dataclasses.replace(
            shot.animation,
            clip=WALK,
            position=(0.0, 0.0),
            start=clips[WALK]["frames"][0] / clips[WALK]["fps"],
        ),
    )


class Bench:
    def __init__(self, args):
        self.args = args
        self.cfg = load_config(
            None,
            {
                "cams": 3,
                "scenes": 2,
                "frames": args.frames,
                "frames_jitter": 0.0,
                "resolution": args.resolution,
                **({"samples": args.samples} if args.samples else {}),
            },
        )
        self.scenes = {s["name"]: s for s in load_scenes(self.cfg.scene_catalog_path())}
        self.clips = load_clips(self.cfg.clip_catalog_path())
        self.shot = portrait_shot(self.cfg, self.scenes, self.clips)
        self.renderer = create_renderer("blender")
        self.work = Path(tempfile.mkdtemp(prefix="labels-bench-"))

    def settings(self, **over) -> RenderSettings:
        base = RenderSettings.from_config(self.cfg, threads=self.args.threads)
        return dataclasses.replace(base, **{"device": self.args.device, **over})

    def render(self, settings: RenderSettings, tag: str) -> tuple[list[Path], dict]:
        files = self.renderer.render_shot(
            self.shot, self.scenes[self.shot.scene], self.clips[WALK], settings, self.work / tag
        )
        return files, dict(self.renderer.last_timing)

    def alpha_only(self, seed: int, **over) -> tuple[list[np.ndarray], float]:
        files, timing = self.render(self.settings(passes=("alpha",), sampler_seed=seed, **over), "a")
        return [exrio.decode(f / "alpha.exr") for f in files], timing["alpha_pass"]


def _alpha(channels: dict) -> np.ndarray:
    key = next(k for k in channels if k.endswith("Combined.A"))
    return np.clip(channels[key], 0.0, 1.0)


def noise(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    pairs = [labels.noise_floor(x, y) for x, y in zip(a, b, strict=True)]
    n = sum(p[1] for p in pairs)
    return sum(p[0] * p[1] for p in pairs) / max(n, 1)


def defaults(b: Bench) -> None:
    print(
        f"\n== defaults ({b.args.resolution}, {b.args.frames} frame(s), {b.cfg.samples} spp, "
        f"alpha {b.cfg.alpha_min_samples}..{b.cfg.alpha_samples} spp adaptive, threshold {b.cfg.alpha_threshold}, "
        f"{b.cfg.pixel_filter} {b.cfg.filter_width} px, f/{b.shot.camera.fstop})"
    )
    runs = []
    for seed in (0, 1):
        files, timing = b.render(b.settings(sampler_seed=seed), f"d{seed}")
        frames = [b.renderer.read_frame(f, b.cfg.passes) for f in files]
        runs.append((frames, timing))
    (f0, t0), (f1, t1) = runs
    nf = noise([f.alpha for f in f0], [f.alpha for f in f1])
    figs = [shipped_frame(f, b.cfg.passes)[1] for f in f0]
    frac = np.mean([f["fractional"] for f in figs])
    ratio = np.mean([t["alpha_pass"] / t["rgb_pass"] for t in (t0, t1)])
    print(f"alpha noise floor        {nf:.5f}   (target <= 0.002)")
    print(
        f"fg-layer coverage noise  {noise([f.fg_alpha for f in f0], [f.fg_alpha for f in f1]):.5f}"
        "   (the direct render's own coverage, same samples as I)"
    )
    print(
        f"composite residual       fractional {np.mean([f['residual_fractional'] for f in figs]):.5f}"
        f"   all {np.mean([f['residual_all'] for f in figs]):.6f}   (target <= {1 / 255:.5f} fractional)"
    )
    print(
        f"  direct I with label α  fractional {np.mean([f['direct_residual_fractional'] for f in figs]):.5f}"
        "   (without the coverage control variate)"
    )
    print(f"fractional-pixel share   {frac:.4f}")
    print(
        f"alpha-pass cost          {ratio:.3f}  (alpha {t0['alpha_pass']:.1f} s / beauty {t0['rgb_pass']:.1f} s;"
        f" fg {t0['fg_pass']:.1f} s, bg {t0['bg_pass']:.1f} s; target <= 0.5)"
    )


def curve(b: Bench) -> None:
    print("\n== noise floor over alpha samples (two sampler seeds, alpha layer only)")
    print(f"{'mode':>22} {'samples':>8} {'noise':>9} {'alpha s':>8}")
    strata = b.cfg.alpha_time_strata
    modes = [("brute force", n, 0.0, 1) for n in b.args.curve]
    modes += [("adaptive", n, b.cfg.alpha_threshold, 1) for n in b.args.adaptive]
    modes += [(f"adaptive, {strata} strata", n, b.cfg.alpha_threshold, strata) for n in b.args.adaptive]
    for mode, n, thr, k in modes:
        kw = {
            "alpha_samples": n,
            "alpha_threshold": thr,
            "alpha_min_samples": min(b.cfg.alpha_min_samples, n),
            "alpha_time_strata": k,
        }
        a0, s0 = b.alpha_only(0, **kw)
        a1, s1 = b.alpha_only(1, **kw)
        nf = noise([_alpha(c) for c in a0], [_alpha(c) for c in a1])
        print(f"{mode:>22} {n:>8} {nf:>9.5f} {(s0 + s1) / 2:>8.1f}", flush=True)


def denoised(b: Bench) -> None:
    files, _ = b.render(b.settings(denoise=True), "dn")
    figs = [shipped_frame(b.renderer.read_frame(f, b.cfg.passes), b.cfg.passes)[1] for f in files]
    print("\n== with OpenImageDenoise on rgb, fg and bg")
    print(
        f"composite residual       fractional {np.mean([f['residual_fractional'] for f in figs]):.5f}"
        f"   all {np.mean([f['residual_all'] for f in figs]):.6f}"
    )


def frame_4k(args) -> None:
    args = argparse.Namespace(**{**vars(args), "resolution": "2160x3840", "frames": 1})
    b = Bench(args)
    t = time.perf_counter()
    files, timing = b.render(b.settings(), "4k")
    wall = time.perf_counter() - t
    _, figs = shipped_frame(b.renderer.read_frame(files[0], b.cfg.passes), b.cfg.passes)
    print("\n== one 2160x3840 frame, all layers, defaults")
    print("  ".join(f"{k} {v:.1f} s" for k, v in timing.items()) + f"   wall {wall:.1f} s")
    print(
        f"alpha-pass cost {timing['alpha_pass'] / timing['rgb_pass']:.3f}   fractional share "
        f"{figs['fractional']:.4f}   residual fractional {figs['residual_fractional']:.5f}"
    )
    # Wall time of the frame includes the engine's scene build, paid once per shot of ~130
    # frames: the projection counts the render layers only (an upper bound would add it).
    per_frame = sum(timing[k] for k in timing if k.endswith("_pass"))
    plan = load_config()  # the default dataset: 900 shots of ~130 frames
    frames = plan.cams * plan.frames
    device = b.renderer.last_device or args.device
    print(
        f"device {device}: {3600 / per_frame:.1f} frames/hour; the default plan ({plan.cams} shots, "
        f"{frames} frames) "
        f"takes {frames * per_frame / 3600:,.0f} {device}-hours ({frames * wall / 3600:,.0f} with the scene "
        "build per frame)"
    )


def share_4k(args) -> None:
    """The fractional-pixel share of the same frame at 2160x3840, from a cheap α-only render
    (64 samples, one render over the shutter): it sets the α layer's cost at 4K."""
    args = argparse.Namespace(**{**vars(args), "resolution": "2160x3840", "frames": 1})
    b = Bench(args)
    (alpha,), seconds = b.alpha_only(
        0, alpha_samples=64, alpha_min_samples=64, alpha_threshold=0.0, alpha_time_strata=1
    )
    share = labels.fractional(_alpha(alpha)).mean()
    print("\n== 2160x3840, alpha layer only, 64 samples brute force")
    print(f"fractional-pixel share {share:.4f}   alpha-only render {seconds:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", default="270x480")
    ap.add_argument("--frames", type=int, default=1)
    ap.add_argument("--samples", type=int, default=0, help="rgb/fg/bg samples (default: the config's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "gpu", "auto"], default="cpu", help="where Cycles renders")
    ap.add_argument("--curve", default="64,256,1024,4096", help="brute-force alpha samples")
    ap.add_argument("--adaptive", default="1024,4096,16384", help="adaptive alpha samples (maxima)")
    ap.add_argument("--skip-defaults", action="store_true")
    ap.add_argument("--skip-curve", action="store_true")
    ap.add_argument("--skip-denoise", action="store_true")
    ap.add_argument("--frame-4k", action="store_true", help="also one 2160x3840 frame (long on a CPU)")
    ap.add_argument("--share-4k", action="store_true", help="also the fractional share at 2160x3840 (cheap)")
    args = ap.parse_args()
    parse_resolution(args.resolution)
    args.curve = [int(x) for x in args.curve.split(",") if x]
    args.adaptive = [int(x) for x in args.adaptive.split(",") if x]
    if not (args.skip_defaults and args.skip_curve and args.skip_denoise):
        b = Bench(args)
        if not args.skip_defaults:
            defaults(b)
        if not args.skip_curve:
            curve(b)
        if not args.skip_denoise:
            denoised(b)
    if args.share_4k:
        share_4k(args)
    if args.frame_4k:
        frame_4k(args)


if __name__ == "__main__":
    main()
