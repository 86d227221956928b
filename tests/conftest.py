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
    "alpha_min_samples": 8,  # below alpha_samples: adaptive sampling really stops pixels early
    "alpha_time_strata": 2,  # the stratified-shutter path at a quarter of the default's calls
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


# --- muMatting trainer, evaluator and inference (tests/test_train.py, test_checkpoint.py,
# test_evaluate.py, test_infer.py) ---------------------------------------------------------

TRAIN_BASE = {
    "model": "mumatting-tiny",
    "batch_size": 2,
    "num_workers": 0,
    "log_every": 1,
    "ckpt_every": 1000,
    "device": "cpu",
    "optim": {"lr": 2.0e-3},
    "schedule": {"warmup_steps": 2},
}


@pytest.fixture(scope="session")
def synthetic_manifests(tmp_path_factory) -> Path:
    """A synthetic αMatte4K dataset (two 8-frame train shots, one val shot, 64x48)."""
    from matting.data.synthetic import write_amatte4k

    root = tmp_path_factory.mktemp("synthetic_amatte4k")
    return write_amatte4k(root, frames=8, width=64, height=48, splits=("train", "train", "val"))


@pytest.fixture
def train_config():
    """``train_config(manifests, **overrides)`` -> a resolved TrainConfig for tiny CPU runs
    (32 px crops of the αMatte4K train split)."""
    from matting.training.config import resolve_config

    def make(manifests: Path, **overrides):
        data = {"size": 32, "crop_sizes": [40], "sources": [{"type": "amatte4k", "manifest": str(manifests)}]}
        return resolve_config({**TRAIN_BASE, "data": data}, overrides)

    return make


@pytest.fixture(scope="session")
def trained_checkpoints(synthetic_manifests, tmp_path_factory) -> dict[str, Path]:
    """{"cap": stage-cap checkpoint, "far": stage-far checkpoint started from it}, 3 steps each."""
    from matting.training.config import resolve_config
    from matting.training.loop import train

    root = tmp_path_factory.mktemp("runs")
    data = {
        "size": 32,
        "crop_sizes": [40],
        "sources": [{"type": "amatte4k", "manifest": str(synthetic_manifests)}],
    }
    cap = resolve_config({**TRAIN_BASE, "data": data, "max_steps": 3})
    train(cap, root / "cap", progress=False)
    cap_ckpt = root / "cap" / "checkpoints" / "last.pt"
    far = resolve_config({**TRAIN_BASE, "data": data, "max_steps": 3, "stage": "far", "init": str(cap_ckpt)})
    train(far, root / "far", progress=False)
    return {"cap": cap_ckpt, "far": root / "far" / "checkpoints" / "last.pt"}


@pytest.fixture(scope="session")
def rendered_manifests(tmp_path_factory) -> Path:
    """A real Cycles render through ``python -m render.launch``: 2 shots (one train, one val)
    of 4 frames at 64x96, low sample counts."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("rendered")
    cfg = dict(
        TINY,
        scenes=1,
        cams=2,
        frames=4,
        resolution=[64, 96],
        samples=4,
        alpha_samples=16,
        hair_strands=800,
        characters=1,
        val_fraction=0.34,
        out=str(root / "data"),
        manifests=str(root / "manifests"),
    )
    config = root / "render.yaml"
    config.write_text(yaml.safe_dump(cfg))
    r = subprocess.run(
        [sys.executable, "-m", "render.launch", "--config", str(config), "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return root / "manifests"
