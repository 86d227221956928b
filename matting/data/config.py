"""``build_dataset(cfg)``: the training mixture from a plain dict, strictly validated.

Example::

    {"seed": 0, "clip_len": 4, "size": 512, "crop_sizes": [512],
     "flip_prob": 0.5, "color_jitter": 0.1,
     "exposure": 0.5, "curves": ["srgb", "rec709", "gamma22", "reinhard"],
     "sources": [
        {"type": "amatte4k", "manifest": "manifests", "split": "train", "weight": 1.0},
        {"type": "videomatte", "root": "VM", "backgrounds": "BG", "weight": 1.0},
        {"type": "images", "root": "HHM50K", "weight": 0.5, "motion": 0.02}]}

Everything but ``sources`` has the default shown. Unknown keys and wrong types are rejected
with one-line errors that name the key. Relative paths resolve against ``base_dir`` (the
directory of the config file, say) or the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from matting.data.amatte4k import AMatte4KSource
from matting.data.augment import AugmentConfig
from matting.data.color import CURVES
from matting.data.images import ImageMatteSource
from matting.data.mixture import MixtureDataset
from matting.data.videomatte import VideoMatteSource
from render.store import is_url

TOP_DEFAULTS = {
    "seed": 0,
    "clip_len": 4,
    "size": 512,
    "crop_sizes": [512],
    "flip_prob": 0.5,
    "color_jitter": 0.1,
    "exposure": 0.5,
    "curves": list(CURVES),
}
# Per source type: key -> (kind, default); a default of None marks a required key.
SOURCE_KEYS = {
    "amatte4k": {"manifest": ("path", None), "split": ("str", "train"), "stride": ("int", 1)},
    "videomatte": {"root": ("path", None), "backgrounds": ("path", None), "stride": ("int", 1)},
    "images": {"root": ("path", None), "motion": ("float", 0.02)},
}
COMMON_SOURCE_KEYS = {"type": ("str", None), "weight": ("float", 1.0)}


def _check(where: str, key: str, value, kind: str):
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "path": isinstance(value, (str, os.PathLike)),
        "int_list": isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value),
        "str_list": isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        raise ValueError(f"{where}: {key!r} must be {kind.replace('_', ' of ')}, got {value!r}")
    return float(value) if kind == "float" else value


def _reject_unknown(where: str, given: Mapping, allowed) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


@dataclass(frozen=True)
class SourceConfig:
    type: str
    weight: float
    options: dict


@dataclass(frozen=True)
class DataConfig:
    seed: int
    clip_len: int
    augment: AugmentConfig
    sources: tuple[SourceConfig, ...]


def parse_config(cfg: Mapping, base_dir: str | os.PathLike | None = None) -> DataConfig:
    where = "dataset config"
    if not isinstance(cfg, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(cfg).__name__}")
    _reject_unknown(where, cfg, [*TOP_DEFAULTS, "sources"])
    top = {**TOP_DEFAULTS, **{k: v for k, v in cfg.items() if k != "sources"}}
    if "size" in cfg and "crop_sizes" not in cfg:  # a given size means full-resolution windows of it
        top["crop_sizes"] = [cfg["size"]]
    kinds = {
        "seed": "int",
        "clip_len": "int",
        "size": "int",
        "crop_sizes": "int_list",
        "flip_prob": "float",
        "color_jitter": "float",
        "exposure": "float",
        "curves": "str_list",
    }
    top = {k: _check(where, k, v, kinds[k]) for k, v in top.items()}
    if top["clip_len"] < 1 or top["size"] < 1 or min(top["crop_sizes"]) < 1:
        raise ValueError(f"{where}: clip_len, size and crop_sizes must be positive")
    if not 0 <= top["flip_prob"] <= 1 or not 0 <= top["color_jitter"] < 1:
        raise ValueError(f"{where}: flip_prob must lie in [0, 1] and color_jitter in [0, 1)")
    if not 0 <= top["exposure"] <= 4:
        raise ValueError(f"{where}: exposure must lie in [0, 4] stops, got {top['exposure']}")
    unknown = sorted(set(top["curves"]) - set(CURVES))
    if unknown:
        raise ValueError(f"{where}: curves {unknown} unknown; choose from {list(CURVES)}")
    sources = cfg.get("sources")
    if not isinstance(sources, (list, tuple)) or not sources:
        raise ValueError(f"{where}: 'sources' must be a non-empty list of source mappings")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    parsed = []
    for i, src in enumerate(sources):
        swhere = f"{where}: sources[{i}]"
        if not isinstance(src, Mapping):
            raise ValueError(f"{swhere}: expected a mapping, got {src!r}")
        stype = src.get("type")
        if stype not in SOURCE_KEYS:
            raise ValueError(f"{swhere}: type {stype!r} is not one of {sorted(SOURCE_KEYS)}")
        spec = {**COMMON_SOURCE_KEYS, **SOURCE_KEYS[stype]}
        _reject_unknown(f"{swhere} ({stype})", src, spec)
        options = {}
        for key, (kind, default) in spec.items():
            if key not in src and default is None:
                raise ValueError(f"{swhere} ({stype}): missing required key {key!r}")
            value = _check(f"{swhere} ({stype})", key, src.get(key, default), kind)
            options[key] = base / value if kind == "path" and not is_url(value) else value
        if not options["weight"] > 0:
            raise ValueError(f"{swhere}: weight must be positive, got {options['weight']}")
        if options.get("stride", 1) < 1 or options.get("motion", 0) < 0:
            raise ValueError(f"{swhere}: stride must be >= 1 and motion >= 0")
        weight = options.pop("weight")
        options.pop("type")
        parsed.append(SourceConfig(stype, weight, options))
    augment = AugmentConfig(
        top["size"],
        tuple(top["crop_sizes"]),
        top["flip_prob"],
        top["color_jitter"],
        exposure=top["exposure"],
        curves=tuple(top["curves"]),
    )
    return DataConfig(top["seed"], top["clip_len"], augment, tuple(parsed))


def build_source(src: SourceConfig, clip_len: int):
    if src.type == "amatte4k":
        return AMatte4KSource(clip_len=clip_len, **src.options)
    if src.type == "videomatte":
        return VideoMatteSource(clip_len=clip_len, **src.options)
    return ImageMatteSource(clip_len=clip_len, **src.options)


def build_dataset(
    cfg: Mapping, rank: int = 0, base_dir: str | os.PathLike | None = None, context_size: int | None = None
) -> MixtureDataset:
    """The training mixture described by ``cfg`` for distributed rank ``rank``; ``context_size``
    is the side of CAP's canvas (the model's ``cap_size``; default 512)."""
    data = parse_config(cfg, base_dir)
    augment = data.augment if context_size is None else replace(data.augment, context_size=int(context_size))
    sources = [build_source(s, data.clip_len) for s in data.sources]
    return MixtureDataset(sources, [s.weight for s in data.sources], augment, data.seed, rank)
