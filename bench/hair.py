"""Hair at 4K: one 2160x3840 frame of a long-haired identity in a head-and-shoulders close-up.

Prints each layer's render time (CPU unless ``--device gpu``), the level of detail and strands
rendered, the fractional-α pixels (0 < α < 1) in the head region (from the top of the matte
down ``--head-m`` metres at the subject), and the process's peak memory.

The script only uses interfaces that main had before strand hair (plan_shots, render_shot), and
its hair override carries the keys of both hair models, so the same file run in a checkout of
an older commit measures that commit's hair on the same shot:

    python bench/hair.py                                  # this checkout (~10 min on 2 cores)
    git worktree add /tmp/old ac5f4f0 && cp bench/hair.py /tmp/old/bench/ && \\
        (cd /tmp/old && make setup && .venv/bin/python bench/hair.py --style long)

Sampling defaults are lower than the dataset's (``--samples 16 --alpha-samples 256``) so that
one frame takes minutes on a CPU; the fractional count depends on geometry far more than on
samples (it needs one sample in and one out of a pixel).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from render.backends import RenderSettings, create_renderer  # noqa: E402
from render.camera import SENSOR_MM  # noqa: E402
from render.catalog import load_clips, load_scenes  # noqa: E402
from render.config import load_config  # noqa: E402
from render.plan import plan_shots  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--style", default="long_straight", help="hairstyle (main before strand hair: long)")
    ap.add_argument("--resolution", default="2160x3840")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--alpha-samples", type=int, default=256)
    ap.add_argument("--alpha-min-samples", type=int, default=32)
    ap.add_argument("--distance", type=float, default=1.1, help="camera to head, metres")
    ap.add_argument("--focal", type=float, default=50.0)
    ap.add_argument("--head-m", type=float, default=0.32, help="head region height at the subject, metres")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    cfg = load_config(
        None,
        {
            "cams": 3,
            "scenes": 2,
            "frames": 1,
            "frames_jitter": 0.0,
            "resolution": args.resolution,
            "samples": args.samples,
            "alpha_samples": args.alpha_samples,
            "alpha_min_samples": args.alpha_min_samples,
            "alpha_time_strata": 4,
            "depth_of_field": False,
            "device": args.device,
        },
    )
    scenes = {s["name"]: s for s in load_scenes(cfg.scene_catalog_path())}
    clips = load_clips(cfg.clip_catalog_path())
    shot = plan_shots(cfg, list(scenes), clips)[0]
    # Keys of both hair models: style/facial/density (strand hair) and length/curl (before).
    hair = {
        **shot.character.hair,
        "style": args.style,
        "facial": "none",
        "density": 1.0,
        "length": 0.35,
        "curl": 0.1,
    }
    shot = dataclasses.replace(
        shot,
        occluder=False,
        camera=dataclasses.replace(
            shot.camera,
            preset="static",
            distance=args.distance,
            height=1.5,
            aim_height=1.45,
            focal_mm=args.focal,
            azimuth_deg=35.0,
            shake=0.0,
        ),
        animation=dataclasses.replace(shot.animation, clip="hair_toss", start=0.4, position=(0.0, 0.0)),
        character=dataclasses.replace(shot.character, hair=hair),
    )
    renderer = create_renderer("blender")
    settings = RenderSettings.from_config(cfg, threads=args.threads or None)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        files = renderer.render_shot(shot, scenes[shot.scene], clips["hair_toss"], settings, tmp)
        wall = time.perf_counter() - t0
        frame = renderer.read_frame(files[0], settings.passes)
    alpha = frame.alpha
    rows = np.nonzero((alpha > 0).any(axis=1))[0]
    w, h = shot.resolution
    px_per_m = args.focal / args.distance * max(w, h) / SENSOR_MM
    top = int(rows[0]) if len(rows) else 0
    head = alpha[top : top + int(round(args.head_m * px_per_m))]
    frac = (head > 0) & (head < 1)
    print(f"frame {w}x{h}, style {args.style}, {cfg.hair_strands} strands at full detail (config)")
    print(f"hair: {getattr(renderer, 'last_hair', 'n/a')}")
    timing = renderer.last_timing
    for k, v in timing.items():
        print(f"  {k:14s} {v:8.1f} s")
    print(f"  {'wall':14s} {wall:8.1f} s")
    print(f"head region: rows {top}..{top + head.shape[0]} ({args.head_m} m), {head.size} px")
    print(f"fractional alpha in the head region: {int(frac.sum())} px ({frac.mean():.4f} of it)")
    print(f"fractional alpha in the frame: {int(((alpha > 0) & (alpha < 1)).sum())} px")
    print(f"peak memory (this process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
