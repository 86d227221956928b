"""Model configurations: the schema (frozen dataclasses), the named configs, ``build_model``.

This module imports neither torch nor timm, so that listing and validating configs is cheap;
``build_model`` imports the model when it is called.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matting.models.mumatting import MuMatting


@dataclass(frozen=True)
class CAPConfig:
    """CAP: the ViT (Sapiens-0.3B by default) and the coarse head; argument names of ``CAP``."""

    embed_dim: int = 1024
    depth: int = 24
    heads: int = 16
    patch: int = 16
    cap_size: int = 512  # frames are resized to cap_size x cap_size
    deconv_widths: tuple[int, ...] = (768, 768, 768)
    conv_widths: tuple[int, ...] = (768, 768, 768)
    drop_path: float = 0.0
    patch_padding: int = 0  # some Sapiens task configs pad the patch conv by 2; the release does not
    head_dropout: float = 0.1


@dataclass(frozen=True)
class KeyConfig:
    """Key regions: band thresholds and morphology (see ``matting.models.keyregion``)."""

    low: float = 0.01
    high: float = 0.99
    op: str = "dilate"
    kernel: int = 5
    iterations: int = 1


@dataclass(frozen=True)
class FARConfig:
    """FAR encoder widths, TSCM width and on/off, sparse-conv backend; argument names of ``FAR``."""

    channels: tuple[int, ...] = (64, 128, 256, 512)
    tscm_hidden: int = 256
    use_tscm: bool = True
    backend: str = "auto"
    # How the head's output becomes A_d: "alpha" (A_c + head, clamped: the same gradient at any
    # A_c) or "logit" (sigmoid(logit(A_c) + head), the first release; gradient x A_c(1 - A_c)).
    residual: str = "alpha"


_SECTIONS = {"cap": CAPConfig, "key": KeyConfig, "far": FARConfig}


def _merge_section(cls, base, value, where: str):
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping or {cls.__name__}, got {type(value).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    return replace(base, **{k: _coerce(f"{where}.{k}", getattr(base, k), v) for k, v in value.items()})


def _coerce(where: str, default, value):
    """``value`` checked against the type of the field's default (YAML gives lists and ints)."""
    kind = type(default)
    if kind is tuple and isinstance(value, (list, tuple)) and all(type(v) is int for v in value):
        return tuple(value)
    if kind is float and type(value) in (int, float):
        return float(value)
    if kind in (int, str, bool) and type(value) is kind:
        return value
    raise ValueError(f"model config: {where} must be {kind.__name__} like {default!r}, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes a MuMatting; sections ``cap``, ``key``, ``far``."""

    name: str = "mumatting"
    cap: CAPConfig = field(default_factory=CAPConfig)
    key: KeyConfig = field(default_factory=KeyConfig)
    far: FARConfig = field(default_factory=FARConfig)
    sapiens_checkpoint: str | None = None

    def with_overrides(self, **overrides) -> ModelConfig:
        """Override fields: ``sapiens_checkpoint=...``, ``cap={"depth": 4}`` or dotted ``**{"cap.depth": 4}``.

        Unknown keys raise ValueError naming them.
        """
        top: dict = {}
        sections: dict[str, dict] = {}
        for key, value in overrides.items():
            section, dot, sub = key.partition(".")
            if dot:
                if section not in _SECTIONS:
                    raise ValueError(f"model config: unknown section {section!r} in {key!r}")
                sections.setdefault(section, {})[sub] = value
            elif key in _SECTIONS:
                current = asdict(value) if is_dataclass(value) else value
                if not isinstance(current, Mapping):
                    raise ValueError(f"model config: {key!r} must be a mapping, got {type(value).__name__}")
                sections.setdefault(key, {}).update(current)
            elif key == "name" and isinstance(value, str):
                top[key] = value
            elif key == "sapiens_checkpoint" and (value is None or isinstance(value, (str, os.PathLike))):
                top[key] = None if value is None else os.fspath(value)
            elif key in ("name", "sapiens_checkpoint"):
                raise ValueError(f"model config: {key} must be a string, got {value!r}")
            else:
                allowed = ["name", "sapiens_checkpoint", *_SECTIONS]
                raise ValueError(f"model config: unknown key {key!r}; allowed: {allowed} or 'section.field'")
        for section, values in sections.items():
            top[section] = _merge_section(_SECTIONS[section], getattr(self, section), values, section)
        return replace(self, **top)

    def to_dict(self) -> dict:
        """Plain nested dict (tuples as lists), ready for YAML."""

        def plain(v):
            return [plain(x) for x in v] if isinstance(v, (tuple, list)) else v

        return {
            k: ({kk: plain(vv) for kk, vv in v.items()} if isinstance(v, dict) else v)
            for k, v in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> ModelConfig:
        """Inverse of ``to_dict``; unknown keys are rejected. A saved config without
        ``far.residual`` predates it and used the logit form."""
        far = data.get("far")
        if isinstance(far, Mapping) and "residual" not in far:
            data = {**data, "far": {**far, "residual": "logit"}}
        return cls().with_overrides(**data)


MODEL_CONFIGS: dict[str, ModelConfig] = {
    # The paper's model: Sapiens-0.3B (ViT-L/16) CAP at 512 px, ResNet-18-like 3D sparse FAR.
    "mumatting-sapiens03b": ModelConfig(name="mumatting-sapiens03b"),
    # A ViT-S/16 CAP with half-width FAR, for quick experiments on one GPU.
    "mumatting-small": ModelConfig(
        name="mumatting-small",
        cap=CAPConfig(
            embed_dim=384, depth=12, heads=6, deconv_widths=(256, 256, 256), conv_widths=(256, 256, 256)
        ),
        far=FARConfig(channels=(32, 64, 128, 256), tscm_hidden=128),
    ),
    # Tests and smoke runs: 64 px CAP input (4 x 4 tokens) -> 32 x 32 coarse alpha.
    "mumatting-tiny": ModelConfig(
        name="mumatting-tiny",
        cap=CAPConfig(
            embed_dim=32, depth=2, heads=2, cap_size=64, deconv_widths=(16, 16, 16), conv_widths=(16,)
        ),
        key=KeyConfig(kernel=3),
        far=FARConfig(channels=(8, 16, 16, 16), tscm_hidden=16),
    ),
}


def list_models() -> list[str]:
    return sorted(MODEL_CONFIGS)


def get_config(name: str, **overrides) -> ModelConfig:
    """The registered config ``name`` with ``overrides`` applied (see ``ModelConfig.with_overrides``)."""
    if name not in MODEL_CONFIGS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return MODEL_CONFIGS[name].with_overrides(**overrides)


def data_scale(config: ModelConfig) -> dict:
    """The training windows that fit a model: FAR's window is ``cap_size`` full-resolution pixels
    (the paper's 512 px crops; not resized, so FAR trains at the scale it refines at), while CAP
    sees the whole frame on its ``cap_size`` canvas."""
    s = config.cap.cap_size
    return {"size": s, "crop_sizes": [s]}


def build_model(name: str, **overrides) -> MuMatting:
    """A MuMatting from a registered config; loads Sapiens weights when ``sapiens_checkpoint`` is set."""
    from matting.models.mumatting import MuMatting  # torch and timm only when a model is built

    config = get_config(name, **overrides)
    model = MuMatting(config)
    if config.sapiens_checkpoint:
        model.load_cap_weights(config.sapiens_checkpoint, strict=True)
    return model


def count_parameters(model: MuMatting) -> dict[str, int]:
    """Parameters per part: cap_backbone, cap_head, far (without TSCM), tscm, total (= their sum)."""
    tscm = sum(p.numel() for n, p in model.far.named_parameters() if "tscm" in n.split("."))
    far = sum(p.numel() for p in model.far.parameters()) - tscm
    counts = {
        "cap_backbone": sum(p.numel() for p in model.cap.backbone.parameters()),
        "cap_head": sum(p.numel() for p in model.cap.head.parameters()),
        "far": far,
        "tscm": tscm,
    }
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts
