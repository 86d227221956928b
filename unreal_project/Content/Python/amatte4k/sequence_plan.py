"""job.json (schema 1) -> ShotPlan: every number the Unreal builders need, with no `unreal` import.

Time is in frames of the level sequence's display rate (the job's fps). Saved frames are
0..N-1 (playback range [0, N)); the job keys frames -1..N, where -1 and N are motion-blur
guard frames outside the saved range. W warm-up frames are evaluated before frame 0 and not
saved: every section starts at -max(W, 1), and a key at that frame holds the frame -1 values
so nothing moves before the guard frame. Lengths are cm, angles degrees (UE Rotator parts).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

SCHEMA = 1
LAYERS = ("rgb", "matte", "plate")
# The matte layer holds the environment out and may hide sky and fog in game (scene.py);
# every layer sets the flags it needs, but matte renders last so that a layer left half set
# by a failure can only spoil the last render.
RENDER_ORDER = ("rgb", "plate", "matte")
SEQUENCE_FOLDER = "/Game/AlphaMatte4K/Sequences"  # + /<engine pid>/: one folder per editor
# Frames rendered at frame 0 and discarded, to give temporal effects (Lumen, grooms) a
# history; each one costs a full render, so at most this many.
RENDER_WARMUP_MAX = 8
# render.layer_stall_seconds (optional): a layer that writes no new EXR file for this long is
# cancelled (first frames include warm-up and shader compilation, so the default is generous)
LAYER_STALL_DEFAULT_S = 900.0
_EPS = 1e-9


class JobError(ValueError):
    """A job.json that cannot be rendered; the message is one line naming the bad value."""


@dataclass(frozen=True)
class TransformKey:
    """One key of an actor transform: location (cm) and rotation (roll, pitch, yaw; degrees)."""

    frame: int
    location: tuple[float, float, float]
    rotation: tuple[float, float, float]


@dataclass(frozen=True)
class LensKey:
    """One key of the cine camera lens: focal length (mm), focus distance (cm), f-number."""

    frame: int
    focal_mm: float
    focus_cm: float
    fstop: float


@dataclass(frozen=True)
class AnimPlan:
    """The skeletal-animation section: [start, end) in sequence frames.

    The clip time (seconds) at sequence frame f is start_offset_s + (f - start) / fps * play_rate,
    which is the job's start_seconds at frame 0. When the section starts after the warm-up
    (hold_from < start), a hold section over [hold_from, start) shows the clip at
    start_offset_s (the first pose), so that the warm-up sees a posed body: see hold_offsets."""

    asset: str
    start: int
    end: int
    start_offset_s: float
    play_rate: float
    hold_from: int | None = None

    @property
    def hold(self) -> tuple[int, int] | None:
        """[start, end) of the hold section before the clip section, or None."""
        if self.hold_from is None or self.hold_from >= self.start:
            return None
        return (self.hold_from, self.start)

    def needs_seconds(self, fps: int) -> float:
        """The clip time (s) the section reaches at its end: the asset must last this long, or
        Sequencer wraps the clip around mid-shot."""
        return self.start_offset_s + (self.end - self.start) / fps * self.play_rate

    def start_frame_offset(self, tick_numerator: int, tick_denominator: int = 1) -> int:
        """start_offset_s in ticks of the movie scene's tick resolution (num/den ticks per second):
        Sequencer measures a section's StartFrameOffset in that resolution, not in clip frames."""
        return round(self.start_offset_s * tick_numerator / tick_denominator)

    def hold_offsets(
        self, clip_length_s: float, tick_numerator: int, tick_denominator: int = 1
    ) -> tuple[int, int]:
        """(start_frame_offset, end_frame_offset) in ticks of the hold section.

        Sequencer treats a play rate near 0 as 1, so a rate-0 section would play the clip. The
        hold section plays at rate 1 instead, with the clip trimmed at both ends to a looped
        length of one tick (clip length - start - end offsets): Sequencer wraps the clip time
        into that tick, so the pose stays at the start offset, which is the clip section's.
        ValueError when the clip ends before the start offset (nothing is left to hold)."""
        start = self.start_frame_offset(tick_numerator, tick_denominator)
        clip_ticks = round(clip_length_s * tick_numerator / tick_denominator)
        end = clip_ticks - start - 1
        if end < 0:
            raise ValueError(
                f"animation {self.asset} is {clip_length_s:.4f} s long, shorter than its start "
                f"offset {self.start_offset_s:.4f} s"
            )
        return start, end


@dataclass(frozen=True)
class LayerPlan:
    """One MRQ render of the shot: what is held out or hidden, and where its EXRs go."""

    name: str
    output_dir: str
    hold_out_environment: bool
    hide_character: bool
    accumulate_alpha: bool


