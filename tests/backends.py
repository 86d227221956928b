"""Renderers for the orchestration tests, plugged in as ``--backend tests.backends:Name``.

:class:`Analytic` draws each frame from closed-form arrays (a soft disc over a gradient, exact
coverage) in milliseconds, so the scheduling, retry, deadline and exactly-once paths run with
many shots in seconds; :class:`Hanging` never finishes a shot (a hung engine). The real
renderer (Blender Cycles) is exercised by tests/test_render_blender.py and the launch tests.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from render.backends.base import FramePasses, Renderer, RenderSettings


class Analytic(Renderer):
    name = "analytic"
    supported_passes = ("rgb", "alpha", "fg", "bg")

    def render_shot(self, shot, scene, clip, settings: RenderSettings, workdir, on_frame=None):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        w, h = shot.resolution
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        files = []
        for i in range(shot.frame_count):
            r = np.hypot(yy - h / 2, xx - w / 3 - i)
            alpha = np.clip(min(h, w) / 4 - r + 0.5, 0.0, 1.0).astype(np.float32)
            bg = np.stack([xx / w, yy / h, np.full_like(xx, 0.2)], -1).astype(np.float32)
            f = np.array([0.9, 0.4, 0.1], np.float32) * np.ones_like(bg)
            fg = f * alpha[..., None]
            path = workdir / f"frame_{i:04d}.npz"
            np.savez(
                path.with_suffix(".tmp.npz"), rgb=fg + (1 - alpha[..., None]) * bg, alpha=alpha, fg=fg, bg=bg
            )
            os.replace(path.with_suffix(".tmp.npz"), path)
            files.append(path)
            if on_frame:
                on_frame(i)
        self.last_timing = {"engine": 0.0}
        self.last_device = "CPU"
        return files

    def read_frame(self, path, passes):
        d = np.load(path)
        return FramePasses(rgb=d["rgb"], alpha=d["alpha"], fg=d["fg"], fg_alpha=d["alpha"], bg=d["bg"])

    def describe(self, settings):
        return {"backend": self.name, **settings.to_json()}


class Slow(Analytic):
    """An engine that takes a couple of seconds per shot (runs that must still be going when
    something happens to the cluster)."""

    def render_shot(self, *args, **kwargs):
        time.sleep(2.0)
        return super().render_shot(*args, **kwargs)


class Hanging(Analytic):
    """An engine that never returns (deadline tests)."""

    def render_shot(self, *args, **kwargs):
        time.sleep(3600)
        raise AssertionError("unreachable")


class DiesAfterRecord(Analytic):
    """A worker whose process dies right after it writes a shot's record, before the call
    returns (a node lost at the worst moment): wraps render.shot.write_shot_record in this process."""

    def __init__(self):
        import render.shot

        original = render.shot.write_shot_record

        def write_then_die(manifest_dir, record):
            original(manifest_dir, record)
            os._exit(1)

        render.shot.write_shot_record = write_then_die
