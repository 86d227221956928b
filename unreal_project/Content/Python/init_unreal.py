"""Run by the editor at start-up (any init_unreal.py on its Python path): log the engine and
UnrealCV versions, check that the APIs the render scripts need exist, import amatte4k, and,
when the engine was given an inbox (-AM4KInbox=<abs folder>, else AM4K_INBOX), watch it for
jobs from a Slate post-tick callback (protocol in amatte4k/inbox.py and the README).
Without an inbox this is a normal editor session."""

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
    "register_slate_post_tick_callback",
)

WATCHER = None  # the inbox watcher of this editor session, if any


def plugin_version(uplugin: str) -> str:
    """VersionName of a .uplugin file, or 'absent'."""
    try:
        with open(uplugin, encoding="utf-8") as f:
            return str(json.load(f).get("VersionName", "?"))
    except (OSError, ValueError):
        return "absent"


def inbox_folder() -> str | None:
    """The inbox from the engine's command line, else AM4K_INBOX; None without either.
    ValueError for a folder that is not absolute or has spaces."""
    from amatte4k import inbox

    get_command_line = getattr(unreal.SystemLibrary, "get_command_line", None)
    line = str(get_command_line()) if get_command_line is not None else ""
    return inbox.resolve_inbox(line, os.environ)


def start_watcher(folder: str) -> object:
    """Create the inbox folder if needed and register its watcher as a Slate post-tick callback."""
    from amatte4k import inbox, shot

    os.makedirs(folder, exist_ok=True)
    watcher = inbox.Watcher(
        folder,
        engine=shot.engine_version(),
        start=shot.start_job,
        running=shot.running_shot_id,
        cancel=shot.cancel,
        log=unreal.log_error,
    )
    watcher.handle = unreal.register_slate_post_tick_callback(watcher.tick)
    return watcher


def main() -> None:
    """Log versions and missing APIs, start the inbox watcher when there is an inbox; never
    raises (a failing start-up script stops nothing)."""
    global WATCHER
    unrealcv = os.path.join(unreal.Paths.project_plugins_dir(), "UnrealCV", "UnrealCV.uplugin")
    unreal.log(
        f"AlphaMatte4K: engine {unreal.SystemLibrary.get_engine_version()}, UnrealCV {plugin_version(unrealcv)}"
    )
    missing = [name for name in NEEDED if not hasattr(unreal, name)]
    if missing:
        unreal.log_warning(f"AlphaMatte4K: Python API missing (plugin disabled?): {', '.join(missing)}")
    try:
        import amatte4k  # noqa: F401  (Content/Python is on sys.path in the editor)

        folder = inbox_folder()
        if folder is not None:
            WATCHER = start_watcher(folder)
            unreal.log(f"AlphaMatte4K: watching inbox {folder}")
    except Exception as exc:  # ImportError, a bad inbox, an unwritable folder
        unreal.log_error(f"AlphaMatte4K: {type(exc).__name__}: {exc}")


main()
