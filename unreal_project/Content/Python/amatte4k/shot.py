"""One shot from job.json to completion record, shared by the inbox watcher (init_unreal.py) and
the console entry (`py amatte4k_render_shot.py <job.json>`).

Everything runs on the game thread and returns at once: start_job loads the job, writes status
"loading", builds the level and the sequence, and starts the MRQ chain; progress goes to the
status file and the end to the completion record. Any failure writes an error record with a
one-line reason; a record that cannot go to the job's output paths goes to the inbox fallback
<X>.done.json. Once a record is written the claimed <X>.job.json.taken is deleted. One shot runs
at a time; a shot stays running ("stuck") after its record while MRQ still renders.
"""

from __future__ import annotations

import json
import os
import time

import unreal

from . import inbox, queue, scene, sequence, status
from .sequence_plan import LayerPlan, ShotPlan, build_plan

_RUNNING: dict[str, Shot] = {}  # shot id -> Shot: keeps a started chain referenced between ticks


def engine_version() -> str:
    """The engine's version string, for the completion record and engine.json."""
    return str(unreal.SystemLibrary.get_engine_version())


def reason_of(exc: BaseException) -> str:
    """`Type: message` on one line (the bare message of a status.ReasonError)."""
    return status.reason_of(exc)


def remove_taken(job_path: str | None) -> None:
    """Delete a claimed job file (<X>.job.json.taken) once its record is written; a job file
    started by hand is left alone."""
    if job_path and job_path.endswith(inbox.TAKEN_SUFFIX):
        try:
            os.remove(job_path)
        except OSError:
            pass


def write_record(path: str, record: dict, fallback: str | None) -> str:
    """Write a completion record to `path`; when that fails, the same record with the failure
    first in its reason to `fallback`. Returns the failure ("" when `path` was written).
    OSError when the fallback cannot be written either."""
    try:
        status.write_json_atomic(path, record)
        return ""
    except OSError as exc:
        failure = status.cannot_write(path, exc)
    if not fallback or fallback == path:
        raise OSError(failure)
    status.write_json_atomic(
        fallback, dict(record, state="error", reason=join_reasons(failure, record["reason"]))
    )
    return failure


def join_reasons(first: str, second: str) -> str:
    """`first; second`, without repeating `second` when it is already `first`."""
    if not second or second == first:
        return status.one_line(first)
    return status.one_line(f"{first}; {second}")


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
    """One shot from job to completion record. The record goes to output.done; when the status
    or the record cannot be written there, it (also) goes to `fallback_done` in the inbox."""

    def __init__(
        self, plan: ShotPlan, started: float, job_path: str | None = None, fallback_done: str | None = None
    ):
        self.plan, self.started = plan, started
        self.job_path, self.fallback_done = job_path, fallback_done
        self.writer = status.StatusWriter(plan.shot_id, plan.status_path, plan.frames_total)
        self.actors: scene.ShotActors | None = None
        self.chain: queue.LayerChain | None = None
        self.write_failure = ""  # the first status write that failed
        self.reported = False  # the record is written
        self.finished = False  # cleaned up and no longer running

    def write_status(self, state: str, layer: str | None, frames_done: int, message: str) -> None:
        """Rewrite the status file; a failure raises a ReasonError `cannot write <path>: ...`."""
        try:
            self.writer.write(state, layer, frames_done, message)
        except OSError as exc:
            self.write_failure = self.write_failure or status.cannot_write(self.plan.status_path, exc)
            raise status.ReasonError(self.write_failure) from None

    def start(self) -> None:
        """Write "loading", set the level and sequence up, start rendering; returns at once."""
        plan = self.plan
        self.write_status("loading", None, 0, f"loading {plan.map_path}")
        for layer in plan.layers:
            status.clear_frames(layer.output_dir)
        scene.open_map(plan.map_path)
        self.actors = scene.ShotActors(scene.spawn_character(plan))  # held first: finish() removes it
        self.actors.body = scene.find_body(self.actors.character)
        self.actors.camera = scene.spawn_camera(plan)
        scene.collect_environment(self.actors)
        sequence.build(plan, self.actors)
        self.chain = queue.LayerChain(plan, self.before_layer, self.progress, self.finish, self.report)
        self.chain.start()

    def frames_done(self) -> int:
        """EXR files on disk now over all layers."""
        return sum(status.count_frames(layer.output_dir) for layer in self.plan.layers)

    def before_layer(self, layer: LayerPlan) -> None:
        """Set the level for `layer` and report the layer's start."""
        hidden = scene.apply_layer(self.actors, layer)
        note = f"; hidden in game {', '.join(hidden)}" if hidden else ""
        self.write_status("rendering", layer.name, self.frames_done(), f"rendering {layer.name}{note}")

    def progress(self, layer: LayerPlan) -> None:
        """Heartbeat: the frames on disk now."""
        self.write_status("rendering", layer.name, self.frames_done(), f"rendering {layer.name}")

    def cancel(self, reason: str) -> None:
        """Stop the MRQ chain (it calls finish(reason) when MRQ has stopped), or finish now
        when no chain runs yet."""
        if self.chain is not None and not self.chain.done:
            self.chain.cancel(reason)
        else:
            self.finish(reason)

    def finish(self, reason: str) -> None:
        """Restore the level, remove what the shot spawned, then write the status and, last,
        the record (unless report() wrote them already). Runs once."""
        if self.finished:
            return
        self.finished = True
        try:
            scene.clean_up(self.actors)
            path = self.plan.sequence_path
            if unreal.EditorAssetLibrary.does_asset_exist(path):
                unreal.EditorAssetLibrary.delete_asset(path)
        except Exception as exc:  # cleanup must not stop the record
            reason = reason or f"cleanup failed: {reason_of(exc)}"
        finally:
            _RUNNING.pop(self.plan.shot_id, None)
        self.report(reason)

    def report(self, reason: str) -> None:
        """Check every layer wrote all its frames, write the status and, last, the record; the
        record also goes to the inbox fallback when a status or record write failed. Then the
        claimed job file is deleted. Runs once; the shot stays running until finish()."""
        if self.reported:
            return
        self.reported = True
        plan = self.plan
        counts = {layer.name: status.count_frames(layer.output_dir) for layer in plan.layers}
        if not reason:
            short = [
                f"{name} wrote {n} of {plan.frames} frames" for name, n in counts.items() if n != plan.frames
            ]
            reason = "; ".join(short)
        try:
            self.write_status("error" if reason else "done", None, sum(counts.values()), reason)
        except status.ReasonError:
            pass  # self.write_failure says why
        record = status.completion_record(
            plan.shot_id, reason, counts, engine_version(), time.monotonic() - self.started
        )
        try:
            status.write_json_atomic(plan.done_path, record)
            failure = ""
        except OSError as exc:
            failure = status.cannot_write(plan.done_path, exc)
        first = self.write_failure or failure
        if first and self.fallback_done:
            fallback = dict(record, state="error", reason=join_reasons(first, record["reason"]))
            try:
                status.write_json_atomic(self.fallback_done, fallback)
                failure = ""
            except OSError as exc:
                failure = f"{first}; {status.cannot_write(self.fallback_done, exc)}"
        if failure:
            unreal.log_error(f"AlphaMatte4K: shot {plan.shot_id}: no record written: {failure}")
            return
        remove_taken(self.job_path)


