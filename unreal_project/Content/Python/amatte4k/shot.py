"""One shot from job.json to completion record, shared by the inbox watcher (init_unreal.py) and
the console entry (`py amatte4k_render_shot.py <job.json>`).

Everything runs on the game thread and returns at once: start_job loads the job, writes status
"loading", builds the level and the sequence, and starts the MRQ chain; progress goes to the
status file and the end to the completion record. Any failure writes an error record with a
one-line reason. One shot runs at a time.
"""

from __future__ import annotations

import json
import os
import time

import unreal

from . import queue, scene, sequence, status
from .sequence_plan import LayerPlan, ShotPlan, build_plan

_RUNNING: dict[str, Shot] = {}  # shot id -> Shot: keeps a started chain referenced between ticks


def engine_version() -> str:
    """The engine's version string, for the completion record and engine.json."""
    return str(unreal.SystemLibrary.get_engine_version())


def reason_of(exc: BaseException) -> str:
    """`Type: message` on one line."""
    return status.one_line(f"{type(exc).__name__}: {exc}")


def running_shot_id() -> str | None:
    """The id of the shot being rendered, or None when the engine is idle."""
    return next(iter(_RUNNING), None)


def cancel(shot_id: str, reason: str) -> bool:
    """Stop the running shot `shot_id`; its record says `reason`. False when it is not running."""
    shot = _RUNNING.get(shot_id)
    if shot is None:
        return False
    shot.cancel(reason)
    return True


class Shot:
    """One shot from job to completion record."""

    def __init__(self, plan: ShotPlan, started: float):
        self.plan, self.started = plan, started
        self.writer = status.StatusWriter(plan.shot_id, plan.status_path, plan.frames_total)
        self.actors: scene.ShotActors | None = None
        self.chain: queue.LayerChain | None = None
        self.finished = False

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
        hidden = scene.apply_layer(self.actors, layer)
        note = f"; hidden in game {', '.join(hidden)}" if hidden else ""
        self.writer.write("rendering", layer.name, self.frames_done(), f"rendering {layer.name}{note}")

    def progress(self, layer: LayerPlan) -> None:
        """Heartbeat: the frames on disk now."""
        self.writer.write("rendering", layer.name, self.frames_done(), f"rendering {layer.name}")

    def cancel(self, reason: str) -> None:
        """Stop the MRQ chain (it calls finish(reason) when the executor has stopped), or finish
        now when no chain runs yet."""
        if self.chain is not None and not self.chain.done:
            self.chain.cancel(reason)
        else:
            self.finish(reason)

    def finish(self, reason: str) -> None:
        """Check every layer wrote all its frames, restore the level, remove what the shot
        spawned, write the status and, last, the record. Runs once."""
        if self.finished:
            return
        self.finished = True
        plan = self.plan
        counts = {layer.name: status.count_frames(layer.output_dir) for layer in plan.layers}
        if not reason:
            short = [
                f"{name} wrote {n} of {plan.frames} frames" for name, n in counts.items() if n != plan.frames
            ]
            reason = "; ".join(short)
        try:
            scene.clean_up(self.actors)
            if unreal.EditorAssetLibrary.does_asset_exist(plan.sequence_path):
                unreal.EditorAssetLibrary.delete_asset(plan.sequence_path)
        except Exception as exc:  # cleanup must not stop the record
            reason = reason or f"cleanup failed: {reason_of(exc)}"
        finally:
            _RUNNING.pop(plan.shot_id, None)
        self.writer.write("error" if reason else "done", None, sum(counts.values()), reason)
        record = status.completion_record(
            plan.shot_id, reason, counts, engine_version(), time.monotonic() - self.started
        )
        status.write_json_atomic(plan.done_path, record)


def write_unreadable(
    job_path: str, job: object, reason: str, started: float, fallback_done: str | None
) -> None:
    """Error record for a job that cannot be planned: to its done path when it has a readable
    one, else to fallback_done (default: done.json beside job.json)."""
    done = job.get("output", {}).get("done") if isinstance(job, dict) else None
    if not (isinstance(done, str) and os.path.isabs(done)):
        done = fallback_done or os.path.join(os.path.dirname(job_path), "done.json")
    shot_id = job.get("shot_id", "") if isinstance(job, dict) else ""
    record = status.completion_record(str(shot_id), reason, {}, engine_version(), time.monotonic() - started)
    status.write_json_atomic(done, record)


def start_job(job_path: str, fallback_done: str | None = None) -> str | None:
    """Read the job at `job_path` and start rendering it; returns the shot id while it renders,
    None when it ended at once (its error record is written) or the engine is busy (logged)."""
    started = time.monotonic()
    busy = running_shot_id()
    if busy is not None:
        unreal.log_error(f"AlphaMatte4K: busy with shot {busy}, not starting {job_path}")
        return None
    job = None
    try:
        with open(job_path, encoding="utf-8") as f:
            job = json.load(f)
        plan = build_plan(job)
    except (OSError, ValueError) as exc:  # ValueError covers JobError and bad JSON
        write_unreadable(job_path, job, reason_of(exc), started, fallback_done)
        return None
    shot = Shot(plan, started)
    _RUNNING[plan.shot_id] = shot
    try:
        shot.start()
    except Exception as exc:  # the game thread must never leave the client waiting
        shot.finish(reason_of(exc))
    return running_shot_id()
