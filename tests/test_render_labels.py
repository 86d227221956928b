"""Label figures and the consistent set (render/labels.py) on hand-made arrays."""

import numpy as np
import pytest

from render import exrio, labels


def scene(h=6, w=5, seed=0):
    rng = np.random.default_rng(seed)
    alpha = rng.uniform(0, 1, (h, w)).astype(np.float32)
    alpha[0] = 0.0
    alpha[-1] = 1.0
    f = rng.uniform(0.1, 2.0, (h, w, 3)).astype(np.float32)
    b = rng.uniform(0.1, 2.0, (h, w, 3)).astype(np.float32)
    return alpha, f, b


def test_fractional_bounds_are_strict():
    a = np.array([0.0, 0.002, 0.0021, 0.5, 0.9979, 0.998, 1.0])
    assert labels.fractional(a).tolist() == [False, False, True, True, True, False, False]


def test_noise_floor_is_mean_abs_difference_over_pixels_fractional_in_either():
    a1 = np.array([0.0, 0.5, 1.0, 0.0, 0.2])
    a2 = np.array([0.0, 0.6, 1.0, 0.1, 0.0])
    value, n = labels.noise_floor(a1, a2)
    assert n == 3 and value == pytest.approx((0.1 + 0.1 + 0.2) / 3)
    assert labels.noise_floor(np.zeros(4), np.ones(4)) == (pytest.approx(float("nan"), nan_ok=True), 0)


def test_composite_residual_is_zero_for_an_exact_composite_and_measures_a_shift():
    alpha, f, b = scene()
    rgb = labels.composite(alpha, f, b)
    r = labels.composite_residual(rgb, alpha, f, b)
    assert r["fractional"] < 1e-6 and r["all"] < 1e-6
    r = labels.composite_residual(rgb + 0.01, alpha, f, b)
    assert r["fractional"] == pytest.approx(0.01, abs=1e-6) and r["all"] == pytest.approx(0.01, abs=1e-6)


def test_unpremultiply_divides_where_seen_and_is_zero_elsewhere():
    alpha, f, _ = scene()
    out = labels.unpremultiply(f * alpha[..., None], alpha)
    seen = alpha > 0
    assert np.allclose(out[seen], f[seen], rtol=1e-5) and (out[~seen] == 0).all()


def test_coverage_correction_keeps_the_direct_residual_with_the_label_alpha():
    """I rendered with coverage c (noisy) plus a background-noise term e; after the correction
    the residual against the label α equals the residual against c before it."""
    alpha, f, b = scene(seed=1)
    rng = np.random.default_rng(2)
    c = np.clip(alpha + rng.normal(0, 0.05, alpha.shape), 0.01, 1).astype(np.float32)
    e = rng.normal(0, 0.003, f.shape).astype(np.float32)
    rgb = labels.composite(c, f, b) + e
    before = labels.residual_map(rgb, c, f, b)
    fixed = labels.coverage_corrected(rgb, alpha, f, c, b)
    after = labels.residual_map(fixed, alpha, f, b)
    assert np.allclose(after, before, atol=1e-5)
    assert labels.residual_map(rgb, alpha, f, b).mean() > 5 * after.mean()  # it did correct something


def test_fill_foreground_takes_neighbours_colour_and_falls_back_to_the_plate():
    h, w = 7, 7
    fg_alpha = np.zeros((h, w), np.float32)
    fg_alpha[3, 2] = 0.5  # one pixel of the shading layer saw red hair
    fg = np.zeros((h, w, 3), np.float32)
    fg[3, 2] = (0.5, 0.0, 0.0)
    alpha = np.zeros((h, w), np.float32)
    alpha[3, 3] = 0.1  # the label sees hair next to it, where no shading sample hit
    alpha[0, 6] = 0.1  # and hair with no seen neighbour within 2 px
    bg = np.full((h, w, 3), 0.3, np.float32)
    out, counts = labels.fill_foreground(fg, fg_alpha, alpha, bg)
    assert counts == {"filled": 1, "fallback": 1}
    assert np.allclose(out[3, 2], (1.0, 0.0, 0.0)) and np.allclose(out[3, 3], (1.0, 0.0, 0.0))
    assert np.allclose(out[0, 6], bg[0, 6])
    corrected = labels.coverage_corrected(bg.copy(), alpha, out, fg_alpha, bg)
    assert np.allclose(corrected[0, 6], bg[0, 6]), "no colour known: the pixel stays as rendered"


def test_fg_exr_round_trip_is_premultiplied_with_its_alpha():
    alpha, f, _ = scene(seed=3)
    data = exrio.encode_rgba(f * alpha[..., None], alpha)
    got_f, got_a = exrio.decode_fg(data)
    assert np.array_equal(got_a, alpha)
    seen = alpha > 0.05
    assert np.allclose(got_f[seen], f[seen], rtol=2e-3)  # half-float RGB
    assert (got_f[alpha == 0] == 0).all()
    with pytest.raises(ValueError, match="lacks channels"):
        exrio.decode_fg(exrio.encode_rgb(f))
