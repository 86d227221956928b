"""Checks the launcher runs before anything is written (one-line errors): every shot's assets
have Unreal paths, and the engine can be reached (attach) or launched (own)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from render.backends.unreal import inbox, job
from render.backends.unreal.client import (
    Client,
    EngineTimeout,
    EngineUnavailable,
    parse_endpoint,
)
from render.backends.unreal.protocol import ProtocolError
from render.config import UnrealConfig
from render.plan import ShotSpec

# How long the launcher waits for an attached engine to greet, and (at most) for its heartbeat
# to change: an editor inside a map load does not beat, and NFS may cache a file for a minute.
PROBE_SECONDS = 15.0
HEARTBEAT_SECONDS = 90.0


class PreflightError(ValueError):
    """One line for the user."""


def check_assets(
    shots: list[ShotSpec], scenes: dict[str, dict], clips: dict[str, dict], metahumans: dict
) -> None:
    """Every scene, clip and identity the plan uses has its Unreal asset path."""
    for shot in shots:
        try:
            job.asset_paths(
                scenes[shot.scene],
                shot.animation.clip,
                clips[shot.animation.clip],
                shot.character.id,
                metahumans,
            )
        except job.JobError as exc:
            raise PreflightError(f"backend unreal: {exc} (shot {shot.shot_id})") from None


def probe(
    endpoint: str, box: str | None, seconds: float = PROBE_SECONDS, heartbeat: float = HEARTBEAT_SECONDS
) -> None:
    """A running engine: its UnrealCV listener greets on ``endpoint``, and the inbox it was
    started with is ``box`` as this machine sees it (its heartbeat file is being rewritten)."""
    try:
        host, port = parse_endpoint(endpoint)
    except ValueError as exc:
        raise PreflightError(f"--unreal-endpoint: {exc}") from None
    if not box:
        raise PreflightError(
            "--unreal-endpoint: give unreal.inbox too, the folder that engine was started with "
            "(-AM4KInbox=DIR), on storage this machine and the engine both see"
        )
    client = Client(host, port, timeout=seconds, connect_timeout=seconds)
    try:
        client.connect()
    except EngineUnavailable as exc:
        raise PreflightError(
            f"unreal endpoint {endpoint}: nothing answers ({str(exc).split(': ', 1)[-1]})"
        ) from None
    except EngineTimeout:
        raise PreflightError(
            f"unreal endpoint {endpoint}: accepted but sent no UnrealCV greeting within {seconds:.0f} s "
            "(another client holds it?)"
        ) from None
    except ProtocolError as exc:
        raise PreflightError(f"unreal endpoint {endpoint}: {exc}") from None
    finally:
        client.close()
    if not Path(box).is_dir():
        raise PreflightError(f"unreal.inbox {box}: no such directory")
    first = inbox.engine_state(box)
    deadline = time.monotonic() + heartbeat
    while time.monotonic() < deadline:
        now = inbox.engine_state(box)
        if now is not None and first is not None and now.get("updated") != first.get("updated"):
            return
        first = first or now
        time.sleep(0.2)
    raise PreflightError(
        f"unreal.inbox {box}: no engine heartbeat there within {heartbeat:.0f} s (was the engine "
        "started with -AM4KInbox= this folder, and does this machine see the same files?)"
    )


def check_launch(u: UnrealConfig, local: bool = True) -> None:
    """The engine binary and the project (with our scripts) exist, for engines we launch; on a
    cluster (``local`` False) the nodes launch them, and each worker checks its own node."""
    if not u.engine:
        raise PreflightError(
            "backend unreal: give --unreal-endpoint HOST:PORT (a running engine) or unreal.engine "
            "(the UnrealEditor binary to launch)"
        )
    if not local:
        return
    engine = Path(u.engine)
    if not engine.is_file():
        raise PreflightError(f"unreal.engine {u.engine}: no such file")
    if not os.access(engine, os.X_OK):
        raise PreflightError(f"unreal.engine {u.engine}: not executable")
    project = u.project_path()
    if project.suffix != ".uproject" or not project.is_file():
        raise PreflightError(f"unreal.project {project}: no such .uproject file")
    script = project.parent / "Content" / "Python" / "init_unreal.py"
    if not script.is_file():
        raise PreflightError(
            f"unreal.project {project}: lacks Content/Python/init_unreal.py (the job watcher; see unreal_project/)"
        )
