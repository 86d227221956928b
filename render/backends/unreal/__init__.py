"""The Unreal Engine backend (docs/unreal.md): UnrealCV for control, Movie Render Queue EXR for
frames, one engine per GPU. Only this package speaks to the engine."""

from render.backends.unreal.renderer import ShotFailed, UnrealRenderer

__all__ = ["ShotFailed", "UnrealRenderer"]
