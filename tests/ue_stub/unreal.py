"""Stub of Unreal Engine's `unreal` Python module, for CI (no Unreal Engine here).

Written from the public Python API docs of UE 5.4/5.5 (dev.epicgames.com/documentation/.../python-api):
only classes, functions, enum members and editor properties that those docs list, and only the
ones the scripts under unreal_project/Content/Python use. Like UE, set_editor_property /
get_editor_property raise for a property the class does not declare. Calls are recorded in
CALLS; the editor world is a list of actors (see the `stub_*` helpers, which are not UE API).
"""

from __future__ import annotations

CALLS: list[tuple[str, tuple, dict]] = []
_WORLD: list = []
_SUBSYSTEMS: dict = {}
_ASSETS: dict = {}
_TICKS: dict = {}
_COUNTER = [0]
_COMMAND_LINE = [""]
_REMOVED: dict = {}  # names taken out of this module by stub_set_engine, restored by stub_reset


def _record(name: str, *args, **kwargs) -> None:
    CALLS.append((name, args, kwargs))


def _unique(prefix: str) -> str:
    _COUNTER[0] += 1
    return f"{prefix}_{_COUNTER[0]}"


# ---------------------------------------------------------------- base types


class _Props:
    """Editor properties: PROPS maps each declared name to its default (a class is instantiated)."""

    PROPS: dict = {}

    @classmethod
    def _declared(cls) -> dict:
        out: dict = {}
        for klass in reversed(cls.__mro__):
            out.update(klass.__dict__.get("PROPS", {}))
        return out

    def _check(self, name: str) -> None:
        if name not in self._declared():
            raise Exception(
                f"Failed to find property '{name}' for attribute '{name}' on '{type(self).__name__}'"
            )

    def set_editor_property(self, name: str, value, notify_mode=None) -> None:
        self._check(name)
        default = self._declared()[name]
        struct = isinstance(default, type) and issubclass(default, StructBase)
        if (struct and not isinstance(value, default)) or (
            isinstance(default, float) and isinstance(value, StructBase)
        ):
            kind = default.__name__ if struct else "float"
            raise TypeError(f"NativizeProperty: Cannot nativize '{type(value).__name__}' as '{kind}'")
        self.__dict__.setdefault("_values", {})[name] = value
        _record(f"{type(self).__name__}.set_editor_property", name, value)

    def get_editor_property(self, name: str):
        self._check(name)
        values = self.__dict__.setdefault("_values", {})
        if name not in values:
            default = self._declared()[name]
            values[name] = default() if isinstance(default, type) else default
        return values[name]

    def set_editor_properties(self, properties: dict) -> None:
        for name, value in properties.items():
            self.set_editor_property(name, value)


class StructBase(_Props):
    def __init__(self, *args, **kwargs):
        for name, value in kwargs.items():
            self.set_editor_property(name, value)


class Object(_Props):
    def __init__(self, outer=None, name: str = "None"):
        self._name = name if name != "None" else _unique(type(self).__name__)

    def get_name(self) -> str:
        return self._name

    def get_path_name(self) -> str:
        return getattr(self, "_path", f"/Temp/{self._name}")


class EnumBase:
    def __init__(self, name: str, value: int):
        self.name, self.value = name, value

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self.name}: {self.value}>"


def _enum(name: str, *members: str) -> type:
    """A UE enum class ``name`` with ``members`` as its values, in order."""
    cls = type(name, (EnumBase,), {})
    for value, member in enumerate(members):
        setattr(cls, member, cls(member, value))
    return cls


class _Delegate:
    """A multicast delegate: UE's add_callable / add_callable_unique / remove_callable."""

    def __init__(self):
        self.callables: list = []

    def add_callable(self, fn) -> None:
        self.callables.append(fn)

    def add_callable_unique(self, fn) -> None:
        if fn not in self.callables:
            self.callables.append(fn)

    def remove_callable(self, fn) -> None:
        self.callables.remove(fn)

    def broadcast(self, *args) -> None:
        for fn in list(self.callables):
            fn(*args)


# ---------------------------------------------------------------- math and core structs


class Vector(StructBase):
    PROPS = {"x": 0.0, "y": 0.0, "z": 0.0}

    def __init__(self, x: float = 0.0, y: float = 0.0, z: float = 0.0):
        self.x, self.y, self.z = x, y, z


