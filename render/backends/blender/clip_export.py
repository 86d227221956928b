"""Clips of the catalog as Mixamo-rig FBX files, for the Unreal backend.

Unreal plays a clip from an animation asset retargeted from a Mixamo-skeleton FBX
(``unreal_project/Content/Python/retarget_mixamo.py``). Our captured clips are BVH files and our
procedural clips are code, so this writes each one as a Mixamo download would be: a body (an
identity of the catalog, default char00) skinned to the ``mixamorig:`` bones, every bone's
motion keyed at ``fps`` from the clip's time 0 (a shot's ``animation.start`` is in that time),
**in place**: the horizontal travel of the root stays out (the job's character keys carry it)
while the hips keep their height over the ground (crouches, jumps, lying down). Beside the files,
``clips.json`` maps each clip id to its file (the retarget script names each asset after it).

``python -m render.backends.blender.clip_export --out DIR [--clips a,b] [--fps 30]``
"""

from __future__ import annotations

import json
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from render.backends.blender.character import (
    BONE_PREFIX,
    _armature,
    _body_mesh,
    character_collection,
    pose_quaternion,
)
from render.body import BodyModel, rig_rest
from render.camera import CameraSpec
from render.motion import library
from render.people.identities import identity
from render.plan import AnimationSpec, ShotSpec
from render.timeline import frame_states


def seconds(clip: dict, cfg=None) -> float:
    """How much of the clip to bake: as far as any shot of ``cfg`` (default: the package
    defaults) can reach (:func:`render.plan.clip_seconds`)."""
    from render.config import load_config
    from render.plan import clip_seconds

    return clip_seconds(clip, cfg or load_config())


def _shot(clip_id: str, frames: int, fps: int, character_index: int) -> ShotSpec:
    """A shot that plays ``clip_id`` from its time 0 at speed 1, facing heading 0 at the origin."""
    cam = CameraSpec("static", 3.0, 1.6, 1.5, 50.0, 0.0, 0.0, 0.0, 0.0, (0.0, 0.0, 0.0), anchor="middle")
    return ShotSpec(
        shot_id=f"bake_{clip_id}",
        index=0,
        scene="",
        split="train",
        frame_count=frames,
        fps=fps,
        resolution=(64, 64),
        seed=0,
        camera=cam,
        character=identity(character_index),
        animation=AnimationSpec(clip_id, 0.0, 1.0, 0.0, (0.0, 0.0)),
        occluder=False,
    )


_BODIES: dict[int, object] = {}


def bake(
    clip_id: str,
    clip: dict,
    out: Path,
    fps: int = library.BAKE_FPS,
    character_index: int = 0,
    limit: float | None = None,
    cfg=None,
) -> dict:
    """Write ``out`` (an FBX) for one clip (at most ``limit`` seconds of it); returns what was
    keyed, for checking: bone names (B,), the bones' global rotations away from rest
    (F, B, 3, 3) and the Hips' world positions (F, 3), metres."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    spec = identity(character_index)
    if character_index not in _BODIES:
        _BODIES[character_index] = BodyModel().body(spec.phenotype)
    body = _BODIES[character_index]
    frames = int(round(min(seconds(clip, cfg), limit or float("inf")) * fps)) + 1
    states = frame_states(_shot(clip_id, frames, fps, character_index), clip, rig_rest(body))[1:-1]
    col = character_collection()
    if col.name not in scene.collection.children:
        scene.collection.children.link(col)
    rig = _armature(body, col)
    rig.name = "Armature"
    mesh = _body_mesh(body, spec, rig, col, np.ones(len(body.faces), dtype=bool))
    # In place: the armature stays at the origin, facing heading 0; the offset of the hips from
    # the root point (its height, and for captured clips the placement over the feet) moves the
    # Hips bone instead.
    names = sorted({b for st in states for b in st.bones})
    rests = {b: rig.data.bones[BONE_PREFIX + b].matrix_local.copy() for b in names}
    hips = rig.pose.bones[BONE_PREFIX + "Hips"]
    to_local = rests.get("Hips", rig.data.bones[BONE_PREFIX + "Hips"].matrix_local).to_3x3().inverted()
    for k, st in enumerate(states):
        for b in names:
            pb = rig.pose.bones[BONE_PREFIX + b]
            pb.rotation_mode = "QUATERNION"
            pb.rotation_quaternion = pose_quaternion(rests[b], st.bones.get(b, (1.0, 0.0, 0.0, 0.0)))
            pb.keyframe_insert("rotation_quaternion", frame=k)
        hips.location = to_local @ (Vector(st.origin) - Vector((st.root[0], st.root[1], 0.0)))
        hips.keyframe_insert("location", frame=k)
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_start, scene.frame_end = 0, frames - 1
    names = [b.name for b in rig.pose.bones]
    rotations = np.empty((frames, len(names), 3, 3))
    hip_world = np.empty((frames, 3))
    for k in range(frames):
        scene.frame_set(k)
        for i, b in enumerate(rig.pose.bones):
            pose = (rig.matrix_world @ b.matrix).to_3x3().normalized()
            rest = (rig.matrix_world @ b.bone.matrix_local).to_3x3().normalized()
            rotations[k, i] = np.array(pose @ rest.inverted())
        hip_world[k] = np.array((rig.matrix_world @ hips.matrix).translation)
    scene.frame_set(0)
    bpy.ops.object.select_all(action="DESELECT")
    for obj in (rig, mesh):
        obj.select_set(True)
    out.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.export_scene.fbx(
        filepath=str(out),
        use_selection=True,
        object_types={"ARMATURE", "MESH"},
        add_leaf_bones=False,
        bake_anim=True,
        bake_anim_use_all_actions=False,
        bake_anim_use_nla_strips=False,
        bake_anim_simplify_factor=0.0,
    )
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return {"bones": [n.removeprefix(BONE_PREFIX) for n in names], "rotations": rotations, "hips": hip_world}


def main() -> None:
    import click

    from render.catalog import load_clips
    from render.config import ConfigError, load_config

    @click.command()
    @click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the FBX files.")
    @click.option("--clips", "names", default=None, help="Comma-separated clip ids (default: every clip).")
    @click.option(
        "--config", "config_path", default=None, help="Dataset config (its clip catalog and folders)."
    )
    @click.option(
        "--fps", default=library.BAKE_FPS, show_default=True, help="Frames per second of the baked motion."
    )
    @click.option("--identity", "character", default=0, show_default=True, help="Whose body carries the rig.")
    @click.option("--max-seconds", type=float, default=None, help="Bake at most this much of each clip.")
    def cli(out, names, config_path, fps, character, max_seconds) -> None:
        """Bake catalog clips to in-place Mixamo-rig FBX files (+ clips.json) for the Unreal side."""
        try:
            cfg = load_config(config_path)
            clips = load_clips(
                cfg.clip_catalog_path(), cfg.assets.clip_folders(), lambda m: click.echo(m, err=True)
            )
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        wanted = names.split(",") if names else sorted(clips)
        unknown = [n for n in wanted if n not in clips]
        if unknown:
            raise click.ClickException(
                f"--clips: unknown clip {unknown[0]!r} (have {', '.join(sorted(clips))})"
            )
        folder = Path(out)
        index = {}
        for name in wanted:
            bake(name, clips[name], folder / f"{name}.fbx", fps, character, max_seconds, cfg)
            index[name] = f"{name}.fbx"
            click.echo(f"{name}: {folder / (name + '.fbx')}")
        (folder / "clips.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")

    cli()


if __name__ == "__main__":
    main()
