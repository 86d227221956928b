"""``python -m render.launch`` end to end on Ray with Cycles: shards, manifests, resume after
SIGKILL of the launcher and of a render worker, reading with the stock webdataset library."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
import yaml

from render import exrio
from render.manifest import load_dataset
from render.shards import sha256_file

pytestmark = pytest.mark.slow


def launch(config: Path, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "render.launch", "--config", str(config), "--quiet", *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(config: Path) -> subprocess.Popen:
    # Own session: the test can clean up every process Ray started, whatever happens.
    return subprocess.Popen(
        [sys.executable, "-m", "render.launch", "--config", str(config), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def wait_for(predicate, timeout: float = 400.0, what: str = "") -> None:
    t0 = time.time()
    while not predicate():
        if time.time() - t0 > timeout:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.2)


def check_dataset(manifests: Path, shots: int, frames_per_shot: int) -> dict:
    """Every indexed shard exists with its checksum, and webdataset decodes every frame."""
    ds = load_dataset(manifests)
    assert ds.index["completed_shots"] == shots and ds.index["failed_shots"] == []
    for s in ds.shards:
        assert sha256_file(s["path"]) == s["sha256"], s["url"]
    keys = {}
    for sample in wds.WebDataset([s["path"] for s in ds.shards], shardshuffle=False):
        meta = json.loads(sample["json"])
        alpha = exrio.decode_alpha(sample["alpha.exr"])
        rgb = exrio.decode_rgb(sample["rgb.exr"])
        bg = exrio.decode_rgb(sample["bg.exr"])
        fg, fg_alpha = exrio.decode_fg(sample["fg.exr"])
        assert alpha.shape == fg_alpha.shape == (112, 64) and rgb.shape == bg.shape == fg.shape == (
            112,
            64,
            3,
        )
        assert np.array_equal(fg_alpha, alpha), "fg.exr's A is the alpha label"
        assert sample["__key__"] == f"{meta['shot_id']}_{meta['frame']:04d}"
        assert np.asarray(meta["camera"]["K"]).shape == (3, 3)
        assert np.asarray(meta["camera"]["world_to_camera"]).shape == (4, 4)
        assert meta["render"]["samples"] == 8 and meta["render"]["alpha_samples"] == 32
        assert "threads" not in meta["render"], "runtime keys stay out of the frame data"
        assert meta["camera"]["depth_of_field"] is True and meta["camera"]["focus_distance_m"] > 0
        keys.setdefault(meta["shot_id"], []).append(meta["frame"])
    assert len(keys) == shots
    assert all(v == list(range(frames_per_shot)) for v in keys.values())
    return ds.index


def test_end_to_end_then_rerun_skips_everything(make_config, tmp_path: Path):
    config = make_config(scratch=str(tmp_path / "scratch"))
    r = launch(config)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"shards:   {tmp_path / 'data' / 'shards'}" in r.stdout
    assert f"manifest: {tmp_path / 'manifests' / 'index.json'}" in r.stdout
    man = tmp_path / "manifests"
    index = check_dataset(man, shots=3, frames_per_shot=3)
    saved = yaml.safe_load((man / "config.yaml").read_text())
    assert saved["seed"] == 0 and saved["resolution"] == [64, 112]
    assert len((man / "plan.jsonl").read_text().splitlines()) == 3
    assert {s["split"] for s in index["shards"]} == {"train", "val"}
    # Engine output went to the scratch folder (node-local disk), one folder per dataset, and
    # each shot's work directory was removed once its shards were written.
    assert not (tmp_path / "data" / ".work").exists()
    (work,) = (tmp_path / "scratch").iterdir()
    assert work.name.startswith("amatte4k-") and any(work.iterdir())  # <host>-<pid> of the worker
    assert not list(work.glob("*/shot*"))

    for p in (man / "shots").iterdir():  # the label figures of every shot are in its record
        stats = json.loads(p.read_text())["stats"]
        assert 0 < stats["fractional_alpha"] < 0.5 and stats["alpha_pass_seconds"] > 0
        assert stats["residual_fractional"] is None or stats["residual_fractional"] < 0.06 / np.sqrt(8)
        assert (
            stats["alpha_cost_ratio"] > 0 and 0 <= stats["fg_fallback"] <= 1 and 0 <= stats["fg_filled"] <= 1
        )
    from render import contact_sheet

    sheet = contact_sheet.sheet(man)
    assert sheet.shape == (3 * 112, 5 * 64, 3) and sheet.dtype == np.uint8 and sheet.std() > 10

    records = {p.name: p.read_bytes() for p in (man / "shots").iterdir()}
    again = launch(config)
    assert again.returncode == 0 and "0 to render" in again.stdout
    assert {p.name: p.read_bytes() for p in (man / "shots").iterdir()} == records


def test_one_or_two_workers_give_byte_identical_shards(tmp_path: Path):
    """The same config rendered by 1 worker x 2 threads and by 2 workers x 1 thread: the same
    shard checksums in the index (no runtime key reaches the frame data)."""
    from tests.conftest import TINY

    sums = []
    for workers, threads in ((1, 2), (2, 1)):
        root = tmp_path / f"w{workers}"
        cfg = dict(TINY, cams=2, frames=2, workers=workers, threads=threads)
        cfg |= {"out": str(root / "data"), "manifests": str(root / "manifests")}
        (root).mkdir()
        (root / "c.yaml").write_text(yaml.safe_dump(cfg))
        r = launch(root / "c.yaml")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"on {workers} worker(s) x {threads} thread(s)" in r.stderr
        index = json.loads((root / "manifests" / "index.json").read_text())
        sums.append({s["shot_id"]: s["sha256"] for s in index["shards"]})
    assert len(sums[0]) == 2 and sums[0] == sums[1]

    # The same config with another sampler seed: other noise only. The noise-floor tool refuses
    # two datasets with the same seed and finds a small positive figure against the third; the
    # third cannot share the first one's --out (its shards would overwrite them).
    from click.testing import CliRunner

    from render import noise_floor

    root = tmp_path / "seed3"
    root.mkdir()
    (root / "c.yaml").write_text((tmp_path / "w1" / "c.yaml").read_text().replace("w1", "seed3"))
    r = launch(root / "c.yaml", "--sampler-seed", "3", "--out", str(tmp_path / "w1" / "data"))
    assert r.returncode == 2 and "holds the shards of another dataset" in r.stderr, r.stdout + r.stderr
    r = launch(root / "c.yaml", "--sampler-seed", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    with pytest.raises(ValueError, match="same sampler seed"):
        noise_floor.compare(tmp_path / "w1" / "manifests", tmp_path / "w2" / "manifests")
    out = CliRunner().invoke(
        noise_floor.main, [str(tmp_path / "w1" / "manifests"), str(root / "manifests"), "--record"]
    )
    assert out.exit_code == 0, out.output
    rec = json.loads((tmp_path / "w1" / "manifests" / "shots" / "shot00000.json").read_text())
    assert 0.0 < rec["stats"]["noise_floor"] < 0.6 / np.sqrt(TINY["alpha_samples"]), rec["stats"]
    seeds = noise_floor.compare(tmp_path / "w1" / "manifests", root / "manifests")["shot00000"]["seeds"]
    assert seeds[0] != seeds[1] and rec["stats"]["noise_floor_against_seed"] == seeds[1]


def test_sigkill_of_the_launcher_loses_nothing(tiny_config: Path, tmp_path: Path):
    man = tmp_path / "manifests"
    proc = start(tiny_config)
    try:
        wait_for(lambda: len(list((man / "shots").glob("*.json"))) >= 1, what="the first shot")
        os.kill(proc.pid, signal.SIGKILL)  # the launcher only: Ray's workers are left to notice
        proc.wait()
    finally:
        kill_group(proc)
    finished = {p.name: p.read_bytes() for p in (man / "shots").glob("*.json")}
    assert 1 <= len(finished) < 3
    if (man / "index.json").exists():  # whatever the index lists at this moment is whole
        for s in load_dataset(man).shards:
            assert sha256_file(s["path"]) == s["sha256"]

    r = launch(tiny_config)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(finished)} already done" in r.stdout
    check_dataset(man, shots=3, frames_per_shot=3)
    for name, data in finished.items():  # finished shots were not rendered again
        assert (man / "shots" / name).read_bytes() == data
    assert not list((tmp_path / "data" / "shards").glob(".*tmp*"))


def _worker_pids() -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if b"ray::ShotWorker" in (p / "cmdline").read_bytes():
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


def test_sigkill_of_a_worker_is_retried(make_config, tmp_path: Path):
    proc = start(make_config(scratch=str(tmp_path / "scratch")))
    try:
        work = tmp_path / "scratch"
        # Kill the render worker while it is inside a shot (its work directory exists).
        wait_for(lambda: any(work.glob("amatte4k-*/*/shot*")) and _worker_pids(), what="a running shot")
        for pid in _worker_pids():
            os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=600)
    finally:
        kill_group(proc)
    assert proc.returncode == 0, out.decode()
    assert "retrying" in out.decode()
    check_dataset(tmp_path / "manifests", shots=3, frames_per_shot=3)


def test_a_shot_that_keeps_failing_is_recorded_and_the_rest_finish(make_config, tmp_path: Path):
    """A clip that names a bone the rig lacks fails on every attempt; the other shots finish."""
    import render.config

    clips = yaml.safe_load(render.config.load_config().clip_catalog_path().read_text())
    clips["clips"] = {
        "idle": clips["clips"]["idle"],
        "tail_wag": {"period": 1.0, "base": {"Tail": [0, 0, 10]}, "osc": []},
    }
    (tmp_path / "clips.yaml").write_text(yaml.safe_dump(clips))
    config = make_config(cams=4, retries=1, clip_catalog=str(tmp_path / "clips.yaml"))
    r = launch(config)
    plan = [json.loads(line) for line in (tmp_path / "manifests" / "plan.jsonl").read_text().splitlines()]
    broken = sorted(s["shot_id"] for s in plan if s["animation"]["clip"] == "tail_wag")
    assert broken and len(broken) < 4, "the plan should mix good and broken shots"
    assert r.returncode == 1, r.stdout + r.stderr
    index = json.loads((tmp_path / "manifests" / "index.json").read_text())
    assert index["failed_shots"] == broken
    assert index["completed_shots"] == 4 - len(broken)
    for shot_id in broken:
        failure = json.loads((tmp_path / "manifests" / "failed" / f"{shot_id}.json").read_text())
        assert "Tail" in failure["error"] and failure["attempts"] == 2
    assert "failed:" in r.stderr
