"""The training configuration: typed, frozen, loaded from YAML with CLI overrides on top.

A YAML file holds any subset of the keys below (defaults in the dataclasses) plus an
optional ``stages:`` mapping with per-stage overrides, e.g.::

    model: mumatting-sapiens03b
    batch_size: 8
    optim: {lr: 5.0e-4, weight_decay: 0.1, layer_decay: 0.85}
    stages:
      cap: {max_steps: 100000}
      far: {max_steps: 50000, optim: {lr: 1.0e-4}}
    data:
      size: 512
      sources:
        - {type: amatte4k, manifest: ../../manifests, weight: 1.0}

Layering: dataclass defaults < YAML top level < YAML ``stages.<stage>`` < command line.
Unknown keys and wrong types are rejected with one-line errors that name the key. Relative
data paths are resolved against the YAML file's directory, so the resolved config written to
``RUN_DIR/config.yaml`` holds absolute paths and reruns from anywhere.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from matting.data import parse_config
from matting.data.amatte4k import find_datasets
from matting.models.registry import data_scale, get_config

STAGES = ("cap", "far")
AMP_MODES = ("bf16", "fp16", "off")
_PATH_KEYS = ("manifest", "root", "backgrounds")  # data source keys that name files


class ConfigError(ValueError):
    """A bad configuration value; the message is one line and names the key."""


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5.0e-4
    weight_decay: float = 0.1
    layer_decay: float = 0.85  # per ViT block, counted from the top (timm/BEiT style)
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0  # max global L2 norm; 0 turns clipping off


@dataclass(frozen=True)
class ScheduleConfig:
    warmup_steps: int = 100
    total_steps: int | None = None  # cosine length; None: max_steps of the first run
    min_lr_ratio: float = 0.01  # the cosine decays to lr * min_lr_ratio


@dataclass(frozen=True)
class TrainConfig:
    model: str = "mumatting-tiny"
    model_overrides: dict = field(default_factory=dict)  # keyword arguments of build_model
    stage: str = "cap"
    init: str | None = None  # checkpoint whose model weights start this run (stage far: a cap run)
    seed: int = 0
    max_steps: int = 1000
    batch_size: int = 2
    num_workers: int = 2
    device: str = "auto"  # auto: cuda when available
    amp: str = "bf16"  # autocast dtype on CUDA; never used on CPU
    loss_weights: tuple[float, float, float] = (1.0, 0.5, 0.5)  # stage far: region, entire, temporal
    log_every: int = 1
    ckpt_every: int = 500
    keep_checkpoints: int = 3  # newest step files kept; last.pt and best.pt are links
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: dict = field(default_factory=dict)  # matting.data.build_dataset mixture

    def to_dict(self) -> dict:
        """Plain nested dict (lists, no tuples) for YAML and checkpoints."""
        return _plain(dataclasses.asdict(self))


def _plain(x):
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    return x


def _check_type(where: str, value: Any, default: Any, annotation: str) -> Any:
    """Coerce ``value`` to the kind of the field (int, float, str, tuple, dict, optional)."""
    optional = "None" in annotation
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: must not be null")
    if "tuple" in annotation:
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ConfigError(f"{where}: must be a list of {len(default)} numbers, got {value!r}")
        return tuple(_check_type(where, v, d, "float") for v, d in zip(value, default, strict=True))
    if annotation.startswith("dict"):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: must be a mapping, got {value!r}")
        return dict(value)
    if annotation.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: must be an integer, got {value!r}")
        return value
    if annotation.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: must be a number, got {value!r}")
        return float(value)
    if annotation.startswith("str"):
        if not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"{where}: must be a string, got {value!r}")
        return os.fspath(value)
    raise AssertionError(f"unhandled annotation {annotation}")


def _build(cls, values: Mapping, where: str):
    """Instantiate dataclass ``cls`` from a mapping, rejecting unknown keys."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    defaults = cls()
    kwargs = {}
    for name, value in values.items():
        key = f"{where}.{name}" if where else name
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, key)
        else:
            kwargs[name] = _check_type(key, value, default, str(fields[name].type))
    return cls(**kwargs)


def _merge(base: Mapping, over: Mapping) -> dict:
    """Recursive dict update; lists (e.g. ``data.sources``) are replaced, never merged."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve_data_paths(data: Mapping, base_dir: Path) -> dict:
    data = dict(data)
    sources = data.get("sources")
    if isinstance(sources, list):
        resolved = []
        for src in sources:
            if isinstance(src, Mapping):
                src = dict(src)
                for key in _PATH_KEYS:
                    if isinstance(src.get(key), (str, os.PathLike)) and "://" not in str(src[key]):
                        src[key] = str((base_dir / src[key]).resolve())
            resolved.append(src)
        data["sources"] = resolved
    return data


def read_yaml(path: str | os.PathLike) -> dict:
    """A YAML mapping from ``path`` with its relative data paths made absolute."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    raw = dict(raw)
    base = path.resolve().parent
    if isinstance(raw.get("data"), Mapping):
        raw["data"] = _resolve_data_paths(raw["data"], base)
    stages = raw.get("stages") or {}
    if isinstance(stages, Mapping):
        for st in stages.values():
            if isinstance(st, Mapping) and isinstance(st.get("data"), Mapping):
                st["data"] = _resolve_data_paths(st["data"], base)
    return raw


