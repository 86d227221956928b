"""What an identity wears and carries (pure numpy): its garments and accessories as skinned
pieces, and the body faces they hide."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.body import BodyData
from render.people.accessories import build_accessories
from render.people.garments import Piece, build_outfit
from render.people.identities import CharacterSpec


@dataclass(frozen=True)
class Worn:
    """pieces: garments then accessories; body_faces (F,) bool: the body faces to keep."""

    pieces: list[Piece]
    body_faces: np.ndarray


def dress(body: BodyData, spec: CharacterSpec) -> Worn:
    outfit = build_outfit(body, spec.outfit)
    # The bag and its strap go over everything worn: a cloth's thickness (Solidify grows it
    # outwards) and 5 mm off it (the strap is offset along y, a little less across a slope).
    thick = max((p.thickness for p in outfit.pieces), default=0.0)
    cloth = np.concatenate([p.vertices for p in outfit.pieces]) if outfit.pieces else None
    extras = build_accessories(body, spec.accessories, thick + 0.005, cloth)
    return Worn(outfit.pieces + extras, outfit.body_faces)
