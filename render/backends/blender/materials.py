"""Cycles materials built from nodes: procedural, so no texture files ship with the repo."""

from __future__ import annotations

import math

import bpy


def _new(name: str) -> tuple[bpy.types.Material, bpy.types.NodeTree, bpy.types.Node]:
    mat = bpy.data.materials.new(name)
    tree = mat.node_tree
    bsdf = tree.nodes.get("Principled BSDF") or tree.nodes.new("ShaderNodeBsdfPrincipled")
    return mat, tree, bsdf


def _object_coords(tree: bpy.types.NodeTree, scale: float) -> bpy.types.NodeSocket:
    coords = tree.nodes.new("ShaderNodeTexCoord")
    mapping = tree.nodes.new("ShaderNodeMapping")
    mapping.inputs["Scale"].default_value = (scale, scale, scale)
    tree.links.new(coords.outputs["Object"], mapping.inputs["Vector"])
    return mapping.outputs["Vector"]


def rest_coords(tree: bpy.types.NodeTree, scale: float) -> bpy.types.NodeSocket:
    """Texture coordinates from the mesh's ``rest`` attribute (rest-pose positions, m) times
    ``scale``: a pattern stays on the surface as the armature deforms it (Object coordinates
    would swim)."""
    attr = tree.nodes.new("ShaderNodeAttribute")
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = "rest"
    mapping = tree.nodes.new("ShaderNodeMapping")
    mapping.inputs["Scale"].default_value = (scale, scale, scale)
    tree.links.new(attr.outputs["Vector"], mapping.inputs["Vector"])
    return mapping.outputs["Vector"]


def _mix_colors(tree, factor, a, b) -> bpy.types.NodeSocket:
    ramp = tree.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (*a, 1.0)
    ramp.color_ramp.elements[1].color = (*b, 1.0)
    tree.links.new(factor, ramp.inputs["Fac"])
    return ramp.outputs["Color"]


def _bump(tree, height: bpy.types.NodeSocket, bsdf, strength: float) -> None:
    bump = tree.nodes.new("ShaderNodeBump")
    bump.inputs["Strength"].default_value = strength
    tree.links.new(height, bump.inputs["Height"])
    tree.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])


def plain(name: str, color, roughness: float = 0.6, metallic: float = 0.0) -> bpy.types.Material:
    mat, _, bsdf = _new(name)
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Metallic"].default_value = metallic
    return mat


