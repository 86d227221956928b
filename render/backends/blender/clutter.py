"""Clutter and rooms as Blender geometry: leaf-card plants and tree crowns, shelves of books and
boxes, desks, sofas, text-covered posters and signs, street lamps, and an interior's walls,
ceiling and light panels. The details a matting model must learn to separate from hair.

Leaves are leaf-shaped polygons, not alpha-textured cards: the alpha layer overrides every
material with a white emitter, so a cut-out texture would turn into an opaque rectangle there
and hide the character behind its transparent corners. Geometry keeps α exact.

Each builder adds its geometry to a bmesh in the prop's own frame (x along its width, -y its
front, z up from its base) and returns its material, or a list indexed by the faces'
``material_index``. Random detail is seeded by the prop's kind and place, so a scene is the
same in every process.
"""

from __future__ import annotations

import math
import zlib

import bmesh
import bpy
import numpy as np

from render.backends.blender import materials
from render.layout import Prop

LEAF_GREENS = ((0.05, 0.16, 0.03), (0.09, 0.22, 0.04), (0.13, 0.2, 0.05), (0.06, 0.12, 0.05))
ITEM_COLORS = (
    (0.55, 0.08, 0.06), (0.08, 0.2, 0.5), (0.75, 0.6, 0.15), (0.1, 0.35, 0.15), (0.8, 0.78, 0.72),
    (0.12, 0.1, 0.1), (0.5, 0.25, 0.45), (0.85, 0.4, 0.1),
)  # fmt: skip


def _rng(p: Prop) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{p.kind}:{p.x:.4f}:{p.y:.4f}:{p.z:.4f}".encode()))


def _box(bm, centre, size, material_index: int = 0) -> None:
    geom = bmesh.ops.create_cube(bm, size=1.0)
    verts = geom["verts"]
    bmesh.ops.scale(bm, vec=size, verts=verts)
    bmesh.ops.translate(bm, vec=centre, verts=verts)
    for f in {f for v in verts for f in v.link_faces}:
        f.material_index = material_index


def _leaf(
    bm, base: np.ndarray, direction: np.ndarray, normal: np.ndarray, length: float, material_index: int
) -> None:
    """A pointed oval leaf of ``length`` from ``base`` along ``direction``, in the plane whose
    normal is ``normal``: eight vertices, one n-gon."""
    d = direction / np.linalg.norm(direction)
    side = np.cross(normal, d)
    side /= max(np.linalg.norm(side), 1e-9)
    width = 0.42 * length
    outline = [
        (0.0, 0.0),
        (0.2, 0.35),
        (0.5, 0.5),
        (0.8, 0.3),
        (1.0, 0.0),
        (0.8, -0.3),
        (0.5, -0.5),
        (0.2, -0.35),
    ]
    verts = [bm.verts.new(tuple(base + d * length * a + side * width * b)) for a, b in outline]
    face = bm.faces.new(verts)
    face.material_index = material_index
    face.smooth = True


def _leaves(
    bm, rng, centre: np.ndarray, radii: np.ndarray, count: int, size: tuple[float, float], index: int
) -> None:
    for _ in range(count):
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        base = centre + u * radii * rng.uniform(0.35, 1.0) ** 0.5
        out = u + rng.normal(0, 0.5, 3)
        out[2] += 0.3  # leaves reach out and a little up
        _leaf(bm, base, out, rng.normal(size=3), float(rng.uniform(*size)), index)


def _greens(name: str, rng) -> list[bpy.types.Material]:
    c = LEAF_GREENS[int(rng.integers(len(LEAF_GREENS)))]
    return [materials.noisy(f"{name}_leaf", c, roughness=0.5, scale=30.0, bump=0.0)]


