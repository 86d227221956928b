"""What a dataset is made of besides its config: the catalog entries it draws from and the
versions of the engine and body model that turn them into pixels.

``manifests/config.yaml`` stores this under ``identity``; a resumed run whose identity differs
is refused (:func:`render.launch.check_existing`), so one manifest never mixes two datasets.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata

# The Python package that carries each backend's engine.
ENGINE_PACKAGES = {"blender": "bpy", "unreal": "unrealcv"}
BODY_MODEL_PACKAGE = "anny"
# Libraries whose versions can change the bytes of a shard: random streams (numpy), EXR encoding
# (OpenEXR) and image filtering (opencv).
LIBRARY_PACKAGES = ("numpy", "OpenEXR", "opencv-python-headless")


def _portable(obj: object) -> object:
    """``obj`` without the dict keys that start with "_" (where a file lies on this machine)."""
    if isinstance(obj, dict):
        return {k: _portable(v) for k, v in obj.items() if not (isinstance(k, str) and k.startswith("_"))}
    if isinstance(obj, list | tuple):
        return [_portable(v) for v in obj]
    return obj


def digest(obj: object) -> str:
    """SHA-256 of canonical JSON (sorted keys): formatting and comments of a YAML file do not
    count, any value does; keys starting with "_" (local paths) do not."""
    text = json.dumps(_portable(obj), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def package_version(name: str) -> str:
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return f"{name} (not installed)"


def software(backend: str) -> dict[str, str]:
    """The versions of this process's engine, body model and byte-relevant libraries."""
    return {
        "engine": package_version(ENGINE_PACKAGES.get(backend, backend)),
        "body_model": package_version(BODY_MODEL_PACKAGE),
        "libraries": ", ".join(package_version(p) for p in LIBRARY_PACKAGES),
    }


def _engine_keys(obj: object, backend: str) -> object:
    """``obj`` without the Unreal asset paths (``ue_*`` keys) unless ``backend`` is unreal: a
    Blender dataset does not change when a UE asset moves."""
    if backend == "unreal":
        return obj
    if isinstance(obj, dict):
        return {
            k: _engine_keys(v, backend)
            for k, v in obj.items()
            if not (isinstance(k, str) and k.startswith("ue_"))
        }
    if isinstance(obj, list | tuple):
        return [_engine_keys(v, backend) for v in obj]
    return obj


def dataset_identity(
    backend: str, scenes: list[dict], clips: dict[str, dict], metahumans: dict[str, str] | None = None
) -> dict[str, str]:
    """``scenes``: the catalog entries in use; ``clips``: the clip catalog; ``metahumans``: the
    identity -> MetaHuman map (the Unreal backend's people)."""
    out = {
        "scene_catalog": digest(_engine_keys(scenes, backend)),
        "clip_catalog": digest(_engine_keys(clips, backend)),
    }
    if backend == "unreal":
        out["metahumans"] = digest(metahumans or {})
    return {**out, **software(backend)}


def check_runtime(expected: dict[str, str], backend: str) -> None:
    """Raise when this process's engine, body model or libraries differ from the dataset's (a
    cluster node with another image must not add shots to the dataset)."""
    here = software(backend)
    for key, value in here.items():
        if key in expected and expected[key] != value:
            raise RuntimeError(
                f"this node has {value}, the dataset was made with {expected[key]} ({NAMES[key]})"
            )


NAMES = {
    "scene_catalog": "scene catalog",
    "clip_catalog": "clip catalog",
    "metahumans": "MetaHuman catalog",
    "engine": "engine version",
    "body_model": "body model version",
    "libraries": "library versions",
}


def identity_change(old: dict | None, new: dict[str, str]) -> str | None:
    """A one-line description of the first difference, or None when they agree."""
    if not old:
        return "the manifest records no dataset identity (made by an older release)"
    if not isinstance(old, dict):
        return f"the manifest's identity is not a mapping ({type(old).__name__})"
    for key in new:
        if old.get(key) != new[key]:
            a, b = str(old.get(key)), new[key]
            if key.endswith("catalog"):
                a, b = a[:12], b[:12]
            return f"{NAMES.get(key, key)} changed ({a}, now {b})"
    return None
