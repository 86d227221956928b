"""Audit throughput and memory, measured side by side in one run.

1. On a rendered dataset (default ``manifests/demo``, made by ``make demo``): frames per second
   per core of the shallow and the deep audit (one worker process, so one core), each run
   ``--repeats`` times alternating, median reported.
2. At 2160x3840: the first shot's first ``--frames-4k`` frames scaled up to 4K (every field
   resized, the JSON rewritten for the 4K plan, shards, record and index written by the
   project's own writers), then audited shallow and deep in a fresh process each; frames per
   second and that process's peak resident memory (one frame at a time per worker is the
   design: the figure should stay near one decoded 4K frame set, not grow with the shard).

    python bench/audit.py                         # ~3 min on 2 cores
    python bench/audit.py manifests/demo --frames-4k 6 --repeats 5 --repeats-4k 5
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from render import exrio  # noqa: E402
from render.audit import AuditOptions, run_audit  # noqa: E402
from render.catalog import load_clips  # noqa: E402
from render.config import REPO_ROOT  # noqa: E402
from render.manifest import CONFIG, PLAN, ShardEntry, ShotRecord, build_index, relative_url, write_shot_record  # noqa: E402
from render.plan import ShotSpec  # noqa: E402
from render.shards import iter_shard, write_shards  # noqa: E402
from render.timeline import frame_metadata, frame_states  # noqa: E402


def throughput(manifests: Path, repeats: int) -> None:
    print(f"== audit throughput on {manifests} (1 worker = 1 core) ==")
    times: dict[str, list[float]] = {"shallow": [], "deep": []}
    frames = 0
    for _ in range(repeats):
        for mode in ("shallow", "deep"):
            t0 = time.perf_counter()
            r = run_audit(manifests, AuditOptions(deep=mode == "deep", workers=1, progress=False, sheets=0))
            times[mode].append(time.perf_counter() - t0)
            frames = r.summary["counts"]["frames_decoded"]
    res = run_audit(manifests, AuditOptions(workers=1, progress=False, sheets=0)).summary
    w, h = _resolution(manifests)
    print(f"{frames} frames of {w}x{h}, {res['counts']['bytes'] / 1e6:.1f} MB of shards")
    for mode, ts in times.items():
        t = statistics.median(ts)
        print(f"  {mode:8s} {frames / t:8.2f} frames/s/core   ({t:.2f} s median of {len(ts)})")
    ratio = statistics.median(times["deep"]) / statistics.median(times["shallow"])
    print(f"  deep / shallow time: {ratio:.2f}x")


def _resolution(manifests: Path) -> tuple[int, int]:
    line = (manifests / PLAN).read_text().splitlines()[0]
    return tuple(json.loads(line)["resolution"])


def upscale_dataset(src: Path, dst: Path, frames: int, width: int = 2160, height: int = 3840) -> Path:
    """A one-shot dataset at ``width x height`` from the first shot of ``src``: every field
    resized, the JSON remade for the 4K plan. Returns the new manifest directory."""
    manifests, shards_dir = dst / "manifests", dst / "data" / "shards"
    manifests.mkdir(parents=True)
    config = yaml.safe_load((src / CONFIG).read_text())
    config["resolution"] = [width, height]
    (manifests / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))
    plan = json.loads((src / PLAN).read_text().splitlines()[0])
    n = min(frames, plan["frame_count"])
    spec = ShotSpec.from_json({**plan, "resolution": [width, height], "frame_count": n})
    (manifests / PLAN).write_text(json.dumps(spec.to_json(), sort_keys=True) + "\n")
    rec = json.loads((src / "shots" / f"{spec.shot_id}.json").read_text())
    clip_path = Path(config.get("clip_catalog") or REPO_ROOT / "animations" / "clips.yaml")
    states = frame_states(spec, load_clips(clip_path)[spec.animation.clip])[1:-1]

    def samples():
        i = 0
        for entry in rec["shards"]:
            for s in iter_shard((src / entry["url"]).resolve()):
                if i >= n:
                    return
                out = {"__key__": s["__key__"]}
                for fld, data in s.items():
                    if not fld.endswith(".exr"):
                        continue
                    ch = exrio.decode(data)
                    big = {
                        k: cv2.resize(v.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
                        for k, v in ch.items()
                    }
                    if "A" in big:
                        big["A"] = np.clip(big["A"], 0, 1)
                    if fld == "alpha.exr":
                        out[fld] = exrio.encode_alpha(big["A"])
                    elif fld == "fg.exr":
                        out[fld] = exrio.encode_rgba(np.stack([big[c] for c in "RGB"], -1), big["A"])
                    else:
                        out[fld] = exrio.encode_rgb(np.stack([big[c] for c in "RGB"], -1))
                old = json.loads(s["json"])
                lens = {
                    k: v
                    for k, v in old["camera"].items()
                    if k in ("depth_of_field", "fstop", "focus_distance_m")
                }
                meta = frame_metadata(spec, states[i], old["render"], seed=old["seeds"]["render"], lens=lens)
                out["json"] = json.dumps(meta, sort_keys=True).encode()
                yield out
                i += 1

    infos = write_shards(samples(), shards_dir, spec.shot_id)
    entries = tuple(ShardEntry(relative_url(i.path, manifests), i.sha256, i.bytes, i.samples) for i in infos)
    write_shot_record(
        manifests, ShotRecord(spec.shot_id, spec.scene, spec.split, n, entries, tuple(rec["fields"]), {})
    )
    build_index(manifests, 1, config.get("seed", 0))
    return manifests


CHILD = """
import json, resource, sys, time
from render.audit import AuditOptions, run_audit
t0 = time.perf_counter()
r = run_audit(sys.argv[1], AuditOptions(deep=sys.argv[2] == "deep", workers=1, progress=False, sheets=0))
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "frames": r.summary["counts"]["frames_decoded"], "errors": len(r.errors),
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def at_4k(src: Path, frames: int, repeats: int) -> None:
    print(f"== audit at 2160x3840 ({frames} frames upscaled from {src}; {repeats} runs each, alternating) ==")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        manifests = upscale_dataset(src, Path(tmp), frames)
        size = sum(p.stat().st_size for p in (Path(tmp) / "data" / "shards").glob("*.tar"))
        print(
            f"  built in {time.perf_counter() - t0:.1f} s: {size / 1e6:.0f} MB of shards ({size / frames / 1e6:.0f} MB/frame)"
        )
        runs: dict[str, list[dict]] = {"shallow": [], "deep": []}
        for _ in range(repeats):
            for mode in runs:
                r = subprocess.run(
                    [sys.executable, "-c", CHILD, str(manifests), mode],
                    capture_output=True,
                    text=True,
                    cwd=REPO,
                    check=True,
                )
                runs[mode].append(json.loads(r.stdout.strip().splitlines()[-1]))
        for mode, rs in runs.items():
            per = sorted(d["seconds"] / d["frames"] for d in rs)
            rss = max(d["peak_rss_kb"] for d in rs) / 2**20
            print(
                f"  {mode:8s} {1 / statistics.median(per):.3f} frames/s/core ({statistics.median(per):.2f} s/frame median, "
                f"{per[0]:.2f}-{per[-1]:.2f}), peak RSS {rss:.2f} GiB, errors {max(d['errors'] for d in rs)}"
            )
        ratio = statistics.median([d["seconds"] for d in runs["deep"]]) / statistics.median(
            [d["seconds"] for d in runs["shallow"]]
        )
        print(f"  deep / shallow time: {ratio:.2f}x")
    print(
        f"  (bench process peak RSS incl. building: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifests", nargs="?", default="manifests/demo")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames-4k", type=int, default=4)
    ap.add_argument("--repeats-4k", type=int, default=3)
    ap.add_argument("--skip-4k", action="store_true")
    args = ap.parse_args()
    src = Path(args.manifests)
    if not (src / "index.json").exists():
        sys.exit(f"{src}: no dataset (run `make demo` first, or name a manifest directory)")
    throughput(src, args.repeats)
    if not args.skip_4k:
        at_4k(src, args.frames_4k, args.repeats_4k)


if __name__ == "__main__":
    main()