def leafy_crown(bm, p: Prop, name: str, centre: float) -> list[bpy.types.Material]:
    """A tree's crown of leaf polygons (faces after the trunk's: material 1)."""
    rng = _rng(p)
    r = p.width / 2
    _leaves(
        bm,
        rng,
        np.array([0.0, 0.0, centre]),
        np.array([r, r, r * 0.8]),
        int(700 * min(1.5, r / 1.5)),
        (0.12, 0.24),
        1,
    )
    bark = materials.noisy(f"{name}_bark", (0.16, 0.11, 0.07), scale=6.0, bump=0.6)
    return [bark, *_greens(name, rng)]


def plant(bm, p: Prop, name: str) -> list[bpy.types.Material]:
    """A potted plant (``pot``, interiors) or a bush of leaves."""
    rng = _rng(p)
    potted = p.pot
    if potted:
        geom = bmesh.ops.create_cone(
            bm, cap_ends=True, segments=14, radius1=p.width * 0.22, radius2=p.width * 0.3, depth=0.35
        )
        bmesh.ops.translate(bm, vec=(0, 0, 0.175), verts=geom["verts"])
    low = 0.35 if potted else 0.05
    centre = np.array([0.0, 0.0, low + (p.height - low) * 0.55])
    radii = np.array([p.width / 2, p.width / 2, (p.height - low) / 2])
    _leaves(bm, rng, centre, radii, int(260 * p.width * p.height + 40), (0.07, 0.16), 1)
    pot = materials.plain(f"{name}_pot", (0.45, 0.25, 0.16), roughness=0.6)
    return [pot, *_greens(name, rng)]


def shelf(bm, p: Prop, name: str) -> list[bpy.types.Material]:
    """A bookcase: sides, back and shelves, each shelf filled with books and boxes."""
    rng = _rng(p)
    w, d, h = p.width, p.depth, p.height
    _box(bm, (-w / 2 + 0.015, 0, h / 2), (0.03, d, h))
    _box(bm, (w / 2 - 0.015, 0, h / 2), (0.03, d, h))
    _box(bm, (0, d / 2 - 0.01, h / 2), (w, 0.02, h))
    levels = max(3, int(h / 0.38))
    for k in range(levels + 1):
        z = k * (h - 0.02) / levels
        _box(bm, (0, 0, z + 0.01), (w, d, 0.02))
        if k == levels:
            break
        gap = (h - 0.02) / levels - 0.03
        x = -w / 2 + 0.04
        while x < w / 2 - 0.06:
            bw = float(rng.uniform(0.02, 0.06)) if rng.uniform() < 0.8 else float(rng.uniform(0.1, 0.25))
            bh = float(rng.uniform(0.5, 0.95)) * gap
            bd = float(rng.uniform(0.6, 0.9)) * d
            if x + bw > w / 2 - 0.04:
                break
            if rng.uniform() < 0.9:
                _box(
                    bm,
                    (x + bw / 2, 0.0, z + 0.02 + bh / 2),
                    (bw, bd, bh),
                    1 + int(rng.integers(len(ITEM_COLORS))),
                )
            x += bw + float(rng.uniform(0.0, 0.01))
    wood = materials.noisy(f"{name}_wood", p.color, roughness=0.55, scale=4.0, bump=0.05)
    return [wood, *(materials.plain(f"{name}_item{i}", c, roughness=0.5) for i, c in enumerate(ITEM_COLORS))]


def desk(bm, p: Prop, name: str) -> list[bpy.types.Material]:
    """A desk with a monitor, a keyboard and a lamp-less clutter of papers."""
    rng = _rng(p)
    w, d, h = p.width, p.depth, p.height
    _box(bm, (0, 0, h - 0.015), (w, d, 0.03))
    for sx in (-1, 1):
        for sy in (-1, 1):
            _box(bm, (sx * (w / 2 - 0.04), sy * (d / 2 - 0.04), (h - 0.03) / 2), (0.04, 0.04, h - 0.03))
    _box(bm, (0.1, 0.15, h + 0.25), (0.55, 0.03, 0.33), 1)  # monitor
    _box(bm, (0.1, 0.19, h + 0.05), (0.05, 0.05, 0.1), 1)
    _box(bm, (0.05, -0.15, h + 0.01), (0.42, 0.14, 0.02), 1)  # keyboard
    for _ in range(int(rng.integers(3, 8))):
        _box(
            bm,
            (float(rng.uniform(-w / 2 + 0.15, w / 2 - 0.15)), float(rng.uniform(-d / 3, d / 3)), h + 0.003),
            (0.21, 0.297, 0.004),
            2,
        )
    top = materials.noisy(f"{name}_top", p.color, roughness=0.4, scale=3.0, bump=0.0)
    dark = materials.plain(f"{name}_device", (0.03, 0.03, 0.035), roughness=0.3)
    paper = materials.text_panel(
        f"{name}_paper", (0.85, 0.85, 0.82), (0.05, 0.05, 0.06), float(rng.uniform(0, 100))
    )
    return [top, dark, paper]


