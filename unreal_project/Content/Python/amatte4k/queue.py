"""Movie Render Queue: one MRQ job per layer, rendered one after another in the editor (PIE
executor), each started from the previous one's finished delegate, with a heartbeat from a
Slate post-tick callback. Nothing here blocks the game thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import unreal

from .sequence_plan import LayerPlan, ShotPlan

HEARTBEAT_S = 2.0  # seconds between status writes while rendering
# After cancel_all_jobs, how long to wait for the executor's finished delegate before ending
# the shot anyway (the PIE session may still be closing then).
CANCEL_GRACE_S = 30.0


def object_path(asset_path: str) -> str:
    """/Game/A/B -> /Game/A/B.B, the object path MRQ's soft references take."""
    return f"{asset_path}.{asset_path.rsplit('/', 1)[1]}"


def _set(setting: object, values: dict) -> object:
    for name, value in values.items():
        setting.set_editor_property(name, value)
    return setting


def configure_job(queue: object, plan: ShotPlan, layer: LayerPlan) -> object:
    """Allocate and configure the MRQ job of one layer in `queue`; returns the job."""
    mrq = plan.mrq
    job = queue.allocate_new_job(unreal.MoviePipelineExecutorJob)
    _set(
        job,
        {
            "job_name": f"{plan.shot_id}_{layer.name}",
            "sequence": unreal.SoftObjectPath(object_path(plan.sequence_path)),
            "map": unreal.SoftObjectPath(object_path(plan.map_path)),
        },
    )
    config = job.get_configuration()
    _set(
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
    _set(
        config.find_or_add_setting_by_class(unreal.MoviePipelineImageSequenceOutput_EXR),
        {"compression": unreal.EXRCompressionFormat.ZIP, "multilayer": True},
    )
    _set(
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
    _set(
        config.find_or_add_setting_by_class(unreal.MoviePipelineDeferredPassBase),
        {"accumulator_includes_alpha": layer.accumulate_alpha},
    )
    _set(
        config.find_or_add_setting_by_class(unreal.MoviePipelineCameraSetting),
        {"shutter_timing": unreal.MoviePipelineShutterTiming.FRAME_CENTER},
    )
    _set(
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
    rendering; finish(reason) once at the end ("" on success). cancel(reason) stops the
    executor and ends the shot with that reason."""

    def __init__(
        self,
        plan: ShotPlan,
        before_layer: Callable[[LayerPlan], None],
        progress: Callable[[LayerPlan], None],
        finish: Callable[[str], None],
    ):
        self.plan, self.before_layer, self.progress, self.finish = plan, before_layer, progress, finish
        self.index = -1
        self.error = ""
        self.executor = None  # held so the executor and its delegates outlive this call
        self.tick_handle = None
        self.last_beat = 0.0
        self.done = False
        self.cancel_reason = ""
        self.cancel_at = 0.0

    def start(self) -> None:
        """Register the heartbeat and start the first layer; returns at once."""
        if hasattr(unreal, "register_slate_post_tick_callback"):
            self.tick_handle = unreal.register_slate_post_tick_callback(self._on_tick)
        self._guard(self._next_layer)

    def _guard(self, step: Callable[[], None]) -> None:
        """Run one step; any exception ends the shot with its one-line reason."""
        try:
            step()
        except Exception as exc:  # a callback must never leave the client waiting
            self._end(f"{type(exc).__name__}: {exc}")

    def _next_layer(self) -> None:
        self.index += 1
        if self.index == len(self.plan.layers):
            self._end("")
            return
        layer = self.plan.layers[self.index]
        self.before_layer(layer)
        subsystem = unreal.get_editor_subsystem(unreal.MoviePipelineQueueSubsystem)
        queue = subsystem.get_queue()
        queue.delete_all_jobs()
        configure_job(queue, self.plan, layer)
        self.executor = unreal.MoviePipelinePIEExecutor()
        self.executor.on_executor_finished_delegate.add_callable_unique(self._on_finished)
        self.executor.on_executor_errored_delegate.add_callable_unique(self._on_errored)
        subsystem.render_queue_with_executor_instance(self.executor)

    def cancel(self, reason: str) -> None:
        """Stop rendering: cancel_all_jobs on the active executor (feature-detected), then end
        with `reason` when its finished delegate fires, or after CANCEL_GRACE_S; at once when
        there is nothing to stop."""
        if self.done or self.cancel_reason:
            return
        self.cancel_reason, self.cancel_at = reason, time.monotonic()
        stop = getattr(self.executor, "cancel_all_jobs", None) if self.executor is not None else None
        try:
            if stop is not None:
                stop()  # the finished delegate may fire from inside this call
        except Exception as exc:
            self._end(f"{reason} (cancel_all_jobs: {type(exc).__name__}: {exc})")
        if stop is None or self.tick_handle is None:  # nothing to wait for, or no clock to wait with
            self._end(reason)

    def _on_errored(self, executor, pipeline, is_fatal, error_text) -> None:
        """MRQ reports an error; the finished delegate follows with success False."""
        if self.cancel_reason:
            return
        if not self.error:
            self.error = f"MRQ error in layer {self.current.name}: {error_text}"
        if is_fatal:
            self._end(self.error)

    def _on_finished(self, executor, success) -> None:
        if self.done:
            return
        if self.cancel_reason:
            self._end(self.cancel_reason)
            return
        if not success:
            self._end(self.error or f"MRQ failed in layer {self.current.name}")
            return
        self._guard(self._next_layer)

    def _on_tick(self, delta_seconds: float) -> None:
        now = time.monotonic()
        if self.cancel_reason and not self.done and now - self.cancel_at >= CANCEL_GRACE_S:
            self._end(self.cancel_reason)
        if self.done or self.cancel_reason or now - self.last_beat < HEARTBEAT_S:
            return
        self.last_beat = now
        self._guard(lambda: self.progress(self.current))

    @property
    def current(self) -> LayerPlan:
        """The layer being rendered."""
        return self.plan.layers[min(max(self.index, 0), len(self.plan.layers) - 1)]

    def _end(self, reason: str) -> None:
        if self.done:
            return
        self.done = True
        if self.tick_handle is not None:
            unreal.unregister_slate_post_tick_callback(self.tick_handle)
        self.finish(reason)
