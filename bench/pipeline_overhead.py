"""Pipeline overhead and worker scaling of ``render.launch`` (Blender Cycles on the CPU).

1. Overhead: the same shots rendered (a) bare — the Blender backend's scene set-up, then the
   Cycles render alone is timed, in one plain process — and (b) through
   ``python -m render.launch`` (Ray, one worker, EXR re-encoding, sharding, manifests).
   Prints the ratio of (b)'s wall time to (a)'s Cycles time, whole-run and per shot
   (steady state: without Ray's and the worker's one-time start-up).
2. Scaling: ``render.launch`` with 2 workers over 1 worker (1 thread each), frames per second.

Both measurements of a ratio run back to back in one invocation; the machine is shared and
noisy, so compare ratios, not absolute seconds across runs.

    python bench/pipeline_overhead.py                       # both, default sizes (~10 min on 2 cores)
    python bench/pipeline_overhead.py --what overhead --resolution 540x960 --samples 64
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def write_config(root: Path, args, cams: int, **extra) -> Path:
    w, h = (int(x) for x in args.resolution.lower().split("x"))
    cfg = {
        "scenes": min(cams, 2),
        "cams": cams,
        "frames": args.frames,
        "frames_jitter": 0.0,
        "resolution": [w, h],
        "samples": args.samples,
        "alpha_samples": args.alpha_samples,
        "val_fraction": 0.0,
        "out": str(root / "data"),
        "manifests": str(root / "manifests"),
        **extra,
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


BARE = r"""
import json, sys, time
from render.backends import RenderSettings, create_renderer
from render.catalog import load_clips, load_scenes
from render.config import load_config
from render.plan import plan_shots
cfg = load_config(sys.argv[1])
scenes = {s["name"]: s for s in load_scenes(cfg.scene_catalog_path())}
clips = load_clips(cfg.clip_catalog_path())
r = create_renderer("blender")
r.body_model()
settings = RenderSettings.from_config(cfg, threads=int(sys.argv[3]))
out = []
for shot in plan_shots(cfg, list(scenes), clips):
    r.render_shot(shot, scenes[shot.scene], clips[shot.animation.clip], settings, sys.argv[2] + "/" + shot.shot_id)
    out.append({"shot": shot.shot_id, "frames": shot.frame_count, **r.last_timing})
print(json.dumps(out))
"""


def _bare_proc(config: Path, work: Path, threads: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", BARE, str(config), str(work), str(threads)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )


def _bare_result(proc: subprocess.Popen) -> list[dict]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bare render failed with status {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def bare(config: Path, work: Path, threads: int) -> list[dict]:
    return _bare_result(_bare_proc(config, work, threads))


def machine_ceiling(args) -> float:
    """The machine's own scaling: Cycles alone (no Ray, no packing) in one process, then in two
    processes at once, one thread each; the ratio of their total render throughputs."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = write_config(root, args, 2)
        alone = sum(r["engine"] for r in bare(cfg, root / "alone", 1))
        procs = [_bare_proc(cfg, root / f"pair{i}", 1) for i in range(2)]
        pair = [sum(r["engine"] for r in _bare_result(p)) for p in procs]
    return 2 * alone / max(pair)


def launch(config: Path, workers: int, threads: int) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "render.launch",
            "--config",
            str(config),
            "--quiet",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    wall = time.perf_counter() - t0
    shots = [
        json.loads(p.read_text()) for p in sorted((config.parent / "manifests" / "shots").glob("*.json"))
    ]
    return wall, shots


def overhead(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a").mkdir()
        (root / "b").mkdir()
        cfg_a = write_config(root / "a", args, args.shots)
        cfg_b = write_config(root / "b", args, args.shots)
        runs = bare(cfg_a, root / "a" / "work", args.threads)
        wall, shots = launch(cfg_b, 1, args.threads)
    frames = sum(r["frames"] for r in runs)
    cycles = sum(r["engine"] for r in runs)
    build = sum(r["scene_build"] for r in runs)
    per_shot = sum(s["stats"]["render_seconds"] + s["stats"]["pack_seconds"] for s in shots)
    print(
        f"overhead: {args.shots} shots x {args.frames} frames at {args.resolution}, "
        f"{args.samples}/{args.alpha_samples} spp, {args.threads} thread(s)"
    )
    print(
        f"  bare Cycles render          {cycles:8.1f} s  ({cycles / frames:.2f} s/frame); scene set-up {build:.1f} s"
    )
    print(f"  launch wall (Ray, EXR, shards, manifests) {wall:8.1f} s  ({wall / frames:.2f} s/frame)")
    print(f"  in-worker per shot (set-up + render + pack) {per_shot:8.1f} s")
    print(f"  overhead ratio, whole run:   {wall / cycles:.3f}")
    print(f"  overhead ratio, steady state (per shot, no start-up): {per_shot / cycles:.3f}")


def scaling(args) -> None:
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            root = Path(tmp) / f"w{workers}"
            root.mkdir()
            cfg = write_config(root, args, args.scaling_shots)
            wall, shots = launch(cfg, workers, 1)
            frames = sum(s["frames"] for s in shots)
            # Steady state: from the first shot's start to the last shot's end, without the
            # one-time start of Ray and of the workers (Blender import, body model).
            window = max(s["stats"]["finished_at"] for s in shots) - min(
                s["stats"]["started_at"] for s in shots
            )
            res[workers] = (frames / wall, frames / window)
            print(
                f"scaling: {workers} worker(s) x 1 thread: {frames} frames, wall {wall:.1f} s "
                f"({frames / wall:.3f} frames/s), rendering window {window:.1f} s ({frames / window:.3f} frames/s)"
            )
    print(f"  throughput 2 workers / 1 worker, whole run:   {res[2][0] / res[1][0]:.2f}")
    print(f"  throughput 2 workers / 1 worker, steady state: {res[2][1] / res[1][1]:.2f}")
    ceiling = machine_ceiling(args)
    print(f"  machine ceiling (bare Cycles, 2 processes / 1 process, 1 thread each): {ceiling:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--what", choices=["overhead", "scaling", "both"], default="both")
    p.add_argument("--resolution", default="360x640")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--alpha-samples", type=int, default=128)
    p.add_argument("--shots", type=int, default=2)
    p.add_argument("--scaling-shots", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if args.what in ("overhead", "both"):
        overhead(args)
    if args.what in ("scaling", "both"):
        scaling(args)


if __name__ == "__main__":
    main()