class Rotator(StructBase):
    PROPS = {"roll": 0.0, "pitch": 0.0, "yaw": 0.0}

    def __init__(self, roll: float = 0.0, pitch: float = 0.0, yaw: float = 0.0):
        self.roll, self.pitch, self.yaw = roll, pitch, yaw


class IntPoint(StructBase):
    PROPS = {"x": 0, "y": 0}

    def __init__(self, x: int = 0, y: int = 0):
        self.x, self.y = x, y


class FrameNumber(StructBase):
    PROPS = {"value": 0}

    def __init__(self, value: int = 0):
        self.value = value


class FrameRate(StructBase):
    PROPS = {"numerator": 24, "denominator": 1}

    def __init__(self, numerator: int = 24, denominator: int = 1):
        self.numerator, self.denominator = numerator, denominator


class SoftObjectPath(StructBase):
    PROPS = {"asset_path": "", "sub_path_string": ""}

    def __init__(self, path: str = ""):
        self.path = path


class DirectoryPath(StructBase):
    PROPS = {"path": ""}


class AssetData(StructBase):
    PROPS = {"package_name": "", "package_path": "", "asset_name": "", "asset_class_path": ""}

    def __init__(self, package_name: str = "", asset_name: str = ""):
        self.package_name, self.asset_name = package_name, asset_name


class MovieSceneObjectBindingID(StructBase):
    PROPS = {"guid": "", "sequence_id": 0}


# ---------------------------------------------------------------- enums


AntiAliasingMethod = _enum(
    "AntiAliasingMethod", "AAM_NONE", "AAM_FXAA", "AAM_TEMPORAL_AA", "AAM_MSAA", "AAM_TSR"
)


EXRCompressionFormat = _enum("EXRCompressionFormat", "NONE", "PIZ", "ZIP", "DWAA", "DWAB")


MoviePipelineShutterTiming = _enum("MoviePipelineShutterTiming", "FRAME_OPEN", "FRAME_CENTER", "FRAME_CLOSE")


MovieSceneKeyInterpolation = _enum(
    "MovieSceneKeyInterpolation", "AUTO", "USER", "BREAK", "LINEAR", "CONSTANT"
)


AutoExposureMethod = _enum("AutoExposureMethod", "AEM_HISTOGRAM", "AEM_BASIC", "AEM_MANUAL")


CameraFocusMethod = _enum("CameraFocusMethod", "DO_NOT_OVERRIDE", "MANUAL", "TRACKING", "DISABLE")


FBXImportType = _enum("FBXImportType", "FBXIT_STATIC_MESH", "FBXIT_SKELETAL_MESH", "FBXIT_ANIMATION")


RetargetSourceOrTarget = _enum("RetargetSourceOrTarget", "SOURCE", "TARGET")


AutoMapChainType = _enum("AutoMapChainType", "EXACT", "FUZZY", "CLEAR")


RootMotionRootLock = _enum("RootMotionRootLock", "REF_POSE", "ANIM_FIRST_FRAME", "ZERO")


# ---------------------------------------------------------------- rendering structs


class PostProcessSettings(StructBase):
    PROPS = {
        "override_auto_exposure_method": False,
        "auto_exposure_method": AutoExposureMethod.AEM_HISTOGRAM,
        "override_auto_exposure_bias": False,
        "auto_exposure_bias": 0.0,
        "override_auto_exposure_apply_physical_camera_exposure": False,
        "auto_exposure_apply_physical_camera_exposure": True,
        "override_motion_blur_amount": False,
        "motion_blur_amount": 0.5,
    }


class CameraFilmbackSettings(StructBase):
    PROPS = {"sensor_width": 24.89, "sensor_height": 18.67, "sensor_aspect_ratio": 1.33}


class CameraLensSettings(StructBase):
    PROPS = {"min_focal_length": 4.0, "max_focal_length": 1000.0, "min_f_stop": 1.2, "max_f_stop": 22.0}


class CameraFocusSettings(StructBase):
    PROPS = {"focus_method": CameraFocusMethod.MANUAL, "manual_focus_distance": 100000.0}


# ---------------------------------------------------------------- actors and components


class ActorComponent(Object):
    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self._owner = outer

    def get_owner(self):
        return self._owner


class SceneComponent(ActorComponent):
    PROPS = {"hidden_in_game": False, "visible": True}

    def set_hidden_in_game(self, new_hidden: bool, propagate_to_children: bool = False) -> None:
        _record("SceneComponent.set_hidden_in_game", self, new_hidden, propagate_to_children)
        self.__dict__.setdefault("_values", {})["hidden_in_game"] = new_hidden


