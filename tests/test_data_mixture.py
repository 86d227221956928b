"""The seeded mixture: determinism, exact resume, proportions, loader workers, config checks."""

import itertools
import json

import pytest
import torch
from torch.utils.data import DataLoader

from matting.data import MixtureDataset, build_dataset, parse_config, synthetic


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("mix")
    return {
        "manifest": synthetic.write_amatte4k(base / "am4k", frames=6),
        "vm": synthetic.write_videomatte(base / "vm"),
        "bg": synthetic.write_backgrounds(base / "bg"),
        "im": synthetic.write_image_matte(base / "im"),
    }


def _cfg(roots, seed=0, weights=(1.0, 1.0, 0.5), **top):
    return {
        "seed": seed,
        "clip_len": 4,
        "size": 8,
        "crop_sizes": [12, 16],
        **top,
        "sources": [
            {"type": "amatte4k", "manifest": str(roots["manifest"]), "split": "train", "weight": weights[0]},
            {
                "type": "videomatte",
                "root": str(roots["vm"]),
                "backgrounds": str(roots["bg"]),
                "weight": weights[1],
            },
            {"type": "images", "root": str(roots["im"]), "weight": weights[2]},
        ],
    }


def _take(it, n):
    return list(itertools.islice(it, n))


def _same(a, b):
    return len(a) == len(b) and all(
        x["key"] == y["key"]
        and x["source"] == y["source"]
        and torch.equal(x["rgb"], y["rgb"])
        and torch.equal(x["alpha"], y["alpha"])
        for x, y in zip(a, b, strict=True)
    )


def test_samples_have_the_documented_form(roots):
    for s in _take(iter(build_dataset(_cfg(roots))), 8):
        assert s["rgb"].shape == (4, 3, 8, 8) and s["alpha"].shape == (4, 1, 8, 8)
        assert s["rgb"].dtype == s["alpha"].dtype == torch.float32
        assert 0 <= s["rgb"].min() and s["rgb"].max() <= 1 and 0 <= s["alpha"].min() and s["alpha"].max() <= 1
        assert s["source"] in ("amatte4k", "videomatte", "images") and isinstance(s["key"], str)


def test_same_seed_same_clips_other_seed_other_clips(roots):
    a = _take(iter(build_dataset(_cfg(roots, seed=1))), 6)
    b = _take(iter(build_dataset(_cfg(roots, seed=1))), 6)
    c = _take(iter(build_dataset(_cfg(roots, seed=2))), 6)
    assert _same(a, b)
    assert not _same(a, c)
    # Ranks draw independent streams from the same seed.
    d = _take(iter(build_dataset(_cfg(roots, seed=1), rank=1)), 6)
    assert not _same(a, d)


def test_exact_resume_from_state_dict(roots):
    ds = build_dataset(_cfg(roots, seed=3))
    it = iter(ds)
    _take(it, 5)
    state = json.loads(json.dumps(ds.state_dict()))  # a checkpoint survives JSON (or torch.save)
    assert state["streams"]["0"]["clips_drawn"] == 5
    expected = _take(it, 4)
    fresh = build_dataset(_cfg(roots, seed=3))
    fresh.load_state_dict(state)
    assert _same(_take(iter(fresh), 4), expected)
    # The same state recomputed from the seed alone, without reading any data.
    assert ds.state_at({0: 5}, num_streams=1) == state


def test_a_new_iterator_continues_instead_of_restarting(roots):
    ds = build_dataset(_cfg(roots, seed=4))
    first = _take(iter(ds), 3)
    second = _take(iter(ds), 3)
    assert [s["index"] for s in second] == [3, 4, 5]
    assert _same(first + second, _take(iter(build_dataset(_cfg(roots, seed=4))), 6))


def test_mixture_follows_the_weights(roots):
    ds = build_dataset(_cfg(roots, seed=5, weights=(3.0, 1.0, 0.0001)))
    counts = {"amatte4k": 0, "videomatte": 0, "images": 0}
    for s in _take(iter(ds), 240):
        counts[s["source"]] += 1
    # Binomial(240, 0.75): sd 6.7 clips; allow ~3.5 sd.
    assert abs(counts["amatte4k"] - 180) <= 24
    assert counts["videomatte"] == 240 - counts["amatte4k"] - counts["images"]
    assert counts["images"] <= 1


