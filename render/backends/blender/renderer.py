"""Blender Cycles backend: one shot = one Blender scene; each frame renders its layers apart.

Four view layers of one scene share geometry, motion, camera, pixel filter and sampling seed:

- ``beauty`` (I): everything, ``samples`` per pixel.
- ``fg`` (F): the character shaded in the full scene (lit and shadowed by it), the environment
  and a sky dome as holdouts: premultiplied αF plus its coverage A, from the *same* camera
  samples as I (same seed, same count), so I = F + (1 − A)·B up to the background's noise.
- ``bg`` (B): the clean plate; the character is indirect-only (invisible to the camera, still
  casting shadows and reflections).
- ``alpha`` (α): coverage only. Environment and dome are holdouts and every material is a white
  emission of strength 1, so a path ends at its first hit and RGB = A = coverage; adaptive
  sampling (``alpha_min_samples`` .. ``alpha_samples`` per pixel, ``alpha_threshold``) spends
  the samples where coverage is fractional: hair, edges, motion blur and defocus; the shutter
  is split into ``alpha_time_strata`` renders (stratified time, see :meth:`_alpha_strata`).

Each layer of each frame is one render call writing one EXR (so each layer has its own
sampling settings and its own measured time) into ``frame_NNNN/``; a frame's directory appears
only when all its layers are written.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import bmesh
import bpy
import numpy as np
from mathutils import Matrix, Vector

from render import exrio
from render.backends.base import FramePasses, ProgressFn, Renderer, RenderSettings
from render.backends.blender import materials
from render.backends.blender.character import (
    HairDriver,
    animate,
    bone_matrices,
    build_character,
    character_collection,
)
from render.backends.blender.environment import build_environment
from render.body import BONE_PREFIX, BodyModel, rig_rest
from render.camera import SENSOR_MM
from render.layout import clear_for_shot, occluder_for_shot, scene_props
from render.people import dynamics
from render.people.hair import colliders, head_hair, level_of_detail
from render.plan import ShotSpec, rng_for
from render.timeline import FrameState, frame_states

FIRST_FRAME = 1  # Blender frame of shot frame 0; frame 0 and N + 1 carry the blur guards
LAYERS = {"rgb": "beauty", "fg": "fg", "bg": "bg", "alpha": "alpha"}
FILTERS = {"box": "BOX", "gaussian": "GAUSSIAN", "blackman_harris": "BLACKMAN_HARRIS"}
# Where the camera focuses: this far along the head bone (neck joint → crown), about eye level.
FOCUS_ALONG_HEAD = 0.45


def frame_file(workdir: str | os.PathLike, index: int) -> Path:
    """The directory holding shot frame ``index``'s layers (one EXR per pass)."""
    return Path(workdir) / f"frame_{index + FIRST_FRAME:04d}"


def _closest_head(states: list[FrameState], body) -> float:
    """The camera's closest distance to the character's head over the shot (m): the level of
    detail of the hair follows it (root motion and dolly moves included)."""
    head_z = (
        float(body.bone_tails[body.bone_index("Head")][2] + body.bone_heads[body.bone_index("Head")][2]) / 2
    )
    return min(
        float(np.linalg.norm(s.cam_to_world[:3, 3] - np.array([s.root[0], s.root[1], s.root[2] + head_z])))
        for s in states
    )


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
    # Camera rays only: light, shadow and bounce rays pass through to the real sky, so the
    # character in the fg layer is lit exactly as in the beauty layer.
    obj.visible_diffuse = obj.visible_glossy = obj.visible_transmission = False
    obj.visible_volume_scatter = obj.visible_shadow = False
    col.objects.link(obj)
    return col


GPU_BACKENDS = ("OPTIX", "CUDA")  # NVIDIA, best first


def select_device(wanted: str) -> tuple[str, str]:
    """Cycles' device for ``wanted`` (auto | cpu | gpu): ("GPU" or "CPU", a description such as
    "OPTIX: NVIDIA H200"). auto takes an NVIDIA GPU when Cycles finds one; gpu insists on it."""
    if wanted == "cpu":
        return "CPU", "CPU"
    prefs = bpy.context.preferences.addons["cycles"].preferences
    for kind in GPU_BACKENDS:
        try:
            prefs.compute_device_type = kind
        except TypeError:  # this build has no such backend
            continue
        prefs.refresh_devices()
        gpus = [d for d in prefs.devices if d.type == kind]
        if gpus:
            for d in prefs.devices:
                d.use = d.type == kind
            return "GPU", f"{kind}: " + ", ".join(d.name for d in gpus)
    if wanted == "gpu":
        raise RuntimeError("device gpu: Cycles finds no NVIDIA GPU (OptiX or CUDA) on this node")
    prefs.compute_device_type = "NONE"
    return "CPU", "CPU"


