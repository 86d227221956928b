"""The level of one shot: open the map, spawn the MetaHuman and the camera, set each layer's
holdouts and visibility, and put the level back as it was.

Nothing is saved to the map and no level actor is destroyed: the spawned actors live in the
open editor world, which MRQ's PIE executor duplicates for each render, and every flag a layer
changes on a level component is restored by clean_up().
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
    holdout_before: list = field(default_factory=list)  # (component, holdout flag as found)
    hidden_before: list = field(default_factory=list)  # (component, hidden_in_game as found), ones we hid


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


def map_exposure_bias() -> float:
    """The map's own exposure compensation (EV): that of the enabled, unbound PostProcessVolume
    of highest priority that overrides it (the last one on a tie); 0 when none does. Bound
    volumes and blend weights below 1 are not taken into account."""
    best: tuple[float, float] | None = None
    for actor in _actors().get_all_level_actors():
        if not isinstance(actor, unreal.PostProcessVolume):
            continue
        if not (actor.get_editor_property("enabled") and actor.get_editor_property("unbound")):
            continue
        settings = actor.get_editor_property("settings")
        if not settings.get_editor_property("override_auto_exposure_bias"):
            continue
        priority = float(actor.get_editor_property("priority"))
        if best is None or priority >= best[0]:
            best = (priority, float(settings.get_editor_property("auto_exposure_bias")))
    return 0.0 if best is None else best[1]


def spawn_camera(plan: ShotPlan) -> object:
    """A CineCameraActor with the job's filmback, the shutter as motion-blur amount, lens limits
    covering the keys, and exposure relative to the map: the map keeps its exposure method and
    level; the camera overrides only the exposure compensation (the map's own plus the job's
    exposure_ev) and turns physical camera exposure off, so the f-stop never changes brightness."""
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
        ("auto_exposure_bias", map_exposure_bias() + plan.exposure_ev),
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


def _flag(obj: object, name: str) -> bool | None:
    """A bool editor property, or None where the class lacks it."""
    try:
        return bool(obj.get_editor_property(name))
    except Exception:  # UE raises a plain Exception for a property the class lacks
        return None


def collect_environment(actors: ShotActors) -> None:
    """Fill actors.environment and actors.sky_and_fog from every level actor but ours, noting
    each one's holdout flag so that clean_up() can put it back."""
    ours = {actors.character.get_name(), actors.camera.get_name()}
    for actor in _actors().get_all_level_actors():
        if actor.get_name() in ours:
            continue
        for comp in actor.get_components_by_class(unreal.ActorComponent):
            if _is_sky_or_fog(comp):
                actors.sky_and_fog.append(comp)
            elif isinstance(comp, unreal.PrimitiveComponent):
                actors.environment.append(comp)
            else:
                continue
            holdout = _flag(comp, "holdout")
            if holdout is not None:
                actors.holdout_before.append((comp, holdout))


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


def _label(comp: object) -> str:
    owner = comp.get_owner()
    return f"{owner.get_actor_label()}.{comp.get_name()}" if owner is not None else comp.get_name()


def _unhide(actors: ShotActors) -> None:
    """Give the components we hid their hidden-in-game flag back."""
    for comp, was_hidden in actors.hidden_before:
        comp.set_hidden_in_game(was_hidden, False)
    actors.hidden_before.clear()


def apply_layer(actors: ShotActors, layer: LayerPlan) -> list[str]:
    """Put the level in the state `layer` renders: environment held out (matte), character
    hidden (plate). Sky and fog that cannot be held out (no holdout flag on this engine) are
    hidden in game for the matte layer, as accumulated alpha requires, and shown again for
    the others. Returns the labels of the components hidden for this layer."""
    actors.character.set_actor_hidden_in_game(layer.hide_character)
    for comp in actors.environment:
        set_holdout(comp, layer.hold_out_environment)
    _unhide(actors)
    hidden: list[str] = []
    for comp in actors.sky_and_fog:
        if set_holdout(comp, layer.hold_out_environment) or not layer.hold_out_environment:
            continue
        actors.hidden_before.append((comp, bool(_flag(comp, "hidden_in_game"))))
        comp.set_hidden_in_game(True, False)
        hidden.append(_label(comp))
    return hidden


def clean_up(actors: ShotActors | None) -> None:
    """Put the level back as the shot found it: holdout and hidden-in-game flags restored on
    level components; the spawned character and camera removed. No level actor is destroyed."""
    if actors is None:
        return
    _unhide(actors)
    for comp, holdout in actors.holdout_before:
        set_holdout(comp, holdout)
    actors.holdout_before.clear()
    for actor in (actors.character, actors.camera):
        if actor is not None:
            _actors().destroy_actor(actor)
