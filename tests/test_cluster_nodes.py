"""A real multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head that
renders nothing, as on a real cluster, and three worker nodes of 1 CPU each) renders a tiny
Blender plan through ``python -m render.launch --address``. The node of a worker that is inside
a shot is killed mid-run, and in a second run the launcher itself; the run (or a re-run)
finishes, and the audit finds every planned shot recorded exactly once, every checksum valid,
and no orphaned shards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from render.audit import AuditOptions, run_audit
from tests.conftest import TINY

REPO = Path(__file__).resolve().parent.parent

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
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    nodes = [c.add_node(num_cpus=1) for _ in range(3)]
    c.wait_for_nodes()
    yield c, nodes
    c.shutdown()


def launch(config: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "render.launch", "--config", str(config), "--address", address, "--quiet"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


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
