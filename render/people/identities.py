"""The identity catalog (pure): who the people of the dataset are, reproducible by id.

Every identity is a fixed function of its index and the catalog's own seed, never of a
dataset's seed, so ``char07`` looks the same in every shot of every dataset. The catalog is a
balanced design over four traits:

- skin tone: six bins of melanin (0 = lightest, 1 = darkest), like the Fitzpatrick scale;
- sex: anny's gender phenotype (0 = male, 1 = female);
- age: teenager (14–17 years), young adult (20–35), middle-aged (40–60), elderly (65–85);
- hair type: straight, wavy, curly, coily, each with its styles (:data:`STYLES_BY_TYPE`).

Skin × sex × age is a full factorial of 48 cells (one identity each); hair types are dealt so
that every trait level has the same count, in an order where any prefix (a dataset's
``characters``) is balanced to within one per level, and each hair type spread as evenly as
the dealing allows over skin bins, sexes and age groups. Body build, hair colour, outfit and accessories are
drawn per identity. ``python -m render.people.identities`` prints the catalog and its balance.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache
from itertools import product

import numpy as np

CATALOG_SEED = 20261201  # the catalog's own seed: identities do not depend on a dataset's
SKIN_GROUPS = ("I", "II", "III", "IV", "V", "VI")
SEXES = ("male", "female")
AGE_GROUPS = {"teen": (14, 17), "young": (20, 35), "middle": (40, 60), "elderly": (65, 85)}
HAIR_TYPES = ("straight", "wavy", "curly", "coily")
# Styles dealt in turn within each hair type: over the 48 identities every style comes 4-5 times.
STYLES_BY_TYPE = {
    "straight": ("long_straight", "bob", "ponytail", "long_straight", "short", "bob")
    + ("long_straight", "ponytail", "short", "long_straight", "bob", "long_straight"),
    "wavy": ("long_wavy", "bun", "bob", "long_wavy", "ponytail", "bun")
    + ("long_wavy", "bob", "ponytail", "long_wavy", "bun", "long_wavy"),
    "curly": ("curly", "bun", "short", "curly", "braids", "ponytail")
    + ("curly", "bun", "short", "curly", "braids", "curly"),
    "coily": ("coily", "buzz", "braids", "coily", "buzz", "braids")
    + ("coily", "buzz", "braids", "coily", "buzz", "coily"),
}
TOPS = ("tshirt", "shirt", "hoodie", "tshirt", "shirt")
OUTERS = ("none", "jacket", "none", "coat", "none")
BOTTOMS = {
    "male": ("jeans", "trousers", "shorts", "jeans", "trousers"),
    "female": ("jeans", "skirt", "trousers", "shorts", "skirt"),
}
FABRIC_OF = {
    "tshirt": ("knit", "print"),
    "shirt": ("weave", "print"),
    "hoodie": ("knit",),
    "jacket": ("denim", "leather", "weave"),
    "coat": ("weave", "knit"),
    "dress": ("print", "weave"),
    "jeans": ("denim",),
    "trousers": ("weave",),
    "shorts": ("denim", "weave"),
    "skirt": ("print", "weave", "denim"),
    "shoes": ("leather",),
}
ACCESSORIES = {
    "glasses": ("none", "round", "none", "square", "none"),
    "hat": ("none", "beanie", "none", "none", "cap", "none"),
    "bag": ("none", "none", "shoulder", "none"),
    "earrings": ("none", "studs", "none", "hoops", "none"),
    "held": ("none", "phone", "none", "cup", "none", "none"),
}
# Hats sit on hair that fits under them.
HAT_STYLES = ("buzz", "short", "bob", "long_straight", "long_wavy")
FACIAL = ("none", "stubble", "beard")


@dataclass(frozen=True)
class CharacterSpec:
    """One identity. ``phenotype``: anny's parameters in [0, 1]; ``hair``: style, facial (see
    :mod:`render.people.hairstyles`), density, melanin, redness; ``outfit``: garments by layer
    (top, outer, bottom, shoes), each ``{kind, fabric, color, color2, seed}`` or ``None``;
    ``accessories``: kind per slot (``"none"`` when absent); ``traits``: the design's levels."""

    id: str
    phenotype: dict
    skin_melanin: float
    hair: dict
    outfit: dict
    accessories: dict
    traits: dict


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


