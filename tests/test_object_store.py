"""Shards and manifests in an object store: a real S3-compatible server (moto's standalone
server, the S3 REST protocol over HTTP) started on the loopback interface by this module.

The render test runs the real pipeline (``python -m render.launch`` with Blender Cycles and a
local Ray) with ``out`` and ``manifests`` as ``s3://`` URLs, kills the launcher mid-run, re-runs
it, and reads the shards back with our reader, the trainer's random-access reader and the stock
``webdataset`` library.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from render.lock import Lease, LeaseLost, LockedError
from render.manifest import load_dataset, load_shot_records, read_shot_record, relative_url, resolve_url
from render.shards import iter_shard, sha256_file
from render.store import Location, ObjectLocation, StoreError, webdataset_url
from tests.cli_helpers import start_python
from tests.conftest import TINY

BUCKET = "amatte4k-test"


@pytest.fixture(scope="module")
def s3():
    """The endpoint of an S3 server on 127.0.0.1 with one empty bucket; the AWS_* variables
    point this process and its children (launchers, Ray workers) at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import fsspec

    fsspec.filesystem("s3", skip_instance_cache=True).mkdir(BUCKET)
    yield env["AWS_ENDPOINT_URL"]
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


class TinyShot(tuple):
    """(shot, scene, clip, settings, renderer) of a 3-frame shot, and ``work``: its scratch."""

    work: Path


@pytest.fixture
def tiny_shot(make_config, tmp_path) -> TinyShot:
    from render.backends import RenderSettings
    from render.catalog import load_clips, load_scenes
    from render.config import load_config
    from render.plan import plan_shots
    from tests.backends import Analytic

    cfg = load_config(make_config(cams=1, scenes=1, frames=3))
    scenes = load_scenes(cfg.scene_catalog_path())
    clips = load_clips(cfg.clip_catalog_path())
    shot = plan_shots(cfg, [s["name"] for s in scenes], clips)[0]
    scene = next(s for s in scenes if s["name"] == shot.scene)
    settings = RenderSettings.from_config(cfg, threads=1)
    out = TinyShot((shot, scene, clips[shot.animation.clip], settings, Analytic()))
    out.work = tmp_path / "work"
    out.work.mkdir()
    return out


@pytest.fixture(params=["local", "s3"])
def where(request, tmp_path) -> Location:
    if request.param == "local":
        return Location(tmp_path / "store")
    request.getfixturevalue("s3")
    return Location(f"s3://{BUCKET}/{request.node.name}")


def test_location_publishes_whole_objects_and_first_exclusive_write_wins(where, tmp_path):
    where.mkdir()
    assert where.write_bytes("shots/a.json", b"first", exclusive=True)
    assert not where.write_bytes("shots/a.json", b"second", exclusive=True)  # the first record wins
    assert where.read_bytes("shots/a.json") == b"first"
    where.write_bytes("shots/a.json", b"third")  # a plain write replaces
    assert where.read_bytes("shots/a.json") == b"third"
    assert where.create_exclusive("lock", b"x") and not where.create_exclusive("lock", b"y")
    with pytest.raises(FileNotFoundError):
        where.read_bytes("shots/missing.json")
    local = tmp_path / "shard.tar"
    local.write_bytes(os.urandom(3 << 20))
    where.upload(local, "shards/s-000.tar", exclusive=True)
    assert where.read_bytes("shards/s-000.tar") == local.read_bytes()
    (tmp_path / "other.tar").write_bytes(b"other")
    with pytest.raises(FileExistsError, match="exists already"):
        where.upload(tmp_path / "other.tar", "shards/s-000.tar", exclusive=True)
    assert where.read_bytes("shards/s-000.tar") == local.read_bytes()  # never replaced
    assert where.list("shots", suffix=".json") == ["a.json"]
    assert where.list("shards", prefix="s-") == ["s-000.tar"] and where.list("nothing") == []
    age = where.age("lock")
    assert age is not None and -5 < age < 60 and where.age("nope") is None
    where.delete("shots/a.json")
    where.delete("shots/a.json")  # deleting what is gone is not an error
    assert not where.exists("shots/a.json") and where.list("shots") == []


def test_lease_in_an_object_store_refuses_a_second_launcher_and_takes_over_a_stale_one(s3):
    where = Location(f"s3://{BUCKET}/lease")
    first = Lease(where)
    first.acquire()
    with pytest.raises(LockedError, match=r"already being rendered by pid \d+ on "):
        Lease(where).acquire()
    first.renew()
    first.release()
    assert not where.exists(".lock")
    # A launcher on another host that stopped renewing: stale once its object is old enough.
    where.write_bytes(".lock", json.dumps({"host": "node-7", "pid": 1, "started": 0, "token": "t"}).encode())
    with pytest.raises(LockedError, match="node-7"):
        Lease(where, stale_after=60).acquire()
    time.sleep(2.1)  # S3 modification times have whole seconds
    taker = Lease(where, stale_after=1)
    taker.acquire()
    assert taker.held()
    taker.release()