def sofa(bm, p: Prop, name: str) -> list[bpy.types.Material]:
    """A sofa: seat, back, arms and cushions in a striped upholstery."""
    rng = _rng(p)
    w, d, h = p.width, p.depth, p.height
    _box(bm, (0, 0, 0.22), (w, d, 0.44))
    _box(bm, (0, d / 2 - 0.1, (h + 0.44) / 2), (w, 0.2, h - 0.44))
    for sx in (-1, 1):
        _box(bm, (sx * (w / 2 - 0.1), 0, 0.33), (0.2, d, 0.66))
    n = max(2, int(w / 0.7))
    for k in range(n):
        x = -w / 2 + 0.2 + (k + 0.5) * (w - 0.4) / n
        _box(bm, (x, -0.02, 0.5), ((w - 0.4) / n - 0.02, d - 0.25, 0.12))
    c2 = tuple(min(1.0, c * float(rng.uniform(1.4, 1.9))) for c in p.color)
    return [materials.stripes(f"{name}_cloth", p.color, c2, float(rng.uniform(0.015, 0.06)))]


def poster(bm, p: Prop, name: str) -> list[bpy.types.Material]:
    """A panel of text on two legs (a poster stand, a menu board or, lit, a sign)."""
    rng = _rng(p)
    w, h = p.width, p.height
    bottom = min(0.6, h * 0.3)
    _box(bm, (0, 0, (bottom + h) / 2), (w, 0.04, h - bottom), 0)
    for sx in (-1, 1):
        _box(bm, (sx * (w / 2 - 0.05), 0.03, bottom / 2 + 0.01), (0.04, 0.03, bottom + 0.02), 1)
    paper = tuple(float(x) for x in rng.uniform(0.55, 0.95, 3))
    ink = tuple(float(x) for x in rng.uniform(0.0, 0.25, 3))
    if rng.uniform() < 0.4:
        paper, ink = ink, paper  # light text on a dark board
    text = materials.text_panel(f"{name}_text", paper, ink, float(rng.uniform(0, 100)), glow=p.lit)
    return [text, materials.plain(f"{name}_frame", (0.1, 0.1, 0.1), roughness=0.4, metallic=0.8)]


def lamp(bm, p: Prop, name: str) -> list[bpy.types.Material]:
    """A street lamp: pole, arm and head (its light and glowing lens: :func:`add_lights`)."""
    h = p.height
    geom = bmesh.ops.create_cone(
        bm, cap_ends=True, segments=12, radius1=p.width / 2, radius2=p.width / 3, depth=h
    )
    bmesh.ops.translate(bm, vec=(0, 0, h / 2), verts=geom["verts"])
    _box(bm, (0, -0.35, h - 0.05), (0.06, 0.7, 0.06))
    _box(bm, (0, -0.7, h - 0.1), (0.3, 0.4, 0.12))
    return [materials.plain(f"{name}_metal", p.color, roughness=0.35, metallic=0.7)]


