"""Sapiens checkpoint -> timm ViT, on a synthetic checkpoint with the real key names."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from matting.models.cap import build_vit
from matting.models.sapiens import CheckpointError, load_sapiens_checkpoint, sapiens_to_timm_key

D, DEPTH, PATCH = 32, 2, 16


def sapiens_state(dim: int = D, depth: int = DEPTH, grid: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random "_clean" Sapiens state dict: the real key names and shapes, at a tiny size."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    state = {
        "cls_token": rand(1, 1, dim),
        "pos_embed": rand(1, 1 + grid * grid, dim),
        "patch_embed.projection.weight": rand(dim, 3, PATCH, PATCH),
        "patch_embed.projection.bias": rand(dim),
        "ln1.weight": rand(dim),
        "ln1.bias": rand(dim),
    }
    for i in range(depth):
        for norm in ("ln1", "ln2"):
            state[f"layers.{i}.{norm}.weight"] = rand(dim)
            state[f"layers.{i}.{norm}.bias"] = rand(dim)
        state[f"layers.{i}.attn.qkv.weight"] = rand(3 * dim, dim)
        state[f"layers.{i}.attn.qkv.bias"] = rand(3 * dim)
        state[f"layers.{i}.attn.proj.weight"] = rand(dim, dim)
        state[f"layers.{i}.attn.proj.bias"] = rand(dim)
        state[f"layers.{i}.ffn.layers.0.0.weight"] = rand(4 * dim, dim)
        state[f"layers.{i}.ffn.layers.0.0.bias"] = rand(4 * dim)
        state[f"layers.{i}.ffn.layers.1.weight"] = rand(dim, 4 * dim)
        state[f"layers.{i}.ffn.layers.1.bias"] = rand(dim)
    return state


@pytest.fixture
def vit():
    # 64 px / patch 16: a 4 x 4 grid, against the checkpoint's 8 x 8.
    return build_vit(D, DEPTH, heads=2, patch=PATCH, img_size=64)


def test_key_mapping():
    assert sapiens_to_timm_key("patch_embed.projection.weight") == "patch_embed.proj.weight"
    assert sapiens_to_timm_key("layers.11.ln2.bias") == "blocks.11.norm2.bias"
    assert sapiens_to_timm_key("layers.3.attn.qkv.weight") == "blocks.3.attn.qkv.weight"
    assert sapiens_to_timm_key("layers.3.attn.proj.bias") == "blocks.3.attn.proj.bias"
    assert sapiens_to_timm_key("layers.0.ffn.layers.0.0.weight") == "blocks.0.mlp.fc1.weight"
    assert sapiens_to_timm_key("layers.0.ffn.layers.1.bias") == "blocks.0.mlp.fc2.bias"
    assert sapiens_to_timm_key("ln1.weight") == "norm.weight"
    assert sapiens_to_timm_key("backbone.pos_embed") == "pos_embed"
    assert sapiens_to_timm_key("decoder_pred.weight") is None
    assert sapiens_to_timm_key("mask_token") is None


def test_round_trip_through_a_file(vit, tmp_path):
    state = sapiens_state()
    path = tmp_path / "sapiens_tiny_clean.pth"
    torch.save(state, path)
    report = load_sapiens_checkpoint(vit, path)
    assert report.loaded == len(state) == len(vit.state_dict())
    assert report.pos_embed_from == (8, 8) and report.pos_embed_to == (4, 4) and report.is_exact
    assert "pos_embed resized (8, 8) -> (4, 4)" in str(report)

    own = vit.state_dict()
    for key, value in state.items():
        name = sapiens_to_timm_key(key)
        if name != "pos_embed":
            assert torch.equal(own[name], value), name
    # CLS position unchanged; the grid part is a bicubic resize of the 8 x 8 grid.
    pos = own["pos_embed"]
    assert pos.shape == (1, 1 + 16, D)
    assert torch.equal(pos[:, 0], state["pos_embed"][:, 0])
    grid = state["pos_embed"][:, 1:].reshape(1, 8, 8, D).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(4, 4), mode="bicubic", align_corners=False)
    torch.testing.assert_close(pos[:, 1:], expected.permute(0, 2, 3, 1).reshape(1, 16, D))


def test_loaded_weights_drive_the_forward(vit):
    state = sapiens_state(grid=4)  # same grid: pos_embed copied as is
    report = load_sapiens_checkpoint(vit, state)
    assert report.pos_embed_from == report.pos_embed_to == (4, 4)
    twin = build_vit(D, DEPTH, heads=2, patch=PATCH, img_size=64)
    load_sapiens_checkpoint(twin, {f"backbone.{k}": v for k, v in state.items()})  # prefixed keys
    x = torch.randn(2, 3, 64, 64)
    vit.eval(), twin.eval()
    torch.testing.assert_close(vit.forward_features(x), twin.forward_features(x))


def test_constant_position_grid_stays_constant(vit):
    state = sapiens_state()
    state["pos_embed"][:, 1:] = 0.25
    load_sapiens_checkpoint(vit, state)
    torch.testing.assert_close(vit.pos_embed[:, 1:], torch.full((1, 16, D), 0.25))


def test_checkpoint_without_class_token(vit):
    """Task checkpoints trained with_cls_token=False: grid-only pos_embed, no cls_token."""
    state = sapiens_state()
    del state["cls_token"]
    state["pos_embed"] = state["pos_embed"][:, 1:].clone()  # (1, 64, D)
    cls_pos, cls_token = vit.pos_embed[:, 0].clone(), vit.cls_token.clone()
    one_line_error(vit, state, "1 missing")
    report = load_sapiens_checkpoint(vit, state, strict=False)
    assert report.missing == ("cls_token",) and report.pos_embed_from == (8, 8)
    assert torch.equal(vit.pos_embed[:, 0], cls_pos) and torch.equal(vit.cls_token, cls_token)
    grid = state["pos_embed"].reshape(1, 8, 8, D).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(4, 4), mode="bicubic", align_corners=False)
    torch.testing.assert_close(vit.pos_embed[:, 1:], expected.permute(0, 2, 3, 1).reshape(1, 16, D))


def test_nested_state_dict_is_accepted(vit, tmp_path):
    path = tmp_path / "nested.pth"
    torch.save({"state_dict": sapiens_state(), "meta": {"epoch": 3}}, path)
    assert load_sapiens_checkpoint(vit, path).loaded == len(vit.state_dict())


def one_line_error(vit, source, match, **kwargs) -> str:
    with pytest.raises(CheckpointError, match=match) as info:
        load_sapiens_checkpoint(vit, source, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(vit, tmp_path):
    path = tmp_path / "nope.pth"
    assert str(path) in one_line_error(vit, path, "no such checkpoint file")


def test_corrupt_file(vit, tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a checkpoint" * 20)
    assert str(garbage) in one_line_error(vit, garbage, "unreadable or corrupt")
    truncated = tmp_path / "truncated.pth"
    torch.save(sapiens_state(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    assert str(truncated) in one_line_error(vit, truncated, "unreadable or corrupt")


def test_pickled_module_is_refused(vit, tmp_path):
    path = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), path)
    one_line_error(vit, path, r"not a plain checkpoint.*state_dict\(\)")


def test_not_a_state_dict(vit, tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    one_line_error(vit, path, "expected a non-empty mapping of tensors")
    one_line_error(vit, {"cls_token": torch.zeros(1, 1, D), "epoch": 3}, "non-tensor entries such as 'epoch'")


def test_shape_mismatch_names_the_tensor(vit):
    state = sapiens_state()
    state["pos_embed"] = state["pos_embed"][:, :51]  # neither 1 + G*G nor G*G
    one_line_error(vit, state, "pos_embed has 51 rows, not")
    message = one_line_error(vit, sapiens_state(dim=48), "pos_embed shape")  # another model's width
    assert "(1, 65, 48)" in message and "(1, 17, 32)" in message
    no_pos = {k: v for k, v in sapiens_state(dim=48).items() if k != "pos_embed"}
    one_line_error(vit, no_pos, "shape mismatch for cls_token", strict=False)
    state = sapiens_state()
    state["layers.1.attn.qkv.weight"] = torch.zeros(3 * D, D + 1)
    one_line_error(vit, state, r"shape mismatch for blocks\.1\.attn\.qkv\.weight")


def test_missing_and_unexpected_keys(vit):
    state = {k: v for k, v in sapiens_state().items() if not k.startswith("layers.1.")}
    one_line_error(vit, state, "12 missing")
    before = vit.blocks[1].attn.qkv.weight.clone()
    report = load_sapiens_checkpoint(vit, state, strict=False)
    assert len(report.missing) == 12 and torch.equal(vit.blocks[1].attn.qkv.weight, before)
    assert torch.equal(vit.blocks[0].attn.qkv.weight, state["layers.0.attn.qkv.weight"])

    extra = {**sapiens_state(), "decoder_pred.weight": torch.zeros(3, 3), "mask_token": torch.zeros(1, 1, D)}
    one_line_error(vit, extra, "2 unexpected")
    report = load_sapiens_checkpoint(vit, extra, strict=False)
    assert sorted(report.unexpected) == ["decoder_pred.weight", "mask_token"] and not report.missing
