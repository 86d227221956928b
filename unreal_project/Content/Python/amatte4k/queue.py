"""Movie Render Queue: one MRQ job per layer, rendered one after another in the editor (PIE
executor). Each layer starts from a Slate post-tick callback once MRQ has released the previous
one; the same callback writes the heartbeat and watches for stalls. Nothing here blocks the game
thread.

Every end of the chain waits until MRQ is idle (MoviePipelineQueueSubsystem.is_rendering()), so
the engine never reports itself idle, and never takes a new job, while PIE still renders.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import unreal

from .props import set_props
from .sequence_plan import LayerPlan, ShotPlan
from .status import ReasonError, count_frames, reason_of

HEARTBEAT_S = 2.0  # seconds between status writes (and stall checks) while rendering
# After cancel_all_jobs, how long to wait for the executor's finished delegate; after that the
# shot ends as soon as MRQ is idle.
CANCEL_GRACE_S = 30.0
# After a cancel or a failure, how long to wait for MRQ to become idle before the shot's error
# record is written anyway; the engine then stays busy ("stuck") until MRQ is idle.
STOP_CAP_S = 300.0
# How long the next layer waits for MRQ to release the previous layer's executor.
NEXT_LAYER_WAIT_S = 60.0
BUSY_REASON = "the movie render queue is still busy"


class QueueBusy(ReasonError):
    """MRQ is rendering something else: a layer is not started."""


def mrq_rendering() -> bool:
    """True while the editor's MRQ has an active executor (rendering or finishing file writes);
    False when the subsystem has no is_rendering (nothing to wait on)."""
    subsystem = unreal.get_editor_subsystem(unreal.MoviePipelineQueueSubsystem)
    is_rendering = getattr(subsystem, "is_rendering", None)
    return bool(is_rendering()) if is_rendering is not None else False


def stall_reason(seconds: float, layer: str, frames_done: int, frames: int) -> str:
    """The error of a layer that wrote no new frame for `seconds`."""
    return f"no frame written for {seconds:g} s (layer {layer}, {frames_done}/{frames} frames)"


def object_path(asset_path: str) -> str:
    """/Game/A/B -> /Game/A/B.B, the object path MRQ's soft references take."""
    return f"{asset_path}.{asset_path.rsplit('/', 1)[1]}"


def configure_job(queue: object, plan: ShotPlan, layer: LayerPlan) -> object:
    """Allocate and configure the MRQ job of one layer in `queue`; returns the job."""
    mrq = plan.mrq
    job = queue.allocate_new_job(unreal.MoviePipelineExecutorJob)
    set_props(
        job,
        {
            "job_name": f"{plan.shot_id}_{layer.name}",
            "sequence": unreal.SoftObjectPath(object_path(plan.sequence_path)),
            "map": unreal.SoftObjectPath(object_path(plan.map_path)),
        },
    )
    config = job.get_configuration()
    set_props(
        config.find_or_add_setting_by_class(unreal.MoviePipelineOutputSetting),
        {
            "output_resolution": unreal.IntPoint(*mrq.resolution),
            "output_directory": unreal.DirectoryPath(path=layer.output_dir),
            "file_name_format": mrq.file_name_format,
            "zero_pad_frame_numbers": mrq.zero_pad,
            "use_custom_playback_range": True,
            "custom_start_frame": mrq.playback[0],
            "custom_end_frame": mrq.playback[1],
            "override_existing_output": True,
        },
    )
    set_props(
        config.find_or_add_setting_by_class(unreal.MoviePipelineImageSequenceOutput_EXR),
        {"compression": unreal.EXRCompressionFormat.ZIP, "multilayer": True},
    )
    set_props(
        config.find_or_add_setting_by_class(unreal.MoviePipelineAntiAliasingSetting),
        {
            "spatial_sample_count": mrq.spatial_samples,
            "temporal_sample_count": mrq.temporal_samples,
            "override_anti_aliasing": mrq.override_anti_aliasing,
            "anti_aliasing_method": unreal.AntiAliasingMethod.AAM_NONE,
            "engine_warm_up_count": mrq.engine_warm_up_count,
            "render_warm_up_count": mrq.render_warm_up_count,
            "render_warm_up_frames": mrq.render_warm_up_frames,
            "use_camera_cut_for_warm_up": mrq.use_camera_cut_for_warm_up,
        },
    )
    set_props(
        config.find_or_add_setting_by_class(unreal.MoviePipelineDeferredPassBase),
        {"accumulator_includes_alpha": layer.accumulate_alpha},
    )
    set_props(
        config.find_or_add_setting_by_class(unreal.MoviePipelineCameraSetting),
        {"shutter_timing": unreal.MoviePipelineShutterTiming.FRAME_CENTER},
    )
    set_props(
        config.find_or_add_setting_by_class(unreal.MoviePipelineGameOverrideSetting),
        {"cinematic_quality_settings": True, "flush_streaming_managers": True},
    )
    cvars = config.find_or_add_setting_by_class(unreal.MoviePipelineConsoleVariableSetting)
    for name, value in mrq.console_variables:
        cvars.add_or_update_console_variable(name, value)
    return job