def test_an_unreachable_bucket_is_one_line(s3):
    with pytest.raises(StoreError, match="s3://no-such-bucket/manifests: cannot write there") as exc:
        Location("s3://no-such-bucket/manifests").probe()
    assert "\n" not in str(exc.value)
    Location(f"s3://{BUCKET}/probe").probe()  # moto refuses a second conditional create: accepted
    assert Location(f"s3://{BUCKET}/probe").list() == []  # and the probe object is gone


def test_a_store_without_conditional_writes_is_refused():
    # fsspec's caching layer over a store writes whatever it is given, twice if asked
    with pytest.raises(StoreError, match="does not refuse a second conditional create"):
        Location("simplecache::memory://amatte4k-probe/manifests").probe()


def test_shard_urls_are_relative_within_one_bucket_and_resolve_back():
    shard = "s3://bkt/run/data/shards/shot00000-000.tar"
    assert relative_url(shard, "s3://bkt/run/manifests") == "../data/shards/shot00000-000.tar"
    assert resolve_url("../data/shards/shot00000-000.tar", "s3://bkt/run/manifests") == shard
    assert relative_url(shard, "s3://other/manifests") == shard  # another bucket: the full URL
    assert resolve_url(shard, "/local/manifests") == shard


def test_a_shot_that_died_mid_upload_leaves_nothing_after_its_retry(s3, tiny_shot, monkeypatch):
    """Shards go up one by one; a worker that dies after the first leaves a shard of an
    unrecorded shot in the store. The retry clears it and records exactly its own shards."""
    from render.shot import produce_shot

    shot, scene, clip, settings, renderer = tiny_shot
    out, manifests = f"s3://{BUCKET}/upload/data", f"s3://{BUCKET}/upload/manifests"
    real_upload = ObjectLocation.upload
    calls = []

    def dies_on_the_second(self, local, rel, exclusive=False):
        calls.append(rel)
        if len(calls) == 2:
            raise StoreError("connection reset (the worker's node went away)")
        return real_upload(self, local, rel, exclusive)

    monkeypatch.setattr(ObjectLocation, "upload", dies_on_the_second)
    kw = dict(shard_maxsize=1, work_root=tiny_shot.work)  # one frame per shard
    with pytest.raises(StoreError):
        produce_shot(shot, scene, clip, settings, renderer, out, manifests, **kw)
    shards = Location(out).child("shards")
    assert shards.list() == [f"{shot.shot_id}-000.tar"]  # the leftover of the dead attempt
    assert read_shot_record(manifests, shot.shot_id) is None
    monkeypatch.setattr(ObjectLocation, "upload", real_upload)
    result = produce_shot(shot, scene, clip, settings, renderer, out, manifests, **kw)
    listed = [resolve_url(s.url, manifests) for s in result.record.shards]
    assert len(listed) == shot.frame_count
    assert sorted(listed) == [shards.url(n) for n in shards.list()]
    for entry, location in zip(result.record.shards, listed, strict=True):
        assert sha256_file(location) == entry.sha256
    assert not list(tiny_shot.work.iterdir())  # the work directory is gone


def launch(config: Path) -> subprocess.Popen:
    return start_python("-m", "render.launch", "--config", str(config), "--workers", "1", "--quiet")


