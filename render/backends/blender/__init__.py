"""Blender Cycles backend (``bpy`` from PyPI). The only package that imports ``bpy``."""

from __future__ import annotations

try:
    import bpy  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "the blender backend needs the bpy wheel (Python 3.11): pip install -e . (see README)"
    ) from exc

from render.backends.blender.renderer import BlenderRenderer

__all__ = ["BlenderRenderer"]
