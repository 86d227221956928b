"""CAP (tiny ViT + coarse head) and key regions."""

from __future__ import annotations

import pytest
import torch

from matting.models.cap import CAP, SAPIENS_MEAN, SAPIENS_STD
from matting.models.keyregion import OPS, key_regions


@pytest.fixture(scope="module")
def tiny_cap() -> CAP:
    torch.manual_seed(0)
    return CAP(
        embed_dim=32, depth=2, heads=2, patch=16, cap_size=64, deconv_widths=(16, 16), conv_widths=(8,)
    )


def test_cap_shapes_on_non_square_clip(tiny_cap):
    rgb = torch.rand(1, 2, 3, 40, 72)
    coarse, cls = tiny_cap(rgb)
    # 64 px / patch 16 = 4 tokens a side, two stride-2 deconvs -> 16.
    assert coarse.shape == (1, 2, 1, 16, 16) == (1, 2, 1, tiny_cap.out_size, tiny_cap.out_size)
    assert cls.shape == (1, 2, 32)
    assert coarse.min() >= 0 and coarse.max() <= 1
    assert torch.isfinite(cls).all()


def test_cap_frames_are_independent(tiny_cap):
    tiny_cap.eval()
    rgb = torch.rand(2, 3, 3, 64, 64)
    coarse, cls = tiny_cap(rgb)
    single_coarse, single_cls = tiny_cap(rgb[1:2, 2:3])
    torch.testing.assert_close(coarse[1:2, 2:3], single_coarse, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cls[1:2, 2:3], single_cls, atol=1e-5, rtol=1e-5)


def test_preprocess_resizes_and_uses_sapiens_statistics(tiny_cap):
    frames = torch.full((1, 3, 100, 30), 0.5)
    out = tiny_cap.preprocess(frames)
    assert out.shape == (1, 3, 64, 64)
    expected = (127.5 - torch.tensor(SAPIENS_MEAN)) / torch.tensor(SAPIENS_STD)
    torch.testing.assert_close(out[0, :, 10, 10], expected)


def test_cap_backward_reaches_backbone(tiny_cap):
    tiny_cap.train()
    coarse, cls = tiny_cap(torch.rand(1, 2, 3, 64, 48))
    (coarse.mean() + cls.pow(2).mean()).backward()
    assert tiny_cap.backbone.patch_embed.proj.weight.grad.abs().sum() > 0
    assert tiny_cap.head[0].weight.grad.abs().sum() > 0
    tiny_cap.zero_grad()


def test_layer_ids(tiny_cap):
    ids = {name: tiny_cap.layer_id(name) for name, _ in tiny_cap.named_parameters()}
    assert (
        ids["backbone.cls_token"] == ids["backbone.pos_embed"] == ids["backbone.patch_embed.proj.weight"] == 0
    )
    assert ids["backbone.blocks.0.attn.qkv.weight"] == 1
    assert ids["backbone.blocks.1.mlp.fc2.bias"] == 2
    assert ids["backbone.norm.weight"] == ids["head.0.weight"] == 3 == tiny_cap.num_layers - 1
    with pytest.raises(ValueError, match="not a CAP parameter"):
        tiny_cap.layer_id("far.stem.weight")


def test_cap_rejects_bad_input(tiny_cap):
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        tiny_cap(torch.rand(2, 3, 64, 64))
    with pytest.raises(ValueError, match="multiple of the patch"):
        CAP(embed_dim=32, depth=1, heads=2, cap_size=60)


def test_full_size_cap_backbone_matches_vit_formula():
    """Sapiens-0.3B at 512 px: ViT-L/16 count from its architecture, built on the meta device."""
    with torch.device("meta"):
        cap = CAP()
    d, depth, patch, grid = 1024, 24, 16, 512 // 16
    per_block = 12 * d * d + 13 * d  # qkv 3d^2+3d, proj d^2+d, fc1 4d^2+4d, fc2 4d^2+d, 2 norms 4d
    embed = 3 * patch * patch * d + d + d + (1 + grid * grid) * d  # patch conv, cls, pos (with CLS)
    expected = depth * per_block + embed + 2 * d  # + final norm
    got = sum(p.numel() for p in cap.backbone.parameters())
    assert got == expected
    assert 300e6 < got < 310e6  # "0.3B"
    # Head: deconvs 1024->768->768->768 (4x4, no bias), three 1x1 convs 768, 1x1 to alpha.
    head = 16 * (1024 * 768 + 2 * 768 * 768) + 3 * (768 * 768 + 768) + 768 + 1
    assert sum(p.numel() for p in cap.head.parameters()) == head


