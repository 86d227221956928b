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


def _dir(theta_rad: float) -> np.ndarray:
    return np.array([math.sin(theta_rad), -math.cos(theta_rad), 0.0])


def eye_and_target(
    cam: CameraSpec, u: float, heading_deg: float, anchor: np.ndarray, current: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Camera position and look-at point at shot progress ``u`` in [0, 1].

    ``anchor``: the character's root at the frame ``cam.anchor`` names (the shot's start or
    middle), on the ground (3,); ``current``: its root now (3,).
    """
    bearing = math.radians(heading_deg + cam.azimuth_deg)
    base = anchor.copy()
    distance, height = cam.distance, cam.height
    lateral = 0.0
    if cam.preset == "orbit":
        bearing += math.radians(cam.sweep_deg) * (u - 0.5)
    elif cam.preset == "dolly":
        distance = max(0.8, distance - cam.travel * (u - 0.5))
    elif cam.preset == "truck":
        lateral = cam.travel * (u - 0.5)
    elif cam.preset == "crane":
        height = max(0.2, height + cam.travel * (u - 0.5))
    elif cam.preset == "follow":
        base = current.copy()
        bearing += math.radians(cam.sweep_deg) * (u - 0.5)
    elif cam.preset != "static":
        raise ValueError(f"unknown camera preset {cam.preset!r}; choose from {PRESETS}")
    eye = base + distance * _dir(bearing) + lateral * _dir(bearing + math.pi / 2)
    eye[2] = height
    if cam.shake > 0:
        p = cam.shake_phase
        eye = eye + cam.shake * np.array(
            [
                math.sin(2 * math.pi * (0.7 * u * 4 + p[0])),
                math.sin(2 * math.pi * (1.1 * u * 4 + p[1])),
                0.5 * math.sin(2 * math.pi * (1.7 * u * 4 + p[2])),
            ]
        )
    target = current + np.array([0.0, 0.0, cam.aim_height])
    return eye, target


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world 4×4 in Blender's convention (camera looks down -z, y up)."""
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    up_world = np.array([0.0, 0.0, 1.0])
    right = np.cross(forward, up_world)
    if np.linalg.norm(right) < 1e-6:  # looking straight up or down
        right = np.array([1.0, 0.0, 0.0])
    right = right / np.linalg.norm(right)
    up = np.cross(right, forward)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -forward, eye
    return m


def opencv_world_to_camera(cam_to_world: np.ndarray) -> np.ndarray:
    """Blender camera-to-world → OpenCV world-to-camera (x right, y down, z forward)."""
    flip = np.diag([1.0, -1.0, -1.0, 1.0])
    return np.linalg.inv(cam_to_world @ flip)


def intrinsics(focal_mm: float, width: int, height: int) -> np.ndarray:
    """Pinhole K for a sensor of SENSOR_MM across the longer image side, square pixels."""
    f = focal_mm / SENSOR_MM * max(width, height)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