def room_wall(bm, p: Prop, name: str) -> list[bpy.types.Material]:
    """One wall of a room (local -y faces the room), with daylit windows along it when lit."""
    rng = _rng(p)
    w, h = p.width, p.height
    _box(bm, (0, 0, h / 2), (w, p.depth, h))
    if p.lit > 0:
        n = max(1, int(w // 4))
        for k in range(n):
            x = -w / 2 + (k + 0.5) * w / n
            _box(bm, (x, -p.depth / 2 - 0.01, 1.65), (min(2.2, w / n - 0.6), 0.02, 1.5), 1)
    c2 = tuple(min(1.0, c * 1.15) for c in p.color)
    wall = materials.stripes(f"{name}_paper", p.color, c2, float(rng.uniform(0.05, 0.3)), roughness=0.85)
    return [wall, materials.emissive(f"{name}_window", (0.85, 0.92, 1.0), p.lit)]


def ceiling(bm, p: Prop, name: str) -> list[bpy.types.Material]:
    _box(bm, (0, 0, p.height / 2), (p.width, p.depth, p.height))
    return [materials.plain(f"{name}_ceiling", p.color, roughness=0.9)]


def light_panel(bm, p: Prop, name: str) -> list[bpy.types.Material]:
    """The housing of a ceiling light (its glowing face and light: :func:`add_lights`)."""
    _box(bm, (0, 0, 0.02), (p.width + 0.04, p.depth + 0.04, 0.03))
    return [materials.plain(f"{name}_housing", (0.85, 0.85, 0.85), roughness=0.5)]


BUILDERS = {
    "plant": plant,
    "shelf": shelf,
    "desk": desk,
    "sofa": sofa,
    "poster": poster,
    "lamp": lamp,
    "room_wall": room_wall,
    "ceiling": ceiling,
    "light_panel": light_panel,
}


def _glow(name: str, size: tuple[float, float], where, color, power: float, parent, col) -> None:
    """A glowing face of ``size`` looking down at ``where`` (parent's frame), as bright as a
    light of ``power`` watts over it (radiance P / (π A)), seen by the camera only: the light
    beside it does the lighting, so nothing counts twice and no bounce finds it."""
    bm = bmesh.new()
    bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=0.5)
    bmesh.ops.scale(bm, vec=(size[0], size[1], 1.0), verts=bm.verts)
    bmesh.ops.reverse_faces(bm, faces=bm.faces)  # the face looks down
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    strength = power / (math.pi * size[0] * size[1])
    mesh.materials.append(materials.emissive(name, color, strength, sampled=False))
    obj = bpy.data.objects.new(name, mesh)
    obj.parent = parent
    obj.location = where
    for ray in ("diffuse", "glossy", "transmission", "volume_scatter", "shadow"):
        setattr(obj, f"visible_{ray}", False)
    col.objects.link(obj)


def add_lights(p: Prop, obj: bpy.types.Object, name: str, col: bpy.types.Collection) -> None:
    """The lamps' and light panels' own lights (``lit`` watts) and glowing faces, parented to
    their prop."""
    if p.lit <= 0 or p.kind not in ("lamp", "light_panel"):
        return
    if p.kind == "lamp":
        data = bpy.data.lights.new(f"{name}_light", "SPOT")
        data.spot_size = math.radians(130)
        data.spot_blend = 0.6
        data.shadow_soft_size = 0.05
        data.color = (1.0, 0.8, 0.55)
        where = (0.0, -0.7, p.height - 0.22)
        _glow(f"{name}_lens", (0.24, 0.32), (0.0, -0.7, p.height - 0.165), data.color, p.lit, obj, col)
    else:
        data = bpy.data.lights.new(f"{name}_light", "AREA")
        data.shape = "RECTANGLE"
        data.size, data.size_y = p.width, p.depth
        data.color = p.color
        where = (0.0, 0.0, -0.005)
        _glow(f"{name}_face", (p.width, p.depth), (0.0, 0.0, 0.0), p.color, p.lit, obj, col)
    data.energy = p.lit
    light = bpy.data.objects.new(f"{name}_light", data)
    light.parent = obj
    light.location = where  # both point straight down (a light's default)
    col.objects.link(light)