# -- key regions --------------------------------------------------------------------------


def soft_disc(size: int = 64, radius: float = 16.0, edge: float = 2.0) -> torch.Tensor:
    """(1, 1, size, size) alpha: 1 inside a disc, 0 outside, a linear ramp ``edge`` px wide."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2).sqrt()
    return ((radius + edge / 2 - r) / edge).clamp(0, 1).view(1, 1, size, size)


def radial_extent(mask: torch.Tensor, size: int = 64) -> tuple[float, float]:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2).sqrt()[mask.view(size, size)]
    return r.min().item(), r.max().item()


def test_band_without_morphology_is_the_fractional_ramp():
    alpha = soft_disc()
    key = key_regions(alpha, op="none")
    assert key.dtype == torch.bool and key.shape == alpha.shape
    assert torch.equal(key, (alpha > 0.01) & (alpha < 0.99))
    assert key.any()


@pytest.mark.parametrize("op", ["dilate", "close_dilate"])
def test_widening_ops_grow_with_kernel(op):
    alpha = soft_disc()
    band = key_regions(alpha, op="none")
    sizes = [key_regions(alpha, op=op, kernel=k).sum().item() for k in (3, 5, 9)]
    assert band.sum().item() < sizes[0] < sizes[1] < sizes[2]
    assert key_regions(alpha, op=op, kernel=3, iterations=2).sum() > sizes[0]
    inner, outer = radial_extent(key_regions(alpha, op=op, kernel=9))
    band_inner, band_outer = radial_extent(band)
    assert inner < band_inner - 3 and outer > band_outer + 3


@pytest.mark.parametrize("op", OPS)
def test_every_op_covers_the_band_and_spares_flat_regions(op):
    alpha = soft_disc()
    band = key_regions(alpha, op="none")
    key = key_regions(alpha, op=op, kernel=5)
    assert (key | ~band).all()  # band is a subset of key
    # Far from the edge the alpha is exactly 0 or 1 and no key region may appear.
    inner, outer = radial_extent(key)
    band_inner, band_outer = radial_extent(band)
    assert inner >= band_inner - 2 * 2.9 and outer <= band_outer + 2 * 2.9  # <= half kernel, diagonal
    assert not key[..., 32, 32] and not key[..., 0, 0]


def test_close_fills_gaps_without_widening():
    alpha = soft_disc()
    band = key_regions(alpha, op="none")
    holed = alpha.clone()
    holed[..., 15:18, 30:34] = 1.0  # cut the top of the ring: a 3-px gap in the band
    gap_band = key_regions(holed, op="none")
    assert gap_band.sum() < band.sum()
    closed = key_regions(holed, op="close", kernel=7)
    assert closed[..., 16, 32]  # the gap is bridged
    assert radial_extent(closed) == pytest.approx(radial_extent(band), abs=1.5)


def test_key_regions_keeps_leading_dims_and_needs_no_grad():
    alpha = soft_disc().expand(2, 3, 1, 64, 64).clone().requires_grad_(True)
    key = key_regions(alpha)
    assert key.shape == (2, 3, 1, 64, 64) and not key.requires_grad
    assert torch.equal(key[1, 2], key_regions(soft_disc())[0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"op": "erode"}, "op must be one of"),
        ({"kernel": 4}, "odd"),
        ({"iterations": 0}, "iterations"),
        ({"low": 0.5, "high": 0.4}, "thresholds"),
    ],
)
def test_key_regions_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        key_regions(soft_disc(), **kwargs)
