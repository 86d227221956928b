"""Run by the editor at start-up (any init_unreal.py on its Python path): log the engine and
UnrealCV versions, check that the APIs the render scripts need exist, import amatte4k."""

from __future__ import annotations

import json
import os

import unreal

NEEDED = (
    "MoviePipelineQueueSubsystem",
    "MoviePipelinePIEExecutor",
    "MoviePipelineDeferredPassBase",
    "MoviePipelineImageSequenceOutput_EXR",
    "LevelSequence",
    "MovieSceneSkeletalAnimationTrack",
    "IKRetargetBatchOperation",
)


def plugin_version(uplugin: str) -> str:
    """VersionName of a .uplugin file, or 'absent'."""
    try:
        with open(uplugin, encoding="utf-8") as f:
            return str(json.load(f).get("VersionName", "?"))
    except (OSError, ValueError):
        return "absent"


def main() -> None:
    """Log versions and missing APIs; never raises (a failing start-up script stops nothing)."""
    unrealcv = os.path.join(unreal.Paths.project_plugins_dir(), "UnrealCV", "UnrealCV.uplugin")
    unreal.log(
        f"AlphaMatte4K: engine {unreal.SystemLibrary.get_engine_version()}, UnrealCV {plugin_version(unrealcv)}"
    )
    missing = [name for name in NEEDED if not hasattr(unreal, name)]
    if missing:
        unreal.log_warning(f"AlphaMatte4K: Python API missing (plugin disabled?): {', '.join(missing)}")
    try:
        import amatte4k  # noqa: F401  (Content/Python is on sys.path in the editor)
    except ImportError as exc:
        unreal.log_error(f"AlphaMatte4K: amatte4k does not import: {exc}")


main()
