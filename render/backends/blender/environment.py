"""Sky, sun, ground and props of a catalog scene, as Blender data in one collection."""

from __future__ import annotations

import math
from pathlib import Path

import bmesh
import bpy

from render.backends.blender import clutter, materials
from render.layout import Prop

# Cycles' physical sky is in absolute units (a clear noon sky is ~10^4 brighter than a display
# white); this scale brings daylight to a well-exposed level with an exposure-neutral camera.
SKY_SCALE = 0.12
SUN_IRRADIANCE = 4.0  # W/m^2 in Blender's sun-lamp units, scaled like the sky


def build_world(scene_spec: dict, hdri_dir: str | None) -> None:
    sky = scene_spec["sky"]
    world = bpy.data.worlds.new(f"world_{scene_spec['name']}")
    tree = world.node_tree
    bg = tree.nodes.get("Background") or tree.nodes.new("ShaderNodeBackground")
    if sky["type"] == "color":  # interiors: a dim uniform world behind the room
        bg.inputs["Color"].default_value = (*sky.get("color", (1.0, 1.0, 1.0)), 1.0)
        bg.inputs["Strength"].default_value = float(sky.get("strength", 0.02))
    elif sky["type"] == "hdri":
        if not hdri_dir:
            raise FileNotFoundError(
                f"scene {scene_spec['name']} needs an HDRI but assets.hdri_dir is not set"
            )
        path = Path(hdri_dir) / sky["file"]
        if not path.is_file():
            raise FileNotFoundError(f"scene {scene_spec['name']}: HDRI {path} not found")
        env = tree.nodes.new("ShaderNodeTexEnvironment")
        env.image = bpy.data.images.load(str(path), check_existing=True)
        tree.links.new(env.outputs["Color"], bg.inputs["Color"])
        bg.inputs["Strength"].default_value = float(sky.get("strength", 1.0))
    else:
        tex = tree.nodes.new("ShaderNodeTexSky")
        tex.sky_type = "MULTIPLE_SCATTERING"
        tex.sun_disc = False  # the sun lamp below gives sharp shadows and keeps noise low
        tex.sun_elevation = math.radians(max(float(sky["sun_elevation"]), -5.0))
        tex.sun_rotation = math.radians(float(sky["sun_rotation"]))
        tex.air_density = float(sky.get("air", 1.0))
        tex.aerosol_density = float(sky.get("dust", 1.0))
        tex.ozone_density = float(sky.get("ozone", 1.0))
        tree.links.new(tex.outputs["Color"], bg.inputs["Color"])
        bg.inputs["Strength"].default_value = SKY_SCALE * float(sky.get("strength", 1.0))
        elevation = float(sky["sun_elevation"])
        if elevation > 0:
            sun = bpy.data.lights.new("sun", "SUN")
            # Light through more air near the horizon: dimmer and warmer.
            air_mass = 1.0 / max(math.sin(math.radians(elevation)), 0.08)
            sun.energy = SUN_IRRADIANCE * float(sky.get("strength", 1.0)) * math.exp(-0.12 * (air_mass - 1))
            warm = min(1.0, (air_mass - 1) / 8)
            sun.color = (1.0, 1.0 - 0.25 * warm, 1.0 - 0.55 * warm)
            sun.angle = math.radians(0.54)
            obj = bpy.data.objects.new("sun", sun)
            # Cycles' sky puts the sun at azimuth sun_rotation + 90° from +x. A lamp tilted by
            # (90° - elevation) about x sits at azimuth -90°, so it turns by sun_rotation + 180°.
            rot = math.radians(float(sky["sun_rotation"]))
            el = math.radians(elevation)
            obj.rotation_euler = (math.pi / 2 - el, 0.0, rot + math.pi)
            bpy.context.scene.collection.objects.link(obj)
            _move_to(obj, environment_collection())
    bpy.context.scene.world = world


def environment_collection() -> bpy.types.Collection:
    col = bpy.data.collections.get("environment")
    if col is None:
        col = bpy.data.collections.new("environment")
        bpy.context.scene.collection.children.link(col)
    return col


def _move_to(obj: bpy.types.Object, col: bpy.types.Collection) -> None:
    for c in list(obj.users_collection):
        c.objects.unlink(obj)
    col.objects.link(obj)


