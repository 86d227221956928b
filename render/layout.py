"""Scene layout (pure): which props stand where, and which of them a shot must clear.

A scene's props are seeded by its catalog name, so a scene looks the same in every dataset
and every shot. Each shot then drops the props that would swallow its camera or block the
line of sight to the character (a camera inside a building renders a wall), and, when the
plan asks for one, adds an occluder that passes partly in front of the character.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from render.plan import ShotSpec, rng_for
from render.timeline import FrameState

# Default (height, width) ranges (m) of each prop type.
DEFAULT_SIZE = {
    "building": ((8.0, 30.0), (3.0, 9.0)),
    "pole": ((3.0, 5.0), (0.08, 0.15)),
    "tree": ((4.0, 9.0), (2.0, 4.5)),
    "rock": ((0.4, 1.5), (0.6, 2.2)),
    "wall": ((1.5, 3.0), (4.0, 9.0)),
    "hedge": ((0.8, 1.4), (2.0, 5.0)),
    "pillar": ((3.0, 6.0), (0.4, 0.8)),
    # Clutter: leaf-card plants, furniture, text-covered panels, lamps that light the scene.
    "plant": ((0.6, 1.8), (0.5, 1.4)),
    "shelf": ((1.6, 2.2), (0.8, 1.8)),
    "desk": ((0.72, 0.78), (1.2, 1.8)),
    "sofa": ((0.75, 0.9), (1.6, 2.4)),
    "poster": ((1.2, 2.6), (0.6, 1.6)),
    "lamp": ((3.5, 5.5), (0.1, 0.16)),
}
# Parts of an interior's room (see :func:`room_props`); never placed on rings.
ROOM_KINDS = ("room_wall", "ceiling", "light_panel")
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
    lit: float = 0.0  # lamps and light panels: watts; posters and windows: emission strength; buildings: share of lit windows
    z: float = 0.0  # elevation of the base (m)
    leaves: bool = False  # trees: crowns of leaf cards instead of a solid blob
    pot: bool = False  # plants: in a pot (interiors)

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
        "plant": (0.07, 0.2, 0.05),
        "shelf": (0.4, 0.3, 0.2),
        "desk": (0.5, 0.45, 0.4),
        "sofa": (0.35, 0.3, 0.4),
        "poster": (0.7, 0.65, 0.6),
        "lamp": (0.2, 0.2, 0.22),
        "room_wall": (0.7, 0.68, 0.64),
        "ceiling": (0.8, 0.8, 0.8),
        "light_panel": (1.0, 0.95, 0.9),
    }[kind]
    jitter = rng.uniform(0.7, 1.3, size=3) * rng.uniform(0.8, 1.2)
    return tuple(round(float(min(0.9, c * j)), 4) for c, j in zip(base, jitter, strict=True))


CLUTTER = ("plant", "shelf", "desk", "sofa", "poster", "lamp")
FACING = ("shelf", "sofa", "desk", "poster")
MAX_TRIES = 30
GAP = 0.15  # metres kept between a clutter prop's footprint and any other's


def _free(p: Prop, placed: list[Prop], room: tuple[float, float] | None) -> bool:
    """Does ``p`` stand clear of the props ``placed`` (footprint circles) and inside ``room``?"""
    if room is not None and (
        abs(p.x) > room[0] / 2 - p.radius - 0.3 or abs(p.y) > room[1] / 2 - p.radius - 0.3
    ):
        return False
    return all(math.hypot(p.x - q.x, p.y - q.y) > p.radius + q.radius + GAP for q in placed)


def scene_props(scene: dict) -> list[Prop]:
    rng = rng_for(0, "scene-layout", scene["name"])
    props = []
    room = tuple(float(v) for v in scene["room"]["size"]) if scene.get("room") else None
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
            if kind in ("pole", "pillar", "tree", "lamp", "plant"):
                depth = width
            elif kind in ("shelf", "sofa", "desk", "poster"):
                depth = {"shelf": 0.4, "sofa": 0.9, "desk": 0.75, "poster": 0.06}[kind]
            prop = Prop(
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
            # New keys draw after the old ones, so scenes without them keep their layout.
            if "lit" in spec:
                lo, hi = spec["lit"] if isinstance(spec["lit"], list) else (spec["lit"], spec["lit"])
                prop = replace(prop, lit=round(float(rng.uniform(lo, hi)), 4))
            if kind in FACING:
                # Furniture and panels turn their front (local -y) to the stage, as a room would.
                prop = replace(prop, rotation_deg=round(math.degrees(theta) - 90.0, 3))
            if spec.get("leaves"):
                prop = replace(prop, leaves=True)
            if spec.get("pot"):
                prop = replace(prop, pot=True)
            if kind in CLUTTER or room is not None:
                # Clutter (and anything in a room) keeps clear of what stands already (clutter
                # draws after the older kinds, so those stay put) and inside its room: a few more
                # draws, from the same stream.
                for _ in range(MAX_TRIES):
                    if _free(prop, props, room):
                        break
                    r = math.sqrt(rng.uniform(inner**2, outer**2))
                    theta = rng.uniform(0, 2 * math.pi)
                    turn = math.degrees(theta) - 90.0 if kind in FACING else prop.rotation_deg
                    prop = replace(
                        prop,
                        x=round(r * math.cos(theta), 4),
                        y=round(r * math.sin(theta), 4),
                        rotation_deg=round(turn, 3),
                    )
                else:
                    continue  # no room for it
            props.append(prop)
    return props + room_props(scene)


def room_props(scene: dict) -> list[Prop]:
    """An interior's room around the stage: four walls, each turned so its local -y faces the
    stage (``windows``: the emission of daylit panes along them, as their ``lit``), a ceiling
    and a grid of ceiling light panels (``lit``: watts each)."""
    room = scene.get("room")
    if not room:
        return []
    w, d = (float(v) for v in room["size"])
    h = float(room.get("height", 3.2))
    wall = tuple(room.get("wall_color", (0.7, 0.68, 0.64)))
    windows = float(room.get("windows", 0.0))
    out = [
        Prop("room_wall", 0.0, d / 2, h, w, 0.2, 0.0, wall, lit=windows),
        Prop("room_wall", 0.0, -d / 2, h, w, 0.2, 180.0, wall, lit=windows),
        Prop("room_wall", w / 2, 0.0, h, d, 0.2, 270.0, wall, lit=windows),
        Prop("room_wall", -w / 2, 0.0, h, d, 0.2, 90.0, wall, lit=windows),
        Prop("ceiling", 0.0, 0.0, 0.15, w, d, 0.0, tuple(room.get("ceiling_color", (0.8, 0.8, 0.8))), z=h),
    ]
    spacing = float(room.get("light_spacing", 3.0))
    power = float(room.get("light_power", 150.0))
    nx, ny = max(1, int(w // spacing)), max(1, int(d // spacing))
    for i in range(nx):
        for j in range(ny):
            x = (i - (nx - 1) / 2) * spacing
            y = (j - (ny - 1) / 2) * spacing
            out.append(
                Prop("light_panel", x, y, 0.02, 1.2, 0.6, 0.0, (1.0, 0.95, 0.9), lit=power, z=h - 0.03)
            )
    return out


def _crosses(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> bool:
    """Do segments ab and cd (2D) cross?"""

    def side(p, q, r) -> float:
        return float((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))

    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0


def _wall_line(p: Prop) -> tuple[np.ndarray, np.ndarray]:
    t = math.radians(p.rotation_deg)
    half = np.array([math.cos(t), math.sin(t)]) * p.width / 2
    centre = np.array([p.x, p.y])
    return centre - half, centre + half


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
        if p.kind in ("ceiling", "light_panel"):
            keep.append(p)
            continue
        if p.kind == "room_wall":  # dropped only when the camera looks in from outside the room
            a, b = _wall_line(p)
            if not any(_crosses(s.cam_to_world[:2, 3], np.array(s.root[:2]), a, b) for s in sampled):
                keep.append(p)
            continue
        centre = np.array([p.x, p.y])
        blocked = False
        for s in sampled:
            eye = s.cam_to_world[:2, 3]
            root = np.array(s.root[:2])
            if _segment_distance(centre, eye, root) < p.radius + CLEARANCE:
                # Low props (rocks, hedges) below the camera and the character's hips are fine;
                # a character down on the floor (a captured clip's hips well below standing,
                # procedural clips only bob) has its hips lower.
                hips = 1.0 + min(0.0, s.root[2]) if s.root[2] < -0.1 else 1.0
                low = p.height < min(s.cam_to_world[2, 3], hips) - 0.2
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
    if kind == "hedge" and mid.root[2] < -0.1:
        # A captured clip with the character down (hips well below standing): a hedge that
        # hides part of a standing body would hide all of it; lower it as much as the hips.
        height *= max(0.3, 1.0 + float(mid.root[2]))
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