def noisy(
    name: str, color, roughness: float = 0.7, scale: float = 2.0, bump: float = 0.2
) -> bpy.types.Material:
    """A colour with low-frequency variation and bump (rock, bark, foliage, fabric)."""
    mat, tree, bsdf = _new(name)
    noise = tree.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = scale
    noise.inputs["Detail"].default_value = 6.0
    tree.links.new(_object_coords(tree, 1.0), noise.inputs["Vector"])
    dark = tuple(c * 0.6 for c in color)
    light = tuple(min(1.0, c * 1.3) for c in color)
    tree.links.new(_mix_colors(tree, noise.outputs["Fac"], dark, light), bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = roughness
    if bump > 0:
        _bump(tree, noise.outputs["Fac"], bsdf, bump)
    return mat


GROUND_PATTERNS = ("tiles", "asphalt", "cobble", "dirt", "grass", "leaves", "planks", "sand", "snow")


def ground(name: str, color, roughness: float, pattern: str, scale: float) -> bpy.types.Material:
    """Procedural ground: ``pattern`` picks the texture, ``scale`` its size in metres."""
    if pattern not in GROUND_PATTERNS:
        raise ValueError(f"ground pattern {pattern!r} not in {GROUND_PATTERNS}")
    mat, tree, bsdf = _new(name)
    bsdf.inputs["Roughness"].default_value = roughness
    vec = _object_coords(tree, 1.0 / max(scale, 1e-3))
    dark = tuple(c * 0.7 for c in color)
    light = tuple(min(1.0, c * 1.25) for c in color)
    if pattern in ("tiles", "planks"):
        brick = tree.nodes.new("ShaderNodeTexBrick")
        brick.inputs["Color1"].default_value = (*color, 1.0)
        brick.inputs["Color2"].default_value = (*light, 1.0)
        brick.inputs["Mortar"].default_value = (*dark, 1.0)
        brick.inputs["Mortar Size"].default_value = 0.01 if pattern == "tiles" else 0.004
        brick.inputs["Brick Width"].default_value = 1.0 if pattern == "tiles" else 2.5
        brick.inputs["Row Height"].default_value = 1.0 if pattern == "tiles" else 0.3
        tree.links.new(vec, brick.inputs["Vector"])
        tree.links.new(brick.outputs["Color"], bsdf.inputs["Base Color"])
        _bump(tree, brick.outputs["Fac"], bsdf, 0.3)
    elif pattern == "cobble":
        vor = tree.nodes.new("ShaderNodeTexVoronoi")
        vor.feature = "DISTANCE_TO_EDGE"
        vor.inputs["Scale"].default_value = 6.0
        tree.links.new(vec, vor.inputs["Vector"])
        tree.links.new(_mix_colors(tree, vor.outputs["Distance"], dark, light), bsdf.inputs["Base Color"])
        _bump(tree, vor.outputs["Distance"], bsdf, 0.6)
    else:
        noise = tree.nodes.new("ShaderNodeTexNoise")
        noise.inputs["Scale"].default_value = {"asphalt": 40.0, "grass": 25.0, "leaves": 8.0}.get(
            pattern, 4.0
        )
        noise.inputs["Detail"].default_value = 8.0
        tree.links.new(vec, noise.inputs["Vector"])
        tree.links.new(_mix_colors(tree, noise.outputs["Fac"], dark, light), bsdf.inputs["Base Color"])
        _bump(tree, noise.outputs["Fac"], bsdf, {"grass": 0.5, "leaves": 0.6, "snow": 0.1}.get(pattern, 0.25))
    return mat


def facade(name: str, color) -> bpy.types.Material:
    """Walls with a grid of darker, glossier windows."""
    mat, tree, bsdf = _new(name)
    brick = tree.nodes.new("ShaderNodeTexBrick")
    brick.offset = 0.0
    brick.inputs["Color1"].default_value = (0.05, 0.06, 0.08, 1.0)
    brick.inputs["Color2"].default_value = (0.08, 0.09, 0.1, 1.0)
    brick.inputs["Mortar"].default_value = (*color, 1.0)
    brick.inputs["Mortar Size"].default_value = 0.35
    brick.inputs["Brick Width"].default_value = 1.6
    brick.inputs["Row Height"].default_value = 1.5
    tree.links.new(_object_coords(tree, 1.0), brick.inputs["Vector"])
    tree.links.new(brick.outputs["Color"], bsdf.inputs["Base Color"])
    rough = tree.nodes.new("ShaderNodeMapRange")
    rough.inputs["To Min"].default_value = 0.1
    rough.inputs["To Max"].default_value = 0.8
    tree.links.new(brick.outputs["Fac"], rough.inputs["Value"])
    tree.links.new(rough.outputs["Result"], bsdf.inputs["Roughness"])
    return mat


def skin(name: str, melanin: float) -> bpy.types.Material:
    """Skin tone from a melanin fraction in [0, 1], with a little subsurface scattering."""
    light, dark = (0.78, 0.53, 0.42), (0.11, 0.055, 0.035)
    color = tuple(light[i] ** (1 - melanin) * dark[i] ** melanin for i in range(3))
    mat, tree, bsdf = _new(name)
    noise = tree.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 30.0
    tree.links.new(rest_coords(tree, 1.0), noise.inputs["Vector"])  # stays on the moving skin
    tree.links.new(
        _mix_colors(tree, noise.outputs["Fac"], tuple(c * 0.9 for c in color), color),
        bsdf.inputs["Base Color"],
    )
    bsdf.inputs["Roughness"].default_value = 0.45
    bsdf.inputs["Subsurface Weight"].default_value = 0.15
    bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
    bsdf.inputs["Subsurface Scale"].default_value = 0.01
    return mat


def hair(name: str, melanin: float, redness: float, seed_variation: float = 0.15) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    tree = mat.node_tree
    for n in list(tree.nodes):
        if n.type != "OUTPUT_MATERIAL":
            tree.nodes.remove(n)
    out = next(n for n in tree.nodes if n.type == "OUTPUT_MATERIAL")
    h = tree.nodes.new("ShaderNodeBsdfHairPrincipled")
    h.parametrization = "MELANIN"
    h.inputs["Melanin"].default_value = melanin
    h.inputs["Melanin Redness"].default_value = redness
    h.inputs["Roughness"].default_value = 0.3
    h.inputs["Radial Roughness"].default_value = 0.3
    h.inputs["Random Color"].default_value = seed_variation
    tree.links.new(h.outputs[0], out.inputs["Surface"])
    return mat


def coverage_emission(name: str = "alpha_override") -> bpy.types.Material:
    """The α layer's material override: a white emission of strength 1 and nothing else.

    A path ends at its first hit (no BSDF to scatter from), so the layer costs camera rays only,
    whatever the scene's bounce settings; and the layer's RGB equals its coverage, which is
    what Cycles' adaptive sampling measures noise on (it ignores the alpha channel)."""
    mat = bpy.data.materials.new(name)
    tree = mat.node_tree
    for n in list(tree.nodes):
        if n.type != "OUTPUT_MATERIAL":
            tree.nodes.remove(n)
    out = next(n for n in tree.nodes if n.type == "OUTPUT_MATERIAL")
    em = tree.nodes.new("ShaderNodeEmission")
    em.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    em.inputs["Strength"].default_value = 1.0
    tree.links.new(em.outputs[0], out.inputs["Surface"])
    mat.cycles.emission_sampling = "NONE"  # not a light: no light tree over the character's triangles
    return mat


FABRICS = ("weave", "denim", "knit", "print", "leather")


def _wave(tree, vec, period_m: float, direction: str, profile: str = "SIN", distortion: float = 0.0):
    """Bands with a period of ``period_m`` metres (Blender's Wave texture's phase is 20 x along
    an axis and 10 (x + y + z) along the diagonal, whose gradient is 10 √3 per metre)."""
    w = tree.nodes.new("ShaderNodeTexWave")
    w.wave_type = "BANDS"
    w.bands_direction = direction
    w.wave_profile = profile
    w.inputs["Scale"].default_value = (
        2 * math.pi / ((10.0 * math.sqrt(3.0) if direction == "DIAGONAL" else 20.0) * period_m)
    )
    w.inputs["Distortion"].default_value = distortion
    tree.links.new(vec, w.inputs["Vector"])
    return w.outputs["Fac"]


def _math(tree, op: str, a, b=None) -> bpy.types.NodeSocket:
    m = tree.nodes.new("ShaderNodeMath")
    m.operation = op
    for i, x in enumerate((a, b)):
        if x is None:
            continue
        if isinstance(x, (int, float)):
            m.inputs[i].default_value = float(x)
        else:
            tree.links.new(x, m.inputs[i])
    return m.outputs[0]


def fabric(
    name: str, pattern: str, color, color2, scale: float = 1.0, seed: float = 0.0
) -> bpy.types.Material:
    """Cloth: ``weave`` (plain-weave cotton, threads ~1 mm), ``denim`` (twill: diagonal ribs,
    ``color`` warp over a lighter ``color2`` weft, faded in patches), ``knit`` (rows of stitches
    ~3 mm, soft sheen), ``print`` (a two-colour motif at centimetre scale chosen by ``seed``:
    stripes, checks, dots or blots, over a fine weave) or ``leather``. Coordinates come from the
    mesh's ``rest`` attribute; every pattern varies in value at low frequency."""
    if pattern not in FABRICS:
        raise ValueError(f"fabric pattern {pattern!r} not in {FABRICS}")
    mat, tree, bsdf = _new(name)
    vec = rest_coords(tree, 1.0)
    c1, c2 = tuple(color), tuple(color2)
    # Thread-scale structure: a height in [0, 1] and a colour factor.
    if pattern in ("weave", "print"):
        warp = _wave(tree, vec, 0.001 * scale, "X")  # 1 mm threads
        weft = _wave(tree, vec, 0.001 * scale, "Z")
        height = _math(tree, "MAXIMUM", warp, weft)
        fac = _math(tree, "MULTIPLY", warp, 0.25)
    elif pattern == "denim":
        rib = _wave(tree, vec, 0.0012 * scale, "DIAGONAL", "SAW")
        height = rib
        fac = _math(tree, "MULTIPLY", rib, 0.55)
    elif pattern == "knit":
        rows = _wave(tree, vec, 0.003 * scale, "Z", "SIN", distortion=1.5)
        cols = _wave(tree, vec, 0.0035 * scale, "X", "TRI")
        height = _math(tree, "MULTIPLY", rows, cols)
        fac = _math(tree, "MULTIPLY", height, 0.3)
    else:  # leather grain
        vor = tree.nodes.new("ShaderNodeTexVoronoi")
        vor.inputs["Scale"].default_value = 1.0 / (0.0015 * scale)
        tree.links.new(vec, vor.inputs["Vector"])
        height = vor.outputs["Distance"]
        fac = _math(tree, "MULTIPLY", height, 0.08)
    if pattern == "print":
        motif = ("stripes", "checks", "dots", "blots")[int(seed * 4) % 4]
        if motif == "stripes":
            f = _wave(tree, vec, 0.03 * scale, "X", "SIN")
            fac = _math(tree, "GREATER_THAN", f, 0.5)
        elif motif == "checks":
            chk = tree.nodes.new("ShaderNodeTexChecker")
            chk.inputs["Scale"].default_value = 1.0 / (0.04 * scale)
            tree.links.new(vec, chk.inputs["Vector"])
            fac = chk.outputs["Fac"]
        else:
            vor = tree.nodes.new("ShaderNodeTexVoronoi")
            vor.inputs["Scale"].default_value = 1.0 / ((0.02 if motif == "dots" else 0.05) * scale)
            vor.inputs["Randomness"].default_value = 0.3 if motif == "dots" else 1.0
            tree.links.new(vec, vor.inputs["Vector"])
            fac = _math(tree, "LESS_THAN", vor.outputs["Distance"], 0.25 if motif == "dots" else 0.4)
    base = _mix_colors(tree, fac, c1, c2)
    # Low-frequency value variation (±10 %): wear, dye, folds' dust.
    noise = tree.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 8.0
    noise.inputs["Detail"].default_value = 3.0
    tree.links.new(vec, noise.inputs["Vector"])
    vary = tree.nodes.new("ShaderNodeMix")
    vary.data_type = "RGBA"
    vary.blend_type = "MULTIPLY"
    vary.inputs["Factor"].default_value = 1.0
    tree.links.new(base, vary.inputs["A"])
    tree.links.new(
        _mix_colors(tree, noise.outputs["Fac"], (0.85, 0.85, 0.85), (1.1, 1.1, 1.1)), vary.inputs["B"]
    )
    tree.links.new(vary.outputs["Result"], bsdf.inputs["Base Color"])
    leather = pattern == "leather"
    bsdf.inputs["Roughness"].default_value = 0.45 if leather else 0.85
    if not leather:
        bsdf.inputs["Sheen Weight"].default_value = 0.4 if pattern == "knit" else 0.15
        bsdf.inputs["Sheen Roughness"].default_value = 0.5
    _bump(tree, height, bsdf, 0.05 if leather else 0.15)
    return mat


def emissive(name: str, color, strength: float, sampled: bool = True) -> bpy.types.Material:
    """A light-emitting surface (lamp lenses, light panels, lit windows). ``sampled``: it lights
    the scene through Cycles' light tree; False for a surface that a lamp of its own stands in
    for (give that object camera-only visibility too: bounced rays would still find it)."""
    mat, tree, bsdf = _new(name)
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    bsdf.inputs["Emission Color"].default_value = (*color, 1.0)
    bsdf.inputs["Emission Strength"].default_value = strength
    if not sampled:
        mat.cycles.emission_sampling = "NONE"
    return mat


def text_panel(name: str, color, ink, seed: float, glow: float = 0.0, lines: str = "Z") -> bpy.types.Material:
    """A poster, sign or sheet of paper covered in text-like marks: rows of glyph-sized dots
    (1 cm cells, a third of each inked) broken into words, on a paper (or, with ``glow`` > 0, a
    backlit) panel; rows run across ``lines`` ("Z": a standing panel, "Y": a flat sheet).
    High-frequency, high-contrast detail, the kind of background that makes matting hard."""
    mat, tree, bsdf = _new(name)
    vec = _object_coords(tree, 1.0)
    offset = tree.nodes.new("ShaderNodeVectorMath")
    offset.operation = "ADD"
    offset.inputs[1].default_value = (seed * 13.7, seed * 7.1, seed * 3.3)
    tree.links.new(vec, offset.inputs[0])
    # Glyphs: the middles of Voronoi cells about 1 cm across.
    vor = tree.nodes.new("ShaderNodeTexVoronoi")
    vor.inputs["Scale"].default_value = 100.0
    tree.links.new(offset.outputs[0], vor.inputs["Vector"])
    glyph = _math(tree, "LESS_THAN", vor.outputs["Distance"], 0.38)
    # Lines: 1.6 cm rows with 0.6 cm of leading; words: a noise gating runs of glyphs.
    rows = _wave(tree, offset.outputs[0], 0.022, lines, "SAW")
    in_line = _math(tree, "LESS_THAN", rows, 0.72)
    words = tree.nodes.new("ShaderNodeTexNoise")
    words.inputs["Scale"].default_value = 25.0
    tree.links.new(offset.outputs[0], words.inputs["Vector"])
    in_word = _math(tree, "GREATER_THAN", words.outputs["Fac"], 0.45)
    ink_mask = _math(tree, "MULTIPLY", _math(tree, "MULTIPLY", glyph, in_line), in_word)
    colour = _mix_colors(tree, ink_mask, color, ink)
    tree.links.new(colour, bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.45
    if glow > 0:
        tree.links.new(colour, bsdf.inputs["Emission Color"])
        bsdf.inputs["Emission Strength"].default_value = glow
    return mat


def stripes(name: str, color, color2, period_m: float, roughness: float = 0.7) -> bpy.types.Material:
    """Wallpaper or upholstery: vertical stripes ``period_m`` apart in two colours."""
    mat, tree, bsdf = _new(name)
    bands = _wave(tree, _object_coords(tree, 1.0), period_m, "X", "SAW")
    sharp = _math(tree, "GREATER_THAN", bands, 0.5)
    tree.links.new(_mix_colors(tree, sharp, color, color2), bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = roughness
    return mat


def lit_facade(name: str, color, share: float, strength: float = 1.0) -> bpy.types.Material:
    """A facade at night: a grid of windows (1.6 m wide, 1.5 m apart in height, 1 m of glass
    each) on every side of the block, a ``share`` of them lit warm from inside (each window lit
    or dark by a hash of its cell), the rest dark glass."""
    mat, tree, bsdf = _new(name)
    coords = tree.nodes.new("ShaderNodeTexCoord")
    xyz = tree.nodes.new("ShaderNodeSeparateXYZ")
    tree.links.new(coords.outputs["Object"], xyz.inputs[0])
    # Along the wall: x + y (one of them is constant on each side); up: z.
    along = _math(tree, "ADD", xyz.outputs["X"], xyz.outputs["Y"])
    cx = _math(tree, "DIVIDE", along, 1.6)
    cz = _math(tree, "DIVIDE", xyz.outputs["Z"], 1.5)
    fx = _math(tree, "FRACT", cx)
    fz = _math(tree, "FRACT", cz)
    glass_x = _math(tree, "MULTIPLY", _math(tree, "GREATER_THAN", fx, 0.2), _math(tree, "LESS_THAN", fx, 0.8))
    glass_z = _math(
        tree, "MULTIPLY", _math(tree, "GREATER_THAN", fz, 0.25), _math(tree, "LESS_THAN", fz, 0.8)
    )
    glass = _math(tree, "MULTIPLY", glass_x, glass_z)
    cell = tree.nodes.new("ShaderNodeCombineXYZ")
    tree.links.new(_math(tree, "FLOOR", cx), cell.inputs["X"])
    tree.links.new(_math(tree, "FLOOR", cz), cell.inputs["Y"])
    noise = tree.nodes.new("ShaderNodeTexWhiteNoise")
    noise.noise_dimensions = "3D"
    tree.links.new(cell.outputs[0], noise.inputs["Vector"])
    lit = _math(tree, "MULTIPLY", _math(tree, "LESS_THAN", noise.outputs["Value"], share), glass)
    tree.links.new(_mix_colors(tree, glass, color, (0.02, 0.025, 0.03)), bsdf.inputs["Base Color"])
    tree.links.new(_math(tree, "MULTIPLY", lit, strength), bsdf.inputs["Emission Strength"])
    bsdf.inputs["Emission Color"].default_value = (1.0, 0.78, 0.5, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.5
    return mat
