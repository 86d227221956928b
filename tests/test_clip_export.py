"""Catalog clips baked to Mixamo-rig FBX for the Unreal side: what the file holds is what we
keyed (read back with the same FBX reader that takes Mixamo downloads), in place."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from render.catalog import load_clips
from render.config import REPO_ROOT
from render.timeline import frame_states

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["wave", "jump_forward"])
def test_a_baked_clip_reads_back_as_keyed_and_in_place(tmp_path, name):
    from render.backends.blender import clip_export, fbx
    from render.body import BodyModel, rig_rest

    clips = load_clips(REPO_ROOT / "animations" / "clips.yaml")
    out = tmp_path / f"{name}.fbx"
    truth = clip_export.bake(name, clips[name], out, fps=30, limit=1.5)
    src = fbx.read_mixamo(out)
    assert src.frames == 46 and src.fps == 30.0
    names = [n.split(":")[-1] for n in src.names]
    assert sorted(names) == sorted(truth["bones"])
    order = [names.index(b) for b in truth["bones"]]
    assert np.abs(src.deltas()[:, order] - truth["rotations"]).max() < 1e-4
    hips = src.positions[:, names.index("Hips")]
    assert np.abs(hips - truth["hips"]).max() < 1e-4
    # The motion is there (bones turn), and in place: the shot's root travel is not in the file.
    assert np.abs(truth["rotations"][0] - truth["rotations"][-1]).max() > 0.05
    from render.people.identities import identity

    shot = clip_export._shot(name, 46, 30, 0)
    states = frame_states(shot, clips[name], rig_rest(BodyModel().body(identity(0).phenotype)))[1:-1]
    travel = np.linalg.norm(np.subtract(states[-1].root[:2], states[0].root[:2]))
    drift = np.linalg.norm(hips[-1, :2] - hips[0, :2])
    if name == "jump_forward":
        assert travel > 0.08 and drift < 0.25 * travel  # the hips sway over the feet, nothing more
    # The hips keep their height over the ground as the shot has it.
    want = np.array([s.origin[2] for s in states])
    assert np.allclose(hips[:, 2] - hips[0, 2], want - want[0], atol=0.02)


def _export(out, *args: str) -> subprocess.CompletedProcess:
    """``python -m render.backends.blender.clip_export --out OUT ARGS`` from the repository."""
    return subprocess.run(
        [sys.executable, "-m", "render.backends.blender.clip_export", "--out", str(out), *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )


def test_the_command_writes_files_and_the_clip_map(tmp_path):
    r = _export(tmp_path, "--clips", "idle", "--max-seconds", "0.5")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "clips.json").read_text()) == {"idle": "idle.fbx"}
    assert (tmp_path / "idle.fbx").stat().st_size > 100_000
    bad = _export(tmp_path, "--clips", "moonwalk")
    assert bad.returncode != 0 and "unknown clip 'moonwalk'" in bad.stderr