def write_early_record(job_path: str, job: object, reason: str, started: float, fallback_done: str) -> None:
    """Error record of a job that is never started (unreadable, invalid or expired): to its
    output.done when the job has an absolute one, else (or when that cannot be written) to
    fallback_done. Then the claimed job file is deleted."""
    done = job.get("output", {}).get("done") if isinstance(job, dict) else None
    if not (isinstance(done, str) and os.path.isabs(done)):
        done = fallback_done
    shot_id = job.get("shot_id", "") if isinstance(job, dict) else ""
    record = status.completion_record(str(shot_id), reason, {}, engine_version(), time.monotonic() - started)
    try:
        write_record(done, record, fallback_done)
    except OSError as exc:
        unreal.log_error(f"AlphaMatte4K: {job_path}: no record written: {exc}")
        return
    remove_taken(job_path)


def start_job(job_path: str, fallback_done: str | None = None) -> str | None:
    """Read the job at `job_path` and start rendering it; returns the shot id while it renders,
    None when it ended at once (its error record is written) or the engine is busy (logged).
    fallback_done (default: inbox.fallback_done_path) receives the records that cannot go to
    the job's output paths."""
    started = time.monotonic()
    busy = running_shot_id()
    if busy is not None:
        unreal.log_error(f"AlphaMatte4K: busy with shot {busy}, not starting {job_path}")
        return None
    fallback_done = fallback_done or inbox.fallback_done_path(job_path)
    job = None
    try:
        with open(job_path, encoding="utf-8") as f:
            job = json.load(f)
        if inbox.is_expired(job, time.time()):
            shot_id = job.get("shot_id", "") if isinstance(job, dict) else ""
            record = status.completion_record(
                str(shot_id), inbox.EXPIRED_REASON, {}, engine_version(), time.monotonic() - started
            )
            status.write_json_atomic(fallback_done, record)
            remove_taken(job_path)
            return None
        plan = build_plan(job, owner=str(os.getpid()))
    except (OSError, ValueError) as exc:  # ValueError covers JobError, bad JSON, bad expires_at
        write_early_record(job_path, job, reason_of(exc), started, fallback_done)
        return None
    client = inbox.client_of(job)
    unreal.log(f"AlphaMatte4K: shot {plan.shot_id}" + (f" for client {client}" if client else ""))
    shot = Shot(plan, started, job_path, fallback_done)
    _RUNNING[plan.shot_id] = shot
    try:
        shot.start()
    except Exception as exc:  # the game thread must never leave the client waiting
        shot.finish(reason_of(exc))
    return running_shot_id()