class LayerChain:
    """Renders plan.layers in order. Callbacks, all on the game thread:
    before_layer(layer) sets the level up; progress(layer) is called every HEARTBEAT_S while
    rendering; finish(reason) once at the end ("" on success), when MRQ is idle; stuck(reason)
    once, when MRQ is still rendering STOP_CAP_S after a cancel or failure (finish follows when
    MRQ is idle at last). cancel(reason) stops the executor and ends the shot with that reason.

    States: "rendering" a layer; "next" (waiting for MRQ to release the last layer's executor);
    "stopping" (cancelled or failed, waiting for MRQ to be idle); "stuck"; "done"."""

    def __init__(
        self,
        plan: ShotPlan,
        before_layer: Callable[[LayerPlan], None],
        progress: Callable[[LayerPlan], None],
        finish: Callable[[str], None],
        stuck: Callable[[str], None] | None = None,
    ):
        self.plan, self.before_layer, self.progress, self.finish = plan, before_layer, progress, finish
        self.stuck = stuck or (lambda reason: None)
        self.clock: Callable[[], float] = time.monotonic
        self.index = -1
        self.error = ""
        self.executor = None  # held so the executor and its delegates outlive this call
        self.tick_handle = None
        self.state = "next"
        self.since = 0.0  # when the current state began
        self.last_beat = 0.0
        self.frames_seen, self.frame_at = 0, 0.0  # the layer's EXR count and when it last grew
        self.stop_reason = ""
        self.delegate_fired = False

    @property
    def done(self) -> bool:
        return self.state == "done"

    @property
    def current(self) -> LayerPlan:
        """The layer being rendered."""
        return self.plan.layers[min(max(self.index, 0), len(self.plan.layers) - 1)]

    def start(self) -> None:
        """Register the tick and start the first layer; returns at once."""
        if hasattr(unreal, "register_slate_post_tick_callback"):
            self.tick_handle = unreal.register_slate_post_tick_callback(self._on_tick)
        self._guard(self._next_layer)

    def _guard(self, step: Callable[[], None]) -> None:
        """Run one step; an exception stops the shot with its one-line reason."""
        try:
            step()
        except QueueBusy as exc:  # not ours to wait for: report now, stay busy until MRQ is idle
            self._conclude(str(exc), report_now=True)
        except Exception as exc:  # a callback must never leave the client waiting
            self._fail(reason_of(exc))

    def _fail(self, reason: str) -> None:
        if self.state == "rendering":
            self.cancel(reason)
        else:
            self._conclude(reason)

    def _next_layer(self) -> None:
        self.index += 1
        if self.index == len(self.plan.layers):
            self._conclude("")
            return
        layer = self.plan.layers[self.index]
        if mrq_rendering():  # someone else's render, or ours not released: never two at once
            raise QueueBusy(BUSY_REASON)
        self.before_layer(layer)
        subsystem = unreal.get_editor_subsystem(unreal.MoviePipelineQueueSubsystem)
        queue = subsystem.get_queue()
        queue.delete_all_jobs()
        configure_job(queue, self.plan, layer)
        self.executor = unreal.MoviePipelinePIEExecutor()
        self.executor.on_executor_finished_delegate.add_callable_unique(self._on_finished)
        self.executor.on_executor_errored_delegate.add_callable_unique(self._on_errored)
        now = self.clock()
        self._enter("rendering", now)
        self.frames_seen, self.frame_at, self.last_beat = count_frames(layer.output_dir), now, now
        subsystem.render_queue_with_executor_instance(self.executor)

    def _enter(self, state: str, now: float) -> None:
        self.state, self.since = state, now

    def cancel(self, reason: str) -> None:
        """Stop rendering: cancel_all_jobs on the active executor (feature-detected), then end
        with `reason` once the executor's finished delegate has fired (or CANCEL_GRACE_S has
        passed) and MRQ is idle; at once when there is nothing to stop or no tick to wait with."""
        if self.state in ("stopping", "stuck", "done"):
            return
        rendering = self.state == "rendering"
        self._enter("stopping", self.clock())
        self.stop_reason, self.delegate_fired = reason, not rendering
        stop = getattr(self.executor, "cancel_all_jobs", None) if rendering else None
        if stop is not None:
            try:
                stop()  # the finished delegate may fire from inside this call
            except Exception as exc:
                self.stop_reason = f"{reason} (cancel_all_jobs: {reason_of(exc)})"
                self.delegate_fired = True
        if self.tick_handle is None or (rendering and stop is None):
            self._end(self.stop_reason)  # nothing to wait for, or no clock to wait with
        elif self.state == "stopping":
            self._settle(self.clock())

    def _conclude(self, reason: str, report_now: bool = False) -> None:
        """End with `reason` now if MRQ is idle, else once it is (see _settle); with
        report_now, a busy MRQ makes the shot stuck at once (its record is written now)."""
        if self.state in ("stopping", "stuck", "done"):
            return
        if self.tick_handle is None or not mrq_rendering():
            self._end(reason)
            return
        self.stop_reason, self.delegate_fired = reason, True
        if report_now:
            self._enter("stuck", self.clock())
            self.stuck(reason)
        else:
            self._enter("stopping", self.clock())

    def _settle(self, now: float) -> None:
        """While stopping: end once the delegate has fired (or the grace passed) and MRQ is
        idle; report the shot stuck when MRQ is still rendering STOP_CAP_S later."""
        waited = now - self.since
        if (self.delegate_fired or waited >= CANCEL_GRACE_S) and not mrq_rendering():
            self._end(self.stop_reason)
        elif waited >= STOP_CAP_S:
            self.stop_reason = (
                f"{self.stop_reason}; the movie render queue is still rendering "
                f"{STOP_CAP_S:g} s after the shot stopped"
            )
            self._enter("stuck", now)
            self.stuck(self.stop_reason)

    def _on_errored(self, executor, pipeline, is_fatal, error_text) -> None:
        """MRQ reports an error; the finished delegate follows with success False."""
        if self.state != "rendering":
            return
        if not self.error:
            self.error = f"MRQ error in layer {self.current.name}: {error_text}"
        if is_fatal:
            self._conclude(self.error)

    def _on_finished(self, executor, success) -> None:
        if executor is not None and self.executor is not None and executor is not self.executor:
            return  # a late delegate of an earlier layer's executor
        if self.state == "stopping":
            self.delegate_fired = True
            self._settle(self.clock())
            return
        if self.state != "rendering":
            return
        if not success:
            self._conclude(self.error or f"MRQ failed in layer {self.current.name}")
            return
        if self.tick_handle is None:
            self._guard(self._next_layer)
        else:  # MRQ may still hold this executor while its delegates run: start from the tick
            self._enter("next", self.clock())

    def _on_tick(self, delta_seconds: float) -> None:
        now = self.clock()
        if self.state == "stopping":
            self._settle(now)
        elif self.state == "stuck":
            if not mrq_rendering():
                self._end(self.stop_reason)
        elif self.state == "next":
            if not mrq_rendering():
                self._guard(self._next_layer)
            elif now - self.since >= NEXT_LAYER_WAIT_S:
                self._conclude(BUSY_REASON, report_now=True)
        elif self.state == "rendering" and now - self.last_beat >= HEARTBEAT_S:
            self.last_beat = now
            self._watch(now)
            if self.state == "rendering":
                self._guard(lambda: self.progress(self.current))

    def _watch(self, now: float) -> None:
        """The stall watchdog: cancel the layer when its folder got no new EXR file for
        plan.layer_stall_s."""
        layer = self.current
        frames = count_frames(layer.output_dir)
        if frames > self.frames_seen:
            self.frames_seen, self.frame_at = frames, now
        elif now - self.frame_at >= self.plan.layer_stall_s:
            self.cancel(stall_reason(self.plan.layer_stall_s, layer.name, frames, self.plan.frames))

    def _end(self, reason: str) -> None:
        if self.state == "done":
            return
        self.state = "done"
        if self.tick_handle is not None:
            unreal.unregister_slate_post_tick_callback(self.tick_handle)
        self.finish(reason)
