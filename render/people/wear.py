"""What an identity wears and carries (pure numpy): its garments and accessories as skinned
pieces, and the body faces they hide."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.body import BodyData
from render.people.accessories import build_accessories
from render.people.garments import KINDS, Piece, build_outfit
from render.people.identities import CharacterSpec


@dataclass(frozen=True)
class Worn:
    """pieces: garments then accessories; body_faces (F,) bool: the body faces to keep."""

    pieces: list[Piece]
    body_faces: np.ndarray


def dress(body: BodyData, spec: CharacterSpec) -> Worn:
    outfit = build_outfit(body, spec.outfit)
    layers = [g for g in (spec.outfit.get("outer"), spec.outfit.get("top")) if g]
    clearance = max((KINDS[g["kind"]]["ease"] + KINDS[g["kind"]]["thick"] for g in layers), default=0.0)
    extras = build_accessories(body, spec.accessories, spec.hair["style"], clearance)
    return Worn(outfit.pieces + extras, outfit.body_faces)
