"""FAR (sparse encoder-decoder) and TSCM (clip gates) on tiny configs."""

from __future__ import annotations

import pytest
import torch

from matting.models.far import FAR
from matting.models.sparse import SparseBatchNorm, SubMConv3d
from matting.models.tscm import TSCM, gate_sites

TINY = dict(channels=(8, 16, 16, 16), cls_dim=32)


def clip(b=1, t=4, h=64, w=64, key_fraction=0.15, seed=0):
    """rgb, coarse, key (a blob band plus noise, about key_fraction of the sites), cls."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(b, t, 3, h, w, generator=g)
    coarse = torch.rand(b, t, 1, h, w, generator=g)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    radius = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2).sqrt()
    band = (radius - min(h, w) / 4).abs() < min(h, w) / 20
    key = (band | (torch.rand(b, t, 1, h, w, generator=g) < key_fraction / 2)).expand(b, t, 1, h, w)
    cls = torch.randn(b, t, TINY["cls_dim"], generator=g)
    return rgb, coarse, key.contiguous(), cls


def calibrate(far: FAR, *inputs) -> FAR:
    """Copy one batch's BatchNorm statistics into the running ones, then switch to eval mode (fresh
    running statistics would shrink the signal to almost nothing)."""
    norms = [m for m in far.modules() if isinstance(m, SparseBatchNorm)]
    for m in norms:
        m.momentum = 1.0
    with torch.no_grad():
        far.train()(*inputs)
    return far.eval()


@pytest.fixture
def far():
    torch.manual_seed(0)
    return FAR(**TINY, backend="torch")


def test_shapes_zero_outside_key_and_range(far):
    rgb, coarse, key, cls = clip(b=2)
    out = far(rgb, coarse, key, cls)
    assert out.shape == (2, 4, 1, 64, 64)
    assert torch.all(out[~key] == 0)
    inside = out[key]
    assert inside.min() >= 0 and inside.max() <= 1


def _bias_grad(coarse_value: float, residual: str) -> float:
    """|d loss / d(head bias)| with the coarse alpha set to ``coarse_value`` at every site and a
    loss |A_d - 0.5| over the key sites: every site is pulled towards the middle."""
    torch.manual_seed(0)
    far = FAR(**TINY, backend="torch", residual=residual)
    rgb, coarse, key, cls = clip()
    out = far(rgb, torch.full_like(coarse, coarse_value), key, cls)
    (out[key] - 0.5).abs().sum().backward()
    return abs(float(far.head.bias.grad))


@pytest.mark.parametrize("coarse_value", [0.0, 1e-4, 0.02, 0.98, 1.0])
def test_a_site_learns_at_the_same_rate_whatever_its_coarse_alpha(coarse_value):
    """Hair CAP missed (A_c ~ 0) and sites the key region adds by dilation must learn as fast as
    band sites (A_c ~ 0.4); the logit form scales their gradient by A_c(1 - A_c)."""
    ratio = _bias_grad(coarse_value, "alpha") / _bias_grad(0.4, "alpha")
    assert ratio == pytest.approx(1.0, rel=1e-6)
    slow = _bias_grad(coarse_value, "logit") / _bias_grad(0.4, "logit")
    assert slow < 0.1  # what the first release did, kept as an option for comparison


def test_the_clamp_passes_only_gradient_that_leads_back_into_range():
    far = FAR(**TINY, backend="torch")
    raw = torch.tensor([-0.2, -0.2, 0.5, 1.3, 1.3])
    delta = torch.zeros(5, requires_grad=True)
    out = far._output(raw, delta)
    assert out.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    out.backward(torch.tensor([-1.0, 1.0, 1.0, 1.0, -1.0]))  # descent moves by -grad
    assert delta.grad.tolist() == [-1.0, 0.0, 1.0, 1.0, 0.0]


def test_starts_near_coarse_alpha(far):
    rgb, coarse, key, cls = clip()
    out = far(rgb, coarse, key, cls)
    assert (out[key] - coarse[key]).abs().max() < 0.05


def test_backward_reaches_every_parameter(far):
    rgb, coarse, key, cls = clip()
    far(rgb, coarse, key, cls).sum().backward()
    for name, p in far.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert far.tscm.proj.weight.grad.abs().sum() > 0


def test_float_key_equals_bool_key(far):
    far.eval()
    rgb, coarse, key, cls = clip()
    with torch.no_grad():
        torch.testing.assert_close(far(rgb, coarse, key, cls), far(rgb, coarse, key.float(), cls))


def test_empty_key_region_gives_zeros_and_a_valid_graph(far):
    rgb, coarse, key, cls = clip()
    out = far(rgb, coarse, torch.zeros_like(key), cls)
    assert out.shape == rgb.shape[:2] + (1, 64, 64) and torch.all(out == 0)
    out.sum().backward()
    assert all(p.grad is not None for p in far.parameters())


def test_odd_sizes_and_single_site(far):
    rgb, coarse, key, cls = clip(h=37, w=45, seed=1)
    out = far(rgb, coarse, key, cls)
    assert out.shape == (1, 4, 1, 37, 45)
    assert torch.all(out[~key] == 0) and (out[key] > 0).all()
    one = torch.zeros_like(key)
    one[0, 2, 0, 36, 44] = True  # the bottom-right corner of an odd grid
    out = far(rgb, coarse, one, cls)
    assert out[0, 2, 0, 36, 44] > 0 and out.count_nonzero() == 1
    out.sum().backward()


def test_without_tscm():
    far = FAR(**TINY, use_tscm=False, backend="torch")
    assert far.tscm is None
    rgb, coarse, key, _ = clip()
    out = far(rgb, coarse, key, None)
    assert out.shape == (1, 4, 1, 64, 64)
    out.sum().backward()


def test_input_validation(far):
    rgb, coarse, key, cls = clip()
    with pytest.raises(ValueError, match="cls"):
        far(rgb, coarse, key, None)
    with pytest.raises(ValueError, match="key"):
        far(rgb, coarse, key[:, :2], cls)
    with pytest.raises(ValueError, match="rgb"):
        far(rgb[:, :, :2], coarse, key, cls)


def test_dense_replica_matches_sparse_in_eval(far):
    rgb, coarse, key, cls = clip(b=2, h=40, w=48)
    calibrate(far, rgb, coarse, key, cls)
    with torch.no_grad():
        sparse = far(rgb, coarse, key, cls)
        dense = far.forward_dense(rgb, coarse, key, cls, masked=True)
        plain = far.forward_dense(rgb, coarse, key, cls, masked=False)
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)
    assert plain.shape == sparse.shape and torch.all(plain[~key] == 0)


def test_cls_gates_only_its_own_clip(far):
    rgb, coarse, key, cls = clip(b=2)
    with torch.no_grad():
        far.tscm.fc.weight.normal_(std=1.0)  # make the gate, and the output, depend visibly on cls
        far.head.weight.normal_(std=1.0)
    calibrate(far, rgb, coarse, key, cls)
    with torch.no_grad():
        before = far(rgb, coarse, key, cls)
        cls2 = cls.clone()
        cls2[0] = torch.randn_like(cls2[0])
        after = far(rgb, coarse, key, cls2)
    assert (before[0] - after[0]).abs().max() > 1e-3
    torch.testing.assert_close(before[1], after[1])


def test_auto_backend_runs_torch_on_cpu():
    far = FAR(**TINY)  # backend="auto"
    rgb, coarse, key, cls = clip()
    assert far(rgb, coarse, key, cls).shape == (1, 4, 1, 64, 64)
    convs = [m for m in far.modules() if isinstance(m, SubMConv3d)]
    assert convs and all(m._spconv_module is None for m in convs)


def test_tscm_gate_shape_range_and_parameter_count():
    tscm = TSCM(cls_dim=32, hidden=16, out_channels=24)
    gate = tscm(torch.randn(3, 4, 32))
    assert gate.shape == (3, 24)
    assert (gate > 0).all() and (gate < 1).all()
    assert gate.mean() > 0.9  # starts close to identity
    assert sum(p.numel() for p in tscm.parameters()) == TSCM.num_parameters(32, 16, 24)
    full = TSCM(1024, 256, 512)
    assert sum(p.numel() for p in full.parameters()) == TSCM.num_parameters(1024, 256, 512) == 788_736


def test_gate_sites_uses_each_sites_batch_element():
    feats = torch.ones(5, 2)
    batch = torch.tensor([0, 1, 1, 0, 2])
    gate = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    expected = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.3, 0.4], [0.1, 0.2], [0.5, 0.6]])
    torch.testing.assert_close(gate_sites(feats, batch, gate), expected)
    with pytest.raises(ValueError, match="channels"):
        gate_sites(feats, batch, gate[:, :1])


def test_spconv_backend_matches_torch_backend():
    """The whole network through spconv's CPU kernels (debug only: one thread, forward only). The last
    stage widens (16 -> 24), so its blocks' 1x1x1 shortcuts with C_in != C_out are covered."""
    torch.manual_seed(0)
    far = FAR(channels=(8, 16, 16, 24), cls_dim=TINY["cls_dim"], backend="torch")
    rgb, coarse, key, cls = clip(b=2, h=40, w=48)
    with torch.no_grad():
        far.head.weight.normal_(std=1.0)
    calibrate(far, rgb, coarse, key, cls)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            reference = far(rgb, coarse, key, cls)
            for m in far.modules():
                if hasattr(m, "backend"):
                    m.backend = "spconv"
            got = far(rgb, coarse, key, cls)
    finally:
        torch.set_num_threads(before)
    assert (reference[key] - coarse[key]).abs().max() > 1e-2  # the refiner does change the alpha
    torch.testing.assert_close(got, reference, atol=1e-5, rtol=1e-5)