class PrimitiveComponent(SceneComponent):
    PROPS = {"holdout": False}

    def set_holdout(self, new_holdout: bool) -> None:
        _record("PrimitiveComponent.set_holdout", self, new_holdout)
        self.__dict__.setdefault("_values", {})["holdout"] = new_holdout


class MeshComponent(PrimitiveComponent):
    pass


class StaticMeshComponent(MeshComponent):
    pass


class SkinnedMeshComponent(MeshComponent):
    pass


class SkeletalMeshComponent(SkinnedMeshComponent):
    pass


class CameraComponent(SceneComponent):
    PROPS = {"post_process_settings": PostProcessSettings, "post_process_blend_weight": 1.0}


class CineCameraComponent(CameraComponent):
    PROPS = {
        "filmback": CameraFilmbackSettings,
        "lens_settings": CameraLensSettings,
        "focus_settings": CameraFocusSettings,
        "current_focal_length": 35.0,
        "current_aperture": 2.8,
    }


class ExponentialHeightFogComponent(SceneComponent):
    PROPS = {"holdout": False}


class SkyAtmosphereComponent(SceneComponent):
    PROPS = {"holdout": False}


class VolumetricCloudComponent(SceneComponent):
    PROPS = {"holdout": False}


class Actor(Object):
    PROPS = {"hidden": False}

    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self._label = self._name
        self._components: list = []
        self.hidden_in_game = False

    def get_actor_label(self) -> str:
        return self._label

    def set_actor_label(self, new_actor_label: str, mark_dirty: bool = True) -> None:
        self._label = new_actor_label

    def set_actor_hidden_in_game(self, new_hidden: bool) -> None:
        _record("Actor.set_actor_hidden_in_game", self, new_hidden)
        self.hidden_in_game = new_hidden

    def get_components_by_class(self, component_class: type) -> list:
        return [c for c in self._components if isinstance(c, component_class)]

    def stub_add_component(self, component: ActorComponent) -> ActorComponent:
        component._owner = self
        self._components.append(component)
        return component


class CineCameraActor(Actor):
    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self._camera = self.stub_add_component(CineCameraComponent(self, "CameraComponent"))

    def get_cine_camera_component(self) -> CineCameraComponent:
        return self._camera


class Brush(Actor):
    pass


class Volume(Brush):
    pass


class PostProcessVolume(Volume):
    PROPS = {
        "settings": PostProcessSettings,
        "priority": 0.0,
        "blend_radius": 100.0,
        "blend_weight": 1.0,
        "enabled": True,
        "unbound": False,
    }


class StubMetaHuman(Actor):
    """Not UE API: stands in for a MetaHuman Blueprint's actor (Body, Face, a groom)."""

    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self.stub_add_component(SkeletalMeshComponent(self, "Face"))
        self.stub_add_component(SkeletalMeshComponent(self, "Body"))
        self.stub_add_component(PrimitiveComponent(self, "Hair"))


def stub_reset() -> None:
    """Not UE API: an empty world, no calls, no assets, the UE 5.5 API."""
    stub_set_engine("5.5")
    CALLS.clear()
    _WORLD.clear()
    _SUBSYSTEMS.clear()
    _ASSETS.clear()
    _TICKS.clear()
    _COMMAND_LINE[0] = ""


def stub_set_engine(version: str) -> None:
    """Not UE API: model the Python API of UE "5.4" or "5.5" (the default). On 5.4 the skeletal
    animation params' play_rate is a float and the time-warp types do not exist; from 5.5 it is
    a MovieSceneTimeWarpVariant."""
    globals().update(_REMOVED)
    _REMOVED.clear()
    if version == "5.4":
        MovieSceneSkeletalAnimationParams.PROPS["play_rate"] = 1.0
        for name in ("MovieSceneTimeWarpVariant", "MovieSceneTimeWarpExtensions"):
            _REMOVED[name] = globals().pop(name)
    else:
        MovieSceneSkeletalAnimationParams.PROPS["play_rate"] = MovieSceneTimeWarpVariant


def stub_set_command_line(line: str) -> None:
    """Not UE API: what SystemLibrary.get_command_line returns."""
    _COMMAND_LINE[0] = line


def stub_add_level_actor(actor: Actor) -> Actor:
    """Not UE API: put an actor in the open level."""
    _WORLD.append(actor)
    return actor