def manifest_source(manifest_dir: str | os.PathLike) -> dict:
    """The data mixture for ``--data DIR``: the αMatte4K train split of the dataset in DIR, or,
    when DIR is a root holding several (``manifests/`` after ``make demo`` holds ``demo/``), of
    every dataset one level below it with train shots, weighted by their train frames (every
    clip equally likely; equal weights when a count is unknown). ``"datasets"``: (name, train
    frames) of each; ``"below"``: whether they were found in subfolders; ``"skipped"``: names of
    datasets without train frames (the CLI names all of these in one line)."""
    try:
        found, below = find_datasets(manifest_dir)
    except FileNotFoundError as exc:
        raise ConfigError(f"--data {exc}") from None
    skipped = [Path(path).name for path, n in found if n == 0]
    found = [(path, n) for path, n in found if n != 0]
    if not found:
        raise ConfigError(f"--data {manifest_dir}: no dataset there has train shots")
    weights = all(n for _, n in found)
    sources = [
        {"type": "amatte4k", "manifest": path, "split": "train", **({"weight": float(n)} if weights else {})}
        for path, n in found
    ]
    return {
        "sources": sources,
        "datasets": [(Path(path).name, n) for path, n in found],
        "below": below,
        "skipped": skipped,
    }


def _with_model_data_scale(merged: dict) -> dict:
    """``data.size`` and ``data.crop_sizes`` that no layer set, from the model (a tiny model must
    not train on the full model's 512 px windows): a given ``size`` implies full-resolution
    windows of that side; given windows take the model's ``size``."""
    data = merged.get("data")
    if not isinstance(data, Mapping) or ("size" in data and "crop_sizes" in data):
        return merged
    overrides = merged.get("model_overrides") or {}
    try:
        scale = data_scale(get_config(merged.get("model", TrainConfig.model), **dict(overrides)))
    except (ValueError, TypeError):
        return merged  # the model's own error is reported when it is built
    if isinstance(data.get("size"), int):
        scale = {"size": data["size"], "crop_sizes": [data["size"]]}
    return {**merged, "data": {**scale, **data}}


def resolve_config(*layers: Mapping, cli: Mapping | None = None, model_scale: bool = True) -> TrainConfig:
    """Merge YAML-like ``layers`` (later wins), apply ``stages.<stage>`` and ``cli`` on top.

    ``cli`` holds dotted or plain keys whose value is not None (``{"optim.lr": 1e-4}``).
    ``model_scale``: fill unset data sizes from the model (off when resuming: a run keeps the
    sizes it was trained with, including the defaults of a run saved without them)."""
    merged: dict = {}
    stage_overrides: dict = {}
    for layer in layers:
        layer = dict(layer)
        stages = layer.pop("stages", None) or {}
        if not isinstance(stages, Mapping) or set(stages) - set(STAGES):
            raise ConfigError(f"stages: expected a mapping with keys among {list(STAGES)}, got {stages!r}")
        merged = _merge(merged, layer)
        stage_overrides = _merge(stage_overrides, stages)
    cli_tree: dict = {}
    for dotted, value in (cli or {}).items():
        if value is None:
            continue
        node = cli_tree
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    stage = cli_tree.get("stage", merged.get("stage", TrainConfig.stage))
    if stage not in STAGES:
        raise ConfigError(f"stage: must be one of {list(STAGES)}, got {stage!r}")
    merged = _merge(_merge(merged, stage_overrides.get(stage, {})), cli_tree)
    if model_scale:
        merged = _with_model_data_scale(merged)
    cfg = _build(TrainConfig, merged, "")
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    if cfg.amp not in AMP_MODES:
        raise ConfigError(f"amp: must be one of {list(AMP_MODES)}, got {cfg.amp!r}")
    if cfg.device != "auto" and not cfg.device.startswith(("cpu", "cuda")):
        raise ConfigError(f"device: must be auto, cpu or cuda[:N], got {cfg.device!r}")
    for key in ("max_steps", "batch_size", "log_every", "ckpt_every", "keep_checkpoints"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{key}: must be >= 1, got {getattr(cfg, key)}")
    if cfg.num_workers < 0:
        raise ConfigError(f"num_workers: must be >= 0, got {cfg.num_workers}")
    if cfg.schedule.warmup_steps < 0 or (
        cfg.schedule.total_steps is not None and cfg.schedule.total_steps < 1
    ):
        raise ConfigError("schedule: warmup_steps must be >= 0 and total_steps >= 1")
    if not 0 <= cfg.schedule.min_lr_ratio <= 1:
        raise ConfigError(f"schedule.min_lr_ratio: must lie in [0, 1], got {cfg.schedule.min_lr_ratio}")
    if cfg.optim.lr <= 0 or cfg.optim.weight_decay < 0 or not 0 < cfg.optim.layer_decay <= 1:
        raise ConfigError("optim: lr must be > 0, weight_decay >= 0 and layer_decay in (0, 1]")
    if cfg.optim.grad_clip < 0:
        raise ConfigError(f"optim.grad_clip: must be >= 0, got {cfg.optim.grad_clip}")
    if not cfg.data.get("sources"):
        raise ConfigError("data: no sources; pass --data MANIFEST_DIR or give data.sources in the config")
    try:
        parse_config(cfg.data)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def with_total_steps(cfg: TrainConfig) -> TrainConfig:
    """Fix the cosine length at the first run's ``max_steps`` unless the config sets it."""
    if cfg.schedule.total_steps is not None:
        return cfg
    return dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, total_steps=cfg.max_steps))


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
