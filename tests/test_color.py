"""One colour pipeline (issue 14, finding 5): linear light in, one look out."""

from __future__ import annotations

import numpy as np
import pytest

from matting.data import build_dataset, synthetic
from matting.data.color import (
    CURVES,
    DEFAULT_LOOK,
    Look,
    apply_curve,
    draw_look,
    encode,
    linear_to_srgb,
    srgb_to_linear,
    to_linear,
)


def test_curves_at_their_defining_points():
    x = np.array([0.0, 0.001, 0.01, 0.1, 0.5, 1.0, 2.0], np.float32)
    np.testing.assert_allclose(apply_curve(x, "srgb"), linear_to_srgb(x), atol=1e-7)
    rec709 = np.where(x < 0.018, 4.5 * x, 1.099 * np.minimum(x, 1) ** 0.45 - 0.099)
    np.testing.assert_allclose(apply_curve(x, "rec709"), rec709, atol=1e-6)
    np.testing.assert_allclose(apply_curve(x, "gamma22"), np.minimum(x, 1) ** (1 / 2.2), atol=1e-6)
    # Reinhard keeps highlights apart that the others clip: 1 and 2 map below white, 4 to white.
    r = apply_curve(np.array([1.0, 2.0, 4.0, 8.0], np.float32), "reinhard")
    assert r[0] < r[1] < r[2] == pytest.approx(1.0) and r[3] == pytest.approx(1.0)
    for curve in CURVES:
        y = apply_curve(np.linspace(0, 1, 1001, dtype=np.float32), curve)
        assert y[0] == 0 and np.all(np.diff(y) >= 0) and y.max() <= 1
        assert apply_curve(np.array([np.nan, -1.0], np.float32), curve).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="unknown curve"):
        Look(0.0, "log-c")


def test_looks_through_the_half_float_table():
    rng = np.random.default_rng(0)
    lin = (rng.random((50, 40, 3), dtype=np.float32) * 3).astype(np.float32)
    for look in (DEFAULT_LOOK, Look(0.7, "rec709"), Look(-1.0, "reinhard"), Look(0.25, "gamma22")):
        exact = apply_curve(lin * np.float32(2**look.ev), look.curve)
        np.testing.assert_allclose(encode(lin, look), exact, atol=2e-3)  # half-float input
        np.testing.assert_array_equal(encode(lin.astype(np.float16), look), encode(lin, look))
    # One stop up is twice the light.
    half = (lin / 2).astype(np.float16)
    np.testing.assert_array_equal(encode(half, Look(1.0, "srgb")), encode(half * np.float16(2), DEFAULT_LOOK))


def test_srgb_sources_come_back_to_their_codes_through_linear_light():
    codes = np.arange(256, dtype=np.uint8)[None, :, None].repeat(3, axis=2)
    lin = to_linear(codes, "srgb")
    np.testing.assert_allclose(lin, srgb_to_linear(codes / 255), atol=1e-7)
    np.testing.assert_allclose(encode(lin), codes / 255, atol=2e-4)  # a 20th of an 8-bit step
    # Floats in [0, 1] go through 16-bit codes: an 8-bit code's float hits its linear value exactly.
    np.testing.assert_array_equal(to_linear(codes.astype(np.float32) / 255, "srgb"), lin)
    assert to_linear(lin.astype(np.float16), "linear").dtype == np.float16


def test_training_looks_are_seeded_and_spread():
    looks = [draw_look(0.5, CURVES, np.random.default_rng(s)) for s in range(400)]
    assert looks == [draw_look(0.5, CURVES, np.random.default_rng(s)) for s in range(400)]
    evs = np.array([lk.ev for lk in looks])
    assert evs.min() >= -0.5 and evs.max() <= 0.5 and evs.std() > 0.2
    share = {c: sum(lk.curve == c for lk in looks) / len(looks) for c in CURVES}
    assert 0.42 < share["srgb"] < 0.58 and all(0.1 < share[c] < 0.24 for c in CURVES[1:])
    assert draw_look(0.0, ("srgb",), np.random.default_rng(0)) == DEFAULT_LOOK


def test_a_dataset_draws_looks_and_rejects_unknown_curves(tmp_path):
    manifest = synthetic.write_amatte4k(tmp_path, frames=4, splits=("train",))
    base = {"size": 16, "crop_sizes": [16], "flip_prob": 0.0, "color_jitter": 0.0}
    src = [{"type": "amatte4k", "manifest": str(manifest)}]

    def means(**keys):
        ds = build_dataset({**base, **keys, "sources": src}, context_size=16)
        return [float(ds.make_clip(0, seed)["rgb"].mean()) for seed in range(12)]

    plain = means(exposure=0.0, curves=["srgb"])
    varied = means(exposure=1.0)
    assert np.ptp(varied) > 5 * np.ptp(plain)  # the same windows, other looks
    with pytest.raises(ValueError, match="curves \\['log-c'\\] unknown"):
        build_dataset({**base, "curves": ["srgb", "log-c"], "sources": src})
    with pytest.raises(ValueError, match="exposure must lie in"):
        build_dataset({**base, "exposure": -1.0, "sources": src})
