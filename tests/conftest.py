"""Shared fixtures: tiny but real render configs (same code paths as production)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

TINY = {
    "scenes": 2,
    "cams": 3,
    "frames": 3,
    "frames_jitter": 0.0,
    "resolution": [64, 112],
    "samples": 8,
    "alpha_samples": 32,
    "hair_strands": 1500,
    "characters": 3,
    "val_fraction": 0.34,
}


@pytest.fixture
def make_config(tmp_path: Path):
    """``make_config(**overrides)`` writes a tiny dataset config under ``tmp_path``."""

    def make(**overrides) -> Path:
        cfg = dict(TINY, out=str(tmp_path / "data"), manifests=str(tmp_path / "manifests"), **overrides)
        path = tmp_path / "tiny.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    return make


@pytest.fixture
def tiny_config(make_config) -> Path:
    """A YAML config for a 3-shot, 3-frame, 64x112 dataset under ``tmp_path``."""
    return make_config()
