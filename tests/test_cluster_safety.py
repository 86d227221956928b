"""Exactly-once rendering on a cluster: a recorded shot survives a retry, a second launcher is
refused, a hung renderer is killed at its deadline, an actor never asks for more CPUs than a
node has. Renderers that die or hang are plugged in from tests/backends.py."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from render import orchestrate
from render.catalog import load_clips, load_scenes
from render.config import load_config
from render.lock import Lease, LockedError
from render.manifest import read_shot_record, write_failure
from render.plan import plan_shots
from render.shot import produce_shot

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny(make_config, monkeypatch):
    """(config, shots, scenes by name, clips) of a 3-shot, 3-frame plan; Ray workers started by
    the test can import tests.backends."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    cfg = load_config(make_config(cams=3, scenes=2, frames=3))
    scenes = load_scenes(cfg.scene_catalog_path())
    clips = load_clips(cfg.clip_catalog_path())
    shots = plan_shots(cfg, [s["name"] for s in scenes], clips)
    return cfg, shots, {s["name"]: s for s in scenes}, clips


def run(cfg, shots, scenes, clips, backend: str, **overrides):
    cfg = dataclasses.replace(cfg, backend=f"tests.backends:{backend}", **overrides)
    logs: list[str] = []
    report = orchestrate.run(
        cfg,
        shots,
        scenes,
        clips,
        Path(cfg.out),
        Path(cfg.manifests),
        planned=len(shots),
        progress=False,
        log=logs.append,
    )
    return report, logs


def shard_state(cfg) -> dict[str, tuple[int, int]]:
    return {
        p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in (Path(cfg.out) / "shards").glob("*.tar")
    }


def test_a_recorded_shot_is_never_rendered_or_touched_again(tiny):
    cfg, shots, scenes, clips = tiny
    report, logs = run(cfg, shots, scenes, clips, "Analytic", workers=2, threads=1)
    assert sorted(report.completed) == [s.shot_id for s in shots] and not report.failed
    before = shard_state(cfg)
    assert len(before) == 3
    # The driver's index (built from the records it keeps) is the index of every record on disk.
    from render.manifest import build_index

    kept = (Path(cfg.manifests) / "index.json").read_bytes()
    assert build_index(cfg.manifests, len(shots), cfg.seed)["completed_shots"] == 3
    assert (Path(cfg.manifests) / "index.json").read_bytes() == kept

    class NoRender:
        last_device = ""

        def render_shot(self, *a, **k):
            raise AssertionError("a recorded shot was rendered again")

    # The call a retry makes after a worker died past its record: returns the record, untouched.
    r = produce_shot(
        shots[0],
        scenes[shots[0].scene],
        clips[shots[0].animation.clip],
        None,
        NoRender(),
        cfg.out,
        cfg.manifests,
    )
    assert r.already_recorded and r.record == read_shot_record(cfg.manifests, shots[0].shot_id)
    assert shard_state(cfg) == before
    # A failure can never be written over a record.
    write_failure(cfg.manifests, shots[0].shot_id, "late error", 3)
    assert not (Path(cfg.manifests) / "failed").exists()


def test_a_worker_that_dies_after_recording_is_not_retried(tiny):
    """The node dies after write_shot_record but before the call returns: the driver sees a
    failure, finds the record, and counts the shot as done (no retry deleting its shards, no
    entry in failed/)."""
    cfg, shots, scenes, clips = tiny
    report, logs = run(cfg, shots, scenes, clips, "DiesAfterRecord", workers=1, threads=1, retries=2)
    assert sorted(report.completed) == [s.shot_id for s in shots], logs
    assert not report.failed and not (Path(cfg.manifests) / "failed").exists()
    assert sum("recorded before its worker failed" in m for m in logs) == 3, logs
    for s in shots:  # every record's shards exist with the recorded size
        rec = read_shot_record(cfg.manifests, s.shot_id)
        for e in rec.shards:
            assert (Path(cfg.manifests) / e.url).resolve().stat().st_size == e.bytes
    index = json.loads((Path(cfg.manifests) / "index.json").read_text())
    assert index["completed_shots"] == 3 and index["failed_shots"] == []


