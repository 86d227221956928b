"""Metrics on inputs whose values can be worked out by hand."""

import math

import numpy as np
import pytest

from matting import metrics


def test_identical_inputs_score_zero():
    rng = np.random.default_rng(0)
    g = rng.random((3, 16, 12))
    for name, value in metrics.evaluate_clip(g, g.copy()).items():
        assert value == 0.0, name
    assert metrics.dtssd(g, g.copy(), variant="clip") == 0.0


def test_constant_offset():
    g = np.full((2, 4, 5), 0.25)
    p = np.full((2, 4, 5), 0.75)
    assert metrics.mad(p, g) == pytest.approx(500.0)
    assert metrics.mse(p, g) == pytest.approx(250.0)
    # Flat frames have no gradient and nothing changes in time.
    assert metrics.grad(p, g) == pytest.approx(0.0, abs=1e-12)
    assert metrics.dtssd(p, g) == 0.0
    # Every pixel is in the intersection up to 0.2 and leaves it at 0.3 (g = 0.25 < 0.3), so its
    # level is 0.2: d_g = 0.05 < 0.15 -> phi_g = 1, d_p = 0.55 -> phi_p = 0.45; 20 px * 0.55 / 1000.
    assert metrics.conn(p, g) == pytest.approx(20 * 0.55 / 1000)


def test_single_changed_pixel():
    g = np.zeros((3, 10, 10))
    p = g.copy()
    p[1, 3, 4] = 0.5
    assert metrics.mad(p, g) == pytest.approx(0.5 / 300 * 1e3)
    assert metrics.mse(p, g) == pytest.approx(0.25 / 300 * 1e3)
    # e_1 = +0.5 and e_2 = -0.5 at one of 100 pixels: sqrt(0.25 / 100) * 100 = 5 for frames 1 and 2,
    # 0 for frame 0 -> mean 10 / 3. Whole clip: sqrt(0.5 / 200) * 100 = 5.
    assert metrics.dtssd(p, g) == pytest.approx(10 / 3)
    assert metrics.dtssd(p, g, variant="clip") == pytest.approx(5.0)
    # Intersection empty at 0.1 -> level 0 everywhere; only the changed pixel differs:
    # phi_g = 1, phi_p = 1 - 0.5 -> 0.5 in frame 1, nothing in frames 0 and 2.
    assert metrics.conn(p, g) == pytest.approx(0.5 / 3 / 1000)


def test_dtssd_per_frame_offsets():
    g = np.full((3, 4, 4), 0.5)
    p = g + np.array([0.0, 0.1, 0.3])[:, None, None]
    # e_1 = 0.1, e_2 = 0.2 everywhere.
    assert metrics.dtssd(p, g) == pytest.approx((0 + 10 + 20) / 3)
    assert metrics.dtssd(p, g, variant="clip") == pytest.approx(100 * math.sqrt((0.01 + 0.04) / 2))
    assert metrics.dtssd(p[:1], g[:1]) == 0.0


def test_grad_filter_size():
    fx, fy = metrics.gaussian_derivative_filters(1.4)
    assert fx.shape == (9, 9)  # half size ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) 1.4 0.01))) = ceil(3.62) = 4
    assert np.allclose(fy, fx.T)
    assert (fx**2).sum() == pytest.approx(1.0)


