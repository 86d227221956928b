"""Dataset configuration: a frozen dataclass loaded from YAML, with overrides on top.

Precedence: package defaults (``render/defaults/dataset.yaml``) < ``--config FILE`` < CLI flags.
Unknown keys and ill-typed values are rejected with one-line errors (:class:`ConfigError`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = Path(__file__).resolve().parent / "defaults" / "dataset.yaml"
BACKENDS = ("blender", "unreal")
DEVICES = ("auto", "cpu", "gpu")
# What the val split holds out whole (render.plan.plan_split): scenes and identities (default),
# scenes only, identities only (val shots then drawn by share), or nothing (shots by share).
HOLDOUTS = ("scene+identity", "scene", "identity", "shot")
PASSES = ("rgb", "alpha", "fg", "bg")
PIXEL_FILTERS = ("box", "gaussian", "blackman_harris")
FSTOP_LIMITS = (0.5, 64.0)  # what real lenses span


class ConfigError(ValueError):
    """A user-facing configuration error; its message is one line naming the bad value."""


@dataclass(frozen=True)
class Assets:
    hdri_dir: str | None = None
    bvh_dir: str | None = (
        None  # BVH motion capture clips (CMU conventions, or any skeleton in animations/skeletons.yaml)
    )
    mixamo_dir: str | None = None  # Mixamo FBX clips (30 fps, with or without skin)

    def clip_folders(self) -> dict[str, str | None]:
        """Folders of clips that join the clip catalog, by source."""
        return {"bvh": self.bvh_dir, "mixamo": self.mixamo_dir}


@dataclass(frozen=True)
class UnrealConfig:
    """The Unreal Engine backend (docs/unreal.md). Either attach to one running engine
    (``endpoint``) or launch and own one per GPU (``engine`` binary and ``project``)."""

    endpoint: str | None = None  # HOST:PORT of a running engine's UnrealCV server: attach, own nothing
    inbox: str | None = None  # with endpoint: the folder that engine was started with (-AM4KInbox=), shared
    engine: str | None = None  # the UnrealEditor binary to launch, one per GPU
    project: str | None = None  # the .uproject; null = unreal_project/AlphaMatte4K.uproject of this repo
    port: int = 9000  # first UnrealCV port tried for launched engines (each takes the next free one)
    extra_args: tuple[str, ...] = ()  # more engine command-line arguments
    metahumans: str | None = None  # identity id -> MetaHuman Blueprint; null = render/people/metahumans.yaml
    connect_timeout: float = 900.0  # seconds for a launched engine to start answering (shaders compile)
    request_timeout: float = 60.0  # seconds for any one UnrealCV request
    stall_timeout: float = 600.0  # seconds without a heartbeat from the engine before a shot fails
    layer_stall_seconds: float = 900.0  # seconds a rendering layer may go without writing a frame
    poll_seconds: float = 1.0  # how often the heartbeat and frames are looked at
    restart_after: int = 8  # shots per launched engine before it is restarted (its memory grows)
    spatial_samples: int = 8  # Movie Render Queue samples per frame: spatial x temporal, all accumulated
    temporal_samples: int = 8  # (temporal samples spread over the shutter make the motion blur)
    warmup_frames: int = 32  # frames rendered and discarded before the first saved one
    engine_version: str | None = None  # e.g. "5.5": engines reporting another version are refused

    # What changes the pixels; the rest is where and how the engine runs.
    CONTENT = ("spatial_samples", "temporal_samples", "warmup_frames", "engine_version")

    def project_path(self) -> Path:
        return Path(self.project) if self.project else REPO_ROOT / "unreal_project" / "AlphaMatte4K.uproject"

    def metahumans_path(self) -> Path:
        return (
            Path(self.metahumans) if self.metahumans else REPO_ROOT / "render" / "people" / "metahumans.yaml"
        )


@dataclass(frozen=True)
class DatasetConfig:
    seed: int = 0
    scenes: int = 22
    cams: int = 900
    frames: int = 130
    frames_jitter: float = 0.15
    fps: int = 30
    resolution: tuple[int, int] = (2160, 3840)
    samples: int = 64
    alpha_samples: int = 16384
    alpha_min_samples: int = 128
    alpha_threshold: float = 0.0005
    alpha_time_strata: int = 8
    sampler_seed: int | None = None
    pixel_filter: str = "box"
    filter_width: float = 1.0
    depth_of_field: bool = True
    fstop: tuple[float, float] = (1.8, 8.0)
    exposure: tuple[float, float] = (-0.5, 0.5)  # stops added to each shot's scene exposure, uniform
    motion_blur: bool = True
    shutter: float = 0.5
    characters: int = 48
    val_fraction: float = 0.1
    holdout: str = "scene+identity"  # what the val split holds out whole: see render.plan.HOLDOUTS
    passes: tuple[str, ...] = ("rgb", "alpha", "fg", "bg")
    backend: str = "blender"
    scene_catalog: str | None = None
    clip_catalog: str | None = None
    out: str = "data"
    manifests: str = "manifests"
    workers: int = 0
    threads: int = 0
    address: str | None = None
    retries: int = 2
    recycle_after: int = 8
    device: str = "auto"  # auto | cpu | gpu: where Cycles renders (auto: a GPU when the node has one)
    deadline_base: float = 600.0  # seconds a shot may take: base + per_frame_mpix x frames x megapixels
    deadline_per_frame_mpix: float = 3600.0
    scratch: str | None = None  # render work directories: None = <each node's temp dir>/amatte4k-<dataset>
    worker_memory_gb: float = 0.0  # memory each render actor asks Ray for; 0 = estimated from the resolution
    shard_maxsize: int = 3 << 30
    hair_strands: int = 60000
    hair_dynamics: bool = True
    denoise: bool = False
    assets: Assets = field(default_factory=Assets)
    unreal: UnrealConfig = field(default_factory=UnrealConfig)

    @property
    def width(self) -> int:
        return self.resolution[0]

    @property
    def height(self) -> int:
        return self.resolution[1]

    def scene_catalog_path(self) -> Path:
        return Path(self.scene_catalog) if self.scene_catalog else REPO_ROOT / "scenes" / "catalog.yaml"

    def clip_catalog_path(self) -> Path:
        return Path(self.clip_catalog) if self.clip_catalog else REPO_ROOT / "animations" / "clips.yaml"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["resolution"] = list(self.resolution)
        d["passes"] = list(self.passes)
        d["fstop"] = list(self.fstop)
        d["exposure"] = list(self.exposure)
        d["unreal"]["extra_args"] = list(self.unreal.extra_args)
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=True)

    # Keys that change where or how fast the data is made, not what the data is: a resumed run
    # may change them freely. (The catalogs' contents are checked by digest, see render.identity,
    # so a catalog may move.)
    RUNTIME_KEYS = (
        "out",
        "manifests",
        "workers",
        "threads",
        "address",
        "retries",
        "recycle_after",
        "device",
        "deadline_base",
        "deadline_per_frame_mpix",
        "worker_memory_gb",
        "scratch",
        "scene_catalog",
        "clip_catalog",
    )

    def content_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.to_dict().items() if k not in self.RUNTIME_KEYS}
        if self.backend == "unreal":
            d["unreal"] = {k: d["unreal"][k] for k in UnrealConfig.CONTENT}
        else:  # another engine's settings do not change this one's pixels
            d.pop("unreal")
        return d


def parse_resolution(value: Any) -> tuple[int, int]:
    """``"2160x3840"`` or ``[2160, 3840]`` → ``(width, height)``."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", value)
        if not m:
            raise ConfigError(f"resolution {value!r}: expected WIDTHxHEIGHT, e.g. 2160x3840")
        w, h = int(m.group(1)), int(m.group(2))
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(type(v) is int for v in value):
        w, h = value
    else:
        raise ConfigError(f"resolution {value!r}: expected WIDTHxHEIGHT or [width, height]")
    if w < 8 or h < 8 or w > 16384 or h > 16384:
        raise ConfigError(f"resolution {w}x{h}: each side must be between 8 and 16384 pixels")
    return w, h


