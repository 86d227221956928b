"""The driver's scheduling overhead per shot (Ray actors, retries bookkeeping, index rebuilds,
progress), measured side by side in one run.

The same shots are produced (a) in one plain process, ``render.shot.produce_shot`` in a loop,
and (b) through ``render.orchestrate.run`` on a local Ray cluster, both with the analytic test
renderer of tests/backends.py (closed-form frames in milliseconds), so what (b) adds is the
orchestration itself. Prints seconds per shot for both, (b)'s start-up, and the overhead per
shot in steady state.

    python bench/scheduling.py                  # ~1 min on 2 cores
    python bench/scheduling.py --shots 200 --workers 2 --frames 4
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = str(REPO)  # Ray workers import tests.backends

from render import orchestrate  # noqa: E402
from render.backends.base import RenderSettings  # noqa: E402
from render.catalog import load_clips, load_scenes  # noqa: E402
from render.config import config_from_dict  # noqa: E402
from render.plan import plan_shots  # noqa: E402
from render.shot import produce_shot  # noqa: E402
from tests.backends import Analytic  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", type=int, default=60)
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--resolution", default="64x112")
    args = ap.parse_args()
    w, h = (int(x) for x in args.resolution.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = {
            "scenes": 2,
            "cams": args.shots,
            "frames": args.frames,
            "frames_jitter": 0.0,
            "resolution": [w, h],
        }
        cfg = config_from_dict({**base, "out": str(tmp / "a" / "data"), "manifests": str(tmp / "a" / "m")})
        scenes = load_scenes(cfg.scene_catalog_path())
        clips = load_clips(cfg.clip_catalog_path())
        shots = plan_shots(cfg, [s["name"] for s in scenes], clips)
        by_name = {s["name"]: s for s in scenes}

        renderer, settings = Analytic(), RenderSettings.from_config(cfg, threads=1)
        t0 = time.perf_counter()
        for s in shots:
            produce_shot(
                s, by_name[s.scene], clips[s.animation.clip], settings, renderer, cfg.out, cfg.manifests
            )
        plain = (time.perf_counter() - t0) / len(shots)

        cfg_b = dataclasses.replace(
            cfg,
            backend="tests.backends:Analytic",
            workers=args.workers,
            threads=1,
            out=str(tmp / "b" / "data"),
            manifests=str(tmp / "b" / "m"),
        )
        starts: list[float] = []
        t0 = time.perf_counter()
        report = orchestrate.run(
            cfg_b,
            shots,
            by_name,
            clips,
            Path(cfg_b.out),
            Path(cfg_b.manifests),
            planned=len(shots),
            progress=False,
            log=lambda m: starts.append(time.perf_counter()),
        )
        wall = time.perf_counter() - t0
        startup = starts[0] - t0 if starts else 0.0
    assert len(report.completed) == len(shots), report.failed
    steady = (wall - startup) / len(shots)
    print(f"{len(shots)} shots x {args.frames} frames at {w}x{h}, analytic renderer")
    print(f"  plain loop (one process):        {plain * 1000:8.1f} ms/shot")
    print(
        f"  orchestrate.run, {args.workers} worker(s):      {steady * 1000:8.1f} ms/shot after {startup:.1f} s of Ray start-up"
    )
    print(
        f"  driver overhead:                 {(steady - plain / args.workers) * 1000:8.1f} ms/shot "
        f"(run time per shot minus the plain time shared by {args.workers} workers)"
    )


if __name__ == "__main__":
    main()
