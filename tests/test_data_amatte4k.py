"""αMatte4K clips from tiny shards written with the project's own writers."""

import json
import math

import numpy as np
import pytest
import torch
import webdataset as wds

from matting.data import AMatte4KSource, build_dataset, synthetic
from matting.data.color import linear_to_srgb, srgb_to_linear, to_display
from matting.data.shard_index import read_member
from render import exrio
from render.manifest import load_dataset
from render.shards import iter_shard

W, H, FRAMES = 32, 24, 6


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    # Two shots of 6 frames; 4 frames per shard, so every shot spans two shards.
    return synthetic.write_amatte4k(tmp_path_factory.mktemp("am4k"), frames=FRAMES, width=W, height=H)


def test_index_spans_shards_and_offsets_hit_the_members(manifest):
    src = AMatte4KSource(manifest, clip_len=4)
    assert list(src.shots) == ["shot00000", "shot00001"]
    for frames in src.shots.values():
        assert [f.frame for f in frames] == list(range(FRAMES))
        assert len({f.fields["rgb.exr"].path for f in frames}) == 2  # -000 and -001
    # Reading by offset gives exactly the bytes the sequential reader sees.
    by_key = {f.key: f for frames in src.shots.values() for f in frames}
    for shard in load_dataset(manifest).split("train"):
        for sample in iter_shard(shard["path"]):
            frame = by_key[sample["__key__"]]
            for field in ("rgb.exr", "alpha.exr", "json"):
                assert read_member(frame.fields[field], frame.key) == sample[field]


def test_clips_are_consecutive_frames_of_one_shot(manifest):
    src = AMatte4KSource(manifest, clip_len=4)
    assert len(src) == 2 * (FRAMES - 4 + 1)
    for i in range(len(src)):
        view = src.load(i)
        clip = view.full()
        assert view.shape == (4, H, W) and view.frame_keys == clip.frame_keys
        shot_id = clip.frame_keys[0].rsplit("_", 1)[0]
        numbers = [int(k.rsplit("_", 1)[1]) for k in clip.frame_keys]
        assert all(k.startswith(shot_id + "_") for k in clip.frame_keys)
        assert numbers == list(range(numbers[0], numbers[0] + 4))
        assert clip.key == clip.frame_keys[0]
        assert clip.rgb.shape == (4, H, W, 3) and clip.alpha.shape == (4, H, W)
        # The lazy reads (the tiles under a window, the whole-frame view from lowres.exr) are
        # the full decode's pixels.
        rgb, alpha = view.window(slice(3, 20), slice(5, 30))
        full_rgb, full_alpha = clip.window(slice(3, 20), slice(5, 30))
        assert np.array_equal(rgb, full_rgb) and np.array_equal(alpha, full_alpha)
        assert clip.rgb.dtype == np.float16 and clip.alpha.dtype == np.float32
        # The pixels are those frames: R and G carry frame and shot codes, alpha the moving disc.
        shot = int(shot_id[4:])
        assert np.all(
            clip.rgb[..., 0] == np.array([(n + 1) / 64 for n in numbers], np.float16)[:, None, None]
        )
        assert np.all(clip.rgb[..., 1] == np.float16((shot + 1) / 8))
        for t, n in enumerate(numbers):
            assert np.array_equal(clip.alpha[t], synthetic.disc_alpha(H, W, n))
    assert AMatte4KSource(manifest, clip_len=4, stride=4).windows == [("shot00000", 0), ("shot00001", 0)]


def test_srgb_conversion():
    assert linear_to_srgb(np.array([0.0]))[0] == 0.0
    assert linear_to_srgb(np.array([1.0]))[0] == pytest.approx(1.0)
    assert linear_to_srgb(np.array([0.0031308]))[0] == pytest.approx(0.0031308 * 12.92)
    assert linear_to_srgb(np.array([0.5]))[0] == pytest.approx(1.055 * 0.5 ** (1 / 2.4) - 0.055)
    # Out of range and bad values are clipped before encoding.
    assert linear_to_srgb(np.array([2.0, -1.0, math.nan, math.inf])).tolist() == pytest.approx(
        [1.0, 0, 0, 1.0]
    )
    v = np.linspace(0, 1, 101, dtype=np.float32)
    assert np.allclose(linear_to_srgb(srgb_to_linear(v)), v, atol=1e-6)
    # The float16 lookup table agrees with the formula on every finite half value.
    halves = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    halves = halves[np.isfinite(halves)]
    assert np.allclose(to_display(halves, "linear"), linear_to_srgb(halves.astype(np.float32)), atol=1e-7)


def test_training_samples_are_srgb_of_the_stored_frames(manifest):
    cfg = {
        "size": 16,
        "crop_sizes": [24],
        "flip_prob": 0.0,
        "color_jitter": 0.0,
        "exposure": 0.0,
        "curves": ["srgb"],
    }
    ds = build_dataset({**cfg, "sources": [{"type": "amatte4k", "manifest": str(manifest)}]})
    it = iter(ds)
    for _ in range(6):
        s = next(it)
        assert s["rgb"].shape == (4, 3, 16, 16) and s["alpha"].shape == (4, 1, 16, 16)
        assert s["rgb"].dtype == s["alpha"].dtype == torch.float32
        assert 0 <= s["rgb"].min() and s["rgb"].max() <= 1 and 0 <= s["alpha"].min() and s["alpha"].max() <= 1
        frames, shots = synthetic.decode_codes(s["rgb"].numpy())
        shot_id, start = s["key"].rsplit("_", 1)
        assert frames.tolist() == list(range(int(start), int(start) + 4))
        assert shots.tolist() == [int(shot_id[4:])] * 4
        assert ((s["alpha"] > 0) & (s["alpha"] < 1)).any()  # the crop sits on the soft edge