def _rng(*tags: object) -> np.random.Generator:
    digest = hashlib.sha256(json.dumps([CATALOG_SEED, *tags]).encode()).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "little")))


def years_to_anny(years: float) -> float:
    """anny's age phenotype for an age in years: its anchors are baby (0 → 1 year), child
    (1/3 → 11), young (2/3 → 25) and old (1 → 90), linear between them."""
    if years <= 11:
        return (years - 1) / 10 / 3
    if years <= 25:
        return 1 / 3 + (years - 11) / 14 / 3
    return 2 / 3 + (years - 25) / 65 / 3


# Stature (m, rest pose, top of head to sole) of anny's body at height phenotype 0 and 1 on a grid
# of its anchors: gender 0 and 1, age 1/3 (child), 2/3 (young) and 1 (old), muscle and weight 0,
# 0.5 and 1 (proportions 0.5; they move stature by under 1.5 cm), measured on anny 0.6.2's mesh.
# anny blends its targets multilinearly between these anchors, so stature is too (the old body
# at muscle and weight 1 is the one corner far from the rest).
_STATURE = (  # [gender 0, 1][age 1/3, 2/3, 1][muscle 0, .5, 1][weight 0, .5, 1] -> (height 0, height 1)
    (
        (
            ((0.9883, 1.9331), (0.9909, 1.9359), (0.9909, 1.9359)),
            ((0.9909, 1.9359), (0.9909, 1.9359), (0.9909, 1.9359)),
            ((0.9909, 1.9359), (0.9909, 1.9359), (0.9909, 1.9359)),
        ),
        (
            ((1.3639, 2.4535), (1.3639, 2.4535), (1.3645, 2.4538)),
            ((1.3639, 2.4535), (1.3639, 2.4535), (1.3639, 2.4535)),
            ((1.3639, 2.4535), (1.3639, 2.4535), (1.3639, 2.4535)),
        ),
        (
            ((1.3340, 2.4228), (1.3340, 2.4228), (1.3340, 2.4228)),
            ((1.3340, 2.4228), (1.3340, 2.4228), (1.3340, 2.4228)),
            ((1.3340, 2.4228), (1.3340, 2.4228), (1.7000, 2.4228)),
        ),
    ),
    (
        (
            ((0.8955, 1.8404), (0.8970, 1.8419), (0.8939, 1.8388)),
            ((0.8955, 1.8404), (0.8955, 1.8404), (0.8955, 1.8404)),
            ((0.8955, 1.8404), (0.8955, 1.8404), (0.8955, 1.8404)),
        ),
        (
            ((1.2274, 2.3171), (1.2240, 2.3134), (1.2240, 2.3134)),
            ((1.2240, 2.3134), (1.2240, 2.3134), (1.2240, 2.3134)),
            ((1.2240, 2.3134), (1.2240, 2.3134), (1.2240, 2.3134)),
        ),
        (
            ((1.2108, 2.3001), (1.2107, 2.3001), (1.2107, 2.3001)),
            ((1.2107, 2.3001), (1.2107, 2.3008), (1.2107, 2.3001)),
            ((1.2107, 2.3001), (1.2107, 2.3001), (1.5776, 2.3001)),
        ),
    ),
)


# Adult statures by sex and age group, mean and standard deviation (m), drawn within 2 sd: close to
# world-wide survey figures (NCD-RisC), with teenagers and the elderly a little shorter.
STATURE = {
    ("male", "teen"): (1.70, 0.08),
    ("male", "young"): (1.75, 0.07),
    ("male", "middle"): (1.74, 0.07),
    ("male", "elderly"): (1.71, 0.07),
    ("female", "teen"): (1.60, 0.07),
    ("female", "young"): (1.62, 0.065),
    ("female", "middle"): (1.61, 0.065),
    ("female", "elderly"): (1.58, 0.065),
}


def _segment(x: float, anchors: tuple[float, ...]) -> tuple[tuple[int, float], tuple[int, float]]:
    """The two anchors around ``x`` (clamped to their range) and their linear weights."""
    x = min(max(x, anchors[0]), anchors[-1])
    i = min(int(np.searchsorted(anchors, x, side="right")) - 1, len(anchors) - 2)
    t = (x - anchors[i]) / (anchors[i + 1] - anchors[i])
    return (i, 1.0 - t), (i + 1, t)


