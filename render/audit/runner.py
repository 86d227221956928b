"""The whole audit: read the manifest, check completeness, scan every shot in a process pool
(one shot per task, one frame in memory per worker), aggregate."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from render.audit import completeness
from render.audit.frames import Thresholds
from render.audit.problems import ERROR, Problem, error, warning
from render.audit.scan import ShotAudit, ShotTask, audit_shot
from render.audit.summary import summarize
from render.manifest import CONFIG, INDEX
from render.store import Location


@dataclass(frozen=True)
class AuditOptions:
    deep: bool = False  # add the composite residual, the I-vs-B evidence checks
    workers: int = 1
    sample: int | None = None  # decode K frames per shot (first, last, evenly between)
    sheets: int = 24  # shots shown in the contact sheets (evenly spread over the dataset)
    thresholds: Thresholds = field(default_factory=Thresholds)
    progress: bool = True


@dataclass
class AuditResult:
    manifest_dir: Location
    options: AuditOptions
    manifest: completeness.Manifest
    shots: list[ShotAudit]
    problems: list[Problem]
    summary: dict
    seconds: float

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    def one_line(self) -> str:
        s = self.summary
        c = s["counts"]
        head = "clean" if not self.errors else "FAILED"
        cats = ", ".join(f"{n} {k}" for k, n in s["problems"]["errors_by_category"].items())
        return (
            f"audit {head}: {c['recorded_shots']}/{c['planned_shots']} shots, {c['frames_decoded']} frames decoded, "
            f"{s['problems']['errors']} errors{f' ({cats})' if cats else ''}, {s['problems']['warnings']} warning(s)"
        )


def _clips(m: completeness.Manifest) -> tuple[dict | None, Problem | None]:
    """The clip catalog the dataset was planned with, when it is still the same (by digest), to
    recompute camera poses and clip times; else None and a warning."""
    from render.catalog import load_clips
    from render.config import REPO_ROOT, ConfigError
    from render.identity import digest

    path = Path(m.config.get("clip_catalog") or REPO_ROOT / "animations" / "clips.yaml")
    want = (m.config.get("identity") or {}).get("clip_catalog")
    try:
        assets = m.config.get("assets") or {}
        clips = load_clips(path, {"bvh": assets.get("bvh_dir"), "mixamo": assets.get("mixamo_dir")})
    except (OSError, ConfigError) as exc:
        return None, warning(
            "integrity", "poses_unchecked", f"clip catalog unreadable ({exc}); camera poses not checked"
        )
    if want and digest(clips) != want:
        return None, warning(
            "integrity",
            "poses_unchecked",
            f"{path} changed since the dataset was planned; camera poses not checked",
        )
    return clips, None


def _sheet_shots(shot_ids: list[str], n: int) -> set[str]:
    if n <= 0 or not shot_ids:
        return set()
    if len(shot_ids) <= n:
        return set(shot_ids)
    return {shot_ids[int(i)] for i in np.linspace(0, len(shot_ids) - 1, n).round()}


def tasks_for(m: completeness.Manifest, options: AuditOptions, clips: dict | None) -> list[ShotTask]:
    ids = sorted(m.records)
    sheets = _sheet_shots(ids, options.sheets)
    out = []
    for sid in ids:
        rec, plan = m.records[sid], m.plan_of(sid)
        anim = plan.get("animation") if plan else None
        name = anim.get("clip") if isinstance(anim, dict) else None
        clip = clips.get(name) if clips and isinstance(name, str) else None
        out.append(
            ShotTask(
                shot_id=sid,
                plan=plan,
                fields=tuple(rec.fields),
                frames=rec.frames,
                shards=tuple(m.shards_of(sid)),
                deep=options.deep,
                sample=options.sample,
                thumbs=sid in sheets,
                clip=clip,
                thresholds=options.thresholds,
            )
        )
    return out


def _crashed(task: ShotTask, exc: BaseException) -> ShotAudit:
    r = ShotAudit(task.shot_id)
    r.problems.append(
        error("integrity", "audit_crashed", f"the audit of this shot crashed: {exc!r}", shot=task.shot_id)
    )
    return r


def run_tasks(tasks: list[ShotTask], workers: int, progress: bool) -> list[ShotAudit]:
    total = sum(t.frames for t in tasks)
    bar = tqdm(total=total, unit="frame", desc="audit", disable=not progress, dynamic_ncols=True)
    results: list[ShotAudit] = []
    try:
        if workers <= 1 or len(tasks) <= 1:
            for t in tasks:
                try:
                    results.append(audit_shot(t))
                except Exception as exc:  # a bug in a check must not hide the other shots
                    results.append(_crashed(t, exc))
                bar.update(t.frames)
            return results
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
            futures = {pool.submit(audit_shot, t): t for t in tasks}
            for fut in as_completed(futures):
                t = futures[fut]
                try:
                    results.append(fut.result())
                except Exception as exc:
                    results.append(_crashed(t, exc))
                bar.update(t.frames)
        return results
    finally:
        bar.close()


def run_audit(manifest_dir: str | Path | Location, options: AuditOptions | None = None) -> AuditResult:
    options = options or AuditOptions()
    t0 = time.perf_counter()
    root = manifest_dir if isinstance(manifest_dir, Location) else Location(manifest_dir)
    if not root.remote and not Path(root.root).is_dir():
        raise FileNotFoundError(f"{root}: no such manifest directory")
    if root.remote:  # read only: no probe object is written
        if not (root.is_file(INDEX) or root.is_file(CONFIG) or root.list("shots")):
            raise FileNotFoundError(f"{root}: no manifest there")
    m = completeness.read_manifest(root)
    problems = list(m.problems) + completeness.check(m) + completeness.stray_files(m)
    clips, clip_note = _clips(m) if m.config else (None, None)
    if clip_note:
        problems.append(clip_note)
    results = run_tasks(tasks_for(m, options, clips), options.workers, options.progress)
    for r in sorted(results, key=lambda r: r.shot_id):
        problems += r.problems
    fps = float(m.config.get("fps", 30) or 30)
    summary = summarize(m.plan, m.records, m.failures, results, problems, fps, options.thresholds)
    summary["options"] = {
        "deep": options.deep,
        "sample": options.sample,
        "workers": options.workers,
        "seed": m.config.get("seed"),
    }
    summary["fps"] = fps
    seconds = time.perf_counter() - t0
    summary["seconds"] = round(seconds, 3)
    return AuditResult(root, options, m, sorted(results, key=lambda r: r.shot_id), problems, summary, seconds)