@dataclass(frozen=True)
class MrqSettings:
    """Values for the MRQ settings objects, shared by every layer of the shot."""

    resolution: tuple[int, int]  # width, height in pixels
    spatial_samples: int
    temporal_samples: int
    override_anti_aliasing: bool  # True: AA off, the accumulated samples anti-alias
    engine_warm_up_count: int
    render_warm_up_count: int
    render_warm_up_frames: bool
    use_camera_cut_for_warm_up: bool
    motion_blur_amount: float  # camera post-process amount = shutter fraction of a frame
    file_name_format: str
    zero_pad: int
    playback: tuple[int, int]  # [start, end) in display-rate frames
    console_variables: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class ShotPlan:
    """Everything needed to build, render and report one shot."""

    shot_id: str
    map_path: str
    blueprint: str
    character_id: str
    sequence_path: str
    fps: int
    frames: int
    warmup_frames: int
    section: tuple[int, int]  # [start, end) of the camera cut and every keyed section
    sensor_mm: tuple[float, float]  # filmback width, height
    camera_keys: tuple[TransformKey, ...]
    lens_keys: tuple[LensKey, ...]
    character_keys: tuple[TransformKey, ...]
    anim: AnimPlan
    depth_of_field: bool
    exposure_ev: float
    layers: tuple[LayerPlan, ...]  # in render order
    mrq: MrqSettings
    status_path: str
    done_path: str
    layer_stall_s: float = LAYER_STALL_DEFAULT_S  # no new EXR for this long: the layer is cancelled

    @property
    def frames_total(self) -> int:
        """Frames to write over all layers (the status file's frames_total)."""
        return self.frames * len(self.layers)


def _get(d: dict, dotted: str):
    """d[a][b]... for 'a.b...'; JobError naming the dotted key when missing."""
    cur = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise JobError(f"job is missing '{dotted}'")
        cur = cur[part]
    return cur


def _number(d: dict, dotted: str, positive: bool = False) -> float:
    """A finite number at `dotted` (> 0 when positive)."""
    value = _get(d, dotted)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JobError(f"'{dotted}' must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise JobError(f"'{dotted}' must be positive, got {value!r}")
    return float(value)


def _count(d: dict, dotted: str, minimum: int) -> int:
    """An integer >= minimum at `dotted`."""
    value = _get(d, dotted)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise JobError(f"'{dotted}' must be an integer >= {minimum}, got {value!r}")
    return value


def _abs_path(d: dict, dotted: str) -> str:
    """An absolute file-system path without spaces (UnrealCV arguments cannot carry spaces)."""
    value = _get(d, dotted)
    if not isinstance(value, str) or not os.path.isabs(value):
        raise JobError(f"'{dotted}' must be an absolute path, got {value!r}")
    if any(c.isspace() for c in value):
        raise JobError(f"'{dotted}' must not contain spaces, got {value!r}")
    return value


def _asset_path(d: dict, dotted: str) -> str:
    """A content path such as /Game/... without spaces."""
    value = _get(d, dotted)
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() for c in value):
        raise JobError(f"'{dotted}' must be a content path like /Game/..., got {value!r}")
    return value


def unwind_degrees(angles: list[float]) -> list[float]:
    """Shift each angle by whole turns to within 180 degrees of the previous one, so that
    linear interpolation between keys never takes the long way round (179 -> -179)."""
    out: list[float] = []
    for a in angles:
        if out:
            a -= 360.0 * round((a - out[-1]) / 360.0)
        out.append(a)
    return out


def _key_list(job: dict, dotted: str, frames: int) -> list[dict]:
    """The keys at `dotted`, checked to be one per frame -1..frames, in order."""
    keys = _get(job, dotted)
    if not isinstance(keys, list):
        raise JobError(f"'{dotted}' must be a list of keys")
    got = [k.get("frame") if isinstance(k, dict) else None for k in keys]
    if got != list(range(-1, frames + 1)):
        first_bad = next((i - 1 for i, f in enumerate(got) if f != i - 1), len(got) - 1)
        raise JobError(
            f"'{dotted}' must key frames -1..{frames} contiguously, one each ({len(keys)} keys, "
            f"first mismatch at frame {first_bad})"
        )
    return keys


