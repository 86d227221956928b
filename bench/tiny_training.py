"""Tiny μMatting training on a rendered αMatte4K dataset: does FAR beat CAP on held-out shots?

Runs the real command lines one after another, each resumable by re-running this script:

1. ``render.launch --config configs/tiny_training.yaml`` (12 shots x 8 frames, 180x320,
   3 shots held out as split "val"; ~15 min on 2 idle cores);
2. ``matting.train --stage cap`` of ``mumatting-tiny`` (configs/train/tiny.yaml);
3. ``matting.train --stage far --init <cap>/checkpoints/last.pt``;
4. ``matting.evaluate --split val`` of the stage-far checkpoint, which scores the CAP coarse
   alpha and the fused alpha A = K*A_d + (1-K)*A_c of the same forward pass.

Prints MAD (and the other metrics) of both, and the ratio fused/coarse.

    python bench/tiny_training.py --cap-steps 600 --far-steps 300
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sh(*args: str) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=REPO, check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="configs/tiny_training.yaml")
    p.add_argument("--manifests", default="manifests/tiny_training")
    p.add_argument("--train-config", default="configs/train/tiny.yaml")
    p.add_argument("--runs", default="runs/tiny_training")
    p.add_argument("--cap-steps", type=int, default=600)
    p.add_argument("--far-steps", type=int, default=300)
    args = p.parse_args()
    runs = REPO / args.runs
    sh("-m", "render.launch", "--config", args.dataset, "--quiet")
    common = ["--config", args.train_config, "--data", args.manifests, "--no-progress"]
    cap, far = runs / "cap", runs / "far"
    for stage, run, steps, extra in (
        ("cap", cap, args.cap_steps, []),
        ("far", far, args.far_steps, ["--init", str(cap / "checkpoints" / "last.pt")]),
    ):
        resume = ["--resume"] if (run / "checkpoints" / "last.pt").exists() else []
        sh("-m", "matting.train", *common, "--stage", stage, "--max-steps", str(steps), "--out", str(run),
           *extra, *resume)  # fmt: skip
    report_path = runs / "eval_val.json"
    sh("-m", "matting.evaluate", "--checkpoint", str(far / "checkpoints" / "last.pt"),
       "--data", args.manifests, "--split", "val", "--out", str(report_path), "--no-progress")  # fmt: skip
    report = json.loads(report_path.read_text())
    coarse, fused = report["metrics"]["coarse"], report["metrics"]["fused"]
    print(f"held-out: {report['frames']} frames of {len(report['shots'])} shot(s)")
    print(f"  CAP coarse alpha MAD {coarse['mad']:.2f}   fused (FAR) MAD {fused['mad']:.2f}")
    print(f"  fused / coarse MAD ratio: {fused['mad'] / coarse['mad']:.3f}")


if __name__ == "__main__":
    main()