def stub_ticks() -> dict:
    """Not UE API: the registered Slate post-tick callbacks by handle."""
    return _TICKS


# ---------------------------------------------------------------- editor libraries and subsystems


class EditorSubsystem(Object):
    pass


class EditorActorSubsystem(EditorSubsystem):
    def spawn_actor_from_class(
        self, actor_class: type, location: Vector, rotation: Rotator = None, transient=False
    ):
        _record("EditorActorSubsystem.spawn_actor_from_class", actor_class, location, rotation)
        actor = actor_class()
        actor.location, actor.rotation = location, rotation
        _WORLD.append(actor)
        return actor

    def get_all_level_actors(self) -> list:
        return list(_WORLD)

    def destroy_actor(self, actor_to_destroy: Actor) -> bool:
        _record("EditorActorSubsystem.destroy_actor", actor_to_destroy)
        if actor_to_destroy in _WORLD:
            _WORLD.remove(actor_to_destroy)
            actor_to_destroy._owner_destroyed = True
            return True
        return False


def get_editor_subsystem(subsystem_class: type):
    if subsystem_class not in _SUBSYSTEMS:
        _SUBSYSTEMS[subsystem_class] = subsystem_class()
    return _SUBSYSTEMS[subsystem_class]


class EditorLoadingAndSavingUtils(Object):
    @classmethod
    def load_map(cls, filename: str):
        _record("EditorLoadingAndSavingUtils.load_map", filename)
        return Object(name=filename.rsplit("/", 1)[-1])


class EditorAssetLibrary(Object):
    @classmethod
    def load_blueprint_class(cls, asset_path: str):
        _record("EditorAssetLibrary.load_blueprint_class", asset_path)
        return StubMetaHuman

    @classmethod
    def load_asset(cls, asset_path: str):
        _record("EditorAssetLibrary.load_asset", asset_path)
        if asset_path not in _ASSETS:
            asset = AnimSequence(name=asset_path.rsplit("/", 1)[-1])
            asset._path = asset_path
            _ASSETS[asset_path] = asset
        return _ASSETS[asset_path]

    @classmethod
    def does_asset_exist(cls, asset_path: str) -> bool:
        return asset_path in _ASSETS

    @classmethod
    def delete_asset(cls, asset_path_to_delete: str) -> bool:
        _record("EditorAssetLibrary.delete_asset", asset_path_to_delete)
        return _ASSETS.pop(asset_path_to_delete, None) is not None

    @classmethod
    def save_loaded_asset(cls, asset_to_save, only_if_is_dirty: bool = True) -> bool:
        _record("EditorAssetLibrary.save_loaded_asset", asset_to_save, only_if_is_dirty)
        return True

    @classmethod
    def rename_asset(cls, source_asset_path: str, destination_asset_path: str) -> bool:
        _record("EditorAssetLibrary.rename_asset", source_asset_path, destination_asset_path)
        _ASSETS[destination_asset_path] = _ASSETS.pop(source_asset_path, None)
        return True

    @classmethod
    def find_asset_data(cls, asset_path: str) -> AssetData:
        return AssetData(package_name=asset_path.split(".")[0], asset_name=asset_path.rsplit("/", 1)[-1])


class Factory(Object):
    pass


class LevelSequenceFactoryNew(Factory):
    pass


class IKRigDefinitionFactory(Factory):
    pass


class IKRetargetFactory(Factory):
    pass


class AssetTools(Object):
    def create_asset(self, asset_name: str, package_path: str, asset_class: type, factory: Factory):
        _record("AssetTools.create_asset", asset_name, package_path, asset_class, factory)
        asset = asset_class(name=asset_name)
        asset._path = f"{package_path}/{asset_name}"
        _ASSETS[asset._path] = asset
        return asset

    def import_asset_tasks(self, import_tasks: list) -> None:
        _record("AssetTools.import_asset_tasks", import_tasks)
        for task in import_tasks:
            path = f"{task.get_editor_property('destination_path')}/{task.get_editor_property('destination_name')}"
            anim = AnimSequence(name=path.rsplit("/", 1)[-1])
            anim._path = path
            _ASSETS[path] = anim
            imported = [path]
            if task.get_editor_property("options").get_editor_property("import_mesh"):
                mesh = SkeletalMesh(name="SK_Mixamo")
                mesh._path = f"{path}_mesh"
                _ASSETS[mesh._path] = mesh
                imported.insert(0, mesh._path)
            task.set_editor_property("imported_object_paths", imported)