def stature(gender: float, age: float, height: float, muscle: float = 0.5, weight: float = 0.5) -> float:
    """anny's stature (m) for its gender, age (a child or older: ≥ 1/3), height, muscle and
    weight phenotypes, interpolated multilinearly in :data:`_STATURE`."""
    out = 0.0
    for gi, wg in ((0, 1.0 - gender), (1, gender)):
        for ai, wa in _segment(age, (1 / 3, 2 / 3, 1.0)):
            for mi, wm in _segment(muscle, (0.0, 0.5, 1.0)):
                for wi, ww in _segment(weight, (0.0, 0.5, 1.0)):
                    h0, h1 = _STATURE[gi][ai][mi][wi]
                    out += wg * wa * wm * ww * (h0 + (h1 - h0) * height)
    return out


def height_for(metres: float, gender: float, age: float, muscle: float = 0.5, weight: float = 0.5) -> float:
    """The height phenotype in [0, 1] that gives a stature of ``metres`` (inverse of
    :func:`stature`, which is linear in height)."""
    s0, s1 = stature(gender, age, 0.0, muscle, weight), stature(gender, age, 1.0, muscle, weight)
    return min(max((metres - s0) / (s1 - s0), 0.0), 1.0)


def _deal(attempt: int) -> list[tuple[str, str, str, str]]:
    """All 48 skin × sex × age cells, each with a hair type, in a dealing order: each step takes
    the cell (and hair type) whose most-dealt trait level has been dealt least so far, then
    whose hair type is rarest with its skin bin, sex and age group, then the least in sum
    (ties broken by a shuffle)."""
    cells = list(product(SKIN_GROUPS, SEXES, AGE_GROUPS, HAIR_TYPES))
    cells = [cells[i] for i in _rng("design", attempt).permutation(len(cells))]
    used: Counter = Counter()
    pairs: Counter = Counter()
    taken: set[tuple[str, str, str]] = set()
    out = []
    for _ in range(48):
        best, best_cost = None, None
        for cell in cells:
            if cell[:3] in taken:
                continue  # one identity per skin × sex × age cell
            counts = [used[(k, v)] for k, v in enumerate(cell)]
            joint = sum(pairs[(k, cell[k], cell[3])] ** 2 for k in range(3))
            cost = (max(counts), joint, sum(counts))
            if best_cost is None or cost < best_cost:
                best, best_cost = cell, cost
        out.append(best)
        used.update(enumerate(best))
        pairs.update((k, best[k], best[3]) for k in range(3))
        taken.add(best[:3])
    return out


def _spread(cells) -> int:
    """The largest difference between two levels' counts of one trait."""
    worst = 0
    for k, levels in enumerate((SKIN_GROUPS, SEXES, AGE_GROUPS, HAIR_TYPES)):
        c = Counter(cell[k] for cell in cells)
        worst = max(worst, max(c[lv] for lv in levels) - min(c[lv] for lv in levels))
    return worst


# The first dealing order (attempt) whose every prefix is balanced to one: found by searching
# attempts 0, 1, 2, … (``python -c "from render.people.identities import search_design;
# print(search_design())"``, ~10 s); stored so that no process pays for the search.
DESIGN_ATTEMPT = 326


def _balanced(cells) -> bool:
    return all(_spread(cells[:n]) <= 1 for n in range(1, 49))


def search_design(first: int = 0, tries: int = 1000) -> int:
    """The first attempt from ``first`` whose dealing order keeps every prefix balanced."""
    for attempt in range(first, first + tries):
        if _balanced(_deal(attempt)):
            return attempt
    raise RuntimeError("no dealing order of the 48 cells keeps every prefix balanced to one")


@lru_cache(maxsize=1)
def _design() -> tuple[dict, ...]:
    """The catalog's 48 cells in the dealing order of :data:`DESIGN_ATTEMPT`, in which every
    prefix is balanced to one, so a dataset using the first N identities is balanced too."""
    cells = _deal(DESIGN_ATTEMPT)
    if not _balanced(cells):  # a change of the dealing rules must search again
        raise RuntimeError(f"DESIGN_ATTEMPT {DESIGN_ATTEMPT} is not balanced; set it to search_design()")
    keys = ("skin", "sex", "age", "hair_type")
    return tuple(dict(zip(keys, c, strict=True)) for c in cells)