def test_grad_step_edge():
    h, w, edge = 12, 20, 10
    g = np.zeros((1, h, w))
    g[:, :, edge:] = 1.0
    p = np.zeros_like(g)
    # The filter is separable: fx[i, j] = G(i) G'(j) / norm. A vertical step has no y response,
    # and replicated borders keep it an infinite step, so every row sees the x response
    # S_c = sum_k G'(k) [c + k >= edge] scaled by sum_i G(i) / norm.
    sigma, k = 1.4, np.arange(-4, 5)
    gauss = np.exp(-(k**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    dgauss = -k * gauss / sigma**2
    norm2 = (gauss**2).sum() * (dgauss**2).sum()
    s = np.array([dgauss[(c + k) >= edge].sum() for c in range(w)])
    expected = h * gauss.sum() ** 2 * (s**2).sum() / norm2 / 1000
    assert metrics.grad(p, g) == pytest.approx(expected, rel=1e-9)
    assert metrics.grad(g, p) == pytest.approx(expected, rel=1e-9)
    # Adding a constant changes no gradient.
    assert metrics.grad(0.2 + 0.8 * g, 0.8 * g) == pytest.approx(0.0, abs=1e-12)


def test_grad_normalize_rescales_frames():
    g = np.zeros((1, 8, 8))
    g[:, :, 4:] = 1.0
    # 0.5 * g has half the gradient unless each frame is min-max normalised first.
    assert metrics.grad(0.5 * g, g) > 0
    assert metrics.grad(0.5 * g, g, normalize=True) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("b_pos, expected", [((3, 3), 1.0), ((3, 2), 0.9)])
def test_conn_uses_4_connectivity(b_pos, expected):
    # Block A (3x3) of ones plus one extra pixel B with g = 1, p = 0.12.
    g = np.zeros((1, 6, 6))
    g[0, :3, :3] = 1.0
    g[0][b_pos] = 1.0
    p = g.copy()
    p[0][b_pos] = 0.12
    # B at (3, 3) touches A only diagonally: its own component at 0.1 -> level 0,
    # phi_g = 1 - 1 = 0, phi_p = 1 (0.12 < 0.15) -> error 1.
    # B at (3, 2) is 4-connected: it leaves at 0.2 -> level 0.1, phi_g = 0.1, phi_p = 1 -> 0.9.
    assert metrics.conn(p, g) == pytest.approx(expected / 1000)


def test_conn_threshold_levels():
    g = np.ones((1, 4, 4))
    p = g.copy()
    p[0, 1, 1] = 0.55
    # The odd pixel leaves the intersection at 0.6 -> level 0.5: phi_g = 0.5, phi_p = 1 (d = 0.05).
    assert metrics.conn(p, g) == pytest.approx(0.5 / 1000)
    # Nothing above 0: levels are 0, d_g = 1 -> phi_g = 0 for all 16 pixels, phi_p = 1.
    assert metrics.conn(np.zeros_like(g), g) == pytest.approx(16 / 1000)


@pytest.mark.parametrize(
    "pred, gt, match",
    [
        (np.zeros((2, 4, 4)), np.zeros((2, 4, 5)), "shape"),
        (np.zeros((4, 4)), np.zeros((4, 4)), r"\(T, H, W\)"),
        (np.full((1, 4, 4), 1.5), np.zeros((1, 4, 4)), r"\[0, 1\]"),
        (np.zeros((1, 4, 4), np.uint8), np.zeros((1, 4, 4)), "float"),
        (np.full((1, 4, 4), np.nan), np.zeros((1, 4, 4)), "NaN"),
        ([[[0.0]]], np.zeros((1, 1, 1)), "numpy"),
        (np.zeros((0, 4, 4)), np.zeros((0, 4, 4)), "empty"),
    ],
)
def test_bad_inputs_give_one_line_errors(pred, gt, match):
    for fn in (metrics.mad, metrics.mse, metrics.grad, metrics.conn, metrics.dtssd):
        with pytest.raises((ValueError, TypeError), match=match) as info:
            fn(pred, gt)
        assert "\n" not in str(info.value)
        assert fn.__name__ in str(info.value)


def test_dtssd_variant_errors():
    z = np.zeros((1, 2, 2))
    with pytest.raises(ValueError, match="unknown variant"):
        metrics.dtssd(z, z, variant="other")
    with pytest.raises(ValueError, match="at least 2 frames"):
        metrics.dtssd(z, z, variant="clip")
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.evaluate_clip(z, z, metrics=("sad",))