class AssetToolsHelpers(Object):
    @classmethod
    def get_asset_tools(cls) -> AssetTools:
        return get_editor_subsystem(AssetTools)


class SystemLibrary(Object):
    @classmethod
    def get_engine_version(cls) -> str:
        return "5.5.0-stub"

    @classmethod
    def get_command_line(cls) -> str:
        return _COMMAND_LINE[0]


class Paths(Object):
    @classmethod
    def project_plugins_dir(cls) -> str:
        return "/nonexistent/Plugins/"


def log(arg) -> None:
    _record("log", arg)


def log_warning(arg) -> None:
    _record("log_warning", arg)


def log_error(arg) -> None:
    _record("log_error", arg)


def register_slate_post_tick_callback(callable_):
    handle = object()
    _TICKS[handle] = callable_
    return handle


def unregister_slate_post_tick_callback(handle) -> None:
    del _TICKS[handle]


# ---------------------------------------------------------------- Sequencer


class MovieSceneScriptingChannel(Object):
    PROPS = {"channel_name": ""}


class MovieSceneScriptingDoubleChannel(MovieSceneScriptingChannel):
    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self.keys: list = []  # stub: (frame, value, interpolation)

    def add_key(
        self, time: FrameNumber, new_value: float, sub_frame: float = 0.0, time_unit=None, interpolation=None
    ):
        self.keys.append((time.value, new_value, interpolation))


class MovieSceneScriptingFloatChannel(MovieSceneScriptingDoubleChannel):
    pass


class MovieSceneSection(Object):
    PROPS = {"is_active": True, "is_locked": False}
    CHANNELS: tuple = ()

    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self.range = None
        self._channels = [ch(self, n) for n, ch in self.CHANNELS]

    def set_range(self, start_frame: int, end_frame: int) -> None:
        self.range = (start_frame, end_frame)

    def get_all_channels(self) -> list:
        return list(self._channels)


_D = MovieSceneScriptingDoubleChannel


class MovieScene3DTransformSection(MovieSceneSection):
    CHANNELS = tuple(
        (n, _D)
        for n in (
            "Location.X",
            "Location.Y",
            "Location.Z",
            "Rotation.X",
            "Rotation.Y",
            "Rotation.Z",
            "Scale.X",
            "Scale.Y",
            "Scale.Z",
        )
    ) + (("Weight", MovieSceneScriptingFloatChannel),)


class MovieSceneFloatSection(MovieSceneSection):
    CHANNELS = (("Value", MovieSceneScriptingFloatChannel),)


class MovieSceneTimeWarpVariant(StructBase):
    """5.5+: a time-warp; by default a constant play rate of 1.0. The 5.5 Python docs list no
    members; set_fixed_play_rate / to_fixed_play_rate are from the 5.7 docs."""

    def __init__(self, fixed_play_rate: float = 1.0):
        self._rate = float(fixed_play_rate)

    def set_fixed_play_rate(self, fixed_play_rate: float) -> None:
        self._rate = float(fixed_play_rate)

    def to_fixed_play_rate(self) -> float:
        return self._rate


class MovieSceneTimeWarpExtensions(Object):
    """5.5+ (SequencerScripting): time-warp helpers."""

    @classmethod
    def make_time_warp(cls, fixed_play_rate: float) -> MovieSceneTimeWarpVariant:
        _record("MovieSceneTimeWarpExtensions.make_time_warp", fixed_play_rate)
        return MovieSceneTimeWarpVariant(fixed_play_rate)

    @classmethod
    def to_fixed_play_rate(cls, time_warp: MovieSceneTimeWarpVariant) -> float:
        return time_warp.to_fixed_play_rate()


class MovieSceneSkeletalAnimationParams(StructBase):
    PROPS = {
        "animation": None,
        "start_frame_offset": FrameNumber,
        "end_frame_offset": FrameNumber,
        "first_loop_start_frame_offset": FrameNumber,
        "play_rate": MovieSceneTimeWarpVariant,  # a float on 5.4: stub_set_engine("5.4")
        "reverse": False,
        "slot_name": "DefaultSlot",
        "force_custom_mode": False,
        "skip_anim_notifiers": False,
    }


class MovieSceneSkeletalAnimationSection(MovieSceneSection):
    PROPS = {"params": MovieSceneSkeletalAnimationParams, "show_skeleton": False}


