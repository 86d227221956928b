"""Procedural clip evaluation (pure): per-bone rotations and root motion at a time t.

Rotations are Euler angles in degrees about the armature's rest axes; the renderer turns
them into pose-bone rotations (see ``render/backends/blender/character.py``).
"""

from __future__ import annotations

import math


def bone_angles(clip: dict, t: float) -> dict[str, tuple[float, float, float]]:
    """Euler angles (x, y, z) in degrees per bone at time ``t`` seconds."""
    out: dict[str, list[float]] = {b: [float(a) for a in v] for b, v in (clip.get("base") or {}).items()}
    period = float(clip["period"])
    for bone, axis, amp, cycles, phase in clip.get("osc") or []:
        angle = amp * math.sin(2.0 * math.pi * (cycles * t / period + phase))
        out.setdefault(bone, [0.0, 0.0, 0.0])["xyz".index(axis)] += angle
    return {b: (v[0], v[1], v[2]) for b, v in out.items()}


def root_offset(clip: dict, t: float) -> tuple[float, float]:
    """(distance walked forward in metres, vertical bob in metres) at time ``t``."""
    root = clip.get("root") or {}
    period = float(clip["period"])
    forward = float(root.get("speed", 0.0)) * t
    bob = float(root.get("bob", 0.0)) * math.sin(2.0 * math.pi * 2.0 * t / period)
    return forward, bob


def root_position(
    clip: dict, t: float, start: tuple[float, float], heading_deg: float
) -> tuple[float, float, float]:
    """World position of the character's root (ground point under the hips) at time ``t``.

    The character faces ``heading_deg`` (0 = -y, counter-clockwise seen from above).
    """
    forward, bob = root_offset(clip, t)
    h = math.radians(heading_deg)
    # Facing direction rotates the rest facing (0, -1) by the heading.
    dx, dy = math.sin(h), -math.cos(h)
    return start[0] + dx * forward, start[1] + dy * forward, bob
