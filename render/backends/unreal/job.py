"""One shot as a job for the UE-side script (pure): the contract in unreal_project/README.md.

Our world is right-handed, z up, metres; Blender cameras look down their -z. Unreal's is
left-handed (x forward, y right, z up), centimetres; an actor or camera looks along its +x and
its Rotator is (pitch, yaw, roll) in degrees. We mirror y: a point (x, y, z) of ours is
(100x, -100y, 100z) there, so a plan means the same place on both backends.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from render.backends.base import RenderSettings
from render.camera import SENSOR_MM
from render.motion import library, play
from render.plan import ShotSpec
from render.timeline import captured, head_tops, root_and_camera

SCHEMA = 1
FILE_NAME_FORMAT = "frame_{frame_number}"
ZERO_PAD = 4
# Where focus goes: this far below the top of the head (about the eyes).
FOCUS_BELOW_TOP = 0.11
LAYERS = {"rgb": "rgb", "alpha": "matte", "fg": "matte", "bg": "plate"}


class JobError(ValueError):
    """A shot that cannot be made into a job (a catalog entry without its UE asset)."""


def to_ue(p) -> list[float]:
    """A point of ours (metres) → Unreal (cm, y mirrored)."""
    return [round(100.0 * float(p[0]), 4), round(-100.0 * float(p[1]), 4), round(100.0 * float(p[2]), 4)]


def rotator(forward, up) -> dict[str, float]:
    """The Unreal rotation whose +x is ``forward`` and +z is ``up`` (our vectors, orthonormal)."""
    f = np.array([forward[0], -forward[1], forward[2]], dtype=np.float64)
    u = np.array([up[0], -up[1], up[2]], dtype=np.float64)
    yaw = math.atan2(f[1], f[0])
    pitch = math.asin(max(-1.0, min(1.0, f[2])))
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    y0 = np.array([-sy, cy, 0.0])  # the rotator's y and z axes at zero roll
    z0 = np.array([-sp * cy, -sp * sy, cp])
    roll = math.atan2(float(u @ y0), float(u @ z0))
    return {
        "roll": round(math.degrees(roll), 5),
        "pitch": round(math.degrees(pitch), 5),
        "yaw": round(math.degrees(yaw), 5),
    }


def axes(rot: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unreal's FRotationMatrix: the x, y, z axes (in Unreal's frame) of a rotator."""
    p, y, r = (math.radians(rot[k]) for k in ("pitch", "yaw", "roll"))
    sp, cp, sy, cy, sr, cr = math.sin(p), math.cos(p), math.sin(y), math.cos(y), math.sin(r), math.cos(r)
    x = np.array([cp * cy, cp * sy, sp])
    yax = np.array([sr * sp * cy - cr * sy, sr * sp * sy + cr * cy, -sr * cp])
    z = np.array([-(cr * sp * cy + sr * sy), cy * sr - cr * sp * sy, cr * cp])
    return x, yax, z


def actor_yaw(heading_deg: float) -> float:
    """Our character at heading h faces (sin h, -cos h, 0); in Unreal that is yaw 90° - h for an
    actor whose forward is +x (a MetaHuman Blueprint)."""
    return round(((90.0 - heading_deg + 180.0) % 360.0) - 180.0, 5)


def character_yaw(shot: ShotSpec, clip: dict) -> float:
    """Degrees (our z) the clip's animation asset turns at this shot. The asset is the clip as
    ``render.backends.blender.clip_export`` bakes it: from the clip's time 0, facing heading 0
    then. The Blender backend turns a captured clip so that the body faces ``heading_deg`` at the
    shot's first frame; the same turn here is the heading plus how far the body's own facing
    moved between time 0 and the shot's start."""
    h = shot.animation.heading_deg
    if not captured(clip):
        return h
    m = library.motion(clip)
    return h + math.degrees(play.start_yaw(m, 0.0) - play.start_yaw(m, shot.animation.start))


def sensor_mm(width: int, height: int) -> list[float]:
    """Filmback (width, height) mm: SENSOR_MM along the longer side, as the Blender camera."""
    long = max(width, height)
    return [round(SENSOR_MM * width / long, 6), round(SENSOR_MM * height / long, 6)]


def layers(passes: tuple[str, ...]) -> list[str]:
    """The MRQ renders a shot needs for ``passes`` (each once, in a fixed order)."""
    return [name for name in ("rgb", "matte", "plate") if name in {LAYERS[p] for p in passes}]


