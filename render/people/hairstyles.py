"""Hairstyle recipes (pure data): each style is a named set of ranges that :mod:`render.people.strands`
turns into strands.

Lengths and radii are metres. A strand's radius tapers from ``root_radius`` to ``tip_radius``
(human scalp hair is 50–100 µm across at the root); ``count`` is the share of the dataset's
``hair_strands`` (strands of a full head at full resolution) that the style grows.

Shape terms, all along the strand (t = 0 at the root, 1 at the tip):

- ``fall``: how soon the strand turns from the scalp normal to gravity (0 stands, 1 falls at once);
- ``wave``: amplitude (m) and wavelength (m) of a planar wave; ``curl``: radius (m) and pitch (m
  per turn) of a helix (curly, coily);
- ``volume``: how far the hair stands off the scalp before it falls (m);
- ``gather``: a point in head coordinates (x right, y back, z up, head radii) the strands are
  drawn to, then ``tail`` says what they do from there: ``fall`` (ponytail), ``coil`` (bun) or
  ``braid``;
- ``comb_scalp``: how far strands lie along the scalp, combed from a centre parting, before
  they fall; ``cut``: the height (m from the head's pivot) where a cut style's tips end;
- ``clump``: how strongly children gather to their guide towards the tip, ``frizz`` (m) the random
  wander of a tip, ``flyaway`` the share of strands that stray from the style;
- ``stiffness``: the goal strength of the dynamics (1/s², higher = moves less), ``dynamic``
  whether the style swings at all.
"""

from __future__ import annotations

# Facial and scalp regions, see :mod:`render.people.regions`.
REGIONS = ("scalp", "brows", "lashes", "beard", "stubble")

_SCALP = {"region": "scalp", "root_radius": (35e-6, 50e-6), "tip_radius": (6e-6, 12e-6)}

STYLES: dict[str, dict] = {
    "buzz": {
        **_SCALP,
        "length": (0.004, 0.009),
        "points": 3,
        "count": 0.8,
        "fall": 0.15,
        "clump": 0.0,
        "frizz": 0.0005,
        "flyaway": 0.0,
        "dynamic": False,
    },
    "short": {
        **_SCALP,
        "length": (0.03, 0.07),
        "points": 6,
        "count": 0.8,
        "comb_scalp": 0.6,
        "fall": 0.45,
        "volume": 0.01,
        "clump": 0.35,
        "frizz": 0.002,
        "flyaway": 0.02,
        "stiffness": 900.0,
        "dynamic": False,
    },
    "bob": {
        **_SCALP,
        "length": (0.16, 0.22),
        "points": 14,
        "count": 1.0,
        "comb_scalp": 1.0,
        "fall": 0.8,
        "volume": 0.012,
        "tip_in": 0.025,
        "cut": -0.1,
        "clump": 0.45,
        "frizz": 0.003,
        "flyaway": 0.02,
        "stiffness": 200.0,
        "dynamic": True,
    },
    "long_straight": {
        **_SCALP,
        "length": (0.32, 0.45),
        "points": 18,
        "count": 1.0,
        "comb_scalp": 1.0,
        "fall": 0.85,
        "volume": 0.008,
        "clump": 0.5,
        "frizz": 0.004,
        "flyaway": 0.03,
        "stiffness": 80.0,
        "dynamic": True,
    },
    "long_wavy": {
        **_SCALP,
        "length": (0.30, 0.42),
        "points": 24,
        "count": 1.0,
        "comb_scalp": 1.0,
        "fall": 0.8,
        "volume": 0.015,
        "wave": (0.012, 0.07),
        "clump": 0.6,
        "frizz": 0.006,
        "flyaway": 0.04,
        "stiffness": 90.0,
        "dynamic": True,
    },
    "curly": {
        **_SCALP,
        "length": (0.14, 0.24),
        "points": 40,
        "count": 0.9,
        "comb_scalp": 0.5,
        "fall": 0.55,
        "volume": 0.03,
        "curl": (0.009, 0.022),
        "clump": 0.7,
        "frizz": 0.006,
        "flyaway": 0.05,
        "stiffness": 250.0,
        "dynamic": True,
    },
    "coily": {
        **_SCALP,
        "length": (0.18, 0.30),
        "points": 56,
        "count": 0.9,
        "comb_scalp": 0.0,
        "fall": 0.1,
        "volume": 0.008,
        "curl": (0.004, 0.007),
        "clump": 0.45,
        "frizz": 0.006,
        "flyaway": 0.06,
        "stiffness": 600.0,
        "dynamic": True,
    },
    "ponytail": {
        **_SCALP,
        "length": (0.34, 0.48),
        "points": 22,
        "count": 1.0,
        "fall": 0.0,
        "gather": (0.0, 1.05, 0.15),
        "tail": "fall",
        "tail_radius": 0.012,
        "wave": (0.004, 0.09),
        "clump": 0.4,
        "frizz": 0.004,
        "flyaway": 0.03,
        "stiffness": 60.0,
        "dynamic": True,
    },
    "bun": {
        **_SCALP,
        "length": (0.30, 0.42),
        "points": 26,
        "count": 1.0,
        "fall": 0.0,
        "gather": (0.0, 0.75, 0.75),
        "tail": "coil",
        "tail_radius": 0.032,
        "clump": 0.3,
        "frizz": 0.003,
        "flyaway": 0.05,
        "stiffness": 2000.0,
        "dynamic": True,
    },
    "braids": {
        **_SCALP,
        "length": (0.34, 0.46),
        "points": 34,
        "count": 1.0,
        "fall": 0.0,
        "gather": (0.55, 0.85, -0.2),  # mirrored for the left braid
        "tail": "braid",
        "tail_radius": 0.011,
        "clump": 0.3,
        "frizz": 0.003,
        "flyaway": 0.02,
        "stiffness": 70.0,
        "dynamic": True,
    },
}

