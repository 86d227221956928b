"""A head's hair from an identity's hair spec: the hairstyle, brows, lashes and facial hair as
:class:`~render.people.strands.HairGroup` s, with the level of detail for a shot and the body
colliders of the dynamics."""

from __future__ import annotations

import numpy as np

from render.body import BodyData
from render.camera import SENSOR_MM
from render.people import regions
from render.people.accessories import hat_brim
from render.people.dynamics import Collider
from render.people.hairstyles import recipe
from render.people.strands import HairGroup, grow
from render.plan import rng_for

# Level of detail: strands are kept in proportion to the head's size on screen, up to all of
# them from LOD_FULL_PX_PER_MM pixels per millimetre at the head (a 4K head-and-shoulders
# close-up, 50 mm at 1.1 m, has 4.8); never
# fewer than LOD_MIN of them. Kept strands widen by 1/lod, so coverage per pixel is the same.
LOD_FULL_PX_PER_MM = 4.0
LOD_MIN = 0.05
# Upper-body bones whose capsules (head to tail) keep hair out, besides the shoulders.
CAPSULE_BONES = ("Neck", "Spine2")


def level_of_detail(distance_m: float, focal_mm: float, resolution: tuple[int, int]) -> float:
    """Share of a head's strands to render for a camera ``distance_m`` from the head."""
    px_per_mm = focal_mm / (distance_m * 1000.0) * max(resolution) / SENSOR_MM
    return float(np.clip(px_per_mm / LOD_FULL_PX_PER_MM, LOD_MIN, 1.0))


def head_hair(
    body: BodyData, hair: dict, full: int, lod: float, key: str, hat: str = "none"
) -> list[HairGroup]:
    """The hair groups of an identity. ``hair``: ``style``, ``facial`` (none | stubble | beard),
    ``density``; ``full``: strands of a full head of the style at full detail; ``lod`` in (0, 1];
    ``key``: the identity's stable text (its random streams derive from it); ``hat``: scalp
    strands are cut where they come out from under the hat (:func:`cut_under`); those that
    stay under it are not grown. A cut strand keeps its guide, whose motion it follows point by
    point, so its new root moves a little with the guide's (the hat would hold it)."""
    frame = regions.head_frame(body)
    kinds = [hair["style"], "brows", "lashes"]
    if hair.get("facial", "none") != "none":
        kinds.append(hair["facial"])
    body_colliders = [c for c in colliders(body) if c.bone != "Head"]
    groups = []
    for kind in kinds:
        n = max(1, int(round(full * float(recipe(kind)["count"]) * float(hair.get("density", 1.0)))))
        keep = max(1, int(round(n * lod)))
        # Each kind has its own stream: adding a beard does not move a single scalp strand.
        g = grow(body, frame, kind, n, keep, rng_for(0, "hair", key, kind), keep_out=body_colliders)
        widen = n / max(keep, 1)
        points, radii, shown = g.points, g.radii, np.ones(len(g.points), bool)
        if hat != "none" and kind == hair["style"]:
            points, radii, shown = cut_under(g.points, g.radii, *hat_brim(frame))
        groups.append(
            HairGroup(
                name=g.name,
                points=points,
                radii=radii * widen,
                guide_points=g.guide_points,
                owner=g.owner[shown],
                dynamic=g.dynamic,
                stiffness=g.stiffness,
                pinned=g.pinned,
            )
        )
    return groups


