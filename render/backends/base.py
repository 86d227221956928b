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
from render.plan import ShotSpec, rng_for


@dataclass(frozen=True)
class RenderSettings:
    """What a backend needs from the dataset config (no paths of the orchestration layer)."""

    samples: int  # per pixel, fixed, shared by the rgb, fg and bg layers
    alpha_samples: int  # α layer: at most this many per pixel (adaptive)
    alpha_min_samples: int  # α layer: at least this many per pixel (at most alpha_samples)
    alpha_threshold: float  # α layer: adaptive noise threshold (0 = every pixel gets alpha_samples)
    alpha_time_strata: int  # α layer: renders per frame, each over 1/strata of the shutter
    motion_blur: bool
    shutter: float
    threads: int  # 0 = all cores of the process
    hair_strands: int  # strands of a full head at full detail (the level of detail keeps fewer)
    denoise: bool
    passes: tuple[str, ...]
    pixel_filter: str = "box"  # box | gaussian | blackman_harris, the same for every layer
    filter_width: float = 1.0  # pixels
    depth_of_field: bool = True
    sampler_seed: int | None = None  # None: the renderer's seed is the shot's seed
    hdri_dir: str | None = None
    device: str = "auto"  # auto | cpu | gpu (render.config.DEVICES)
    hair_dynamics: bool = True  # long hair swings (render.people.dynamics); False: rigid with the head

    # Keys that change how fast a frame is made, not its pixels: kept out of the frame metadata,
    # so shards are byte-identical whatever the cluster looks like.
    RUNTIME = ("threads", "hdri_dir", "device")

    @staticmethod
    def from_config(cfg: DatasetConfig, threads: int | None = None) -> RenderSettings:
        return RenderSettings(
            samples=cfg.samples,
            alpha_samples=cfg.alpha_samples,
            alpha_min_samples=min(cfg.alpha_min_samples, cfg.alpha_samples),
            alpha_threshold=cfg.alpha_threshold,
            alpha_time_strata=cfg.alpha_time_strata,
            motion_blur=cfg.motion_blur,
            shutter=cfg.shutter,
            threads=cfg.threads if threads is None else threads,
            hair_strands=cfg.hair_strands,
            denoise=cfg.denoise,
            passes=tuple(cfg.passes),
            pixel_filter=cfg.pixel_filter,
            filter_width=cfg.filter_width,
            depth_of_field=cfg.depth_of_field,
            sampler_seed=cfg.sampler_seed,
            hdri_dir=cfg.assets.hdri_dir,
            device=cfg.device,
            hair_dynamics=cfg.hair_dynamics,
        )

    def to_json(self) -> dict:
        """The settings that determine the pixels (no runtime keys)."""
        d = asdict(self)
        for key in self.RUNTIME:
            d.pop(key)
        d["passes"] = list(self.passes)
        return d

    def render_seed(self, shot: ShotSpec) -> int:
        """The renderer's sampling seed for ``shot``: the shot's own seed, or one derived from
        ``sampler_seed`` and the shot id (re-render with other noise, same everything else)."""
        if self.sampler_seed is None:
            return shot.seed
        return int(rng_for(self.sampler_seed, "sampler", shot.shot_id).integers(0, 2**31 - 1))


@dataclass
class FramePasses:
    """One rendered frame, scene-linear Rec.709, float32.

    rgb: (H, W, 3) the image I. alpha: (H, W) in [0, 1], the character's coverage (the α label).
    fg: (H, W, 3) the character's light *premultiplied* by its coverage, from the same samples
    as rgb; fg_alpha: (H, W) that coverage. bg: (H, W, 3) the clean plate B.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    fg: np.ndarray | None = None
    fg_alpha: np.ndarray | None = None
    bg: np.ndarray | None = None


ProgressFn = Callable[[int], None]


class Renderer(ABC):
    name: str = ""
    # The passes this backend can make (checked before anything is written).
    supported_passes: tuple[str, ...] = ("rgb", "alpha")
    # Seconds of the last render_shot: "scene_build" (set-up), "engine" (the render alone) and,
    # where the backend times them apart, one entry per layer ("rgb", "alpha", "fg", "bg").
    last_timing: dict[str, float] = {}
    # Per-frame facts of the last render_shot that only the engine knows (e.g. the focus
    # distance it computed from the posed head), merged into each frame's ``camera`` metadata.
    last_frame_info: list[dict] = []
    # Where the last render_shot ran (e.g. "CPU", "OPTIX: NVIDIA H200"): recorded in the shot
    # record, never in the frame data.
    last_device: str = ""

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
