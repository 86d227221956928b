"""The shot's LevelSequence asset, keyed from a ShotPlan: camera transform and lens, a camera
cut over the warm-up and guard frames, the character's root transform and its in-place clip.

Keys are linear and one per job frame, so sub-frame (motion-blur) samples interpolate between
the job's frames. Frames are display-rate frames (the job's fps).
"""

from __future__ import annotations

import unreal

from .scene import ShotActors
from .sequence_plan import ShotPlan, TransformKey

# Save the sequence to disk before rendering. Off: MRQ renders the unsaved in-memory asset
# (UNCONFIRMED). If it must be saved, turn this on: the asset lies in the engine's own folder
# (/Game/AlphaMatte4K/Sequences/<pid>/) and is deleted after the shot.
SAVE_SEQUENCE = False


def create_sequence(path: str) -> object:
    """A new, empty LevelSequence at `path` (an older one of that name is deleted first)."""
    if unreal.EditorAssetLibrary.does_asset_exist(path):
        unreal.EditorAssetLibrary.delete_asset(path)
    folder, name = path.rsplit("/", 1)
    seq = unreal.AssetToolsHelpers.get_asset_tools().create_asset(
        name, folder, unreal.LevelSequence, unreal.LevelSequenceFactoryNew()
    )
    if seq is None:
        raise RuntimeError(f"could not create level sequence {path}")
    return seq


def set_timing(seq: object, plan: ShotPlan) -> None:
    """Display rate = job fps; playback range [0, frames) = the saved frames."""
    seq.set_display_rate(unreal.FrameRate(plan.fps, 1))
    seq.set_playback_start(plan.mrq.playback[0])
    seq.set_playback_end(plan.mrq.playback[1])


def _add_linear_keys(channel: object, frames_values: list[tuple[int, float]]) -> None:
    for frame, value in frames_values:
        channel.add_key(
            unreal.FrameNumber(frame), value, interpolation=unreal.MovieSceneKeyInterpolation.LINEAR
        )


def key_transform(binding: object, keys: tuple[TransformKey, ...], section: tuple[int, int]) -> object:
    """A 3D transform track on `binding` with one linear key per TransformKey; returns the section.
    Channel order of a transform section: location x, y, z, rotation roll, pitch, yaw, scale..."""
    track = binding.add_track(unreal.MovieScene3DTransformTrack)
    sec = track.add_section()
    sec.set_range(*section)
    channels = sec.get_all_channels()
    for axis in range(3):
        _add_linear_keys(channels[axis], [(k.frame, k.location[axis]) for k in keys])
        _add_linear_keys(channels[3 + axis], [(k.frame, k.rotation[axis]) for k in keys])
    return sec


def key_float_property(
    binding: object, name: str, path: str, section: tuple[int, int], frames_values: list[tuple[int, float]]
) -> object:
    """A float property track (`path` is the property path on the bound object); returns the section."""
    track = binding.add_track(unreal.MovieSceneFloatTrack)
    track.set_property_name_and_path(name, path)
    sec = track.add_section()
    sec.set_range(*section)
    _add_linear_keys(sec.get_all_channels()[0], frames_values)
    return sec


def bind_camera(seq: object, plan: ShotPlan, camera: object) -> object:
    """Possess the shot's cine camera: transform keys, focal length and aperture keys, and the
    focus distance keys when depth of field is on. Returns the camera's binding."""
    binding = seq.add_possessable(camera)
    key_transform(binding, plan.camera_keys, plan.section)
    lens = seq.add_possessable(camera.get_cine_camera_component())
    lens.set_parent(binding)
    keys = plan.lens_keys
    key_float_property(
        lens, "CurrentFocalLength", "CurrentFocalLength", plan.section, [(k.frame, k.focal_mm) for k in keys]
    )
    if plan.depth_of_field:  # without it the aperture is unused (and may be 0: a pinhole)
        key_float_property(
            lens, "CurrentAperture", "CurrentAperture", plan.section, [(k.frame, k.fstop) for k in keys]
        )
        key_float_property(
            lens,
            "ManualFocusDistance",
            "FocusSettings.ManualFocusDistance",
            plan.section,
            [(k.frame, k.focus_cm) for k in keys],
        )
    return binding


def add_camera_cut(seq: object, plan: ShotPlan, camera_binding: object) -> object:
    """One camera-cut section over plan.section: its lead-in before frame 0 is MRQ's warm-up."""
    track = seq.add_track(unreal.MovieSceneCameraCutTrack)
    sec = track.add_section()
    sec.set_range(*plan.section)
    sec.set_camera_binding_id(seq.get_binding_id(camera_binding))
    return sec


