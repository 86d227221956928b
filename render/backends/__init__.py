"""Renderer backends behind one interface (:class:`render.backends.base.Renderer`).

Engine modules (``bpy``, ``unrealcv``) are imported only inside their backend package, and only
when :func:`create_renderer` asks for that backend.
"""

from __future__ import annotations

from render.backends.base import FramePasses, Renderer, RenderSettings

__all__ = ["FramePasses", "RenderSettings", "Renderer", "create_renderer"]


# What each backend can make, known without importing its engine (checked by render.launch
# before anything is written).
SUPPORTED_PASSES = {"blender": ("rgb", "alpha", "fg", "bg"), "unreal": ("rgb", "alpha", "fg", "bg")}


def create_renderer(name: str, options: dict | None = None) -> Renderer:
    """The backend ``name`` (blender | unreal), or ``package.module:Class`` naming any
    :class:`Renderer` subclass (how the orchestration tests plug in renderers that hang).
    ``options``: what the backend needs from the config beyond :class:`RenderSettings` (for
    unreal: ``{"unreal": the config's unreal section, "deadline": [base, per_frame_mpix]}``)."""
    if ":" in name:
        import importlib

        module, _, cls = name.partition(":")
        renderer = getattr(importlib.import_module(module), cls)
        if not (isinstance(renderer, type) and issubclass(renderer, Renderer)):
            raise ValueError(f"backend {name!r} is not a Renderer subclass")
        return renderer()
    if name == "blender":
        from render.backends.blender import BlenderRenderer

        return BlenderRenderer()
    if name == "unreal":
        from render.backends.unreal import UnrealRenderer

        o = options or {}
        return UnrealRenderer(o.get("unreal"), tuple(o.get("deadline", (0.0, 0.0))), o.get("gpu"))
    raise ValueError(f"unknown backend {name!r}; choose blender or unreal")