def _mesh_object(name: str, bm: bmesh.types.BMesh, material) -> bpy.types.Object:
    """``material``: one, or a list that the faces' ``material_index`` picks from."""
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    for m in material if isinstance(material, list) else [material]:
        mesh.materials.append(m)
    obj = bpy.data.objects.new(name, mesh)
    environment_collection().objects.link(obj)
    return obj


def build_ground(scene_spec: dict, size: float = 400.0) -> bpy.types.Object:
    g = scene_spec["ground"]
    mat = materials.ground(
        f"ground_{scene_spec['name']}",
        tuple(g["color"]),
        float(g["roughness"]),
        g["pattern"],
        float(g["scale"]),
    )
    bm = bmesh.new()
    bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=size / 2)
    return _mesh_object("ground", bm, mat)


def _box(bm, sx, sy, sz) -> None:
    bmesh.ops.create_cube(bm, size=1.0)
    bmesh.ops.scale(bm, vec=(sx, sy, sz), verts=bm.verts)
    bmesh.ops.translate(bm, vec=(0, 0, sz / 2), verts=bm.verts)


def _cylinder(bm, radius, height, segments=16) -> None:
    geom = bmesh.ops.create_cone(
        bm, cap_ends=True, segments=segments, radius1=radius, radius2=radius, depth=height
    )
    bmesh.ops.translate(bm, vec=(0, 0, height / 2), verts=geom["verts"])


def build_prop(p: Prop, index: int) -> bpy.types.Object:
    bm = bmesh.new()
    name = f"{p.kind}_{index:03d}"
    if p.kind == "building":
        _box(bm, p.width, p.depth, p.height)
        mat = materials.lit_facade(name, p.color, p.lit) if p.lit > 0 else materials.facade(name, p.color)
    elif p.kind in ("wall", "hedge"):
        _box(bm, p.width, p.depth, p.height)
        mat = materials.noisy(name, p.color, scale=1.5 if p.kind == "wall" else 12.0, bump=0.4)
    elif p.kind in ("pole", "pillar"):
        _cylinder(bm, p.width / 2, p.height)
        mat = materials.plain(name, p.color, roughness=0.35, metallic=0.6 if p.kind == "pole" else 0.0)
    elif p.kind == "tree" and p.leaves:
        _cylinder(bm, 0.12 + 0.03 * p.width, p.height * 0.6, segments=10)
        mat = clutter.leafy_crown(bm, p, name, centre=p.height * 0.55 + p.width * 0.35)
    elif p.kind == "tree":
        _cylinder(bm, 0.12 + 0.03 * p.width, p.height * 0.55, segments=10)
        crown = bmesh.ops.create_icosphere(bm, subdivisions=3, radius=p.width / 2)
        bmesh.ops.translate(bm, vec=(0, 0, p.height * 0.55 + p.width * 0.35), verts=crown["verts"])
        mat = materials.noisy(name, p.color, scale=6.0, bump=0.8)
    elif p.kind == "rock":
        geom = bmesh.ops.create_icosphere(bm, subdivisions=2, radius=0.5)
        for i, v in enumerate(geom["verts"]):
            # Deterministic lumps from the vertex index (same rock in every process).
            v.co *= 1.0 + 0.18 * math.sin(7.1 * i + 1.3 * index) * math.cos(3.7 * i)
        bmesh.ops.scale(bm, vec=(p.width, p.depth, p.height), verts=bm.verts)
        bmesh.ops.translate(bm, vec=(0, 0, p.height * 0.35), verts=bm.verts)
        mat = materials.noisy(name, p.color, scale=3.0, bump=0.5)
    elif p.kind in clutter.BUILDERS:
        mat = clutter.BUILDERS[p.kind](bm, p, name)
    else:
        raise ValueError(f"unknown prop type {p.kind!r}")
    obj = _mesh_object(name, bm, mat)
    obj.location = (p.x, p.y, p.z)
    obj.rotation_euler = (0.0, 0.0, math.radians(p.rotation_deg))
    clutter.add_lights(p, obj, name, environment_collection())
    return obj


def build_environment(scene_spec: dict, props: list[Prop], hdri_dir: str | None) -> bpy.types.Collection:
    build_world(scene_spec, hdri_dir)
    build_ground(scene_spec)
    for i, p in enumerate(props):
        build_prop(p, i)
    return environment_collection()