def play_rate_value(current: object, rate: float) -> object:
    """`rate` in the type of the params' current play_rate: a float up to 5.4; from 5.5 a
    MovieSceneTimeWarpVariant (time-warp on skeletal sections), made by the SequencerScripting
    library's make_time_warp, else by the variant's own set_fixed_play_rate (5.7 docs)."""
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        return float(rate)
    library = getattr(unreal, "MovieSceneTimeWarpExtensions", None)
    make = getattr(library, "make_time_warp", None)
    if make is not None:
        return make(float(rate))
    set_rate = getattr(current, "set_fixed_play_rate", None)
    if set_rate is not None:
        set_rate(float(rate))
        return current
    raise RuntimeError(f"cannot set a play rate of type {type(current).__name__}")


def _anim_section(
    track: object, anim: object, frames: tuple[int, int], offsets: tuple[int, int], play_rate: float
) -> object:
    """One skeletal-animation section of `anim` over `frames`, trimmed by (start, end) offsets
    in ticks."""
    sec = track.add_section()
    sec.set_range(*frames)
    params = sec.get_editor_property("params")
    params.set_editor_property("animation", anim)
    params.set_editor_property("start_frame_offset", unreal.FrameNumber(offsets[0]))
    params.set_editor_property("end_frame_offset", unreal.FrameNumber(offsets[1]))
    params.set_editor_property(
        "play_rate", play_rate_value(params.get_editor_property("play_rate"), play_rate)
    )
    sec.set_editor_property("params", params)
    return sec


def clip_length(anim: object) -> float:
    """The clip's length in seconds at play rate 1."""
    get_length = getattr(anim, "get_play_length", None)
    if get_length is not None:
        return float(get_length())
    return float(unreal.AnimationLibrary.get_sequence_length(anim))


def bind_character(seq: object, plan: ShotPlan, character: object, body: object) -> object:
    """Possess the character: root transform keys on the actor, and the clip on its Body
    component (in place: root motion comes from the transform keys). When the clip section
    starts after the warm-up, a hold section before it shows the clip's first pose: rate 1 on
    a clip trimmed to one tick at the clip section's start offset (AnimPlan.hold_offsets; no
    fixed-frame time-warp is exposed to Python). Returns the clip section."""
    binding = seq.add_possessable(character)
    key_transform(binding, plan.character_keys, plan.section)
    anim = unreal.EditorAssetLibrary.load_asset(plan.anim.asset)
    if anim is None:
        raise RuntimeError(f"animation {plan.anim.asset} not found")
    need, have = plan.anim.needs_seconds(plan.fps), clip_length(anim)
    if have + 1e-3 < need:  # Sequencer would loop back to the clip's start mid-shot
        raise RuntimeError(
            f"animation {plan.anim.asset} lasts {have:.2f} s; the shot plays it to {need:.2f} s "
            "(bake the clips with clip_export --config of this dataset)"
        )
    body_binding = seq.add_possessable(body)
    body_binding.set_parent(binding)
    track = body_binding.add_track(unreal.MovieSceneSkeletalAnimationTrack)
    tick = seq.get_tick_resolution()
    offset = plan.anim.start_frame_offset(tick.numerator, tick.denominator)
    sec = _anim_section(track, anim, (plan.anim.start, plan.anim.end), (offset, 0), plan.anim.play_rate)
    if plan.anim.hold is not None:
        hold = plan.anim.hold_offsets(clip_length(anim), tick.numerator, tick.denominator)
        _anim_section(track, anim, plan.anim.hold, hold, 1.0)
    return sec


def build(plan: ShotPlan, actors: ShotActors) -> object:
    """Create and key the shot's LevelSequence; returns it. It is saved only when
    SAVE_SEQUENCE is set: MRQ's PIE executor runs in this editor and resolves the job's soft
    path to the asset in memory (UNCONFIRMED, first-use check 19), so nothing is written to the
    Content folder that every editor of the node shares."""
    seq = create_sequence(plan.sequence_path)
    set_timing(seq, plan)
    camera_binding = bind_camera(seq, plan, actors.camera)
    add_camera_cut(seq, plan, camera_binding)
    bind_character(seq, plan, actors.character, actors.body)
    if SAVE_SEQUENCE:
        unreal.EditorAssetLibrary.save_loaded_asset(seq, False)
    return seq
