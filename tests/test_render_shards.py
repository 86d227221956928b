"""Shards and manifests: round trips, atomic naming, traversal checks, moving a dataset."""

import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds

from render import exrio
from render.manifest import (
    ShardEntry,
    ShotRecord,
    build_index,
    load_dataset,
    relative_url,
    write_failure,
    write_shot_record,
)
from render.shards import check_member_name, iter_shard, sha256_file, write_shards


def _samples(shot: str, n: int, h: int = 6, w: int = 5):
    rng = np.random.default_rng(0)
    for i in range(n):
        yield {
            "__key__": f"{shot}_{i:04d}",
            "rgb.exr": exrio.encode_rgb(rng.uniform(0, 4, (h, w, 3)).astype(np.float32)),
            "alpha.exr": exrio.encode_alpha(rng.uniform(0, 1, (h, w)).astype(np.float32)),
            "json": b'{"frame": %d}' % i,
        }


def _dataset(root: Path, shots=("shot00000", "shot00001"), n=5, maxcount=2):
    man = root / "manifests"
    for k, shot in enumerate(shots):
        infos = write_shards(_samples(shot, n), root / "data" / "shards", shot, maxcount=maxcount)
        entries = tuple(ShardEntry(relative_url(i.path, man), i.sha256, i.bytes, i.samples) for i in infos)
        write_shot_record(man, ShotRecord(shot, "city_plaza", "val" if k else "train", n, entries))
    return man


def test_exr_round_trip_precision():
    rgb = np.linspace(0, 8, 60, dtype=np.float32).reshape(4, 5, 3)
    alpha = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    assert np.allclose(exrio.decode_rgb(exrio.encode_rgb(rgb)), rgb, rtol=1e-3)
    assert np.array_equal(exrio.decode_alpha(exrio.encode_alpha(alpha)), alpha)  # float32: exact


def test_shards_split_by_count_and_keep_order(tmp_path):
    infos = write_shards(_samples("shot00007", 5), tmp_path, "shot00007", maxcount=2)
    assert [i.samples for i in infos] == [2, 2, 1]
    assert [i.path.name for i in infos] == [f"shot00007-00{k}.tar" for k in range(3)]
    keys = [s["__key__"] for i in infos for s in iter_shard(i.path)]
    assert keys == [f"shot00007_{k:04d}" for k in range(5)]
    assert all(sha256_file(i.path) == i.sha256 for i in infos)
    assert not list(tmp_path.glob(".*tmp*"))  # temporary names are gone


def test_shard_bytes_are_deterministic(tmp_path):
    a = write_shards(_samples("s", 3), tmp_path / "a", "s")
    b = write_shards(_samples("s", 3), tmp_path / "b", "s")
    assert [i.sha256 for i in a] == [i.sha256 for i in b]


def test_failed_writer_leaves_no_shard(tmp_path):
    def broken():
        yield from _samples("s", 2)
        raise RuntimeError("renderer died")

    with pytest.raises(RuntimeError):
        write_shards(broken(), tmp_path, "s", maxcount=10)
    assert list(tmp_path.iterdir()) == []


def test_index_round_trip_and_move(tmp_path):
    man = _dataset(tmp_path / "a")
    write_failure(man, "shot00002", "boom", 3)
    index = build_index(man, planned_shots=3, seed=0)
    assert index["completed_shots"] == 2 and index["failed_shots"] == ["shot00002"]
    assert index["frames"] == 10 and len(index["shards"]) == 6
    assert all(not s["url"].startswith("/") for s in index["shards"])
    shutil.move(tmp_path / "a", tmp_path / "b")  # relative urls: the dataset moves as a whole
    ds = load_dataset(tmp_path / "b" / "manifests")
    assert [s["shot_id"] for s in ds.split("val")] == ["shot00001"] * 3
    for s in ds.shards:
        assert sha256_file(s["path"]) == s["sha256"] and Path(s["path"]).stat().st_size == s["bytes"]


def test_stock_webdataset_decodes_every_sample(tmp_path):
    man = _dataset(tmp_path)
    build_index(man, 2, 0)
    urls = [s["path"] for s in load_dataset(man).shards]
    keys = []
    for sample in wds.WebDataset(urls, shardshuffle=False):
        assert exrio.decode_rgb(sample["rgb.exr"]).shape == (6, 5, 3)
        assert exrio.decode_alpha(sample["alpha.exr"]).shape == (6, 5)
        keys.append(sample["__key__"])
    assert len(keys) == 10 and len(set(keys)) == 10


@pytest.mark.parametrize("name", ["../evil.rgb.exr", "/abs.json", "a/../../b.json", "x\\..\\y.json"])
def test_traversal_member_names_are_rejected(tmp_path, name):
    with pytest.raises(ValueError):
        check_member_name(name)
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo(name)
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(ValueError, match="bad.tar"):
        list(iter_shard(bad))


def test_missing_shard_is_a_one_line_error(tmp_path):
    man = _dataset(tmp_path)
    build_index(man, 2, 0)
    next((tmp_path / "data" / "shards").glob("*.tar")).unlink()
    with pytest.raises(FileNotFoundError, match="is missing") as info:
        load_dataset(man)
    assert "\n" not in str(info.value)
