"""A real multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head that
renders nothing, as on a real cluster, and three worker nodes of 1 CPU each) renders a tiny
Blender plan through ``python -m render.launch --address``. The node of a worker that is inside
a shot is killed mid-run, and in a second run the launcher itself; the run (or a re-run)
finishes, and the audit finds every planned shot recorded exactly once, every checksum valid,
and no orphaned shards. Last, a node joins mid-run and the driver starts a render actor on it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from render.audit import AuditOptions, run_audit
from tests.cli_helpers import REPO, start_python
from tests.conftest import TINY

# conftest's tiny config, smaller still: 4 shots of 2 frames over 2 scenes.
TINY_CLUSTER = dict(
    TINY,
    cams=4,
    frames=2,
    resolution=[40, 72],
    samples=4,
    alpha_samples=16,
    hair_strands=600,
    characters=2,
    val_fraction=0.25,
    workers=2,  # threads per actor: sized from the nodes (1 CPU each)
    retries=3,
)


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Nodes' workers inherit it: they can import tests.backends (the growth test's renderer).
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved]))
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    nodes = [c.add_node(num_cpus=1) for _ in range(3)]
    c.wait_for_nodes()
    yield c, nodes
    c.shutdown()
    if saved is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = saved


def launch(config: Path, address: str) -> subprocess.Popen:
    return start_python("-m", "render.launch", "--config", str(config), "--address", address, "--quiet")


def wait_for_records(manifests: Path, n: int, proc: subprocess.Popen, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(list((manifests / "shots").glob("*.json"))) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the launcher ended early:\n{proc.stdout.read()}")
        time.sleep(0.5)
    raise AssertionError(f"no {n} record(s) within {timeout} s")


def node_of_a_busy_worker(nodes: list, timeout: float = 300):
    """The cluster node whose render worker is inside a shot (``ray::ShotWorker.produce``)."""
    import psutil

    raylets = {n.all_processes["raylet"][0].process.pid: n for n in nodes}
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p in psutil.process_iter(["cmdline"]):
            try:
                if any("ShotWorker.produce" in part for part in p.info["cmdline"] or []):
                    for parent in p.parents():
                        if parent.pid in raylets:
                            return raylets[parent.pid]
            except psutil.Error:
                continue
        time.sleep(0.2)
    raise AssertionError("no render worker inside a shot")


def config(tmp_path: Path) -> tuple[Path, Path]:
    cfg = dict(TINY_CLUSTER, out=str(tmp_path / "data"), manifests=str(tmp_path / "manifests"))
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, tmp_path / "manifests"


def assert_exactly_once(manifests: Path) -> None:
    result = run_audit(manifests, AuditOptions(workers=1, progress=False, sheets=0))
    errors = [p.to_json() for p in result.errors]
    assert not errors, errors
    assert result.summary["counts"]["recorded_shots"] == TINY_CLUSTER["cams"]
    assert result.summary["counts"]["planned_shots"] == TINY_CLUSTER["cams"]
    assert not any(p.check in ("orphan_shard", "temporary_file") for p in result.problems)


@pytest.mark.slow
def test_a_worker_node_lost_mid_run(cluster, tmp_path):
    c, nodes = cluster
    cfg, manifests = config(tmp_path)
    proc = launch(cfg, c.address)
    wait_for_records(manifests, 1, proc)
    c.remove_node(node_of_a_busy_worker(nodes), allow_graceful=False)  # its actor dies inside a shot
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "retrying" in out or "recorded before its worker failed" in out, out
    assert_exactly_once(manifests)


@pytest.mark.slow
def test_the_launcher_killed_mid_run_then_rerun(cluster, tmp_path):
    c, _ = cluster
    cfg, manifests = config(tmp_path)
    proc = launch(cfg, c.address)
    wait_for_records(manifests, 1, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and anything it started
    proc.wait(timeout=60)
    done_before = {p.name: p.stat().st_mtime_ns for p in (manifests / "shots").glob("*.json")}
    assert len(done_before) < TINY_CLUSTER["cams"], "the launcher finished before it was killed"
    rerun = launch(cfg, c.address)
    out, _ = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, out
    done = re.search(r"(\d+) already done", out)
    assert done and int(done.group(1)) >= len(done_before), out
    # shots recorded before the kill were left as they were
    for name, mtime in done_before.items():
        assert (manifests / "shots" / name).stat().st_mtime_ns == mtime
    assert_exactly_once(manifests)


def run_slow_plan(config: str, address: str) -> None:
    """The driver of the growth test, in its own process (``Cluster.add_node`` needs the test's
    main thread): renders the config's plan with the Slow renderer, checking for new nodes
    every half second, and prints its log lines."""
    import dataclasses

    from render import orchestrate
    from render.catalog import load_clips, load_scenes
    from render.config import load_config
    from render.plan import plan_shots

    orchestrate.RESIZE_EVERY = 0.5
    cfg = dataclasses.replace(load_config(config), address=address, backend="tests.backends:Slow")
    scenes = load_scenes(cfg.scene_catalog_path())
    clips = load_clips(cfg.clip_catalog_path())
    shots = plan_shots(cfg, [s["name"] for s in scenes], clips)
    report = orchestrate.run(
        cfg,
        shots,
        {s["name"]: s for s in scenes},
        clips,
        cfg.out,
        cfg.manifests,
        planned=len(shots),
        progress=False,
        log=lambda m: print(m, flush=True),
    )
    print(f"completed {len(report.completed)} failed {len(report.failed)}", flush=True)


@pytest.mark.slow
def test_a_node_that_joins_mid_run_gets_a_render_worker(cluster, tmp_path):
    from render.manifest import load_shot_records

    c, _ = cluster
    manifests = tmp_path / "manifests"
    config = tmp_path / "grow.yaml"
    config.write_text(
        yaml.safe_dump(
            dict(TINY_CLUSTER, cams=10, workers=0, out=str(tmp_path / "data"), manifests=str(manifests))
        )
    )
    proc = start_python(
        "-c",
        "import sys; from tests.test_cluster_nodes import run_slow_plan; run_slow_plan(*sys.argv[1:])",
        str(config),
        c.address,
    )
    wait_for_records(manifests, 1, proc)
    node = c.add_node(num_cpus=1)
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        c.remove_node(node)
    assert proc.returncode == 0, out
    # One actor per alive 1-CPU node (an earlier test of this module may have removed one).
    first = re.search(r"rendering 10 shot\(s\) on (\d+) worker\(s\)", out)
    assert first, out
    assert "the cluster grew: starting 1 more render worker(s)" in out, out
    assert "completed 10 failed 0" in out, out
    records = load_shot_records(manifests)
    assert len(records) == 10
    # The new actor really rendered: at some moment one shot more than at the start was in flight.
    events = sorted(
        [(r.stats["started_at"], 1) for r in records.values()]
        + [(r.stats["finished_at"], -1) for r in records.values()]
    )
    in_flight = most = 0
    for _, step in events:
        in_flight += step
        most = max(most, in_flight)
    assert most == int(first.group(1)) + 1, (most, out)