class MovieSceneCameraCutSection(MovieSceneSection):
    PROPS = {"camera_binding_id": MovieSceneObjectBindingID, "lock_previous_camera": False}

    def set_camera_binding_id(self, camera_binding_id: MovieSceneObjectBindingID) -> None:
        self.__dict__.setdefault("_values", {})["camera_binding_id"] = camera_binding_id


class MovieSceneTrack(Object):
    SECTION: type = MovieSceneSection

    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self.sections: list = []

    def add_section(self):
        section = self.SECTION(self)
        self.sections.append(section)
        return section


class MovieScene3DTransformTrack(MovieSceneTrack):
    SECTION = MovieScene3DTransformSection


class MovieSceneFloatTrack(MovieSceneTrack):
    SECTION = MovieSceneFloatSection

    def set_property_name_and_path(self, property_name: str, property_path: str) -> None:
        self.property_name, self.property_path = property_name, property_path


class MovieSceneSkeletalAnimationTrack(MovieSceneTrack):
    SECTION = MovieSceneSkeletalAnimationSection


class MovieSceneCameraCutTrack(MovieSceneTrack):
    SECTION = MovieSceneCameraCutSection


class MovieSceneBindingProxy(StructBase):
    def __init__(self, bound=None):
        self.bound, self.parent, self.tracks = bound, None, []

    def add_track(self, track_type: type):
        track = track_type()
        self.tracks.append(track)
        return track

    def set_parent(self, parent: MovieSceneBindingProxy) -> None:
        self.parent = parent


class MovieSceneSequence(Object):
    pass


class LevelSequence(MovieSceneSequence):
    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self.bindings: list = []
        self.tracks: list = []
        self.display_rate = FrameRate(30, 1)
        self.playback = [0, 0]

    def set_display_rate(self, display_rate: FrameRate) -> None:
        self.display_rate = display_rate

    def get_tick_resolution(self) -> FrameRate:
        return FrameRate(24000, 1)

    def set_playback_start(self, start_frame: int) -> None:
        self.playback[0] = start_frame

    def set_playback_end(self, end_frame: int) -> None:
        self.playback[1] = end_frame

    def add_possessable(self, object_to_possess) -> MovieSceneBindingProxy:
        binding = MovieSceneBindingProxy(object_to_possess)
        self.bindings.append(binding)
        return binding

    def add_track(self, track_type: type):
        track = track_type()
        self.tracks.append(track)
        return track

    def get_binding_id(self, binding: MovieSceneBindingProxy) -> MovieSceneObjectBindingID:
        binding_id = MovieSceneObjectBindingID()
        binding_id.binding = binding  # stub: remembers what it names
        return binding_id


# ---------------------------------------------------------------- animation assets and retargeting


class AnimationAsset(Object):
    pass


class AnimSequenceBase(AnimationAsset):
    STUB_LENGTH_S = 10.0  # stub: the play length of every clip

    def get_play_length(self) -> float:
        return getattr(self, "_length", self.STUB_LENGTH_S)


class AnimSequence(AnimSequenceBase):
    pass


class Skeleton(Object):
    pass


class SkeletalMesh(Object):
    PROPS = {"skeleton": Skeleton}


class AnimationLibrary(Object):
    @classmethod
    def get_sequence_length(cls, animation_sequence_base: AnimSequenceBase) -> float:
        return animation_sequence_base.get_play_length()

    @classmethod
    def set_root_motion_enabled(cls, animation_sequence: AnimSequence, enabled: bool) -> None:
        _record("AnimationLibrary.set_root_motion_enabled", animation_sequence, enabled)

    @classmethod
    def set_root_motion_lock_type(cls, animation_sequence: AnimSequence, root_motion_lock_type) -> None:
        _record("AnimationLibrary.set_root_motion_lock_type", animation_sequence, root_motion_lock_type)

    @classmethod
    def set_is_root_motion_lock_forced(cls, animation_sequence: AnimSequence, forced: bool) -> None:
        _record("AnimationLibrary.set_is_root_motion_lock_forced", animation_sequence, forced)


class FbxImportUI(Object):
    PROPS = {
        "import_mesh": True,
        "import_as_skeletal": False,
        "import_animations": False,
        "import_materials": True,
        "import_textures": True,
        "automated_import_should_detect_type": True,
        "mesh_type_to_import": FBXImportType.FBXIT_STATIC_MESH,
        "skeleton": None,
    }


class AssetImportTask(Object):
    PROPS = {
        "filename": "",
        "destination_path": "",
        "destination_name": "",
        "automated": False,
        "replace_existing": False,
        "save": False,
        "options": None,
        "imported_object_paths": list,
    }


