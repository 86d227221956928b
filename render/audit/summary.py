"""Per-shot audit results aggregated into the figures of the report and the JSON summary (pure)."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from render.audit import frames
from render.audit.problems import ERROR, Problem
from render.audit.scan import ShotAudit
from render.audit.sparsity import pooled, window_frames

# Per-frame figures averaged per shot and overall (frames.frame_figures).
FIGURES = (
    "fractional",
    "coverage",
    "brightness",
    "residual_fractional",
    "residual_all",
    "evidence_without_label",
    "label_without_evidence",
    "label_flicker",
)


def _mean(values: list) -> float | None:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else None


def _round(v: object) -> object:
    return round(v, 6) if isinstance(v, float) else v


def _grouped(pairs: list[tuple[str, float | None]]) -> dict[str, dict]:
    groups: dict[str, list[float]] = defaultdict(list)
    for k, v in pairs:
        if v is not None:
            groups[k].append(v)
    return {k: {"frames": len(v), "mean": float(np.mean(v))} for k, v in sorted(groups.items())}


def _at(d: object, *path: str) -> str:
    for key in path:
        d = d.get(key) if isinstance(d, dict) else None
    return str(d) if d is not None else "?"


COUNTED = ("scene", "identity", "action", "preset", "hairstyle", "skin", "sex", "age")


def shot_attributes(plan: dict | None) -> dict[str, str]:
    """The attributes a shot is counted under: scene, split, identity, action, preset, hair, and
    the identity's traits (skin tone bin, sex, age group)."""
    return {
        "scene": _at(plan, "scene"),
        "split": _at(plan, "split"),
        "identity": _at(plan, "character", "id"),
        "action": _at(plan, "animation", "clip"),
        "preset": _at(plan, "camera", "preset"),
        "hairstyle": _at(plan, "character", "hair", "style"),
        "skin": _at(plan, "character", "traits", "skin"),
        "sex": _at(plan, "character", "traits", "sex"),
        "age": _at(plan, "character", "traits", "age"),
    }


def summarize(
    plan: dict[str, dict],
    records: dict,
    failures: dict,
    results: list[ShotAudit],
    problems: list[Problem],
    fps: float,
    thresholds: frames.Thresholds,
) -> dict:
    """The JSON summary: counts, verdict, problem tallies, distributions, label figures, sparsity."""
    errors = [p for p in problems if p.severity == ERROR]
    by_cat = Counter(p.category for p in errors)
    dist: dict[str, dict[str, dict[str, list[int]]]] = {}
    for sid, rec in sorted(records.items()):
        attrs = shot_attributes(plan.get(sid))
        split = dist.setdefault(attrs["split"], {})
        for what in COUNTED:
            cell = split.setdefault(what, {}).setdefault(attrs[what], [0, 0])
            cell[0] += 1
            cell[1] += rec.frames
    per_shot = []
    rows: list[tuple[dict, dict]] = []
    hist = np.zeros(frames.HIST_BINS + 2, np.int64)
    for r in sorted(results, key=lambda r: r.shot_id):
        attrs = shot_attributes(plan.get(r.shot_id))
        hist += r.histogram
        rows += [(attrs, f) for f in r.frames]
        per_shot.append(
            {
                "shot_id": r.shot_id,
                **attrs,
                "frames_read": r.frames_read,
                "frames_decoded": len(r.frames),
                **{k: _mean([f.get(k) for f in r.frames]) for k in FIGURES},
                "sparsity_alpha": r.sparsity.get("alpha", {}).get("share"),
                "sparsity_image": r.sparsity.get("image", {}).get("share"),
                "windows": r.sparsity.get("alpha", {}).get("windows", 0),
                "frames_in_windows": r.sparsity.get("alpha", {}).get("frames_in_windows", 0),
                "errors": sum(p.severity == ERROR for p in r.problems),
                "warnings": sum(p.severity != ERROR for p in r.problems),
                "seconds": round(r.seconds, 3),
                "frames": [{k: _round(v) for k, v in f.items()} for f in r.frames],
            }
        )
    figs = [f for _, f in rows]
    return {
        "verdict": "failed" if errors else "clean",
        "counts": {
            "planned_shots": len(plan),
            "recorded_shots": len(records),
            "failed_shots": len(failures),
            "shards": sum(len(rec.shards) for rec in records.values()),
            "bytes": sum(s.bytes for rec in records.values() for s in rec.shards),
            "frames_recorded": sum(rec.frames for rec in records.values()),
            "frames_read": sum(r.frames_read for r in results),
            "frames_decoded": len(figs),
            "bytes_read": sum(r.bytes_read for r in results),
        },
        "problems": {
            "errors": len(errors),
            "warnings": len(problems) - len(errors),
            "errors_by_category": dict(sorted(by_cat.items())),
            "by_check": dict(sorted(Counter(p.check for p in problems).items())),
        },
        "distributions": dist,
        "labels": {
            **{k: _mean([f.get(k) for f in figs]) for k in FIGURES},
            "fractional_by_scene": _grouped([(a["scene"], f["fractional"]) for a, f in rows]),
            "fractional_by_hairstyle": _grouped([(a["hairstyle"], f["fractional"]) for a, f in rows]),
            "alpha_histogram": {
                "zero": int(hist[0]),
                "bins": [int(x) for x in hist[1:-1]],
                "one": int(hist[-1]),
                "bin_edges": np.linspace(0, 1, frames.HIST_BINS + 1).round(4).tolist(),
            },
        },
        "subject": {
            k: [f.get(f"subject_{k}") for f in figs if f.get(f"subject_{k}") is not None]
            for k in ("height", "width", "cx", "cy")
        },
        "brightness": [f["brightness"] for f in figs if f.get("brightness") is not None],
        "sparsity": {
            "alpha": pooled([r.sparsity["alpha"] for r in results if "alpha" in r.sparsity]),
            "image": pooled([r.sparsity["image"] for r in results if "image" in r.sparsity]),
            "window_frames": window_frames(fps, thresholds.window_seconds),
            "window_seconds": thresholds.window_seconds,
            "threshold": thresholds.change,
            "paper": 0.137,
        },
        "thresholds": thresholds.to_json(),
        "shots": per_shot,
    }