def test_resume_with_loader_workers(roots):
    def loader(ds):
        return iter(DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context="fork"))

    ds = build_dataset(_cfg(roots, seed=6))
    it = loader(ds)
    seen = _take(it, 3)  # batches from workers 0, 1, 0; more are already prefetched
    assert [b["stream"].tolist() for b in seen] == [[0, 0], [1, 1], [0, 0]]
    consumed = {}
    for b in seen:
        for stream, index in zip(b["stream"].tolist(), b["index"].tolist(), strict=True):
            consumed[stream] = max(consumed.get(stream, 0), index + 1)
    assert consumed == {0: 4, 1: 2}
    state = ds.state_at(consumed, num_streams=2)
    assert state["first_stream"] == 1  # worker 1 was next in line
    expected = _take(it, 3)
    del it

    fresh = build_dataset(_cfg(roots, seed=6))
    fresh.load_state_dict(state)
    got = _take(loader(fresh), 3)
    assert [b["stream"].tolist() for b in got] == [[1, 1], [0, 0], [1, 1]]
    for a, b in zip(got, expected, strict=True):
        assert (
            a["key"] == b["key"] and torch.equal(a["rgb"], b["rgb"]) and torch.equal(a["index"], b["index"])
        )
    with pytest.raises(ValueError, match="outside 0..1"):
        ds.state_at({2: 1}, num_streams=2)

    # A different worker count cannot continue these streams.
    other = build_dataset(_cfg(roots, seed=6))
    other.load_state_dict(state)
    with pytest.raises(ValueError, match="same num_workers"):
        next(iter(other))


def test_state_of_another_seed_is_rejected(roots):
    state = build_dataset(_cfg(roots, seed=7)).state_dict()
    with pytest.raises(ValueError, match="seed 7"):
        build_dataset(_cfg(roots, seed=8)).load_state_dict(state)


def test_relative_paths_resolve_against_base_dir(roots):
    base = roots["vm"].parent
    cfg = {"sources": [{"type": "images", "root": roots["im"].name}]}
    data = parse_config(cfg, base_dir=base)
    assert data.sources[0].options["root"] == roots["im"]
    assert data.augment.size == 512 and data.augment.crop_sizes == (512,) and data.seed == 0
    assert isinstance(build_dataset(cfg, base_dir=base), MixtureDataset)


@pytest.mark.parametrize(
    "patch, match",
    [
        ({"sizes": 5}, r"unknown key\(s\) \['sizes'\]"),
        ({"size": "512"}, "'size' must be int"),
        ({"seed": True}, "'seed' must be int"),
        ({"crop_sizes": []}, "'crop_sizes' must be int of list"),
        ({"flip_prob": 2.0}, "flip_prob"),
        ({"sources": []}, "non-empty list"),
        ({"sources": ["x"]}, r"sources\[0\]: expected a mapping"),
        ({"sources": [{"type": "coco"}]}, "type 'coco' is not one of"),
        ({"sources": [{"type": "images"}]}, "missing required key 'root'"),
        ({"sources": [{"type": "images", "root": "r", "split": "train"}]}, r"unknown key\(s\) \['split'\]"),
        ({"sources": [{"type": "images", "root": "r", "weight": 0}]}, "weight must be positive"),
        ({"sources": [{"type": "images", "root": "r", "weight": "1"}]}, "'weight' must be float"),
        ({"sources": [{"type": "amatte4k", "manifest": "m", "split": "test"}]}, "split 'test'"),
    ],
)
def test_bad_config_gives_one_line_errors(tmp_path, patch, match):
    cfg = {"sources": [{"type": "images", "root": str(tmp_path)}], **patch}
    with pytest.raises(ValueError, match=match) as info:
        build_dataset(cfg)
    assert "\n" not in str(info.value)