def cut_under(
    points: np.ndarray, radii: np.ndarray, point: np.ndarray, normal: np.ndarray, shortest: float = 0.005
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strands (S, P, 3) with radii (S, P) cut at a hat's brim plane (``point``, ``normal``
    pointing into the hat): a strand rooted under the hat keeps its part after its last point
    under it, from where it crosses the plane; one rooted outside keeps its part up to where it
    first goes under; either is resampled to P points evenly by arc length. A strand wholly
    under the hat, or whose kept part is under ``shortest`` (m), goes; one wholly outside stays
    as it is. Returns (points, radii, kept (S,) bool)."""
    side = (points - point) @ normal  # (S, P): >= 0 under the hat
    n_pts = points.shape[1]
    under = side >= 0
    rooted_out = ~under[:, 0]
    first = np.argmax(under, axis=1)  # a strand rooted outside: its first point under the hat
    last = np.where(under.any(axis=1), n_pts - 1 - np.argmax(under[:, ::-1], axis=1), -1)
    kept = np.where(rooted_out, True, last < n_pts - 1)
    out_p, out_r = points.copy(), radii.copy()
    for s in np.flatnonzero(kept & under.any(axis=1)):
        if rooted_out[s]:  # keep it from its root up to where it goes under the hat
            j = first[s]
            t = side[s, j - 1] / (side[s, j - 1] - side[s, j]) - 1e-3
            p = np.concatenate([points[s, :j], [points[s, j - 1] + t * (points[s, j] - points[s, j - 1])]])
            r = np.concatenate([radii[s, :j], [radii[s, j - 1] + t * (radii[s, j] - radii[s, j - 1])]])
        else:  # keep it from where it comes out from under the hat to its tip
            i = last[s]
            t = side[s, i] / (side[s, i] - side[s, i + 1]) + 1e-3  # just outside the hat
            p = np.concatenate([[points[s, i] + t * (points[s, i + 1] - points[s, i])], points[s, i + 1 :]])
            r = np.concatenate([[radii[s, i] + t * (radii[s, i + 1] - radii[s, i])], radii[s, i + 1 :]])
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))])
        if arc[-1] < shortest:
            kept[s] = False
            continue
        at = np.linspace(0.0, arc[-1], n_pts)
        out_p[s] = np.stack([np.interp(at, arc, p[:, k]) for k in range(3)], axis=1)
        out_r[s] = np.interp(at, arc, r)
    return out_p[kept], out_r[kept], kept


def colliders(body: BodyData) -> list[Collider]:
    """The cranium and the lower face as ellipsoids on the head, the neck, chest and both
    shoulders as capsules, rest-pose coordinates."""
    frame = regions.head_frame(body)
    out = [Collider("Head", frame.centre, frame.centre, frame.radii.copy())]
    dominant = body.dominant_bone()
    head = body.bone_index("Head")
    rel = body.vertices - frame.pivot
    face = body.vertices[
        (dominant == head) & (rel[:, 2] < 0.0) & (rel[:, 2] > -0.15 * frame.scale) & (rel[:, 1] < 0.0)
    ]
    if len(face):
        lo, hi = face.min(axis=0), face.max(axis=0)
        centre = (lo + hi) / 2
        centre[0] = frame.pivot[0]
        out.append(Collider("Head", centre, centre, (hi - lo) / 2 * 0.92))
    neck = body.bone_heads[body.bone_index("Neck")]
    capsules = [
        (name, body.bone_heads[body.bone_index(name)], body.bone_tails[body.bone_index(name)], (name,))
        for name in CAPSULE_BONES
    ]
    for side in ("Left", "Right"):
        arm = body.bone_heads[body.bone_index(f"{side}Arm")]
        capsules.append((f"{side}Shoulder", neck, arm, ("Spine2", "Neck", f"{side}Arm", f"{side}Shoulder")))
    for bone, a, b, owners in capsules:
        v = body.vertices[np.isin(dominant, [body.bone_index(o) for o in owners])]
        ab = b - a
        u = np.clip(((v - a) @ ab) / max(float(ab @ ab), 1e-12), 0, 1)
        dist = np.linalg.norm(v - (a + u[:, None] * ab), axis=1)
        near = dist[(u > 0.2) & (u < 1.0) & (dist < 0.25)]
        if len(near) < 10:
            continue
        out.append(Collider(bone, a, b, float(np.percentile(near, 40))))
    return out