def asset_paths(
    scene: dict, clip_id: str, clip: dict, character_id: str, metahumans: dict[str, str]
) -> dict[str, str]:
    """The UE assets of a shot; :class:`JobError` naming the first catalog id without one."""
    found = {
        f"scene {scene.get('name')!r} has no ue_map": scene.get("ue_map"),
        f"clip {clip_id!r} has no ue_anim": clip.get("ue_anim"),
        f"identity {character_id!r} has no MetaHuman in the MetaHuman catalog": metahumans.get(character_id),
    }
    for missing, value in found.items():
        if not (isinstance(value, str) and value.startswith("/")):
            raise JobError(f"{missing} (an Unreal asset path)")
    m, a, b = found.values()
    return {"map": m, "anim": a, "blueprint": b}


def build(
    shot: ShotSpec,
    scene: dict,
    clip: dict,
    settings: RenderSettings,
    options,
    metahumans: dict[str, str],
    folder: str | Path,
) -> dict:
    """The job of ``shot``: key frames -1 .. N (the outer two are motion-blur guards) for the
    character (ground point under the hips, facing) and camera (pose, lens, focus on the head),
    render settings, and where the engine writes frames, heartbeat and completion record
    (absolute paths under ``folder``). ``options``: :class:`render.config.UnrealConfig`."""
    assets = asset_paths(scene, shot.animation.clip, clip, shot.character.id, metahumans)
    folder = Path(folder).resolve()
    n = shot.frame_count
    indices = list(range(-1, n + 1))
    rc = root_and_camera(shot, clip, indices)
    heads = head_tops(shot, clip, indices) - np.array([0.0, 0.0, FOCUS_BELOW_TOP])
    dof = settings.depth_of_field and shot.camera.fstop > 0
    character_keys, camera_keys = [], []
    yaw = actor_yaw(character_yaw(shot, clip))
    for i, (root, cam), head in zip(indices, rc, heads, strict=True):
        character_keys.append(
            {
                "frame": i,
                "location_cm": to_ue((root[0], root[1], 0.0)),
                "rotation": {"roll": 0.0, "pitch": 0.0, "yaw": yaw},
            }
        )
        forward, up, eye = -cam[:3, 2], cam[:3, 1], cam[:3, 3]
        camera_keys.append(
            {
                "frame": i,
                "location_cm": to_ue(eye),
                "rotation": rotator(forward, up),
                "focal_mm": shot.camera.focal_mm,
                "focus_cm": round(100.0 * float((head - eye) @ forward), 3),
                "fstop": shot.camera.fstop if dof else 0.0,
            }
        )
    # The scene catalog's exposure is calibrated for the Blender scenes; a UE map keeps its own
    # and each shot adds its offset.
    exposure = round(shot.camera.exposure_ev, 4)
    return {
        "schema": SCHEMA,
        "shot_id": shot.shot_id,
        "map": assets["map"],
        "character": {"id": shot.character.id, "blueprint": assets["blueprint"]},
        "animation": {
            "clip": shot.animation.clip,
            "asset": assets["anim"],
            "start_seconds": shot.animation.start,
            "play_rate": shot.animation.speed,
            # The asset's rate: clip_export bakes every clip at BAKE_FPS from its time 0
            # (start_seconds is in that timeline).
            "fps": library.BAKE_FPS,
        },
        "fps": shot.fps,
        "resolution": list(shot.resolution),
        "frames": n,
        "warmup_frames": options.warmup_frames,
        "character_keys": character_keys,
        "camera": {"sensor_mm": sensor_mm(*shot.resolution), "keys": camera_keys},
        "render": {
            "spatial_samples": options.spatial_samples,
            "temporal_samples": options.temporal_samples,
            "motion_blur": settings.motion_blur,
            "shutter": settings.shutter,
            "depth_of_field": dof,
            "exposure_ev": exposure,
            "layers": layers(settings.passes),
        },
        "output": {
            "dir": str(folder / "mrq"),
            "file_name_format": FILE_NAME_FORMAT,
            "zero_pad": ZERO_PAD,
            "status": str(folder / "status.json"),
            "done": str(folder / "done.json"),
        },
    }


def frame_name(i: int) -> str:
    """The file MRQ writes for saved frame ``i`` (``{frame_number}`` zero-padded)."""
    return FILE_NAME_FORMAT.replace("{frame_number}", str(i).zfill(ZERO_PAD)) + ".exr"