# Hair that is not a hairstyle: every identity has brows and lashes; some have a beard or stubble.
FACIAL: dict[str, dict] = {
    "brows": {
        "region": "brows",
        "root_radius": (30e-6, 45e-6),
        "tip_radius": (8e-6, 12e-6),
        "length": (0.007, 0.011),
        "points": 4,
        "count": 0.012,
        "fall": 0.0,
        "comb": 1.0,
        "frizz": 0.0006,
        "clump": 0.0,
        "flyaway": 0.0,
        "dynamic": False,
    },
    "lashes": {
        "region": "lashes",
        "root_radius": (35e-6, 50e-6),
        "tip_radius": (8e-6, 12e-6),
        "length": (0.007, 0.011),
        "points": 4,
        "count": 0.0035,
        "fall": 0.0,
        "frizz": 0.0002,
        "clump": 0.0,
        "flyaway": 0.0,
        "dynamic": False,
    },
    "beard": {
        "region": "beard",
        "root_radius": (40e-6, 60e-6),
        "tip_radius": (10e-6, 15e-6),
        "length": (0.012, 0.03),
        "points": 6,
        "count": 0.35,
        "fall": 0.6,
        "curl": (0.003, 0.01),
        "frizz": 0.002,
        "clump": 0.3,
        "flyaway": 0.02,
        "dynamic": False,
    },
    "stubble": {
        "region": "stubble",
        "root_radius": (35e-6, 50e-6),
        "tip_radius": (20e-6, 30e-6),
        "length": (0.0008, 0.002),
        "points": 3,
        "count": 0.5,
        "fall": 0.0,
        "frizz": 0.0001,
        "clump": 0.0,
        "flyaway": 0.0,
        "dynamic": False,
    },
}
FACIAL_HAIR = ("none", "stubble", "beard")


def recipe(name: str) -> dict:
    """The recipe of a hairstyle or a facial hair kind; one line naming the choices otherwise."""
    if name in STYLES:
        return STYLES[name]
    if name in FACIAL:
        return FACIAL[name]
    raise ValueError(f"hair style {name!r}: not one of {', '.join([*STYLES, *FACIAL])}")