class IKRigDefinition(Object):
    pass


class IKRetargeter(Object):
    pass


class IKRigController(Object):
    @classmethod
    def get_controller(cls, ik_rig_definition: IKRigDefinition) -> IKRigController:
        return cls(name=f"controller_{ik_rig_definition.get_name()}")

    def set_skeletal_mesh(self, skeletal_mesh: SkeletalMesh) -> bool:
        _record("IKRigController.set_skeletal_mesh", skeletal_mesh)
        return True

    def apply_auto_generated_retarget_definition(self) -> bool:
        _record("IKRigController.apply_auto_generated_retarget_definition")
        return True


class IKRetargeterController(Object):
    @classmethod
    def get_controller(cls, retargeter_asset: IKRetargeter) -> IKRetargeterController:
        return cls(name=f"controller_{retargeter_asset.get_name()}")

    def set_ik_rig(self, source_or_target: RetargetSourceOrTarget, ik_rig: IKRigDefinition) -> None:
        _record("IKRetargeterController.set_ik_rig", source_or_target, ik_rig)

    def auto_map_chains(self, auto_map_type: AutoMapChainType, force_remap: bool) -> None:
        _record("IKRetargeterController.auto_map_chains", auto_map_type, force_remap)


class IKRetargetBatchOperationInputs(StructBase):
    PROPS = {
        "assets_to_retarget": list,
        "source_mesh": None,
        "target_mesh": None,
        "ik_retarget_asset": None,
        "search": "",
        "replace": "",
        "prefix": "",
        "suffix": "",
        "target_path": "",
        "use_source_path": False,
        "include_referenced_assets": False,
        "overwrite_existing_files": False,
        "retain_additive_flags": False,
    }


def _retargeted(assets_to_retarget: list, suffix: str) -> list:
    out = []
    for data in assets_to_retarget:
        package = f"{data.package_name}{suffix}"
        _ASSETS[package] = AnimSequence(name=package.rsplit("/", 1)[-1])
        out.append(AssetData(package_name=package, asset_name=f"{data.asset_name}{suffix}"))
    return out


class IKRetargetBatchOperation(Object):
    """The newest API: run_batch_retarget plus the deprecated duplicate_and_retarget."""

    @classmethod
    def duplicate_and_retarget(
        cls,
        assets_to_retarget,
        source_mesh,
        target_mesh,
        ik_retarget_asset,
        search="",
        replace="",
        prefix="",
        suffix="",
        include_referenced_assets=True,
        overwrite_existing_files=False,
    ) -> list:
        _record("IKRetargetBatchOperation.duplicate_and_retarget", assets_to_retarget, suffix)
        return _retargeted(assets_to_retarget, suffix)

    @classmethod
    def run_batch_retarget(cls, inputs: IKRetargetBatchOperationInputs) -> list:
        _record("IKRetargetBatchOperation.run_batch_retarget", inputs)
        return _retargeted(
            inputs.get_editor_property("assets_to_retarget"), inputs.get_editor_property("suffix")
        )


# ---------------------------------------------------------------- Movie Render Queue


class MoviePipelineSetting(Object):
    PROPS = {"enabled": True}


class MoviePipelineOutputSetting(MoviePipelineSetting):
    PROPS = {
        "output_directory": DirectoryPath,
        "file_name_format": "{sequence_name}.{frame_number}",
        "output_resolution": IntPoint,
        "use_custom_frame_rate": False,
        "output_frame_rate": FrameRate,
        "override_existing_output": True,
        "zero_pad_frame_numbers": 4,
        "frame_number_offset": 0,
        "handle_frame_count": 0,
        "use_custom_playback_range": False,
        "custom_start_frame": 0,
        "custom_end_frame": 0,
        "auto_version": True,
        "flush_disk_writes_per_shot": False,
    }


class MoviePipelineOutputBase(MoviePipelineSetting):
    pass


class MoviePipelineImageSequenceOutputBase(MoviePipelineOutputBase):
    PROPS = {"output_format": None}


class MoviePipelineImageSequenceOutput_EXR(MoviePipelineImageSequenceOutputBase):
    PROPS = {"compression": EXRCompressionFormat.PIZ, "multilayer": True}


