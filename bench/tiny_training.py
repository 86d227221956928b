"""Tiny μMatting training on a rendered αMatte4K dataset: does FAR beat CAP on held-out shots?

Runs the real command lines one after another, each resumable by re-running this script:

1. ``render.launch --config configs/tiny_training.yaml`` (12 shots x 8 frames, 180x320,
   3 shots held out as split "val"; ~15 min on 2 idle cores);
2. ``matting.train --stage cap`` of ``mumatting-tiny`` (configs/train/tiny.yaml);
3. ``matting.train --stage far --init <cap>/checkpoints/last.pt``, once per FAR output form
   (``--far-residuals``: ``alpha``, A_d = A_c + head, the default, and ``logit``, A_d =
   sigmoid(logit(A_c) + head), the first release), from the same CAP and the same data;
4. ``matting.evaluate --split val`` of each stage-far checkpoint, which scores the CAP coarse
   alpha and the fused alpha A = K*A_d + (1-K)*A_c of the same forward pass.

Prints MAD of the coarse and the fused alpha for each form, side by side, and the ratio
fused/coarse.

    python bench/tiny_training.py --cap-steps 600 --far-steps 300
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

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
    p.add_argument("--far-residuals", default="alpha,logit", help="FAR output forms to train and compare")
    args = p.parse_args()
    runs = REPO / args.runs
    runs.mkdir(parents=True, exist_ok=True)
    sh("-m", "render.launch", "--config", args.dataset, "--quiet")
    cap = runs / "cap"
    jobs = [("cap", cap, args.cap_steps, args.train_config, [])]
    base = yaml.safe_load((REPO / args.train_config).read_text())
    forms = [f for f in args.far_residuals.split(",") if f]
    for form in forms:  # the same config but for FAR's output form (data comes from --data)
        config = runs / f"train-far-{form}.yaml"
        config.write_text(yaml.safe_dump({**base, "model_overrides": {"far": {"residual": form}}}))
        jobs.append(("far", runs / f"far-{form}", args.far_steps, str(config), ["--init", str(cap / "checkpoints" / "last.pt")]))  # fmt: skip
    for stage, run, steps, config, extra in jobs:
        resume = ["--resume"] if (run / "checkpoints" / "last.pt").exists() else []
        sh("-m", "matting.train", "--config", config, "--data", args.manifests, "--no-progress",
           "--stage", stage, "--max-steps", str(steps), "--out", str(run), *extra, *resume)  # fmt: skip
    rows = []
    for form in forms:
        report_path = runs / f"eval_val_{form}.json"
        sh("-m", "matting.evaluate", "--checkpoint", str(runs / f"far-{form}" / "checkpoints" / "last.pt"),
           "--data", args.manifests, "--split", "val", "--out", str(report_path), "--no-progress")  # fmt: skip
        report = json.loads(report_path.read_text())
        rows.append((form, report))
    first = rows[0][1]
    print(f"held-out: {first['frames']} frames of {len(first['shots'])} shot(s); CAP {args.cap_steps} steps, "
          f"FAR {args.far_steps} steps")  # fmt: skip
    print(f"  CAP coarse alpha MAD {first['metrics']['coarse']['mad']:.2f}")
    for form, report in rows:
        coarse, fused = report["metrics"]["coarse"], report["metrics"]["fused"]
        print(
            f"  FAR residual {form:5s}: fused MAD {fused['mad']:.2f}   fused / coarse {fused['mad'] / coarse['mad']:.3f}"
        )


if __name__ == "__main__":
    main()