def test_a_hung_renderer_is_killed_at_its_deadline_then_recorded_as_failed(tiny):
    cfg, shots, scenes, clips = tiny
    t0 = time.monotonic()
    report, logs = run(
        cfg,
        shots[:1],
        scenes,
        clips,
        "Hanging",
        workers=1,
        threads=1,
        retries=1,
        deadline_base=3.0,
        deadline_per_frame_mpix=0.0,
    )
    took = time.monotonic() - t0
    sid = shots[0].shot_id
    assert report.failed and "deadline of 3 s" in report.failed[sid], report.failed
    failure = json.loads((Path(cfg.manifests) / "failed" / f"{sid}.json").read_text())
    assert failure["attempts"] == 2 and "killed" in failure["error"]
    assert any("attempt 1 failed" in m for m in logs)
    assert took < 120, f"took {took:.0f} s"


def test_shot_deadline_scales_with_frames_and_resolution(tiny):
    cfg, shots, *_ = tiny
    shot = shots[0]
    d = orchestrate.shot_deadline(
        dataclasses.replace(cfg, deadline_base=10, deadline_per_frame_mpix=100), shot
    )
    w, h = shot.resolution
    assert d == pytest.approx(10 + 100 * shot.frame_count * w * h / 1e6)
    assert (
        orchestrate.shot_deadline(dataclasses.replace(cfg, deadline_base=0, deadline_per_frame_mpix=0), shot)
        is None
    )


N = orchestrate.Node
GiB = 2**30


@pytest.mark.parametrize(
    "nodes, workers, threads, gpus, memory, expected",
    [
        ([N(1), N(1), N(1)], 1, 0, 0, 0, (1, 1)),  # the old sizing asked for 3 CPUs: no node has them
        ([N(1), N(1), N(1)], 0, 0, 0, 0, (3, 1)),
        ([N(1), N(1), N(1)], 5, 0, 0, 0, (3, 1)),  # never more actors than fit
        ([N(2)], 0, 8, 0, 0, (1, 2)),  # threads capped at the largest node
        ([N(4), N(4)], 0, 0, 0, 0, (2, 4)),
        ([N(4), N(4)], 4, 4, 0, 0, (2, 4)),
        ([N(16), N(4)], 3, 0, 0, 0, (3, 5)),  # 3 actors of 5: 16 // 5 = 3 fit on the big node
        ([N(8, 1), N(8, 1)], 0, 0, 1, 0, (2, 8)),  # one actor per GPU with the node's CPUs
        ([N(8, 2)], 0, 0, 1, 0, (2, 4)),
        ([N(2, 1)], 2, 1, 1, 0, (1, 1)),  # 2 CPUs but 1 GPU: one actor
        ([N(4, 0, 3 * GiB)], 0, 1, 0, 2 * GiB, (1, 1)),  # memory for one actor only
    ],
)
def test_actors_fit_on_the_nodes(nodes, workers, threads, gpus, memory, expected):
    got = orchestrate.size_actors(nodes, workers, threads, gpus, memory)
    assert got == expected
    assert got[0] <= orchestrate.actor_slots(nodes, got[1], gpus, memory)


def test_no_node_that_fits_is_one_line(tiny):
    with pytest.raises(orchestrate.ClusterError, match="no node of the Ray cluster can host"):
        orchestrate.size_actors([N(8, 0)], 0, 0, 1, 0)
    cfg, shots, scenes, clips = tiny
    with pytest.raises(orchestrate.ClusterError, match="device gpu: no node"):
        run(cfg, shots[:1], scenes, clips, "Analytic", device="gpu")


def test_actor_memory_request(tiny):
    cfg, *_ = tiny
    small = orchestrate.actor_memory(cfg)
    big = orchestrate.actor_memory(dataclasses.replace(cfg, resolution=(2160, 3840)))
    assert 1.5 * 2**30 < small < big < 3 * 2**30
    assert orchestrate.actor_memory(dataclasses.replace(cfg, worker_memory_gb=6)) == 6 * 2**30


