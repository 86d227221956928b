"""MuMatting end to end on the tiny config: shapes, fusion, freezing, optimiser groups, registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_sapiens import sapiens_state

from matting.models.__main__ import main as cli_main
from matting.models.mumatting import ModelConfig, MuMatting
from matting.models.registry import MODEL_CONFIGS, build_model, count_parameters, get_config, list_models
from matting.models.tscm import TSCM

TINY = "mumatting-tiny"
B, T, H, W = 1, 2, 40, 72  # non-square, not a multiple of anything


def tiny(seed: int = 0, **overrides) -> MuMatting:
    torch.manual_seed(seed)
    return build_model(TINY, **overrides)


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return torch.rand(B, T, 3, H, W, generator=torch.Generator().manual_seed(1))


def test_stage_cap_outputs(clip):
    model = tiny().eval()
    out = model(clip, stage="cap")
    side = model.cap.out_size
    assert out["coarse_lr"].shape == (B, T, 1, side, side)
    assert out["coarse"].shape == out["key"].shape == out["alpha"].shape == (B, T, 1, H, W)
    assert out["cls"].shape == (B, T, model.config.cap.embed_dim)
    assert "refined" not in out and out["alpha"] is out["coarse"]
    assert set(out["key"].unique().tolist()) <= {0.0, 1.0} and not out["key"].requires_grad
    assert 0 <= out["coarse"].min() and out["coarse"].max() <= 1


def test_stage_far_fuses_refined_inside_key(clip):
    # Thresholds at the median of the coarse map make about half of it key region.
    median = tiny().eval()(clip, stage="cap")["coarse_lr"].median().item()
    model = tiny(**{"key.low": median, "key.high": 1.0, "key.op": "none"}).eval()
    out = model(clip, stage="far")
    key, refined, coarse, alpha = out["key"], out["refined"], out["coarse"], out["alpha"]
    assert refined.shape == alpha.shape == (B, T, 1, H, W)
    inside, outside = key == 1, key == 0
    assert inside.any() and outside.any()
    assert torch.equal(alpha[outside], coarse[outside])
    torch.testing.assert_close(alpha[inside], refined[inside])
    assert (refined[outside] == 0).all()  # FAR's contract: zero outside the key regions


def test_key_is_nearest_upsampling_of_low_res_regions(clip):
    """At 3x the coarse grid (96 x 96 from 32 x 32) every 3 x 3 block of K is one coarse cell's
    band decision; a bilinear upsampling then threshold (or any other) would not be."""
    model = tiny(**{"key.op": "none", "key.low": 0.3, "key.high": 0.6}).eval()
    big = torch.nn.functional.interpolate(clip[0, :, :, :32, :32], size=(96, 96), mode="bilinear")[None]
    out = model(big.contiguous(), stage="cap")
    lr = out["coarse_lr"]
    assert lr.shape[-2:] == (32, 32) and out["key"].shape[-2:] == (96, 96)
    band = ((lr > 0.3) & (lr < 0.6)).float()
    assert 0 < band.mean() < 1  # both kinds of cell occur
    nearest = band.repeat_interleave(3, dim=-2).repeat_interleave(3, dim=-1)
    assert torch.equal(out["key"], nearest)
    smooth = torch.nn.functional.interpolate(lr.flatten(0, 1), size=(96, 96), mode="bilinear")
    assert not torch.equal(out["key"].flatten(0, 1), ((smooth > 0.3) & (smooth < 0.6)).float())


def test_freeze_cap_keeps_eval_and_gets_no_gradients(clip):
    model = tiny()
    model.freeze_cap()
    model.train()
    assert model.training and model.far.training
    assert not any(m.training for m in model.cap.modules())
    out = model(clip, stage="far")
    out["alpha"].mean().backward()
    assert all(p.grad is None and not p.requires_grad for p in model.cap.parameters())
    far_grads = [p.grad for p in model.far.parameters() if p.grad is not None]
    assert far_grads and any(g.abs().sum() > 0 for g in far_grads)
    model.unfreeze_cap()
    model.train()
    assert model.cap.training and all(p.requires_grad for p in model.cap.parameters())


def test_stage_cap_backward_trains_cap_only(clip):
    model = tiny().train()
    model(clip, stage="cap")["alpha"].mean().backward()
    assert model.cap.backbone.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.far.parameters())


def test_param_groups_stage_cap_layer_decay():
    model = tiny()
    lr, wd, decay = 1e-3, 0.1, 0.85
    groups = model.param_groups(lr, wd, layer_decay=decay, stage="cap")
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.cap.parameters()}
    depth = model.config.cap.depth
    by_param = {id(p): g for g in groups for p in g["params"]}
    cap = model.cap

    def group_of(param):
        return by_param[id(param)]

    assert group_of(cap.backbone.pos_embed)["lr"] == pytest.approx(lr * decay ** (depth + 1))
    assert group_of(cap.backbone.pos_embed)["weight_decay"] == 0.0
    assert group_of(cap.backbone.cls_token)["weight_decay"] == 0.0
    assert group_of(cap.backbone.patch_embed.proj.weight)["weight_decay"] == wd
    for i, block in enumerate(cap.backbone.blocks):
        assert group_of(block.attn.qkv.weight)["lr"] == pytest.approx(lr * decay ** (depth - i))
        assert group_of(block.attn.qkv.weight)["weight_decay"] == wd
        assert group_of(block.attn.qkv.bias)["weight_decay"] == 0.0
        assert group_of(block.norm1.weight)["weight_decay"] == 0.0
    assert group_of(cap.head[0].weight)["lr"] == pytest.approx(lr)
    assert group_of(cap.backbone.norm.weight)["lr"] == pytest.approx(lr)
    optimizer = torch.optim.AdamW(groups, lr=lr)
    assert len(optimizer.param_groups) == len(groups)


def test_param_groups_stage_far_after_freeze():
    model = tiny()
    model.freeze_cap()
    groups = model.param_groups(1e-4, 0.05, stage="far")
    ids = [id(p) for g in groups for p in g["params"]]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert len(ids) == len(set(ids)) and set(ids) == trainable == {id(p) for p in model.far.parameters()}
    assert all(g["lr"] == pytest.approx(1e-4) for g in groups)
    assert {g["weight_decay"] for g in groups} <= {0.0, 0.05}
    with pytest.raises(ValueError, match="no trainable parameters for stage 'cap'"):
        model.param_groups(1e-4, 0.05, stage="cap")
    with pytest.raises(ValueError, match="stage must be one of"):
        model.param_groups(1e-4, 0.05, stage="both")


def test_bad_key_config_fails_at_build():
    with pytest.raises(ValueError, match="key region op must be one of"):
        tiny(**{"key.op": "erode"})


def test_forward_rejects_bad_stage_and_shape(clip):
    model = tiny()
    with pytest.raises(ValueError, match="stage must be one of"):
        model(clip, stage="refine")
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        model(clip[0])


# -- registry ----------------------------------------------------------------------------


def test_registry_names_and_unknown_model():
    names = list_models()
    assert {"mumatting-sapiens03b", "mumatting-tiny"} <= set(names) and names == sorted(MODEL_CONFIGS)
    with pytest.raises(ValueError, match="unknown model 'vit-huge'.*mumatting-sapiens03b.*mumatting-tiny"):
        build_model("vit-huge")


def test_overrides():
    cfg = get_config(TINY, cap={"depth": 3}, **{"key.kernel": 7, "far.use_tscm": False})
    assert cfg.cap.depth == 3 and cfg.key.kernel == 7 and not cfg.far.use_tscm
    assert cfg.cap.embed_dim == MODEL_CONFIGS[TINY].cap.embed_dim  # the rest is kept
    assert get_config(TINY, **{"cap.deconv_widths": [8, 8]}).cap.deconv_widths == (8, 8)
    with pytest.raises(ValueError, match="unknown key 'depth'"):
        get_config(TINY, depth=3)
    with pytest.raises(ValueError, match=r"cap: unknown key\(s\) \['width'\]"):
        get_config(TINY, **{"cap.width": 3})
    with pytest.raises(ValueError, match="unknown section 'vit'"):
        get_config(TINY, **{"vit.depth": 3})
    with pytest.raises(ValueError, match=r"cap\.depth must be int like 2, got '3'"):
        get_config(TINY, **{"cap.depth": "3"})
    with pytest.raises(ValueError, match="far.channels must be tuple"):
        get_config(TINY, far={"channels": [8, 16.5]})
    with pytest.raises(ValueError, match="sapiens_checkpoint must be a string"):
        get_config(TINY, sapiens_checkpoint=3)
    assert get_config(TINY, **{"key.low": 0}).key.low == 0.0
    with pytest.raises(AttributeError):
        cfg.name = "other"  # frozen


def test_config_dict_round_trip():
    for name in list_models():
        cfg = MODEL_CONFIGS[name]
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert isinstance(MODEL_CONFIGS[TINY].to_dict()["far"]["channels"], list)
    # A config saved before FAR's output form was a choice keeps the form it was trained with.
    old = MODEL_CONFIGS[TINY].to_dict()
    del old["far"]["residual"]
    assert ModelConfig.from_dict(old).far.residual == "logit"
    assert MODEL_CONFIGS[TINY].far.residual == "alpha"


@pytest.mark.parametrize("name", sorted(MODEL_CONFIGS))
def test_every_registered_model_builds(name):
    with torch.device("meta"):
        model = build_model(name)
    cfg = model.config
    assert cfg == MODEL_CONFIGS[name] and cfg.name == name
    grid = cfg.cap.cap_size // cfg.cap.patch
    assert model.cap.out_size == grid * 2 ** len(cfg.cap.deconv_widths)
    assert model.cap.backbone.pos_embed.shape == (1, 1 + grid * grid, cfg.cap.embed_dim)
    counts = count_parameters(model)
    assert counts["total"] == sum(counts[k] for k in ("cap_backbone", "cap_head", "far", "tscm"))


def test_build_model_loads_sapiens_checkpoint(tmp_path):
    path = tmp_path / "sapiens_tiny_clean.pth"
    state = sapiens_state(dim=32, depth=2, grid=8)
    torch.save(state, path)
    model = tiny(sapiens_checkpoint=path)
    assert model.config.sapiens_checkpoint == str(path)
    assert torch.equal(model.cap.backbone.blocks[1].mlp.fc1.weight, state["layers.1.ffn.layers.0.0.weight"])
    assert torch.equal(model.cap.backbone.pos_embed[:, 0], state["pos_embed"][:, 0])


@pytest.mark.parametrize(
    "name, expected",
    [
        ("mumatting-tiny", (50_656, 16_673, 130_441, 2_432)),
        ("mumatting-small", (21_983_616, 3_867_649, 10_309_921, 181_376)),
        ("mumatting-sapiens03b", (304_149_504, 33_229_825, 41_214_529, 788_736)),
    ],
)
def test_parameter_counts_are_pinned(name, expected):
    """Each module's count, pinned: a change to any layer of CAP's backbone or head, FAR or TSCM
    shows up here (the paper's TSCM is about 0.79 M)."""
    with torch.device("meta"):
        counts = count_parameters(build_model(name))
    assert (counts["cap_backbone"], counts["cap_head"], counts["far"], counts["tscm"]) == expected
    assert counts["total"] == sum(expected)


def test_count_parameters_tiny():
    model = tiny()
    counts = count_parameters(model)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["cap_backbone"] + counts["cap_head"] + counts["far"] + counts["tscm"] == counts["total"]
    assert counts["tscm"] > 0
    assert count_parameters(tiny(**{"far.use_tscm": False}))["tscm"] == 0


def test_full_size_model_on_meta_device():
    with torch.device("meta"):
        model = build_model("mumatting-sapiens03b")
    counts = count_parameters(model)
    d, depth, grid = 1024, 24, 32
    # blocks; patch conv + bias, CLS, final norm (4d); position embeddings with the CLS row
    vit = depth * (12 * d * d + 13 * d) + 3 * 16 * 16 * d + 4 * d + (1 + grid * grid) * d
    assert counts["cap_backbone"] == vit
    assert counts["total"] == sum(counts[k] for k in ("cap_backbone", "cap_head", "far", "tscm"))
    assert counts["tscm"] == TSCM.num_parameters(1024, 256, 512)  # the paper: about 0.79M
    assert counts["cap_head"] == sum(p.numel() for p in model.cap.head.parameters()) > 30e6


def test_cli_list_in_a_subprocess():
    root = Path(__file__).resolve().parents[1]
    listed = subprocess.run(
        [sys.executable, "-m", "matting.models", "--list"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == list_models()


def test_cli_params(capsys):
    assert cli_main(["--params", TINY]) == 0
    header, row = capsys.readouterr().out.strip().splitlines()
    assert header.split() == ["model", "cap_backbone", "cap_head", "far", "tscm", "total"]
    total = count_parameters(tiny())["total"]
    assert row.split()[0] == TINY and row.split()[-1] == f"{total / 1e6:.3f}M"
    assert cli_main(["--params", "nope"]) == 2
    assert "known models" in capsys.readouterr().err


def test_far_trains_in_float32_under_bf16_autocast(clip):
    """The AMP policy: CAP follows autocast (bf16); FAR runs in float32 while gradients are
    recorded (no loss scaling exists for its float16 spconv path), so its gradients under bf16
    autocast are those of a float32 run on the same inputs."""
    model = tiny(0)
    with torch.no_grad():
        out = model(clip, stage="cap")
    gt = torch.rand(B, T, 1, H, W, generator=torch.Generator().manual_seed(2))
    head_dtypes, grads = [], {}
    model.far.head.register_forward_hook(lambda m, i, o: head_dtypes.append(o.features.dtype))
    for amp in (False, True):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            refined = model._refine(clip, out["coarse"], out["key"], out["cls"])
        ((refined.float() - gt) ** 2 * out["key"]).mean().backward()
        grads[amp] = {n: p.grad.clone() for n, p in model.far.named_parameters()}
    assert head_dtypes == [torch.float32, torch.float32]
    for name, g in grads[True].items():
        assert torch.isfinite(g).all(), name
        assert torch.allclose(g, grads[False][name], rtol=1e-5, atol=1e-10), name
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the whole model, CAP in bf16: finite
        full = model(clip, stage="far")
    ((full["alpha"].float() - gt) ** 2).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.far.parameters() if p.grad is not None)
