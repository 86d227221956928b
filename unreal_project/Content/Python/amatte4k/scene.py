"""The level of one shot: open the map, spawn the MetaHuman and the camera, set each layer's
holdouts and visibility, and remove what was spawned.

Nothing is saved to the map: the spawned actors live in the open editor world, which MRQ's PIE
executor duplicates for each render.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import unreal

from .sequence_plan import LayerPlan, ShotPlan

BODY_COMPONENT = "Body"  # MetaHuman Blueprint's body skeletal mesh component (UNCONFIRMED binding)
SKY_AND_FOG = ("ExponentialHeightFogComponent", "SkyAtmosphereComponent", "VolumetricCloudComponent")


@dataclass
class ShotActors:
    """What the shot spawned or changed in the open level."""

    character: object
    body: object = None
    camera: object = None
    environment: list = field(default_factory=list)  # PrimitiveComponents to hold out in the matte layer
    sky_and_fog: list = field(default_factory=list)  # components that make every pixel opaque


def _actors() -> object:
    return unreal.get_editor_subsystem(unreal.EditorActorSubsystem)


def open_map(path: str) -> None:
    """Load the shot's map into the editor; RuntimeError if it does not load."""
    if not unreal.EditorLoadingAndSavingUtils.load_map(path):
        raise RuntimeError(f"map {path} did not load")


def _rotator(rotation: tuple[float, float, float]) -> object:
    roll, pitch, yaw = rotation
    return unreal.Rotator(roll=roll, pitch=pitch, yaw=yaw)


def spawn_character(plan: ShotPlan) -> object:
    """Spawn the MetaHuman Blueprint at its frame -1 key; RuntimeError if the class is missing."""
    cls = unreal.EditorAssetLibrary.load_blueprint_class(plan.blueprint)
    if cls is None:
        raise RuntimeError(f"character blueprint {plan.blueprint} not found")
    key = plan.character_keys[0]
    actor = _actors().spawn_actor_from_class(cls, unreal.Vector(*key.location), _rotator(key.rotation))
    if actor is None:
        raise RuntimeError(f"character blueprint {plan.blueprint} did not spawn")
    actor.set_actor_label(f"AM4K_{plan.character_id}_{plan.shot_id}")
    return actor


def find_body(character: object) -> object:
    """The skeletal mesh component named Body (MetaHuman), else the first skeletal mesh."""
    meshes = character.get_components_by_class(unreal.SkeletalMeshComponent)
    if not meshes:
        raise RuntimeError(f"{character.get_name()} has no skeletal mesh component")
    return next((m for m in meshes if m.get_name() == BODY_COMPONENT), meshes[0])


def spawn_camera(plan: ShotPlan) -> object:
    """A CineCameraActor with the job's filmback, manual exposure (EV bias only, aperture does
    not change brightness), the shutter as motion-blur amount, and lens limits covering the keys."""
    key = plan.camera_keys[0]
    actor = _actors().spawn_actor_from_class(
        unreal.CineCameraActor, unreal.Vector(*key.location), _rotator(key.rotation)
    )
    actor.set_actor_label(f"AM4K_camera_{plan.shot_id}")
    cam = actor.get_cine_camera_component()
    filmback = cam.get_editor_property("filmback")
    filmback.set_editor_property("sensor_width", plan.sensor_mm[0])
    filmback.set_editor_property("sensor_height", plan.sensor_mm[1])
    cam.set_editor_property("filmback", filmback)
    lens = cam.get_editor_property("lens_settings")
    lens.set_editor_property("min_focal_length", min(k.focal_mm for k in plan.lens_keys))
    lens.set_editor_property("max_focal_length", max(k.focal_mm for k in plan.lens_keys))
    if plan.depth_of_field:
        lens.set_editor_property("min_f_stop", min(k.fstop for k in plan.lens_keys))
        lens.set_editor_property("max_f_stop", max(k.fstop for k in plan.lens_keys))
    cam.set_editor_property("lens_settings", lens)
    focus = cam.get_editor_property("focus_settings")
    method = unreal.CameraFocusMethod.MANUAL if plan.depth_of_field else unreal.CameraFocusMethod.DISABLE
    focus.set_editor_property("focus_method", method)
    cam.set_editor_property("focus_settings", focus)
    pp = cam.get_editor_property("post_process_settings")
    for name, value in (
        ("auto_exposure_method", unreal.AutoExposureMethod.AEM_MANUAL),
        ("auto_exposure_bias", plan.exposure_ev),
        ("auto_exposure_apply_physical_camera_exposure", False),
        ("motion_blur_amount", plan.mrq.motion_blur_amount),
    ):
        pp.set_editor_property(f"override_{name}", True)
        pp.set_editor_property(name, value)
    cam.set_editor_property("post_process_settings", pp)
    cam.set_editor_property("post_process_blend_weight", 1.0)
    return actor


def _is_sky_or_fog(component: object) -> bool:
    return any(isinstance(component, getattr(unreal, name)) for name in SKY_AND_FOG)


def collect_environment(actors: ShotActors) -> None:
    """Fill actors.environment and actors.sky_and_fog from every level actor but ours."""
    ours = {actors.character.get_name(), actors.camera.get_name()}
    for actor in _actors().get_all_level_actors():
        if actor.get_name() in ours:
            continue
        for comp in actor.get_components_by_class(unreal.ActorComponent):
            if _is_sky_or_fog(comp):
                actors.sky_and_fog.append(comp)
            elif isinstance(comp, unreal.PrimitiveComponent):
                actors.environment.append(comp)


def set_holdout(obj: object, value: bool) -> bool:
    """Set the holdout flag where the engine has it (SetHoldout, else the `holdout` property);
    returns False where neither exists (older engines, classes without the flag)."""
    setter = getattr(obj, "set_holdout", None)
    if setter is not None:
        setter(value)
        return True
    try:
        obj.set_editor_property("holdout", value)
    except Exception:  # UE raises a plain Exception for a property the class lacks
        return False
    return True


def apply_layer(actors: ShotActors, layer: LayerPlan) -> list[str]:
    """Put the level in the state `layer` renders: environment held out (matte), character
    hidden (plate). Sky and fog that cannot be held out are deleted for the matte layer, as
    accumulated alpha requires; RENDER_ORDER renders matte last for that reason. Returns the
    labels of deleted actors."""
    actors.character.set_actor_hidden_in_game(layer.hide_character)
    for comp in actors.environment:
        set_holdout(comp, layer.hold_out_environment)
    deleted: list[str] = []
    for comp in actors.sky_and_fog:
        if not set_holdout(comp, layer.hold_out_environment) and layer.hold_out_environment:
            owner = comp.get_owner()
            if owner is not None and owner.get_actor_label() not in deleted:
                deleted.append(owner.get_actor_label())
                _actors().destroy_actor(owner)
    return deleted


def destroy(actors: ShotActors | None) -> None:
    """Remove the spawned character and camera from the level."""
    if actors is None:
        return
    for actor in (actors.character, actors.camera):
        if actor is not None:
            _actors().destroy_actor(actor)