class BlenderRenderer(Renderer):
    name = "blender"
    supported_passes = ("rgb", "alpha", "fg", "bg")

    def __init__(self) -> None:
        self._bodies: BodyModel | None = None  # built once per process: anny takes seconds
        self._hair: HairDriver | None = None
        self._exposure_ev = 0.0  # stops: the scene's plus the shot's (set by build)

    def body_model(self) -> BodyModel:
        if self._bodies is None:
            self._bodies = BodyModel()
        return self._bodies

    # -- scene -------------------------------------------------------------------------------
    def build(
        self, shot: ShotSpec, scene_spec: dict, clip: dict, settings: RenderSettings
    ) -> list[FrameState]:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self._hair = None
        self._exposure_ev = round(float(scene_spec.get("exposure", 0.0)) + shot.camera.exposure_ev, 4)
        body = self.body_model().body(shot.character.phenotype)
        states = frame_states(shot, clip, rig_rest(body))
        props = clear_for_shot(scene_props(scene_spec), states)
        if shot.occluder:
            props.append(occluder_for_shot(shot, states))
        build_environment(scene_spec, props, settings.hdri_dir)

        # Hair belongs to the character identity: the same person has the same hair in every
        # shot; the level of detail keeps a prefix of its strands (see render.people.strands).
        key = json.dumps(asdict(shot.character), sort_keys=True)
        lod = level_of_detail(_closest_head(states, body), shot.camera.focal_mm, shot.resolution)
        hair = head_hair(
            body,
            shot.character.hair,
            settings.hair_strands,
            lod,
            key,
            shot.character.accessories.get("hat", "none"),
        )
        rig, free = build_character(body, shot.character, hair, settings.hair_dynamics)
        animate(rig, states, FIRST_FRAME - 1)
        self._hair = self._simulate_hair(body, hair, rig, free, shot.fps, len(states)) if free else None
        self.last_hair = {
            "lod": round(lod, 4),
            "strands": {g.name: len(g.points) for g in hair},
            "free": sorted(free),
        }
        cam = self._camera(shot, states)
        self._focus(shot, settings, cam, rig, len(states))
        self._settings(shot, settings)
        self._view_layers(settings)
        return states

    def _simulate_hair(self, body, hair, rig, free: dict, fps: int, n_keys: int) -> HairDriver:
        """Run the dynamics of the free hair groups over the shot's keys (guards included) at
        :data:`dynamics.SUBSTEPS` steps per frame, from the rig's posed bones."""
        steps = (n_keys - 1) * dynamics.SUBSTEPS + 1  # a multiple of KEEP_EVERY, plus one
        t0 = FIRST_FRAME - 1
        times = t0 + np.arange(steps) / dynamics.SUBSTEPS
        cols = colliders(body)
        mats = bone_matrices(rig, sorted({"Head", *(c.bone for c in cols)}), times)
        dt = 1.0 / (fps * dynamics.SUBSTEPS)
        motions = {}
        for g in hair:
            if g.name in free:
                guides = dynamics.simulate(
                    g.guide_points,
                    mats,
                    cols,
                    dt,
                    g.stiffness,
                    preroll=round(dynamics.PREROLL_S / dt),
                    pinned=g.pinned,
                )
                k = dynamics.KEEP_EVERY
                motions[g.name] = dynamics.HairMotion(
                    g.points,
                    g.owner,
                    g.guide_points,
                    guides[::k],
                    mats["Head"][::k],
                    t0,
                    k / dynamics.SUBSTEPS,
                )
        return HairDriver(free, motions, fps)

    def _goto(self, frame: int, subframe: float = 0.0) -> None:
        """Move the scene to a (fractional) frame, free hair included."""
        bpy.context.scene.frame_set(frame, subframe=subframe)
        if self._hair is not None:
            self._hair.set(frame + subframe)

    def _camera(self, shot: ShotSpec, states: list[FrameState]) -> bpy.types.Object:
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
        return obj

    def _focus(
        self, shot: ShotSpec, settings: RenderSettings, cam_obj: bpy.types.Object, rig, n_keys: int
    ) -> None:
        """Depth of field: the shot's f-stop, focus keyed per frame on the posed head (distance
        along the view axis, as Blender measures it). Fills :attr:`last_frame_info`."""
        cam = cam_obj.data
        use = settings.depth_of_field and shot.camera.fstop > 0
        cam.dof.use_dof = use
        self.last_frame_info = []
        exposure = {"exposure_ev": self._exposure_ev}
        if not use:
            self.last_frame_info = [{"depth_of_field": False, **exposure}] * (n_keys - 2)
            return
        cam.dof.aperture_fstop = shot.camera.fstop
        scene = bpy.context.scene
        head = BONE_PREFIX + "Head"
        for k in range(n_keys):
            scene.frame_set(FIRST_FRAME - 1 + k)
            deps = bpy.context.evaluated_depsgraph_get()
            r, c = rig.evaluated_get(deps), cam_obj.evaluated_get(deps)
            pb = r.pose.bones[head]
            p = r.matrix_world @ (pb.head + (pb.tail - pb.head) * FOCUS_ALONG_HEAD)
            forward = -(c.matrix_world.to_3x3() @ Vector((0.0, 0.0, 1.0)))
            dist = round(max(0.05, (p - c.matrix_world.translation).dot(forward.normalized())), 4)
            cam.dof.focus_distance = dist
            cam.dof.keyframe_insert("focus_distance", frame=FIRST_FRAME - 1 + k)
            if 0 < k < n_keys - 1:  # not the motion-blur guard frames
                self.last_frame_info.append(
                    {"depth_of_field": True, "fstop": shot.camera.fstop, "focus_distance_m": dist, **exposure}
                )
        scene.frame_set(FIRST_FRAME)

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
        r.motion_blur_position = "CENTER"  # the shutter straddles the frame; _alpha_strata relies on it
        r.use_persistent_data = True
        r.use_single_layer = False
        if settings.threads > 0:
            r.threads_mode, r.threads = "FIXED", settings.threads
        c = scene.cycles
        c.device, self.last_device = select_device(settings.device)
        c.samples = settings.samples
        c.use_adaptive_sampling = False  # switched on for the alpha layer only (see _sample)
        c.seed = settings.render_seed(shot)
        c.use_animated_seed = True  # noise changes per frame, as a camera's would
        c.use_denoising = settings.denoise
        c.pixel_filter_type = FILTERS[settings.pixel_filter]  # one filter for every layer
        c.filter_width = settings.filter_width
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
        r.use_file_extension = True

    def _view_layers(self, settings: RenderSettings) -> None:
        scene = bpy.context.scene
        beauty = scene.view_layers[0]
        beauty.name = LAYERS["rgb"]
        beauty.samples = settings.samples
        dome = _holdout_dome()
        beauty.layer_collection.children[dome.name].exclude = True
        if "fg" in settings.passes:
            vl = scene.view_layers.new(LAYERS["fg"])
            vl.samples = settings.samples
            vl.cycles.use_denoising = settings.denoise
            vl.layer_collection.children["environment"].holdout = True
            vl.layer_collection.children[dome.name].holdout = True
        if "bg" in settings.passes:
            vl = scene.view_layers.new(LAYERS["bg"])
            vl.samples = settings.samples
            vl.layer_collection.children[character_collection().name].indirect_only = True
            vl.layer_collection.children[dome.name].exclude = True
        vl = scene.view_layers.new(LAYERS["alpha"])
        vl.samples = settings.alpha_samples
        vl.material_override = materials.coverage_emission()
        vl.cycles.use_denoising = False
        vl.layer_collection.children["environment"].holdout = True
        vl.layer_collection.children[dome.name].holdout = True

    def _sample(self, key: str, settings: RenderSettings) -> None:
        """Render only layer ``key``, with its sampling: fixed ``samples`` for the shading
        layers (rgb, fg, bg share every camera sample), adaptive for alpha."""
        scene = bpy.context.scene
        for k, name in LAYERS.items():
            if name in scene.view_layers:
                scene.view_layers[name].use = k == key
        c = scene.cycles
        # The shot's exposure scales the shading layers alike (I = αF + (1-α)B still holds); the
        # alpha layer renders at 1, so its coverage and its adaptive sampling never depend on it.
        c.film_exposure = 1.0 if key == "alpha" else 2.0**self._exposure_ev
        if key == "alpha":
            c.use_adaptive_sampling = settings.alpha_threshold > 0
            c.adaptive_threshold = settings.alpha_threshold
            c.adaptive_min_samples = settings.alpha_min_samples
        else:
            c.use_adaptive_sampling = False

    def _alpha_strata(self, shot: ShotSpec, settings: RenderSettings, index: int, folder: Path) -> None:
        """The α layer of frame ``index`` as ``alpha_time_strata`` renders, each over an equal
        slice of the shutter with its share of the samples, averaged into ``alpha.exr``.

        Cycles draws a sample's time independently of its position in the pixel, so over a
        moving edge coverage converges as 1/√N whatever the sampling pattern. Slicing the
        shutter stratifies time exactly: each slice sees the edge move 1/strata as far. Each
        slice has its own seed from (render seed, frame, slice). A box shutter is assumed
        (Blender's default curve), so the slices weigh equally.
        """
        scene = bpy.context.scene
        c, r = scene.cycles, scene.render
        k_total = settings.alpha_time_strata
        frame = FIRST_FRAME + index
        saved = (
            r.motion_blur_shutter,
            c.seed,
            c.use_animated_seed,
            scene.view_layers[LAYERS["alpha"]].samples,
        )
        rng = rng_for(settings.render_seed(shot), "alpha_strata", index)
        seeds = [int(x) for x in rng.integers(0, 2**31 - 1, size=k_total)]
        r.motion_blur_shutter = settings.shutter / k_total
        c.use_animated_seed = False
        scene.view_layers[LAYERS["alpha"]].samples = max(1, settings.alpha_samples // k_total)
        c.adaptive_min_samples = max(1, settings.alpha_min_samples // k_total)
        total: dict[str, np.ndarray] = {}
        try:
            for k in range(k_total):
                centre = frame + settings.shutter * ((k + 0.5) / k_total - 0.5)
                whole = math.floor(centre)
                self._goto(whole, centre - whole)
                c.seed = seeds[k]
                scene.render.filepath = str(folder / f"alpha_{k}")
                bpy.ops.render.render(write_still=True)
                path = folder / f"alpha_{k}.exr"
                for name, px in exrio.decode(path).items():
                    total[name] = total.get(name, 0.0) + px.astype(np.float64)
                path.unlink()
        finally:
            r.motion_blur_shutter, c.seed, c.use_animated_seed, scene.view_layers[LAYERS["alpha"]].samples = (
                saved
            )
            self._goto(frame)
        exrio.write_channels(
            folder / "alpha.exr", {n: (v / k_total).astype(np.float32) for n, v in total.items()}
        )

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
        scene = bpy.context.scene
        order = [k for k in ("rgb", "fg", "bg", "alpha") if k in settings.passes]
        spent = dict.fromkeys(order, 0.0)
        files = []
        for i in range(shot.frame_count):
            self._goto(FIRST_FRAME + i)
            final = frame_file(workdir, i)
            partial = final.with_name("." + final.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            for key in order:
                self._sample(key, settings)
                t = time.perf_counter()
                if key == "alpha" and settings.motion_blur and settings.alpha_time_strata > 1:
                    self._alpha_strata(shot, settings, i, partial)
                else:
                    scene.render.filepath = str(partial / key)
                    bpy.ops.render.render(write_still=True)
                spent[key] += time.perf_counter() - t
                if not (partial / f"{key}.exr").is_file():
                    raise RuntimeError(f"{shot.shot_id}: Blender did not write {key}.exr of frame {i}")
            shutil.rmtree(final, ignore_errors=True)  # an earlier attempt's
            partial.rename(final)
            files.append(final)
            if on_frame is not None:
                on_frame(i)
        self.last_timing = {
            "scene_build": t1 - t0,
            "engine": time.perf_counter() - t1,
            **{f"{k}_pass": v for k, v in spent.items()},
        }
        self._hair = None  # its arrays and its (now freed) Blender objects
        # Free the render session: with fewer threads than cores, its idle worker thread keeps a
        # core busy (sched_yield, ~0.9 core measured) while the shot is packed and until the next.
        bpy.context.scene.render.use_persistent_data = False
        bpy.ops.wm.read_factory_settings(use_empty=True)
        return files

    def describe(self, settings: RenderSettings) -> dict:
        return {"backend": self.name, "engine": f"Cycles {bpy.app.version_string}", **settings.to_json()}

    def read_frame(self, path: str | os.PathLike, passes: tuple[str, ...]) -> FramePasses:
        path = Path(path)

        def combined(key: str) -> np.ndarray:
            """(H, W, 4) RGBA of layer ``key``'s Combined pass."""
            ch = exrio.decode(path / f"{key}.exr")
            prefix = f"{LAYERS[key]}.Combined."
            try:
                return np.stack([ch[prefix + c] for c in "RGBA"], axis=-1).astype(np.float32)
            except KeyError:
                raise ValueError(f"{path / key}.exr: no {prefix}RGBA channels; has {sorted(ch)}") from None

        cov = combined("alpha")
        out = FramePasses(rgb=combined("rgb")[..., :3], alpha=np.clip(cov[..., 3], 0.0, 1.0))
        if "fg" in passes:
            fg = combined("fg")
            out.fg, out.fg_alpha = fg[..., :3], np.clip(fg[..., 3], 0.0, 1.0)
        if "bg" in passes:
            out.bg = combined("bg")[..., :3]
        return out
