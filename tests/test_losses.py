"""Losses on hand-made tensors with values that can be worked out by hand."""

import numpy as np
import pytest
import torch

from matting import losses


def _clip(value, b=1, t=2, h=16, w=16):
    return torch.full((b, t, 1, h, w), float(value), dtype=torch.float64)


def _stripes(a, b=1, t=2, h=16, w=16):
    # Vertical stripes +a, -a, +a, ...: the binomial blur maps them to exactly 0, so the whole
    # pattern sits in the finest band L_1.
    sign = (-1.0) ** torch.arange(w, dtype=torch.float64)
    return a * sign.expand(b, t, 1, h, w).clone()


def test_pyramid_shapes_and_constants():
    x = torch.full((2, 1, 13, 9), 0.7, dtype=torch.float64)
    bands = losses.laplacian_pyramid(x)
    assert [tuple(b.shape[-2:]) for b in bands] == [(13, 9), (7, 5), (4, 3), (2, 2), (1, 1)]
    # A constant has no detail at any scale, borders included.
    for band in bands:
        assert band.abs().max() < 1e-12


def test_paper_level_weights():
    assert losses.PAPER_LEVEL_WEIGHTS == (1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 1024)


def test_stage1_zero_when_equal():
    gt = torch.rand(2, 4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    out = losses.stage1_losses(gt.clone(), gt)
    assert set(out) == {"l1", "laplacian", "total"}
    assert out["total"].item() == 0.0


def test_stage1_constant_offset():
    out = losses.stage1_losses(_clip(0.5), _clip(0.3))
    assert out["l1"].item() == pytest.approx(0.2)
    assert out["laplacian"].item() == pytest.approx(0.0, abs=1e-12)
    assert out["total"].item() == pytest.approx(0.2)


def test_stage1_stripes_hit_finest_band_only():
    a = 0.1
    out = losses.stage1_losses(_clip(0.5) + _stripes(a), _clip(0.5))
    assert out["l1"].item() == pytest.approx(a)
    assert out["laplacian"].item() == pytest.approx(a / 4)  # w_1 = 1/4, other bands empty
    assert out["total"].item() == pytest.approx(1.25 * a)
    flat = losses.laplacian_loss((_clip(0.5) + _stripes(a))[0], _clip(0.5)[0], level_weights=(1, 1, 1, 1, 1))
    assert flat.item() == pytest.approx(a)


def test_every_band_equals_opencvs_laplacian_pyramid_on_a_random_image():
    """All five bands of a non-constant image against an independent implementation
    (cv2.pyrDown/pyrUp: the same 5-tap binomial kernel); borders differ by padding convention,
    so the comparison is 4 px inside each band."""
    import cv2

    x = np.random.default_rng(0).random((256, 192))
    bands = losses.laplacian_pyramid(torch.from_numpy(x)[None, None], levels=5)
    current = x
    for level, band in enumerate(bands, 1):
        down = cv2.pyrDown(current)
        reference = current - cv2.pyrUp(down, dstsize=(current.shape[1], current.shape[0]))
        assert band.shape[-2:] == reference.shape, level
        assert np.abs(reference).mean() > 1e-3, level  # the band carries signal at every level
        np.testing.assert_allclose(band[0, 0, 4:-4, 4:-4].numpy(), reference[4:-4, 4:-4], atol=1e-12)
        current = down
    # Each level's weight scales that band's mean absolute value in the loss.
    for level in range(5):
        weights = [0.0] * 5
        weights[level] = 1.0
        loss = losses.laplacian_loss(
            torch.from_numpy(x)[None, None], torch.zeros(1, 1, 256, 192), level_weights=weights
        )
        assert loss.item() == pytest.approx(bands[level].abs().mean().item(), rel=1e-12)


def _stage2(refined, gt, key, coarse=None, **kw):
    coarse = gt if coarse is None else coarse
    fused = key * refined + (1 - key) * coarse
    return losses.stage2_losses(refined, fused, key, gt, **kw)


def test_stage2_zero_when_equal():
    gt = torch.rand(2, 3, 1, 12, 10, generator=torch.Generator().manual_seed(1))
    key = (gt > 0.5).double()
    out = _stage2(gt.clone(), gt, key)
    assert set(out) == {"region_l1", "region_laplacian", "region", "entire", "temporal", "total"}
    for name, value in out.items():
        assert value.item() == 0.0, name


def test_stage2_exact_values_full_key():
    a = 0.1
    gt = _clip(0.5)
    refined = gt + _stripes(a)
    out = _stage2(refined, gt, torch.ones_like(gt))
    assert out["region_l1"].item() == pytest.approx(a)
    assert out["region_laplacian"].item() == pytest.approx(a / 4)
    assert out["region"].item() == pytest.approx(1.25 * a)
    assert out["entire"].item() == pytest.approx(1.25 * a)  # fused == refined when K = 1
    assert out["temporal"].item() == pytest.approx(0.0)  # same stripes in both frames
    assert out["total"].item() == pytest.approx(1.25 * a + 0.5 * 1.25 * a)
    out = _stage2(refined, gt, torch.ones_like(gt), weights=(2.0, 0.0, 0.0))
    assert out["total"].item() == pytest.approx(2.5 * a)


def test_region_l1_normalised_by_key_area():
    gt = _clip(0.0)
    key = torch.zeros_like(gt)
    key[..., 4:8, 4:10] = 1
    refined = gt + 0.4 * key
    out = _stage2(refined, gt, key)
    assert out["region_l1"].item() == pytest.approx(0.4)
    assert out["entire"].item() > 0


def test_errors_outside_key_do_not_change_region_or_temporal():
    g = torch.Generator().manual_seed(2)
    gt = torch.rand(1, 3, 1, 16, 16, generator=g, dtype=torch.float64)
    key = torch.zeros_like(gt)
    key[..., :, :7] = 1
    refined = (gt + 0.05 * torch.randn(gt.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    wild = refined.clone()
    wild[..., :, 7:] = torch.rand(wild[..., :, 7:].shape, generator=g, dtype=torch.float64)
    a, b = _stage2(refined, gt, key), _stage2(wild, gt, key)
    for name in ("region_l1", "region_laplacian", "region", "temporal"):
        assert a[name].item() == b[name].item(), name
    assert a["region_laplacian"].item() > 0


def test_temporal_exact_value():
    gt = _clip(0.5, t=2, h=4, w=4)
    gt[:, 1] = 0.7
    refined = _clip(0.5, t=2, h=4, w=4)
    # (0.5 - 0.5) - (0.5 - 0.7) = 0.2 everywhere -> 0.04
    assert losses.temporal_loss(refined, gt, torch.ones_like(gt)).item() == pytest.approx(0.04)


def test_temporal_sums_pairs_over_key_intersections():
    gt = _clip(0.0, t=3, h=2, w=4)
    refined = gt.clone()
    refined[:, 1, :, :, 1] = 0.3  # frame 1, column 1: pair (0,1) and pair (1,2) both see 0.3
    refined[:, 1, :, :, 3] = 0.9  # outside every intersection
    key = torch.zeros_like(gt)
    key[:, 0, ..., :2] = 1  # columns 0, 1
    key[:, 1, ..., 1:3] = 1  # columns 1, 2
    key[:, 2, ..., 1] = 1  # column 1
    # pair (0,1): intersection column 1 (2 px), err 0.09 each -> mean 0.09
    # pair (1,2): intersection column 1, err 0.09 -> 0.09; total 0.18
    assert losses.temporal_loss(refined, gt, key).item() == pytest.approx(0.18)
    key[:, 1] = 0  # no overlap at all: both pairs contribute 0
    assert losses.temporal_loss(refined, gt, key).item() == 0.0


def test_temporal_zero_for_equal_temporal_differences():
    gt = torch.rand(2, 4, 1, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = _stage2(gt + 0.1, gt, torch.ones_like(gt))
    assert out["temporal"].item() == pytest.approx(0.0, abs=1e-15)
    assert out["region_l1"].item() == pytest.approx(0.1)


def test_gradients_flow_to_the_right_pixels():
    g = torch.Generator().manual_seed(4)
    gt = torch.rand(1, 2, 1, 16, 16, generator=g)
    key = torch.zeros_like(gt)
    key[..., 4:12, 4:12] = 1
    refined = torch.rand(gt.shape, generator=g).requires_grad_()
    coarse = torch.rand(gt.shape, generator=g).requires_grad_()
    fused = key * refined + (1 - key) * coarse
    out = losses.stage2_losses(refined, fused, key, gt)
    out["total"].backward()
    assert torch.isfinite(refined.grad).all() and torch.isfinite(coarse.grad).all()
    inside = key.bool()
    assert refined.grad[inside].abs().min() > 0
    assert refined.grad[~inside].abs().max() == 0  # A_d outside K is never used
    assert coarse.grad[~inside].abs().max() > 0  # through the entire-frame term
    assert coarse.grad[inside].abs().max() == 0

    coarse_lr = torch.rand(1, 2, 1, 8, 8, generator=g).requires_grad_()
    losses.stage1_losses(coarse_lr, torch.rand(1, 2, 1, 8, 8, generator=g))["total"].backward()
    assert coarse_lr.grad.abs().sum() > 0


def test_bad_shapes_give_one_line_errors():
    x = torch.zeros(1, 2, 1, 8, 8)
    cases = [
        (lambda: losses.stage1_losses(x[:, :, 0], x[:, :, 0]), r"\(B, T, 1, H, W\)"),
        (lambda: losses.stage1_losses(x, torch.zeros(1, 2, 1, 8, 9)), "shape"),
        (lambda: losses.stage2_losses(x, x, torch.zeros(1, 3, 1, 8, 8), x), "key shape"),
        (lambda: losses.stage2_losses(x, x, x, x, weights=(1, 1)), "weights"),
        (lambda: losses.stage2_losses(x.numpy(), x, x, x), "torch.Tensor"),
    ]
    for call, match in cases:
        with pytest.raises((ValueError, TypeError), match=match) as info:
            call()
        assert "\n" not in str(info.value)