def _transform_keys(keys: list[dict], dotted: str, hold_from: int) -> tuple[TransformKey, ...]:
    """TransformKeys with unwound rotations; a leading hold key at hold_from (< -1) repeats frame -1."""
    locs, rots = [], []
    for i, k in enumerate(keys):
        where = f"{dotted}[{i}]"
        loc = k.get("location_cm")
        if not (isinstance(loc, list) and len(loc) == 3):
            raise JobError(f"'{where}.location_cm' must be [x, y, z] in cm, got {loc!r}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in loc):
            raise JobError(f"'{where}.location_cm' must hold finite numbers, got {loc!r}")
        locs.append(tuple(float(v) for v in loc))
        try:
            rots.append(tuple(_number(k, f"rotation.{axis}") for axis in ("roll", "pitch", "yaw")))
        except JobError as exc:
            raise JobError(f"{where}: {exc}") from None
    columns = [unwind_degrees([r[axis] for r in rots]) for axis in range(3)]
    out = [
        TransformKey(k["frame"], locs[i], (columns[0][i], columns[1][i], columns[2][i]))
        for i, k in enumerate(keys)
    ]
    if hold_from < -1:
        out.insert(0, TransformKey(hold_from, out[0].location, out[0].rotation))
    return tuple(out)


def _lens_keys(keys: list[dict], hold_from: int, depth_of_field: bool) -> tuple[LensKey, ...]:
    """LensKeys from the camera keys (focal length and focus positive; the f-number too when
    depth of field is on, else it is unused and may be 0); a hold key as for transforms."""
    out = []
    for i, k in enumerate(keys):
        try:
            values = [_number(k, name, positive=True) for name in ("focal_mm", "focus_cm")]
            values.append(_number(k, "fstop", positive=depth_of_field))
        except JobError as exc:
            raise JobError(f"camera.keys[{i}]: {exc}") from None
        out.append(LensKey(k["frame"], *values))
    if hold_from < -1:
        first = out[0]
        out.insert(0, LensKey(hold_from, first.focal_mm, first.focus_cm, first.fstop))
    return tuple(out)


def anim_plan(job: dict, section: tuple[int, int], fps: int) -> AnimPlan:
    """The animation section: it starts with the others at section[0] when the clip has enough
    time before start_seconds, else at the latest frame <= -1 where the clip time is >= 0
    (Sequencer does not hold a clip before its section, and frame -1 feeds frame 0's blur);
    then a hold section covers section[0] up to it with the first pose."""
    asset = _asset_path(job, "animation.asset")
    start_s = _number(job, "animation.start_seconds")
    rate = _number(job, "animation.play_rate", positive=True)
    _number(job, "animation.fps", positive=True)
    frames_before_zero = start_s * fps / rate  # sequence frames of clip time before frame 0
    start = max(section[0], -math.floor(frames_before_zero + _EPS))
    if start > -1:
        raise JobError(
            f"'animation.start_seconds' must be >= play_rate / fps = {rate / fps:.4f} s so the clip "
            f"covers guard frame -1, got {start_s!r}"
        )
    offset = max(0.0, start_s + start * rate / fps)
    return AnimPlan(
        asset, start, section[1], offset, rate, hold_from=section[0] if start > section[0] else None
    )


def _layers(job: dict, out_dir: str) -> tuple[LayerPlan, ...]:
    """The requested layers in RENDER_ORDER, each with its own output folder."""
    names = _get(job, "render.layers")
    if not isinstance(names, list) or not names:
        raise JobError(f"'render.layers' must be a non-empty list of {list(LAYERS)}, got {names!r}")
    unknown = [n for n in names if n not in LAYERS]
    if unknown or len(set(names)) != len(names):
        raise JobError(f"'render.layers' must name each of {list(LAYERS)} at most once, got {names!r}")
    return tuple(
        LayerPlan(
            name=n,
            output_dir=os.path.join(out_dir, n),
            hold_out_environment=n == "matte",
            hide_character=n == "plate",
            accumulate_alpha=n == "matte",
        )
        for n in RENDER_ORDER
        if n in names
    )


def mrq_settings(job: dict, frames: int, warmup: int) -> MrqSettings:
    """MRQ values: samples, AA off when accumulating, warm-up from the camera cut's lead-in,
    shutter as the camera's motion-blur amount, post-process blur off (the sub-frames blur)."""
    res = _get(job, "resolution")
    if not (isinstance(res, list) and len(res) == 2 and all(type(v) is int and v > 0 for v in res)):
        raise JobError(f"'resolution' must be [width, height] positive integers, got {res!r}")
    spatial = _count(job, "render.spatial_samples", 1)
    temporal = _count(job, "render.temporal_samples", 1)
    motion_blur = bool(_get(job, "render.motion_blur"))
    shutter = _number(job, "render.shutter", positive=True)
    if shutter > 1:
        raise JobError(f"'render.shutter' must be a fraction of a frame in (0, 1], got {shutter!r}")
    if motion_blur and temporal < 2:
        raise JobError("'render.motion_blur' needs render.temporal_samples >= 2 (sub-frames make the blur)")
    if spatial * temporal < 2:
        raise JobError(
            "render.spatial_samples x temporal_samples must be >= 2: alpha is accumulated, never one sample"
        )
    name_format = _get(job, "output.file_name_format")
    if not isinstance(name_format, str) or "{frame_number}" not in name_format or "/" in name_format:
        raise JobError(
            f"'output.file_name_format' must be a file name with {{frame_number}}, got {name_format!r}"
        )
    cvars = [("r.MotionBlurQuality", 0.0)]
    if not _get(job, "render.depth_of_field"):
        cvars.append(("r.DepthOfFieldQuality", 0.0))
    return MrqSettings(
        resolution=(res[0], res[1]),
        spatial_samples=spatial,
        temporal_samples=temporal,
        override_anti_aliasing=True,
        engine_warm_up_count=warmup,
        render_warm_up_count=min(warmup, RENDER_WARMUP_MAX),
        render_warm_up_frames=True,
        use_camera_cut_for_warm_up=True,
        motion_blur_amount=shutter if motion_blur else 0.0,
        file_name_format=name_format,
        zero_pad=_count(job, "output.zero_pad", 1),
        playback=(0, frames),
        console_variables=tuple(cvars),
    )


def _layer_stall(job: dict) -> float:
    """render.layer_stall_seconds: a positive number; absent or null means the default."""
    render = job.get("render")
    if not isinstance(render, dict) or render.get("layer_stall_seconds") is None:
        return LAYER_STALL_DEFAULT_S
    return _number(job, "render.layer_stall_seconds", positive=True)


def sequence_path(shot_id: str, owner: str = "") -> str:
    """The shot's LevelSequence asset: under the engine's own folder when `owner` (its pid) is
    given, so editors sharing the project folder never touch each other's sequences."""
    folder = f"{SEQUENCE_FOLDER}/{owner}" if owner else SEQUENCE_FOLDER
    return f"{folder}/LS_{shot_id}"


def build_plan(job: dict, owner: str = "") -> ShotPlan:
    """Validate a schema-1 job dict and plan the shot; JobError (one line) on any bad value.
    `owner` names the engine's sequence folder (see sequence_path)."""
    if not isinstance(job, dict):
        raise JobError("job must be a JSON object")
    if job.get("schema") != SCHEMA:
        raise JobError(f"job schema must be {SCHEMA}, got {job.get('schema')!r}")
    shot_id = _get(job, "shot_id")
    if not isinstance(shot_id, str) or not shot_id.isidentifier():
        raise JobError(f"'shot_id' must be a name of letters, digits and _, got {shot_id!r}")
    fps = _count(job, "fps", 1)
    frames = _count(job, "frames", 1)
    warmup = _count(job, "warmup_frames", 0)
    section = (-max(warmup, 1), frames + 1)
    cam_keys = _key_list(job, "camera.keys", frames)
    sensor = _get(job, "camera.sensor_mm")
    if not (isinstance(sensor, list) and len(sensor) == 2):
        raise JobError(f"'camera.sensor_mm' must be [width, height] in mm, got {sensor!r}")
    sensor_mm = tuple(_number({"w": sensor[0], "h": sensor[1]}, k, positive=True) for k in ("w", "h"))
    out_dir = _abs_path(job, "output.dir")
    return ShotPlan(
        shot_id=shot_id,
        map_path=_asset_path(job, "map"),
        blueprint=_asset_path(job, "character.blueprint"),
        character_id=str(_get(job, "character.id")),
        sequence_path=sequence_path(shot_id, owner),
        fps=fps,
        frames=frames,
        warmup_frames=warmup,
        section=section,
        sensor_mm=sensor_mm,
        camera_keys=_transform_keys(cam_keys, "camera.keys", section[0]),
        lens_keys=_lens_keys(cam_keys, section[0], bool(_get(job, "render.depth_of_field"))),
        character_keys=_transform_keys(
            _key_list(job, "character_keys", frames), "character_keys", section[0]
        ),
        anim=anim_plan(job, section, fps),
        depth_of_field=bool(_get(job, "render.depth_of_field")),
        exposure_ev=_number(job, "render.exposure_ev"),
        layers=_layers(job, out_dir),
        mrq=mrq_settings(job, frames, warmup),
        status_path=_abs_path(job, "output.status"),
        done_path=_abs_path(job, "output.done"),
        layer_stall_s=_layer_stall(job),
    )
