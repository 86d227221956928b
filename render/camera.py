"""Camera path presets (pure math): where the camera is and where it looks, per frame.

Every preset tracks the character: the camera aims at the character's current root
position raised by ``aim_height``. Positions are in metres, world z up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PRESETS = ("orbit", "dolly", "truck", "crane", "static", "follow")
SENSOR_MM = 36.0  # sensor size along the image's longer side (Blender's AUTO sensor fit)


@dataclass(frozen=True)
class CameraSpec:
    preset: str
    distance: float  # metres from the character at the shot's middle
    height: float  # camera height above ground, metres
    aim_height: float  # look-at height above the character's root, metres
    focal_mm: float
    azimuth_deg: float  # camera bearing relative to the character's facing (0 = in front)
    sweep_deg: float  # orbit/follow: angle swept over the shot
    travel: float  # dolly/truck/crane: metres travelled over the shot
    shake: float  # handheld shake amplitude, metres
    shake_phase: tuple[float, float, float]
    fstop: float = 0.0  # aperture f-number; 0 = pinhole (no depth of field)
    # Where ``distance`` is measured from: the character's root at the shot's "middle" frame
    # (plans since the head-in-frame planner) or at its "start" (plans written before).
    anchor: str = "start"
    exposure_ev: float = 0.0  # stops this shot adds to its scene's exposure (plans before it: 0)


def _dirs(theta_rad: np.ndarray) -> np.ndarray:
    """(F, 3) horizontal unit vectors at bearings ``theta_rad`` (F,)."""
    return np.stack([np.sin(theta_rad), -np.cos(theta_rad), np.zeros_like(theta_rad)], axis=-1)


def eyes_and_targets(
    cam: CameraSpec, u, heading_deg: float, anchor: np.ndarray, current: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Camera positions and look-at points (F, 3) at shot progress ``u`` (F,) in [0, 1].

    ``anchor``: the character's root at the frame ``cam.anchor`` names (the shot's start or
    middle), on the ground (3,); ``current``: its root at each frame (F, 3).
    """
    u = np.asarray(u, dtype=np.float64).reshape(-1)
    current = np.asarray(current, dtype=np.float64).reshape(-1, 3)
    n = len(u)
    bearing = np.full(n, math.radians(heading_deg + cam.azimuth_deg))
    base = np.broadcast_to(np.asarray(anchor, dtype=np.float64), (n, 3)).copy()
    distance, height, lateral = np.full(n, cam.distance), np.full(n, cam.height), np.zeros(n)
    if cam.preset == "orbit":
        bearing = bearing + math.radians(cam.sweep_deg) * (u - 0.5)
    elif cam.preset == "dolly":
        distance = np.maximum(0.8, cam.distance - cam.travel * (u - 0.5))
    elif cam.preset == "truck":
        lateral = cam.travel * (u - 0.5)
    elif cam.preset == "crane":
        height = np.maximum(0.2, cam.height + cam.travel * (u - 0.5))
    elif cam.preset == "follow":
        base = current.copy()
        bearing = bearing + math.radians(cam.sweep_deg) * (u - 0.5)
    elif cam.preset != "static":
        raise ValueError(f"unknown camera preset {cam.preset!r}; choose from {PRESETS}")
    eye = base + distance[:, None] * _dirs(bearing) + lateral[:, None] * _dirs(bearing + math.pi / 2)
    eye[:, 2] = height
    if cam.shake > 0:
        p = cam.shake_phase
        eye = eye + cam.shake * np.stack(
            [
                np.sin(2 * math.pi * (0.7 * u * 4 + p[0])),
                np.sin(2 * math.pi * (1.1 * u * 4 + p[1])),
                0.5 * np.sin(2 * math.pi * (1.7 * u * 4 + p[2])),
            ],
            axis=-1,
        )
    target = current + np.array([0.0, 0.0, cam.aim_height])
    return eye, target


def eye_and_target(
    cam: CameraSpec, u: float, heading_deg: float, anchor: np.ndarray, current: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`eyes_and_targets` at one progress ``u``: (3,) and (3,)."""
    eye, target = eyes_and_targets(cam, [u], heading_deg, anchor, np.asarray(current)[None])
    return eye[0], target[0]


def look_at_many(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(F, 4, 4) camera-to-world in Blender's convention (camera looks down -z, y up)."""
    eye = np.asarray(eye, dtype=np.float64).reshape(-1, 3)
    forward = np.asarray(target, dtype=np.float64).reshape(-1, 3) - eye
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    norm = np.linalg.norm(right, axis=-1, keepdims=True)
    straight = norm[:, 0] < 1e-6  # looking straight up or down
    right = np.where(straight[:, None], np.array([1.0, 0.0, 0.0]), right / np.where(norm > 0, norm, 1.0))
    up = np.cross(right, forward)
    m = np.tile(np.eye(4), (len(eye), 1, 1))
    m[:, :3, 0], m[:, :3, 1], m[:, :3, 2], m[:, :3, 3] = right, up, -forward, eye
    return m


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world 4×4 in Blender's convention (camera looks down -z, y up)."""
    return look_at_many(np.asarray(eye)[None], np.asarray(target)[None])[0]


def opencv_world_to_camera(cam_to_world: np.ndarray) -> np.ndarray:
    """Blender camera-to-world → OpenCV world-to-camera (x right, y down, z forward)."""
    flip = np.diag([1.0, -1.0, -1.0, 1.0])
    return np.linalg.inv(cam_to_world @ flip)


def intrinsics(focal_mm: float, width: int, height: int) -> np.ndarray:
    """Pinhole K for a sensor of SENSOR_MM across the longer image side, square pixels."""
    f = focal_mm / SENSOR_MM * max(width, height)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
