"""Checks the launcher runs before anything is written (one-line errors): every shot's assets
have Unreal paths, and the engine can be reached (attach) or launched (own)."""

from __future__ import annotations

import os
from pathlib import Path

from render.backends.unreal import job
from render.backends.unreal.client import (
    Client,
    EngineError,
    EngineTimeout,
    EngineUnavailable,
    parse_endpoint,
)
from render.backends.unreal.protocol import ProtocolError
from render.config import UnrealConfig
from render.plan import ShotSpec

# How long the launcher waits for an attached engine to greet and answer.
PROBE_SECONDS = 15.0


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


def probe(endpoint: str, seconds: float = PROBE_SECONDS) -> str:
    """Connect to a running engine, check it speaks UnrealCV and listens; its version."""
    try:
        host, port = parse_endpoint(endpoint)
    except ValueError as exc:
        raise PreflightError(f"--unreal-endpoint: {exc}") from None
    client = Client(host, port, timeout=seconds, connect_timeout=seconds)
    try:
        client.connect()
        client.status()
        return client.version()
    except EngineUnavailable as exc:
        raise PreflightError(
            f"unreal endpoint {endpoint}: nothing answers ({str(exc).split(': ', 1)[-1]})"
        ) from None
    except EngineTimeout:
        raise PreflightError(
            f"unreal endpoint {endpoint}: accepted but no UnrealCV reply within {seconds:.0f} s "
            "(another client connected, or the engine is busy)"
        ) from None
    except (ProtocolError, EngineError) as exc:
        raise PreflightError(f"unreal endpoint {endpoint}: {exc}") from None
    finally:
        client.close()


def check_launch(u: UnrealConfig) -> None:
    """The engine binary and the project (with our scripts) exist, for engines we launch."""
    if not u.engine:
        raise PreflightError(
            "backend unreal: give --unreal-endpoint HOST:PORT (a running engine) or unreal.engine "
            "(the UnrealEditor binary to launch)"
        )
    engine = Path(u.engine)
    if not engine.is_file():
        raise PreflightError(f"unreal.engine {u.engine}: no such file")
    if not os.access(engine, os.X_OK):
        raise PreflightError(f"unreal.engine {u.engine}: not executable")
    project = u.project_path()
    if project.suffix != ".uproject" or not project.is_file():
        raise PreflightError(f"unreal.project {project}: no such .uproject file")
    script = project.parent / "Content" / "Python" / job.SCRIPT
    if not script.is_file():
        raise PreflightError(
            f"unreal.project {project}: lacks Content/Python/{job.SCRIPT} (see unreal_project/)"
        )
    if " " in str(project):
        raise PreflightError(f"unreal.project {project}: the path cannot contain spaces (UnrealCV arguments)")