@pytest.mark.slow
def test_render_to_s3_killed_mid_run_then_rerun(s3, tmp_path):
    root = f"s3://{BUCKET}/run"
    # ~2 frames per shard: several shards per shot, uploaded one by one
    cfg = dict(TINY, cams=4, shard_maxsize=150_000, out=f"{root}/data", manifests=f"{root}/manifests")
    config = tmp_path / "s3.yaml"
    config.write_text(yaml.safe_dump(cfg))
    manifests = Location(cfg["manifests"])

    proc = launch(config)
    end = time.monotonic() + 600
    while not manifests.list("shots", suffix=".json"):
        assert proc.poll() is None, f"the launcher ended early:\n{proc.stdout.read()}"
        assert time.monotonic() < end, "no shot recorded within 600 s"
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its Ray workers, mid-run
    proc.wait(timeout=60)
    before = {n: manifests.read_bytes(f"shots/{n}") for n in manifests.list("shots", suffix=".json")}
    assert 0 < len(before) < cfg["cams"], "the launcher finished before it was killed"

    rerun = launch(config)
    out, _ = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, out
    assert f"{len(before)} already done" in out, out

    records = load_shot_records(manifests)
    assert len(records) == cfg["cams"]
    for name, data in before.items():  # recorded before the kill: untouched by the re-run
        assert manifests.read_bytes(f"shots/{name}") == data
    assert not manifests.list("failed") and not manifests.exists(".lock")
    assert all(len(r.shards) >= 2 for r in records.values()), "one shard per shot: upload path untested"
    assert all(s.url.startswith("../data/shards/") for r in records.values() for s in r.shards)
    listed = {resolve_url(s.url, cfg["manifests"]) for r in records.values() for s in r.shards}
    stored = {f"{root}/data/shards/{n}" for n in Location(f"{root}/data").list("shards")}
    assert stored == listed, "orphaned or missing shards in the store"

    ds = load_dataset(cfg["manifests"])
    assert ds.index["completed_shots"] == cfg["cams"]
    keys = []
    for shard in ds.shards:
        assert sha256_file(shard["path"]) == shard["sha256"]
        samples = list(iter_shard(shard["path"]))
        assert len(samples) == shard["frames"]
        keys += [s["__key__"] for s in samples]
    assert len(keys) == len(set(keys)) == ds.index["frames"]

    import webdataset as wds

    urls = [webdataset_url(s["path"]) for s in ds.shards]
    read = list(wds.WebDataset(urls, shardshuffle=False))
    assert [s["__key__"] for s in read] == keys
    assert all({"rgb.exr", "alpha.exr", "fg.exr", "bg.exr", "json"} <= set(s) for s in read)

    from matting.data.amatte4k import AMatte4KSource

    with pytest.raises(ValueError, match="copy the dataset to local disk first"):
        AMatte4KSource(cfg["manifests"], "train", clip_len=2)

    # The audit reads the same dataset in the store: clean, then an orphan shard is found there.
    from render.audit.runner import AuditOptions, run_audit

    options = AuditOptions(workers=1, progress=False, sheets=0)
    result = run_audit(cfg["manifests"], options)
    assert not result.errors, [p.to_json() for p in result.errors]
    assert result.summary["counts"]["recorded_shots"] == cfg["cams"]
    Location(f"{root}/data").write_bytes("shards/shot99999-000.tar", b"\0" * 1024)
    result = run_audit(cfg["manifests"], options)
    assert [p.check for p in result.errors] == ["orphan_shard"]


def test_a_renewal_never_brings_back_or_keeps_a_lease_that_changed(s3, monkeypatch):
    where = Location(f"s3://{BUCKET}/renew")
    lease = Lease(where)
    lease.acquire()
    lease.renew()
    # Another launcher took the lease between this one's check and its rewrite: If-Match fails.
    monkeypatch.setattr(Lease, "held", lambda self: True)
    real_info = where._fs.info
    info = real_info(where._p(".lock"))
    where.write_bytes(".lock", json.dumps({"host": "node-7", "pid": 1, "token": "theirs"}).encode())
    monkeypatch.setattr(where._fs, "info", lambda path, **kw: info)  # the ETag read before the change
    with pytest.raises(LeaseLost, match="lost its lease"):
        lease.renew()
    assert json.loads(where.read_bytes(".lock"))["token"] == "theirs"


def test_a_store_blip_at_renewal_is_tolerated_until_the_lease_could_look_stale(tmp_path, monkeypatch):
    lease = Lease(tmp_path, stale_after=60)
    lease.acquire()

    def blip(self, rel):
        raise StoreError("s3://bkt/m/.lock: EndpointConnectionError: could not connect")

    monkeypatch.setattr(type(lease.where), "touch", blip)
    lease.renew()  # just renewed (at acquire): a blip is not a lost lease
    lease.renewed -= 31
    with pytest.raises(LeaseLost, match="could not renew the lease for 30 s"):
        lease.renew()


def test_urls_never_leave_the_bucket_and_locations_pickle(s3, tmp_path):
    import pickle

    with pytest.raises(ValueError, match="leaves the bucket"):
        resolve_url("../../../x.tar", f"s3://{BUCKET}/m")
    with pytest.raises(ValueError, match="leaves the bucket"):
        resolve_url("/abs/x.tar", f"s3://{BUCKET}/m")
    for loc in (Location(tmp_path), Location(f"s3://{BUCKET}/m")):
        again = pickle.loads(pickle.dumps(loc))
        assert type(again) is type(loc) and again.root == loc.root
