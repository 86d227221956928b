import json
import subprocess
import sys

import numpy as np

from render.catalog import load_clips, load_scenes
from render.config import load_config
from render.plan import ShotSpec, plan_bytes, plan_shots, summary


def _plan(**over):
    cfg = load_config(None, over)
    scenes = [s["name"] for s in load_scenes(cfg.scene_catalog_path())]
    return cfg, plan_shots(cfg, scenes, load_clips(cfg.clip_catalog_path()))


def test_same_config_same_plan_bytes():
    _, a = _plan()
    _, b = _plan()
    assert plan_bytes(a) == plan_bytes(b)
    _, c = _plan(seed=1)
    assert plan_bytes(c) != plan_bytes(a)


def test_plan_in_a_fresh_process_is_identical():
    """Nothing in the plan depends on process state (hash seeds, dict order, globals)."""
    code = (
        "import sys; from render.config import load_config; from render.catalog import load_scenes, load_clips;"
        "from render.plan import plan_shots, plan_bytes; cfg = load_config(None, {'cams': 50});"
        "s = [x['name'] for x in load_scenes(cfg.scene_catalog_path())];"
        "sys.stdout.buffer.write(plan_bytes(plan_shots(cfg, s, load_clips(cfg.clip_catalog_path()))))"
    )
    env = {"PYTHONHASHSEED": "123", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=env, check=True, cwd="."
    ).stdout
    _, shots = _plan(cams=50)
    assert out == plan_bytes(shots)


def test_900_cameras_over_22_scenes():
    cfg, shots = _plan()
    assert len(shots) == 900
    assert len({s.shot_id for s in shots}) == 900
    counts = summary(cfg, shots)["scenes"]
    assert len(counts) == 22 and max(counts.values()) - min(counts.values()) <= 1
    frames = np.array([s.frame_count for s in shots])
    assert frames.min() >= round(130 * 0.85) and frames.max() <= round(130 * 1.15)
    assert abs(frames.mean() - 130) < 3
    assert all(s.resolution == (2160, 3840) and s.fps == 30 for s in shots)
    val = [s for s in shots if s.split == "val"]
    assert len({s.scene for s in val}) == round(0.1 * 22)  # whole scenes held out
    assert len(val) == sum(counts[sc] for sc in {s.scene for s in val})
    assert len({s.seed for s in shots}) > 890


def test_shots_do_not_depend_on_the_number_of_cameras():
    """Shot i is the same whether 10 or 900 are planned (except the split draw)."""
    _, small = _plan(cams=30)
    _, big = _plan(cams=900)
    for a, b in zip(small, big[:30], strict=False):
        assert a.camera == b.camera and a.animation == b.animation and a.seed == b.seed


def test_shot_spec_json_round_trip():
    _, shots = _plan(cams=25)
    for s in shots:
        assert ShotSpec.from_json(json.loads(json.dumps(s.to_json()))) == s


def test_val_holds_out_whole_scenes_and_identities():
    cfg, shots = _plan()
    train = [s for s in shots if s.split == "train"]
    val = [s for s in shots if s.split == "val"]
    assert train and val
    assert not {s.scene for s in train} & {s.scene for s in val}
    assert not {s.character.id for s in train} & {s.character.id for s in val}
    split = summary(cfg, shots)["split"]
    assert split["holdout"] == "scene+identity" and not split["note"]
    assert set(split["val_scenes"]) == {s.scene for s in val}
    assert {s.character.id for s in val} <= set(split["val_identities"])
    assert len(split["val_identities"]) == round(0.1 * 48)
    # The held-out scenes and identities do not move with the number of cameras.
    assert summary(*_plan(cams=60))["split"] == split
    # A single scene cannot be held out: val shots by share, identities still held out.
    cfg1, one = _plan(scenes=1, cams=20)
    s1 = summary(cfg1, one)["split"]
    assert s1["holdout"] == "identity" and "1 scene(s)" in s1["note"]
    assert sum(s.split == "val" for s in one) == 2
    assert not {s.character.id for s in one if s.split == "train"} & set(s1["val_identities"])
    # The old behaviour on request: shots by share, everything shared.
    _, shared = _plan(holdout="shot")
    assert sum(s.split == "val" for s in shared) == 90
    assert len({s.scene for s in shared if s.split == "val"}) > 2


def test_dry_run_writes_the_plan_it_would_render(tmp_path):
    out = tmp_path / "plan.jsonl"
    args = [sys.executable, "-m", "render.launch", "--cams", "60", "--seed", "3", "--dry-run"]
    r = subprocess.run([*args, "--plan-out", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "held out: scene+identity; scenes " in r.stdout
    _, shots = _plan(cams=60, seed=3)
    assert out.read_bytes() == plan_bytes(shots)  # what a render writes as plan.jsonl
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 60 and {x["split"] for x in lines} == {"train", "val"}
    r = subprocess.run(
        [*args[:-1], "--plan-out", str(tmp_path / "x.jsonl")], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "only with --dry-run" in r.stderr
    r = subprocess.run(
        [*args, "--plan-out", str(tmp_path / "no" / "x.jsonl")], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "--plan-out" in r.stderr and "\n" not in r.stderr.strip()


def test_dry_run_is_fast_and_writes_nothing(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "render.launch",
            "--scenes",
            "22",
            "--cams",
            "900",
            "--dry-run",
            "--out",
            str(tmp_path / "d"),
            "--manifests",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "shots: 900" in r.stdout and "estimated size" in r.stdout
    assert list(tmp_path.iterdir()) == []