class MoviePipelineAntiAliasingSetting(MoviePipelineSetting):
    PROPS = {
        "spatial_sample_count": 1,
        "temporal_sample_count": 1,
        "override_anti_aliasing": False,
        "anti_aliasing_method": AntiAliasingMethod.AAM_TSR,
        "render_warm_up_count": 32,
        "use_camera_cut_for_warm_up": False,
        "engine_warm_up_count": 0,
        "render_warm_up_frames": False,
        "accumulation_gamma": 1.0,
    }


class MoviePipelineRenderPass(MoviePipelineSetting):
    pass


class MoviePipelineImagePassBase(MoviePipelineRenderPass):
    pass


class MoviePipelineDeferredPassBase(MoviePipelineImagePassBase):
    PROPS = {
        "accumulator_includes_alpha": False,
        "disable_multisample_effects": False,
        "add_default_layer": False,
        "actor_layers": list,
        "additional_post_process_materials": list,
    }


class MoviePipelineCameraSetting(MoviePipelineSetting):
    PROPS = {
        "shutter_timing": MoviePipelineShutterTiming.FRAME_CENTER,
        "overscan_percentage": 0.0,
        "render_all_cameras": False,
    }


class MoviePipelineGameOverrideSetting(MoviePipelineSetting):
    PROPS = {
        "cinematic_quality_settings": True,
        "flush_grass_streaming": True,
        "flush_streaming_managers": False,
        "override_view_distance_scale": True,
        "view_distance_scale": 50,
    }


class MoviePipelineConsoleVariableSetting(MoviePipelineSetting):
    PROPS = {"start_console_commands": list, "end_console_commands": list}

    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self.cvars: dict = {}

    def add_or_update_console_variable(self, name: str, value: float) -> bool:
        self.cvars[name] = value
        return True


class MoviePipelineConfigBase(Object):
    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self.settings: list = []

    def find_or_add_setting_by_class(self, class_: type, include_disabled_settings: bool = False):
        for setting in self.settings:
            if isinstance(setting, class_):
                return setting
        setting = class_(self)
        self.settings.append(setting)
        return setting


class MoviePipelinePrimaryConfig(MoviePipelineConfigBase):
    pass


class MoviePipelineExecutorJob(Object):
    PROPS = {
        "job_name": "",
        "sequence": SoftObjectPath,
        "map": SoftObjectPath,
        "author": "",
        "comment": "",
        "enabled": True,
    }

    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self._config = MoviePipelinePrimaryConfig(self)

    def get_configuration(self) -> MoviePipelinePrimaryConfig:
        return self._config


class MoviePipelineQueue(Object):
    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self.jobs: list = []

    def allocate_new_job(self, job_type: type) -> MoviePipelineExecutorJob:
        job = job_type(self)
        self.jobs.append(job)
        return job

    def delete_all_jobs(self) -> None:
        self.jobs.clear()


class MoviePipelineExecutorBase(Object):
    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self.on_executor_finished_delegate = _Delegate()
        self.on_executor_errored_delegate = _Delegate()
        self.cancelled = False  # stub: cancel_all_jobs was called

    def cancel_all_jobs(self) -> None:
        """Like UE, returns before the executor has stopped: the finished delegate comes later."""
        _record("MoviePipelineExecutorBase.cancel_all_jobs", self)
        self.cancelled = True


class MoviePipelineLinearExecutorBase(MoviePipelineExecutorBase):
    pass


class MoviePipelinePIEExecutor(MoviePipelineLinearExecutorBase):
    pass


class MoviePipelineQueueSubsystem(EditorSubsystem):
    def __init__(self, outer=None, name: str = "None"):
        super().__init__(outer, name)
        self.queue = MoviePipelineQueue(self)
        self.rendered: list = []  # stub: (executor, jobs) per render call
        self.active = None  # stub: the executor MRQ holds (set it to None: PIE has closed)

    def get_queue(self) -> MoviePipelineQueue:
        return self.queue

    def render_queue_with_executor_instance(self, executor: MoviePipelineExecutorBase) -> None:
        """Like UE, the subsystem holds the executor until its finished delegate has fired; it
        binds after the caller, so during the caller's delegate it still reports rendering."""
        _record("MoviePipelineQueueSubsystem.render_queue_with_executor_instance", executor)
        self.rendered.append((executor, list(self.queue.jobs)))
        self.active = executor
        executor.on_executor_finished_delegate.add_callable(self._released)

    def _released(self, executor, success) -> None:
        if self.active is executor:
            self.active = None

    def is_rendering(self) -> bool:
        return self.active is not None

    def get_active_executor(self):
        return self.active
