"""The renderer interface both engines implement.

A renderer turns one planned shot into per-frame files in a work directory and reads them
back as arrays; everything around it (planning, metadata, EXR encoding, shards, manifests,
scheduling) is engine-independent.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from render.config import DatasetConfig
from render.plan import ShotSpec


@dataclass(frozen=True)
class RenderSettings:
    """What a backend needs from the dataset config (no paths of the orchestration layer)."""

    samples: int
    alpha_samples: int
    motion_blur: bool
    shutter: float
    threads: int  # 0 = all cores of the process
    hair_strands: int
    denoise: bool
    passes: tuple[str, ...]
    hdri_dir: str | None = None

    @staticmethod
    def from_config(cfg: DatasetConfig, threads: int | None = None) -> RenderSettings:
        return RenderSettings(
            samples=cfg.samples,
            alpha_samples=cfg.alpha_samples,
            motion_blur=cfg.motion_blur,
            shutter=cfg.shutter,
            threads=cfg.threads if threads is None else threads,
            hair_strands=cfg.hair_strands,
            denoise=cfg.denoise,
            passes=tuple(cfg.passes),
            hdri_dir=cfg.assets.hdri_dir,
        )

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("hdri_dir")
        d["passes"] = list(self.passes)
        return d


@dataclass
class FramePasses:
    """One rendered frame. rgb/bg: (H, W, 3) float32 scene-linear; alpha: (H, W) float32 in [0, 1]."""

    rgb: np.ndarray
    alpha: np.ndarray
    bg: np.ndarray | None = None


ProgressFn = Callable[[int], None]


class Renderer(ABC):
    name: str = ""
    # Seconds of the last render_shot: "scene_build" (set-up) and "engine" (the render alone).
    last_timing: dict[str, float] = {}

    @abstractmethod
    def render_shot(
        self,
        shot: ShotSpec,
        scene: dict,
        clip: dict,
        settings: RenderSettings,
        workdir: str | os.PathLike,
        on_frame: ProgressFn | None = None,
    ) -> list[Path]:
        """Render every frame of ``shot`` into ``workdir``; return one file per frame, in order.

        ``scene`` and ``clip`` are catalog entries (``render.catalog``); ``on_frame(i)`` is
        called after frame ``i`` is on disk.
        """

    @abstractmethod
    def read_frame(self, path: str | os.PathLike, passes: tuple[str, ...]) -> FramePasses:
        """Read one file written by :meth:`render_shot`."""

    @abstractmethod
    def describe(self, settings: RenderSettings) -> dict:
        """Backend, engine version and settings, recorded in every frame's metadata."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources (processes, sockets)."""
