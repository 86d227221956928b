"""Still portraits of one identity in a neutral studio (grey backdrop, key, fill and rim
lights): for looking at people and hair, not for the dataset."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from render import exrio
from render.backends.blender import materials
from render.backends.blender.character import animate, build_character
from render.body import BodyData
from render.camera import SENSOR_MM
from render.people.strands import HairGroup
from render.plan import CharacterSpec
from render.timeline import FrameState


def _light(name: str, kind: str, energy: float, location, target, size: float = 1.0) -> None:
    data = bpy.data.lights.new(name, kind)
    data.energy = energy
    if kind == "AREA":
        data.size = size
    obj = bpy.data.objects.new(name, data)
    obj.location = location
    direction = Vector(target) - Vector(location)
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    bpy.context.scene.collection.objects.link(obj)


def setup(
    body: BodyData, spec: CharacterSpec, hair: list[HairGroup], samples: int, floor: bool = False
) -> bpy.types.Object:
    """A fresh scene with the character in its rest pose, lights and a backdrop (and a chequered
    floor, to judge where feet stand); returns the character's armature (pose it with :func:`pose`)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    rig, _ = build_character(body, spec, hair, dynamic=False)
    world = bpy.data.worlds.new("studio")
    world.color = (0.08, 0.08, 0.09)
    scene.world = world
    height = float(body.vertices[:, 2].max())
    for name, kind, energy, loc, size in (
        ("key", "AREA", 180.0, (-1.2, -1.6, height + 0.6), 1.2),
        ("fill", "AREA", 60.0, (1.5, -1.2, height - 0.2), 1.5),
        ("rim", "AREA", 120.0, (0.4, 1.4, height + 0.5), 0.8),
    ):
        _light(name, kind, energy, loc, (0.0, 0.0, height - 0.25), size)
    bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 6.0, 5), rotation=(math.pi / 2, 0, 0))
    bpy.context.object.name = "backdrop"
    bpy.context.object.data.materials.append(materials.plain("backdrop", (0.35, 0.36, 0.38), 0.9))
    if floor:
        bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 0, 0))
        bpy.context.object.name = "floor"
        bpy.context.object.data.materials.append(_chequer())
    scene.render.engine = "CYCLES"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.cycles_curves.shape = "THICK"
    scene.view_settings.view_transform = "Standard"
    scene.render.film_transparent = False
    return rig


def pose(rig: bpy.types.Object, states: list[FrameState], index: int) -> None:
    """Key ``states`` on the armature (once) and show state ``index`` of the list."""
    if rig.animation_data is None or rig.animation_data.action is None:
        animate(rig, states, 1)
    bpy.context.scene.frame_set(1 + index)


def _chequer() -> bpy.types.Material:
    """A 25 cm grey chequer: sliding feet show against it."""
    mat = bpy.data.materials.new("floor")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    tex = nodes.new("ShaderNodeTexChecker")
    tex.inputs["Scale"].default_value = 160.0  # cells across the 40 m plane: 25 cm each
    tex.inputs["Color1"].default_value = (0.30, 0.30, 0.30, 1.0)
    tex.inputs["Color2"].default_value = (0.12, 0.12, 0.12, 1.0)
    links.new(tex.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    return mat


def shoot(
    target,
    azimuth_deg: float,
    height_m: float,
    focal_mm: float,
    resolution: tuple[int, int],
    transparent=False,
) -> np.ndarray:
    """(H, W, 4) linear RGBA of a render from a camera framing ``height_m`` metres around
    ``target`` (3,), seen from ``azimuth_deg`` (0 = in front, positive = the subject's left).
    ``transparent``: no backdrop and no sky in view, so A is the character's coverage and RGB
    is premultiplied."""
    scene = bpy.context.scene
    scene.render.film_transparent = transparent
    bpy.data.objects["backdrop"].visible_camera = not transparent
    w, h = resolution
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = w, h, 100
    cam = bpy.data.cameras.get("portrait") or bpy.data.cameras.new("portrait")
    cam.lens, cam.sensor_fit, cam.sensor_width = focal_mm, "AUTO", SENSOR_MM
    obj = bpy.data.objects.get("portrait") or bpy.data.objects.new("portrait", cam)
    if obj.name not in scene.collection.objects:
        scene.collection.objects.link(obj)
    scene.camera = obj
    # Distance at which the frame's longer side spans height_m.
    distance = height_m * focal_mm / SENSOR_MM
    a = math.radians(azimuth_deg)
    t = Vector(target)
    obj.location = t + Vector((math.sin(a) * distance, -math.cos(a) * distance, 0.0))
    obj.rotation_euler = (t - obj.location).to_track_quat("-Z", "Y").to_euler()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "still.exr"
        scene.render.image_settings.file_format = "OPEN_EXR"
        scene.render.image_settings.color_depth = "32"
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        ch = exrio.decode(path)
    return np.stack([ch[c] for c in "RGBA"], -1).astype(np.float32)
