"""Scene layout (pure): which props stand where, and which of them a shot must clear.

A scene's props are seeded by its catalog name, so a scene looks the same in every dataset
and every shot. Each shot then drops the props that would swallow its camera or block the
line of sight to the character (a camera inside a building renders a wall), and, when the
plan asks for one, adds an occluder that passes partly in front of the character.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from render.plan import ShotSpec, rng_for
from render.timeline import FrameState

# Footprint radius (m) of each prop type as a fraction of its width, and default sizes.
DEFAULT_SIZE = {
    "building": ((8.0, 30.0), (3.0, 9.0)),
    "pole": ((3.0, 5.0), (0.08, 0.15)),
    "tree": ((4.0, 9.0), (2.0, 4.5)),
    "rock": ((0.4, 1.5), (0.6, 2.2)),
    "wall": ((1.5, 3.0), (4.0, 9.0)),
    "hedge": ((0.8, 1.4), (2.0, 5.0)),
    "pillar": ((3.0, 6.0), (0.4, 0.8)),
}
CLEARANCE = 0.6  # metres kept free around the camera and the sight line


@dataclass(frozen=True)
class Prop:
    kind: str
    x: float
    y: float
    height: float
    width: float
    depth: float
    rotation_deg: float
    color: tuple[float, float, float]

    @property
    def radius(self) -> float:
        """Radius of a circle around the footprint."""
        return 0.5 * math.hypot(self.width, self.depth)


def _color(rng: np.random.Generator, kind: str) -> tuple[float, float, float]:
    base = {
        "building": (0.45, 0.42, 0.38),
        "pole": (0.25, 0.25, 0.27),
        "tree": (0.06, 0.16, 0.04),
        "rock": (0.32, 0.3, 0.28),
        "wall": (0.5, 0.45, 0.4),
        "hedge": (0.05, 0.14, 0.04),
        "pillar": (0.6, 0.58, 0.55),
    }[kind]
    jitter = rng.uniform(0.7, 1.3, size=3) * rng.uniform(0.8, 1.2)
    return tuple(round(float(min(0.9, c * j)), 4) for c, j in zip(base, jitter, strict=True))


def scene_props(scene: dict) -> list[Prop]:
    rng = rng_for(0, "scene-layout", scene["name"])
    props = []
    for spec in scene.get("props", []):
        kind = spec["type"]
        heights = spec.get("height", DEFAULT_SIZE[kind][0])
        widths = spec.get("width", DEFAULT_SIZE[kind][1])
        inner, outer = spec["ring"]
        for _ in range(int(spec.get("count", 1))):
            r = math.sqrt(rng.uniform(inner**2, outer**2))
            theta = rng.uniform(0, 2 * math.pi)
            width = float(rng.uniform(*widths))
            depth = {"wall": 0.3, "hedge": 0.9}.get(kind, width * float(rng.uniform(0.7, 1.3)))
            if kind in ("pole", "pillar", "tree"):
                depth = width
            props.append(
                Prop(
                    kind=kind,
                    x=round(r * math.cos(theta), 4),
                    y=round(r * math.sin(theta), 4),
                    height=round(float(rng.uniform(*heights)), 4),
                    width=round(width, 4),
                    depth=round(depth, 4),
                    rotation_deg=round(
                        math.degrees(theta) + 90.0 if kind in ("wall", "hedge") else rng.uniform(0, 360), 3
                    ),
                    color=_color(rng, kind),
                )
            )
    return props


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def clear_for_shot(props: list[Prop], states: list[FrameState], step: int = 4) -> list[Prop]:
    """Props that neither contain a camera position nor cut the camera→character sight line
    (checked in the ground plane every ``step`` frames, props lower than the line kept)."""
    keep = []
    sampled = states[::step] + [states[-1]]
    for p in props:
        centre = np.array([p.x, p.y])
        blocked = False
        for s in sampled:
            eye = s.cam_to_world[:2, 3]
            root = np.array(s.root[:2])
            if _segment_distance(centre, eye, root) < p.radius + CLEARANCE:
                # Low props (rocks, hedges) below the camera and the character's hips are fine.
                low = p.height < min(s.cam_to_world[2, 3], 1.0) - 0.2
                if not low:
                    blocked = True
                    break
        if not blocked:
            keep.append(p)
    return keep


def occluder_for_shot(shot: ShotSpec, states: list[FrameState]) -> Prop:
    """A pole, pillar or low hedge a little in front of the character at the middle of the shot,
    shifted sideways so that it hides part of the body while the camera moves."""
    rng = rng_for(shot.seed, "occluder", shot.shot_id)
    mid = states[len(states) // 2]
    eye = mid.cam_to_world[:3, 3].copy()
    root = np.array(mid.root, dtype=float)
    eye[2] = root[2] = 0.0
    to_cam = eye - root
    dist = float(np.linalg.norm(to_cam))
    to_cam /= max(dist, 1e-9)
    # Between the character and the camera, never closer to the camera than half the way.
    ahead = min(rng.uniform(0.5, 1.3), 0.5 * dist)
    side = np.cross(to_cam, [0.0, 0.0, 1.0])
    point = root + ahead * to_cam + side * rng.uniform(0.12, 0.4) * rng.choice([-1.0, 1.0])
    kind = ["pole", "pillar", "hedge"][int(rng.integers(3))]
    width = {
        "pole": rng.uniform(0.06, 0.12),
        "pillar": rng.uniform(0.18, 0.3),
        "hedge": rng.uniform(0.8, 1.6),
    }[kind]
    height = {"pole": 4.0, "pillar": 3.5, "hedge": rng.uniform(0.6, 1.1)}[kind]
    heading = math.degrees(math.atan2(side[1], side[0]))
    return Prop(
        kind=kind,
        x=round(float(point[0]), 4),
        y=round(float(point[1]), 4),
        height=round(float(height), 4),
        width=round(float(width), 4),
        depth=round(float(width if kind != "hedge" else 0.5), 4),
        rotation_deg=round(heading, 3),
        color=_color(rng, kind),
    )
