"""muMatting models: CAP, key regions, Sapiens weight loading, FAR and the registry.

``build_model("mumatting-sapiens03b")`` builds the paper's model; ``list_models()`` names them all.
Names are imported lazily, so that ``import matting.models.keyregion`` (or the sparse
convolutions) does not pull in timm or the whole model.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CAP": "cap",
    "key_regions": "keyregion",
    "CAPConfig": "registry",
    "FARConfig": "registry",
    "KeyConfig": "registry",
    "ModelConfig": "registry",
    "MuMatting": "mumatting",
    "MODEL_CONFIGS": "registry",
    "build_model": "registry",
    "count_parameters": "registry",
    "get_config": "registry",
    "list_models": "registry",
    "CheckpointError": "sapiens",
    "LoadReport": "sapiens",
    "load_sapiens_checkpoint": "sapiens",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"matting.models.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'matting.models' has no attribute {name!r}")