def parse_exposure(value: Any) -> tuple[float, float]:
    """``[lo, hi]`` stops (or one number) → an exposure range with -4 <= lo <= hi <= 4."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value, value]
    if not (
        isinstance(value, (list, tuple)) and len(value) == 2 and all(type(v) in (int, float) for v in value)
    ):
        raise ConfigError(f"exposure {value!r}: expected a range of stops [lo, hi], e.g. [-0.5, 0.5]")
    lo, hi = float(value[0]), float(value[1])
    if not (-4.0 <= lo <= hi <= 4.0):
        raise ConfigError(f"exposure [{lo}, {hi}]: need -4 <= lo <= hi <= 4 (stops)")
    return lo, hi


def parse_fstop(value: Any) -> tuple[float, float]:
    """``[lo, hi]`` or ``"lo,hi"`` or one number → an f-stop range with 0 < lo <= hi."""
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",")]
        except ValueError:
            raise ConfigError(f"fstop {value!r}: expected LO,HI (e.g. 1.8,8)") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value, value]
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(type(v) in (int, float) for v in value)
    ):
        raise ConfigError(f"fstop {value!r}: expected a range [lo, hi], e.g. [1.8, 8.0]")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"fstop [{lo}, {hi}]: f-stops must be finite numbers")
    if lo <= 0 or hi <= 0:
        raise ConfigError(f"fstop [{lo}, {hi}]: f-stops must be positive")
    if lo < FSTOP_LIMITS[0] or hi > FSTOP_LIMITS[1]:
        raise ConfigError(
            f"fstop [{lo}, {hi}]: each f-stop must lie in [{FSTOP_LIMITS[0]}, {FSTOP_LIMITS[1]}]"
        )
    if lo > hi:
        raise ConfigError(f"fstop [{lo}, {hi}]: empty range (lo > hi)")
    return lo, hi


def _check_type(key: str, value: Any, expected: Any) -> Any:
    # bool is an int subclass in Python: reject True where a count is expected and vice versa.
    if expected is int:
        if type(value) is not int:
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    elif expected is float:
        if type(value) not in (int, float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value)
    elif expected is bool:
        if type(value) is not bool:
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
    elif expected is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
    elif expected == "int|None":
        if value is not None and type(value) is not int:
            raise ConfigError(f"{key}: expected an integer or null, got {value!r}")
    elif expected == "str|None":
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string or null, got {value!r}")
    return value


_TYPES = {f.name: f.type for f in dataclasses.fields(DatasetConfig)}
_SIMPLE = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "str | None": "str|None",
    "int | None": "int|None",
}


def _validate(d: dict[str, Any]) -> DatasetConfig:
    unknown = sorted(set(d) - set(_TYPES))
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
    kw: dict[str, Any] = {}
    for key, value in d.items():
        t = _TYPES[key]
        if key == "resolution":
            kw[key] = parse_resolution(value)
        elif key == "passes":
            if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
                raise ConfigError(f"passes: expected a list of pass names, got {value!r}")
            bad = [p for p in value if p not in PASSES]
            if bad:
                raise ConfigError(f"passes: unknown pass(es) {bad}; choose from {list(PASSES)}")
            if "rgb" not in value or "alpha" not in value:
                raise ConfigError(f"passes: {list(value)} must include rgb and alpha")
            if "fg" in value and "bg" not in value:
                raise ConfigError(
                    f"passes: {list(value)}: fg needs bg (fg.exr is premultiplied by α only after "
                    "I, F and B are made consistent, which takes all three)"
                )
            kw[key] = tuple(p for p in PASSES if p in value)
        elif key == "fstop":
            kw[key] = parse_fstop(value)
        elif key == "exposure":
            kw[key] = parse_exposure(value)
        elif key == "assets":
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ConfigError(f"assets: expected a mapping, got {value!r}")
            bad = sorted(set(value) - {f.name for f in dataclasses.fields(Assets)})
            if bad:
                raise ConfigError(f"unknown config key(s): {', '.join('assets.' + b for b in bad)}")
            kw[key] = Assets(**{k: _check_type(f"assets.{k}", v, "str|None") for k, v in value.items()})
        elif key == "unreal":
            kw[key] = _unreal(value)
        else:
            kw[key] = _check_type(key, value, _SIMPLE[t])
    cfg = DatasetConfig(**kw)
    _check_ranges(cfg)
    return cfg


def _unreal(value: Any) -> UnrealConfig:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"unreal: expected a mapping, got {value!r}")
    types = {f.name: f.type for f in dataclasses.fields(UnrealConfig)}
    bad = sorted(set(value) - set(types))
    if bad:
        raise ConfigError(f"unknown config key(s): {', '.join('unreal.' + b for b in bad)}")
    kw: dict[str, Any] = {}
    for k, v in value.items():
        if k == "extra_args":
            if not isinstance(v, (list, tuple)) or not all(isinstance(a, str) for a in v):
                raise ConfigError(f"unreal.extra_args: expected a list of strings, got {v!r}")
            kw[k] = tuple(v)
        else:
            kw[k] = _check_type(f"unreal.{k}", v, _SIMPLE[types[k]])
    u = UnrealConfig(**kw)
    for k in ("spatial_samples", "temporal_samples", "restart_after", "port"):
        if getattr(u, k) <= 0:
            raise ConfigError(f"unreal.{k}: must be a positive integer, got {getattr(u, k)}")
    if u.port > 65535:
        raise ConfigError(f"unreal.port: {u.port} is not a TCP port")
    if u.warmup_frames < 0:
        raise ConfigError(f"unreal.warmup_frames: must be zero or positive, got {u.warmup_frames}")
    for k in ("connect_timeout", "request_timeout", "stall_timeout", "poll_seconds", "layer_stall_seconds"):
        if not 0 < getattr(u, k) < float("inf"):
            raise ConfigError(f"unreal.{k}: must be a positive number of seconds, got {getattr(u, k)}")
    if u.endpoint is not None:
        host, sep, port = u.endpoint.rpartition(":")
        if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(f"unreal.endpoint {u.endpoint!r}: expected HOST:PORT, e.g. 127.0.0.1:9000")
    if u.inbox is not None and (not Path(u.inbox).is_absolute() or " " in u.inbox):
        raise ConfigError(f"unreal.inbox {u.inbox!r}: must be an absolute path without spaces")
    return u


def _check_ranges(cfg: DatasetConfig) -> None:
    positive = (
        "scenes",
        "cams",
        "frames",
        "fps",
        "samples",
        "alpha_samples",
        "alpha_min_samples",
        "alpha_time_strata",
        "characters",
        "recycle_after",
        "shard_maxsize",
    )
    for key in positive:
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"{key}: must be a positive integer, got {getattr(cfg, key)}")
    if cfg.alpha_time_strata > 64:
        raise ConfigError(f"alpha_time_strata: at most 64 renders per frame, got {cfg.alpha_time_strata}")
    if cfg.alpha_samples % cfg.alpha_time_strata:
        raise ConfigError(
            f"alpha_samples {cfg.alpha_samples}: must be a multiple of alpha_time_strata ({cfg.alpha_time_strata})"
        )
    if not 0.0 <= cfg.alpha_threshold < 1.0:
        raise ConfigError(f"alpha_threshold: must be in [0, 1), got {cfg.alpha_threshold}")
    if cfg.sampler_seed is not None and cfg.sampler_seed < 0:
        raise ConfigError(f"sampler_seed: must be zero or positive, got {cfg.sampler_seed}")
    if cfg.pixel_filter not in PIXEL_FILTERS:
        raise ConfigError(f"pixel_filter {cfg.pixel_filter!r}: choose from {', '.join(PIXEL_FILTERS)}")
    if not 0.01 <= cfg.filter_width <= 10.0:
        raise ConfigError(f"filter_width: must be in [0.01, 10] pixels, got {cfg.filter_width}")
    for key in ("workers", "threads", "retries", "hair_strands"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"{key}: must be zero or positive, got {getattr(cfg, key)}")
    if not 0.0 <= cfg.frames_jitter < 1.0:
        raise ConfigError(f"frames_jitter: must be in [0, 1), got {cfg.frames_jitter}")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise ConfigError(f"val_fraction: must be in [0, 1), got {cfg.val_fraction}")
    if cfg.holdout not in HOLDOUTS:
        raise ConfigError(f"holdout {cfg.holdout!r}: choose from {', '.join(HOLDOUTS)}")
    if not 0.0 <= cfg.shutter <= 1.0:
        raise ConfigError(f"shutter: must be in [0, 1] frames, got {cfg.shutter}")
    if cfg.device not in DEVICES:
        raise ConfigError(f"device {cfg.device!r}: choose from {', '.join(DEVICES)}")
    for key in ("deadline_base", "deadline_per_frame_mpix", "worker_memory_gb"):
        value = getattr(cfg, key)
        if type(value) not in (int, float) or not 0 <= value < float("inf"):
            raise ConfigError(f"{key}: must be a finite number, zero or positive, got {value}")
    if cfg.scratch is not None and not Path(cfg.scratch).is_absolute():
        raise ConfigError(f"scratch {cfg.scratch!r}: must be an absolute path (it is resolved on every node)")
    if cfg.backend not in BACKENDS:
        raise ConfigError(f"backend {cfg.backend!r}: choose from {', '.join(BACKENDS)}")
    u = cfg.unreal
    if cfg.backend == "unreal" and cfg.scratch is not None and " " in cfg.scratch:
        raise ConfigError(f"scratch {cfg.scratch!r}: backend unreal hands the engine paths without spaces")
    if cfg.backend == "unreal" and cfg.motion_blur and u.temporal_samples < 2:
        raise ConfigError(
            "unreal.temporal_samples: motion blur needs at least 2 (its sub-frames make the blur)"
        )
    if cfg.backend == "unreal" and u.spatial_samples * u.temporal_samples < 2:
        raise ConfigError(
            "unreal.spatial_samples x temporal_samples: at least 2 (alpha is accumulated, never one sample)"
        )
    if cfg.seed < 0:
        raise ConfigError(f"seed: must be zero or positive, got {cfg.seed}")


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read ({exc.strerror})") from exc
    return parse_yaml(text, path)


def parse_yaml(text: str, path: str | Path) -> dict[str, Any]:
    """A config mapping from YAML ``text`` read from ``path`` (for messages)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: expected a mapping at top level, got {type(data).__name__}")
    return data


def config_from_dict(data: dict[str, Any]) -> DatasetConfig:
    """Defaults, then ``data`` (e.g. a saved ``config.yaml`` without its ``identity``)."""
    merged = read_yaml(DEFAULTS)
    merged.update(data)
    return _validate(merged)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> DatasetConfig:
    """Defaults, then the YAML file at ``path``, then ``overrides`` (``None`` values are ignored)."""
    merged = read_yaml(DEFAULTS)
    if path is not None:
        user = read_yaml(path)
        user.pop("identity", None)  # a manifest's config.yaml: its identity block is not config
        for section in ("assets", "unreal"):
            if isinstance(user.get(section), dict):
                user = {**user, section: {**(merged.get(section) or {}), **user[section]}}
        merged.update(user)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):  # a section: key by key
            merged[key] = {**merged[key], **value}
        elif value is not None:
            merged[key] = value
    return _validate(merged)
