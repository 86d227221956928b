"""Render one shot: `py amatte4k_render_shot.py <absolute path of job.json>` (UnrealCV console).

Runs on the game thread, so it returns at once: it loads the job, writes status "loading",
builds the level and the sequence, and starts the MRQ chain; progress goes to the status file
and the end to the completion record. Any failure writes an error record with a one-line
reason. A job that cannot be read has no paths to report to: its record goes to done.json
beside job.json.
"""

from __future__ import annotations

import json
import os
import sys
import time

import unreal
from amatte4k import queue, scene, sequence, status
from amatte4k.sequence_plan import LayerPlan, ShotPlan, build_plan

_RUNNING: dict[str, object] = {}  # shot id -> Shot: keeps a started chain referenced between ticks


def engine_version() -> str:
    """The engine's version string, for the completion record."""
    return str(unreal.SystemLibrary.get_engine_version())


def reason_of(exc: BaseException) -> str:
    """`Type: message` on one line."""
    return status.one_line(f"{type(exc).__name__}: {exc}")


class Shot:
    """One shot from job to completion record."""

    def __init__(self, plan: ShotPlan, started: float):
        self.plan, self.started = plan, started
        self.writer = status.StatusWriter(plan.shot_id, plan.status_path, plan.frames_total)
        self.actors: scene.ShotActors | None = None
        self.chain: queue.LayerChain | None = None

    def start(self) -> None:
        """Write "loading", set the level and sequence up, start rendering; returns at once."""
        plan = self.plan
        self.writer.write("loading", message=f"loading {plan.map_path}")
        for layer in plan.layers:
            status.clear_frames(layer.output_dir)
        scene.open_map(plan.map_path)
        self.actors = scene.ShotActors(scene.spawn_character(plan))  # held first: finish() removes it
        self.actors.body = scene.find_body(self.actors.character)
        self.actors.camera = scene.spawn_camera(plan)
        scene.collect_environment(self.actors)
        sequence.build(plan, self.actors)
        self.chain = queue.LayerChain(plan, self.before_layer, self.progress, self.finish)
        self.chain.start()

    def frames_done(self) -> int:
        """EXR files written so far over all layers."""
        return sum(status.count_frames(layer.output_dir) for layer in self.plan.layers)

    def before_layer(self, layer: LayerPlan) -> None:
        """Set the level for `layer` and report the layer's start."""
        deleted = scene.apply_layer(self.actors, layer)
        note = f"; deleted {', '.join(deleted)}" if deleted else ""
        self.writer.write("rendering", layer.name, self.frames_done(), f"rendering {layer.name}{note}")

    def progress(self, layer: LayerPlan) -> None:
        """Heartbeat: the frames on disk now."""
        self.writer.write("rendering", layer.name, self.frames_done(), f"rendering {layer.name}")

    def finish(self, reason: str) -> None:
        """Check every layer wrote all its frames, clean up, write the status and, last, the record."""
        plan = self.plan
        counts = {layer.name: status.count_frames(layer.output_dir) for layer in plan.layers}
        if not reason:
            short = [
                f"{name} wrote {n} of {plan.frames} frames" for name, n in counts.items() if n != plan.frames
            ]
            reason = "; ".join(short)
        try:
            scene.destroy(self.actors)
            if unreal.EditorAssetLibrary.does_asset_exist(plan.sequence_path):
                unreal.EditorAssetLibrary.delete_asset(plan.sequence_path)
        except Exception as exc:  # cleanup must not stop the record
            reason = reason or f"cleanup failed: {reason_of(exc)}"
        self.writer.write("error" if reason else "done", None, sum(counts.values()), reason)
        record = status.completion_record(
            plan.shot_id, reason, counts, engine_version(), time.monotonic() - self.started
        )
        status.write_json_atomic(plan.done_path, record)
        _RUNNING.pop(plan.shot_id, None)


def write_unreadable(job_path: str, job: object, reason: str, started: float) -> None:
    """Error record for a job that cannot be planned: to its done path when it has a readable
    one, else to done.json beside job.json."""
    done = job.get("output", {}).get("done") if isinstance(job, dict) else None
    if not (isinstance(done, str) and os.path.isabs(done)):
        done = os.path.join(os.path.dirname(job_path), "done.json")
    shot_id = job.get("shot_id", "") if isinstance(job, dict) else ""
    record = status.completion_record(str(shot_id), reason, {}, engine_version(), time.monotonic() - started)
    status.write_json_atomic(done, record)


def main(argv: list[str]) -> None:
    """Start rendering the job named by argv[1]; returns as soon as the render chain is started."""
    started = time.monotonic()
    if len(argv) != 2 or not os.path.isabs(argv[1]):
        unreal.log_error(f"usage: py amatte4k_render_shot.py <absolute path of job.json>, got {argv[1:]}")
        return
    job_path, job = argv[1], None
    try:
        with open(job_path, encoding="utf-8") as f:
            job = json.load(f)
        plan = build_plan(job)
    except (OSError, ValueError) as exc:  # ValueError covers JobError and bad JSON
        write_unreadable(job_path, job, reason_of(exc), started)
        return
    shot = Shot(plan, started)
    _RUNNING[plan.shot_id] = shot
    try:
        shot.start()
    except Exception as exc:  # the game thread must never leave the client waiting
        shot.finish(reason_of(exc))


if __name__ == "__main__":
    main(sys.argv)