def _color(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> list[float]:
    h, s, v = rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val)
    i, f = int(h * 6) % 6, h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return [_r(c) for c in rgb]


def _garment(kind: str, index: int, rng: np.random.Generator) -> dict:
    fabrics = FABRIC_OF[kind]
    fabric = fabrics[(index + int(rng.integers(len(fabrics)))) % len(fabrics)]
    if fabric == "denim":
        color = _color(rng, (0.5, 0.8), (0.08, 0.3))
        color[2] = max(color[2], color[0] + 0.05)  # indigo leans blue
        color2 = [0.75, 0.75, 0.72]
    elif fabric == "leather":
        color = _color(rng, (0.2, 0.7), (0.02, 0.25))
        color2 = color
    else:  # linear reflectance: 0.02 (near black) to 0.5 (a light cloth)
        color = _color(rng, (0.1, 0.85), (0.02, 0.5))
        color2 = _color(rng, (0.1, 0.85), (0.02, 0.6))
    return {"kind": kind, "fabric": fabric, "color": color, "color2": color2, "seed": _r(rng.uniform())}


def _deck(kinds: tuple[str, ...], n: int, *tags: object) -> list[str]:
    """``kinds`` repeated to ``n`` cards in a shuffled order of their own (from the catalog's
    seed and ``tags``): each kind comes in proportion to its repeats in ``kinds``, and two slots
    dealt from different decks are independent of each other."""
    cards = [kinds[i % len(kinds)] for i in range(-(-n // len(kinds)) * len(kinds))]
    return [cards[i] for i in _rng("deck", *tags).permutation(len(cards))][:n]


def _outfit(index: int, sex: str, rank: int, rng: np.random.Generator) -> dict:
    """``rank``: the identity's place among those of its sex (24 of each per 48)."""
    cycle, at = divmod(rank, 24)
    dress = sex == "female" and _deck(("dress", "-", "-", "-"), 24, "dress", cycle)[at] == "dress"
    top = "dress" if dress else _deck(TOPS, 24, "top", sex, cycle)[at]
    bottom = None if dress else _deck(BOTTOMS[sex], 24, "bottom", sex, cycle)[at]
    outer = _deck(OUTERS, 24, "outer", sex, cycle)[at]
    if top == "hoodie" and outer == "coat":
        outer = "jacket"
    sleeves = (
        "long"
        if top in ("shirt", "hoodie")
        else _deck(("long", "short", "short"), 24, "sleeves", sex, cycle)[at]
    )
    return {
        "top": _garment(top, index, rng),
        "outer": None if outer == "none" else _garment(outer, index, rng),
        "bottom": None if bottom is None else _garment(bottom, index, rng),
        "shoes": _garment("shoes", index, rng),
        "sleeves": sleeves,
    }


def _hair(index: int, cell: dict, rng: np.random.Generator, count: int) -> dict:
    styles = STYLES_BY_TYPE[cell["hair_type"]]
    style = styles[count % len(styles)]
    facial = "none"
    if cell["sex"] == "male":
        facial = FACIAL[(index + count) % (2 if cell["age"] == "teen" else 3)]
    if cell["age"] == "elderly":
        melanin, redness = rng.uniform(0.0, 0.25), rng.uniform(0.0, 0.1)  # grey to white
    elif SKIN_GROUPS.index(cell["skin"]) < 3:
        melanin, redness = rng.uniform(0.1, 1.0), rng.uniform(0.0, 0.8)
    else:
        melanin, redness = rng.uniform(0.7, 1.0), rng.uniform(0.0, 0.3)
    return {
        "style": style,
        "facial": facial,
        "density": _r(rng.uniform(0.75, 1.0)),
        "melanin": _r(melanin),
        "redness": _r(redness),
    }


def _accessories(index: int, style: str) -> dict:
    cycle, at = divmod(index, 48)
    out = {slot: _deck(kinds, 48, "accessory", slot, cycle)[at] for slot, kinds in ACCESSORIES.items()}
    if style not in HAT_STYLES:
        out["hat"] = "none"
    return out


def identity(index: int) -> CharacterSpec:
    """Identity ``index`` of the catalog (any index ≥ 0; the design repeats every 48)."""
    if index < 0:
        raise ValueError(f"identity index {index}: must be >= 0")
    design = _design()
    cell = design[index % 48]
    count = sum(d["hair_type"] == cell["hair_type"] for d in design[: index % 48]) + 12 * (index // 48)
    rank = sum(d["sex"] == cell["sex"] for d in design[: index % 48]) + 24 * (index // 48)
    rng = _rng("identity", index)
    skin = SKIN_GROUPS.index(cell["skin"])
    lo, hi = AGE_GROUPS[cell["age"]]
    years = rng.uniform(lo, hi)
    male = cell["sex"] == "male"
    gender, age = _r(rng.uniform(0.0, 0.15) if male else rng.uniform(0.85, 1.0)), _r(years_to_anny(years))
    mean, sd = STATURE[(cell["sex"], cell["age"])]
    metres = mean + sd * float(np.clip(rng.normal(), -2.0, 2.0))
    muscle, weight = _r(rng.uniform(0.2, 0.8)), _r(rng.uniform(0.15, 0.85))
    phenotype = {
        "gender": gender,
        "age": age,
        "muscle": muscle,
        "weight": weight,
        "height": _r(height_for(metres, gender, age, muscle, weight)),
        "proportions": _r(rng.uniform(0.3, 0.8)),
    }
    hair = _hair(index, cell, rng, count)
    return CharacterSpec(
        id=f"char{index:02d}",
        phenotype=phenotype,
        skin_melanin=_r((skin + rng.uniform(0.1, 0.9)) / len(SKIN_GROUPS)),
        hair=hair,
        outfit=_outfit(index, cell["sex"], rank, rng),
        accessories=_accessories(index, hair["style"]),
        traits={
            **cell,
            "years": _r(years, 1),
            "stature": _r(stature(gender, age, phenotype["height"], muscle, weight), 3),
        },
    )


def catalog(n: int) -> list[CharacterSpec]:
    return [identity(i) for i in range(n)]


def balance(specs: list[CharacterSpec]) -> dict[str, dict[str, int]]:
    """Counts per level of each trait, plus hairstyles, garments and accessories."""
    out: dict[str, dict[str, int]] = {}
    for trait, levels in (
        ("skin", SKIN_GROUPS),
        ("sex", SEXES),
        ("age", tuple(AGE_GROUPS)),
        ("hair_type", HAIR_TYPES),
    ):
        c = Counter(s.traits[trait] for s in specs)
        out[trait] = {lv: c[lv] for lv in levels}
    out["style"] = dict(sorted(Counter(s.hair["style"] for s in specs).items()))
    out["facial"] = dict(sorted(Counter(s.hair["facial"] for s in specs).items()))
    out["garment"] = dict(
        sorted(Counter(g["kind"] for s in specs for g in s.outfit.values() if isinstance(g, dict)).items())
    )
    out["fabric"] = dict(
        sorted(Counter(g["fabric"] for s in specs for g in s.outfit.values() if isinstance(g, dict)).items())
    )
    for slot in ACCESSORIES:
        out[slot] = dict(sorted(Counter(s.accessories[slot] for s in specs).items()))
    return out


def main() -> None:
    import click

    @click.command()
    @click.option("-n", "count", default=48, show_default=True, help="identities")
    @click.option("--json", "as_json", is_flag=True, help="print the identities as JSON lines")
    def cli(count: int, as_json: bool) -> None:
        """Print the identity catalog's first N identities and their balance."""
        specs = catalog(count)
        if as_json:
            for s in specs:
                click.echo(json.dumps(asdict(s), sort_keys=True))
            return
        for s in specs:
            t = s.traits
            o = s.outfit
            wear = "+".join(g["kind"] for g in (o["top"], o["outer"], o["bottom"], o["shoes"]) if g)
            acc = ",".join(f"{k}={v}" for k, v in s.accessories.items() if v != "none") or "-"
            click.echo(
                f"{s.id}  skin {t['skin']:>3} {t['sex']:6} {t['years']:4.0f} y  {s.hair['style']:13}"
                f" {s.hair['facial']:7} {wear:32} {acc}"
            )
        click.echo(f"\nbalance of {count} identities:")
        for trait, counts in balance(specs).items():
            click.echo(f"  {trait:9} " + "  ".join(f"{k} {v}" for k, v in counts.items()))

    cli()


if __name__ == "__main__":
    main()