def test_lease_refuses_a_second_holder_and_takes_over_a_dead_one(tmp_path):
    first = Lease(tmp_path)
    first.acquire()
    with pytest.raises(LockedError) as exc:
        Lease(tmp_path).acquire()
    msg = str(exc.value)
    assert f"pid {os.getpid()} on {socket.gethostname()}" in msg and "\n" not in msg
    first.release()
    assert not (tmp_path / ".lock").exists()
    # A holder on this host whose process is gone: taken over.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / ".lock").write_text(
        json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "started": 0})
    )
    second = Lease(tmp_path)
    second.acquire()
    assert second.held()
    second.release()
    # Another host's lease: refused while renewed, taken over once it is older than stale_after.
    (tmp_path / ".lock").write_text(json.dumps({"host": "node-7", "pid": 1, "started": 0}))
    with pytest.raises(LockedError, match="node-7"):
        Lease(tmp_path, stale_after=60).acquire()
    old = time.time() - 120
    os.utime(tmp_path / ".lock", (old, old))
    third = Lease(tmp_path, stale_after=60)
    third.acquire()
    assert third.held()


def test_lease_age_is_read_on_the_stores_clock_not_this_machines(tmp_path, monkeypatch):
    """A launcher whose clock runs an hour ahead of the file server's must not judge a lease
    renewed a moment ago stale (nor one an hour behind judge a dead one fresh)."""
    (tmp_path / ".lock").write_text(json.dumps({"host": "node-7", "pid": 1, "started": 0}))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    with pytest.raises(LockedError, match="node-7"):
        Lease(tmp_path, stale_after=60).acquire()
    monkeypatch.setattr(time, "time", lambda: real() - 3600)
    old = real() - 120
    os.utime(tmp_path / ".lock", (old, old))
    late = Lease(tmp_path, stale_after=60)
    late.acquire()
    assert late.held()
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]  # the clock probe is gone


def test_launchers_racing_for_a_stale_lease_end_with_one_holder(tmp_path):
    import threading

    for _ in range(20):
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        )
        (tmp_path / ".lock").write_text(
            json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "started": 0})
        )
        leases = [Lease(tmp_path) for _ in range(4)]
        won: list[Lease] = []
        barrier = threading.Barrier(len(leases))

        def take(lease: Lease, barrier=barrier, won=won) -> None:
            barrier.wait()
            try:
                lease.acquire()
                won.append(lease)
            except LockedError:
                pass

        threads = [threading.Thread(target=take, args=(lease,)) for lease in leases]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, [lease.held() for lease in leases]
        assert won[0].held()
        won[0].release()


def test_a_launcher_that_lost_its_lease_stops(tmp_path):
    from render.lock import LeaseLost

    lease = Lease(tmp_path)
    lease.acquire()
    lease.renew()
    (tmp_path / ".lock").write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": 0, "token": "x"}))
    with pytest.raises(LeaseLost, match="lost its lease"):
        lease.renew()


def test_the_device_is_in_the_shot_record_not_in_the_frames(tiny):
    from render.shards import iter_shard

    cfg, shots, scenes, clips = tiny
    run(cfg, shots[:1], scenes, clips, "Analytic", workers=1, threads=1)
    rec = read_shot_record(cfg.manifests, shots[0].shot_id)
    assert rec.stats["device"] == "CPU"
    for sample in iter_shard((Path(cfg.manifests) / rec.shards[0].url).resolve()):
        meta = json.loads(sample["json"])
        assert "device" not in meta["render"] and "device" not in json.dumps(meta)


def test_a_second_launcher_on_the_same_manifests_is_refused(tiny_config, tmp_path):
    manifests = tmp_path / "manifests"
    with Lease(manifests):
        r = subprocess.run(
            [sys.executable, "-m", "render.launch", "--config", str(tiny_config), "--quiet"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "\n" not in line and "already being rendered by" in line and f"pid {os.getpid()}" in line
    assert not (manifests / "plan.jsonl").exists()  # nothing written


def test_workers_that_cannot_start_stop_the_run_with_one_line(tiny):
    cfg, shots, scenes, clips = tiny
    with pytest.raises(orchestrate.ClusterError, match="render workers do not start: .*NoSuchRenderer"):
        run(cfg, shots[:1], scenes, clips, "NoSuchRenderer", workers=1, threads=1)
