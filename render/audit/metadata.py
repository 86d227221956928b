"""Per-frame JSON against the plan (pure): does the metadata describe the planned shot and frame?"""

from __future__ import annotations

import numpy as np

from render.camera import intrinsics, opencv_world_to_camera
from render.plan import ShotSpec
from render.timeline import FrameState

TOLERANCE = 1e-4  # the JSON stores matrices rounded to 6 decimals
_MISSING = object()


def _close(a: object, b: object) -> bool:
    try:
        return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), atol=TOLERANCE))
    except (TypeError, ValueError):
        return False


def _get(meta: dict, path: str) -> object:
    cur: object = meta
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def json_findings(meta: object, shot: ShotSpec, frame: int, state: FrameState | None = None) -> list[str]:
    """Messages for every field of one frame's JSON that disagrees with the plan.

    ``frame``: the frame number from the sample key; ``state``: the frame's recomputed state
    (camera pose, character root, clip time), compared when given.
    """
    if not isinstance(meta, dict):
        return [f"the JSON is a {type(meta).__name__}, not an object"]
    w, h = shot.resolution
    expected: dict[str, object] = {
        "shot_id": shot.shot_id,
        "scene": shot.scene,
        "split": shot.split,
        "frame": frame,
        "frame_count": shot.frame_count,
        "fps": shot.fps,
        "resolution": [w, h],
        "camera.focal_length_mm": shot.camera.focal_mm,
        "camera.preset": shot.camera.preset,
        "character.id": shot.character.id,
        "character.hair": dict(shot.character.hair),
        "animation.clip": shot.animation.clip,
        "animation.start": shot.animation.start,
        "seeds.shot": shot.seed,
    }
    out = []
    for path, want in expected.items():
        got = _get(meta, path)
        if got is _MISSING:
            out.append(f"{path} is missing")
        elif got != want:
            out.append(f"{path} is {got!r}, the plan says {want!r}")
    close: dict[str, object] = {"camera.K": np.round(intrinsics(shot.camera.focal_mm, w, h), 6)}
    if shot.camera.fstop > 0:  # the plan gives this shot a lens with depth of field
        if _get(meta, "camera.depth_of_field") is not True:
            out.append(f"camera.depth_of_field is not true, the plan gives f/{shot.camera.fstop}")
        close["camera.fstop"] = shot.camera.fstop
    elif _get(meta, "camera.depth_of_field") is True:
        out.append("camera.depth_of_field is true, the plan gives a pinhole camera")
    if state is not None:
        close |= {
            "camera.world_to_camera": np.round(opencv_world_to_camera(state.cam_to_world), 6),
            "character.root": np.round(state.root, 6),
            "animation.time": round(state.clip_time, 6),
        }
    for path, want in close.items():
        got = _get(meta, path)
        if got is _MISSING:
            out.append(f"{path} is missing")
        elif not _close(got, want):
            out.append(f"{path} is {_short(got)}, the plan gives {_short(want)}")
    return out


def _short(x: object) -> str:
    text = np.array2string(np.asarray(x), precision=4, separator=",") if not isinstance(x, str) else x
    text = " ".join(str(text).split())
    return text if len(text) <= 80 else text[:77] + "..."