def test_val_split_and_bad_split(tmp_path):
    manifest = synthetic.write_amatte4k(tmp_path, frames=5, splits=("train", "val"))
    assert list(AMatte4KSource(manifest, "val").shots) == ["shot00001"]
    assert list(AMatte4KSource(manifest, "train").shots) == ["shot00000"]
    with pytest.raises(ValueError, match="split 'test'"):
        AMatte4KSource(manifest, "test")
    short = synthetic.write_amatte4k(tmp_path / "short", frames=3)
    with pytest.raises(ValueError, match="no run of 4 consecutive frames"):
        AMatte4KSource(short, "train")


def test_stock_webdataset_reads_the_shards(manifest):
    urls = [s["path"] for s in load_dataset(manifest).split("train")]
    keys = []
    for sample in wds.WebDataset(urls, shardshuffle=False):
        keys.append(sample["__key__"])
        shot_id, number = sample["__key__"].rsplit("_", 1)
        meta = json.loads(sample["json"])
        assert (meta["shot_id"], meta["frame"]) == (shot_id, int(number))
        assert np.array_equal(
            exrio.decode_alpha(sample["alpha.exr"]), synthetic.disc_alpha(H, W, int(number))
        )
        assert exrio.decode_rgb(sample["rgb.exr"]).shape == (H, W, 3)
    assert keys == [f"shot{s:05d}_{f:04d}" for s in range(2) for f in range(FRAMES)]


def _one_line_error(exc_type, match, fn):
    with pytest.raises(exc_type, match=match) as info:
        fn()
    assert "\n" not in str(info.value)


def test_missing_manifest_or_shard(tmp_path):
    missing = tmp_path / "nowhere"
    cfg = {"sources": [{"type": "amatte4k", "manifest": str(missing)}]}
    _one_line_error(FileNotFoundError, "no dataset index", lambda: build_dataset(cfg))
    manifest = synthetic.write_amatte4k(tmp_path / "ds", frames=5)
    shard = load_dataset(manifest).split("train")[-1]
    (tmp_path / "ds" / "data" / "shards" / shard["path"].rsplit("/", 1)[1]).unlink()
    cfg = {"sources": [{"type": "amatte4k", "manifest": str(manifest)}]}
    _one_line_error(FileNotFoundError, "is missing", lambda: build_dataset(cfg))


def test_truncated_shard_is_reported_with_its_path(tmp_path):
    manifest = synthetic.write_amatte4k(tmp_path, frames=4, splits=("train",))
    src = AMatte4KSource(manifest)
    last = src.shots["shot00000"][-1].fields["rgb.exr"]
    with open(last.path, "r+b") as f:
        f.truncate(last.offset + 10)
    whole = slice(None)
    _one_line_error(ValueError, "truncated", lambda: src.load(0).window(whole, whole))
    _one_line_error(ValueError, "truncated", lambda: src.load(0).full())


def test_clips_read_the_window_and_the_small_frame_not_the_whole_frames(tmp_path, monkeypatch):
    """At 4K a training clip must not decode whole frames: the window comes from the EXR tiles
    under it, CAP's view from lowres.exr (here shrunk to a 16 px long side)."""
    w, h = 300, 260  # three tiles across, three down
    manifest = synthetic.write_amatte4k(
        tmp_path / "big", frames=4, width=w, height=h, splits=("train",), lowres=16
    )
    view = AMatte4KSource(manifest, clip_len=4).load(0)
    full = AMatte4KSource(manifest, clip_len=4).load(0).full()
    decoded = []
    real_decode = exrio.decode
    monkeypatch.setattr(exrio, "decode", lambda data: decoded.append(len(data)) or real_decode(data))
    rgb, alpha = view.window(slice(130, 200), slice(10, 140))
    context, context_alpha = view.context(16)
    assert decoded and max(decoded) < min(len(read_member(f.fields["alpha.exr"])) for f in view.frames)
    assert len(decoded) == 4  # one lowres.exr per frame, nothing else decoded whole
    want_rgb, want_alpha = full.window(slice(130, 200), slice(10, 140))
    assert np.array_equal(rgb, want_rgb) and np.array_equal(alpha, want_alpha)
    # The small frame is the full one shrunk: its context matches the full decode's closely
    # (area filter once at 16 px, against twice; the same where it is one step).
    ref_rgb, ref_alpha = full.context(16)
    assert context.shape == ref_rgb.shape == (4, 16, 16, 3)
    np.testing.assert_allclose(context_alpha, ref_alpha, atol=1e-5)
    np.testing.assert_allclose(context, ref_rgb, atol=1e-3)
    # A canvas larger than lowres.exr holds falls back to the whole frames.
    assert view.context(64)[0].shape == (4, 64, 64, 3)


def test_shards_written_before_lowres_still_train(tmp_path):
    manifest = synthetic.write_amatte4k(tmp_path / "old", frames=4, splits=("train",), lowres=None)
    view = AMatte4KSource(manifest, clip_len=4).load(0)
    context, _ = view.context(16)
    np.testing.assert_array_equal(context, view.full().context(16)[0])
