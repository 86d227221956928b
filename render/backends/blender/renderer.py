"""Blender Cycles backend: one shot = one Blender scene, rendered as an animation.

Three view layers of one scene share geometry, motion and sampling seed:

- ``beauty``: everything, ``samples`` per pixel, denoised when configured (I).
- ``alpha``: the character's coverage only. The environment collection is a holdout, the sky
  is off (transparent) and every material is overridden by a zero emission, so each camera
  sample ends at its first hit: the pass is cheap, and its ``alpha_samples`` resolve hair,
  motion blur and occlusion into exact fractional alpha (never denoised).
- ``bg``: the clean plate B: the character is indirect-only (invisible to the camera, still
  casting shadows and reflections).

Each frame is written as one 32-bit multilayer EXR; :meth:`read_frame` splits it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import bmesh
import bpy
import numpy as np
from mathutils import Matrix

from render import exrio
from render.backends.base import FramePasses, ProgressFn, Renderer, RenderSettings
from render.backends.blender import materials
from render.backends.blender.character import animate, build_character, character_collection
from render.backends.blender.environment import build_environment
from render.body import BodyModel
from render.camera import SENSOR_MM
from render.hair import make_strands
from render.layout import clear_for_shot, occluder_for_shot, scene_props
from render.plan import ShotSpec, rng_for
from render.timeline import FrameState, frame_states

FIRST_FRAME = 1  # Blender frame of shot frame 0; frame 0 and N + 1 carry the blur guards
LAYERS = {"rgb": "beauty", "alpha": "alpha", "bg": "bg"}


def frame_file(workdir: str | os.PathLike, index: int) -> Path:
    """The file Blender writes for shot frame ``index``."""
    return Path(workdir) / f"frame_{index + FIRST_FRAME:04d}.exr"


def _holdout_dome(radius: float = 900.0) -> bpy.types.Collection:
    """A sphere around the set that only the alpha layer sees, as a holdout.

    The film cannot be transparent in one view layer and opaque in another, and Cycles has no
    holdout world; rays that would reach the sky hit this dome instead and leave alpha 0.
    """
    col = bpy.data.collections.new("holdout_dome")
    bpy.context.scene.collection.children.link(col)
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=radius)
    mesh = bpy.data.meshes.new("holdout_dome")
    bm.to_mesh(mesh)
    bm.free()
    obj = bpy.data.objects.new("holdout_dome", mesh)
    obj.visible_shadow = False
    col.objects.link(obj)
    return col


class BlenderRenderer(Renderer):
    name = "blender"

    def __init__(self) -> None:
        self._bodies: BodyModel | None = None  # built once per process: anny takes seconds

    def body_model(self) -> BodyModel:
        if self._bodies is None:
            self._bodies = BodyModel()
        return self._bodies

    # -- scene -------------------------------------------------------------------------------
    def build(
        self, shot: ShotSpec, scene_spec: dict, clip: dict, settings: RenderSettings
    ) -> list[FrameState]:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        states = frame_states(shot, clip)
        props = clear_for_shot(scene_props(scene_spec), states)
        if shot.occluder:
            props.append(occluder_for_shot(shot, states))
        build_environment(scene_spec, props, settings.hdri_dir)

        body = self.body_model().body(shot.character.phenotype)
        # Hair belongs to the character identity: the same person has the same hair in every shot.
        hair_rng = rng_for(0, "hair", json.dumps(asdict(shot.character), sort_keys=True))
        points, radii = make_strands(body, shot.character.hair, settings.hair_strands, hair_rng)
        rig = build_character(body, shot.character, points, radii)
        animate(rig, states, FIRST_FRAME - 1)
        self._camera(shot, states)
        self._settings(shot, settings)
        self._view_layers(settings)
        return states

    def _camera(self, shot: ShotSpec, states: list[FrameState]) -> None:
        cam = bpy.data.cameras.new("camera")
        cam.lens = shot.camera.focal_mm
        cam.sensor_fit = "AUTO"  # sensor_width spans the longer image side
        cam.sensor_width = SENSOR_MM
        cam.clip_start, cam.clip_end = 0.05, 2000.0
        obj = bpy.data.objects.new("camera", cam)
        bpy.context.scene.collection.objects.link(obj)
        bpy.context.scene.camera = obj
        obj.rotation_mode = "QUATERNION"
        prev = None
        for k, s in enumerate(states):
            m = Matrix(s.cam_to_world.tolist())
            q = m.to_quaternion()
            if prev is not None:
                q.make_compatible(prev)  # no sign flips between keys: interpolation stays short
            prev = q
            obj.location = m.to_translation()
            obj.rotation_quaternion = q
            obj.keyframe_insert("location", frame=FIRST_FRAME - 1 + k)
            obj.keyframe_insert("rotation_quaternion", frame=FIRST_FRAME - 1 + k)

    def _settings(self, shot: ShotSpec, settings: RenderSettings) -> None:
        scene = bpy.context.scene
        r = scene.render
        r.engine = "CYCLES"
        w, h = shot.resolution
        r.resolution_x, r.resolution_y, r.resolution_percentage = w, h, 100
        r.fps = shot.fps
        scene.frame_start, scene.frame_end = FIRST_FRAME, FIRST_FRAME + shot.frame_count - 1
        r.film_transparent = False
        r.use_motion_blur = settings.motion_blur
        r.motion_blur_shutter = settings.shutter
        r.use_persistent_data = True
        if settings.threads > 0:
            r.threads_mode, r.threads = "FIXED", settings.threads
        c = scene.cycles
        c.device = "CPU"
        c.samples = settings.samples
        c.use_adaptive_sampling = False  # same work per pixel in every pass: predictable, reproducible
        c.seed = shot.seed
        c.use_animated_seed = True  # noise changes per frame, as a camera's would
        c.use_denoising = settings.denoise
        c.max_bounces, c.diffuse_bounces, c.glossy_bounces = 6, 3, 3
        c.transmission_bounces, c.transparent_max_bounces = 4, 16
        c.sample_clamp_indirect = 10.0  # fireflies from the sun in small bounces
        scene.cycles_curves.shape = "THICK"  # round strands: correct coverage from every side
        scene.view_settings.view_transform = "Standard"
        im = r.image_settings
        im.media_type = "MULTI_LAYER_IMAGE"
        im.file_format = "OPEN_EXR_MULTILAYER"
        im.color_depth = "32"
        im.exr_codec = "PIZ"  # lossless and fast; these files are re-encoded into the shards

    def _view_layers(self, settings: RenderSettings) -> None:
        scene = bpy.context.scene
        beauty = scene.view_layers[0]
        beauty.name = LAYERS["rgb"]
        dome = _holdout_dome()
        beauty.layer_collection.children[dome.name].exclude = True
        if "alpha" in settings.passes:
            vl = scene.view_layers.new(LAYERS["alpha"])
            vl.samples = settings.alpha_samples
            vl.material_override = materials.black_emission()
            vl.cycles.use_denoising = False
            vl.layer_collection.children["environment"].holdout = True
            vl.layer_collection.children[dome.name].holdout = True
        if "bg" in settings.passes:
            vl = scene.view_layers.new(LAYERS["bg"])
            vl.layer_collection.children[character_collection().name].indirect_only = True
            vl.layer_collection.children[dome.name].exclude = True

    # -- render ------------------------------------------------------------------------------
    def render_shot(
        self,
        shot: ShotSpec,
        scene: dict,
        clip: dict,
        settings: RenderSettings,
        workdir: str | os.PathLike,
        on_frame: ProgressFn | None = None,
    ) -> list[Path]:
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        self.build(shot, scene, clip, settings)
        t1 = time.perf_counter()
        bpy.context.scene.render.filepath = str(workdir / "frame_")

        def written(*_args) -> None:
            if on_frame is not None:
                on_frame(bpy.context.scene.frame_current - FIRST_FRAME)

        bpy.app.handlers.render_write.append(written)
        try:
            bpy.ops.render.render(animation=True)
        finally:
            bpy.app.handlers.render_write.remove(written)
        self.last_timing = {"scene_build": t1 - t0, "engine": time.perf_counter() - t1}
        files = [frame_file(workdir, i) for i in range(shot.frame_count)]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise RuntimeError(
                f"{shot.shot_id}: Blender did not write {len(missing)} frame(s), e.g. {missing[0]}"
            )
        return files

    def describe(self, settings: RenderSettings) -> dict:
        return {"backend": self.name, "engine": f"Cycles {bpy.app.version_string}", **settings.to_json()}

    def read_frame(self, path: str | os.PathLike, passes: tuple[str, ...]) -> FramePasses:
        ch = exrio.decode(path)

        def rgb(layer: str) -> np.ndarray:
            return np.stack([ch[f"{layer}.Combined.{c}"] for c in "RGB"], axis=-1).astype(np.float32)

        out = FramePasses(
            rgb=rgb(LAYERS["rgb"]), alpha=np.clip(ch[f"{LAYERS['alpha']}.Combined.A"], 0.0, 1.0)
        )
        if "bg" in passes:
            out.bg = rgb(LAYERS["bg"])
        return out
