"""Sparse convs against dense conv3d / conv_transpose3d at the active sites, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from matting.models import sparse
from matting.models.sparse import (
    DenseGrid,
    SparseConv3d,
    SparseInverseConv3d,
    SparseTensor,
    SubMConv3d,
    gather_conv,
    neighbour_table,
    resolve_backend,
    spconv_available,
    submanifold_table,
)

SHAPE = (2, 3, 4, 9, 11)  # B, C, T, H, W: odd H and W on purpose
ATOL = RTOL = 1e-5


@pytest.fixture
def threads():
    """Run with an explicit thread count and restore it afterwards."""
    before = torch.get_num_threads()

    def set_threads(n: int) -> None:
        torch.set_num_threads(n)

    yield set_threads
    torch.set_num_threads(before)


def random_sites(seed: int = 0, density: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """feats (B, C, T, H, W), zero outside mask (B, T, H, W)."""
    g = torch.Generator().manual_seed(seed)
    b, c, t, h, w = SHAPE
    mask = torch.rand(b, t, h, w, generator=g) < density
    feats = torch.randn(b, c, t, h, w, generator=g) * mask[:, None]
    return feats, mask


def leaf(x: SparseTensor) -> SparseTensor:
    return x.replace_features(x.features.detach().requires_grad_(True))


def reach_mask(mask: torch.Tensor, conv: SparseConv3d) -> torch.Tensor:
    """(B, 1, T', H', W') output sites a strided conv produces: dense positions reached by an active input."""
    ones = torch.ones(1, 1, *conv.kernel_size)
    hit = F.conv3d(
        mask[:, None].float(), ones, stride=conv.stride, padding=conv.padding, dilation=conv.dilation
    )
    return hit > 0


def assert_matches_dense(
    x: SparseTensor, out: SparseTensor, dense_out: torch.Tensor, out_mask, weight
) -> None:
    """Same values at the output sites, no output elsewhere, same grads of a random linear loss."""
    assert out.features.shape[0] == int(out_mask.sum())
    got = out.to_dense()
    torch.testing.assert_close(got, dense_out * out_mask, atol=ATOL, rtol=RTOL)
    probe = torch.randn(got.shape, generator=torch.Generator().manual_seed(1))
    gs = torch.autograd.grad((got * probe).sum(), [x.features, weight])
    gd = torch.autograd.grad((dense_out * out_mask * probe).sum(), [x.features, weight])
    for a, b in zip(gs, gd, strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (3, 2), ((1, 3, 3), 1), ((3, 1, 5), (1, 1, 2)), (1, 1)])
def test_subm_equals_dense_conv3d(threads, lookup, kernel, dilation):
    threads(2)
    feats, mask = random_sites()
    conv = SubMConv3d(3, 5, kernel, dilation, bias=True, backend="torch")
    x = leaf(SparseTensor.from_dense_mask(feats, mask))
    out = conv(x)
    assert out.coords is x.coords
    dense = F.conv3d(
        x.to_dense(), conv.dense_weight(), conv.bias, padding=conv.padding, dilation=conv.dilation
    )
    assert_matches_dense(x, out, dense, mask[:, None], conv.weight)


@pytest.mark.parametrize("kernel,dilation", [((3, 3, 3), (1, 1, 1)), ((3, 5, 3), (2, 1, 2))])
def test_submanifold_fast_table_equals_searched_table(monkeypatch, kernel, dilation):
    """The dense-volume fast path and the sorted-key binary search find the same neighbours."""
    _, mask = random_sites(seed=9)
    coords = mask.nonzero()
    pad = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    fast = submanifold_table(coords, SHAPE[2:], kernel, dilation)
    monkeypatch.setattr(sparse, "_DENSE_LOOKUP_MAX", 0)
    searched = neighbour_table(coords, coords, SHAPE[2:], kernel, (1, 1, 1), pad, dilation)
    assert torch.equal(fast, searched)
    assert torch.equal(submanifold_table(coords, SHAPE[2:], kernel, dilation), searched)
    monkeypatch.setattr(sparse, "_TABLE_ROWS", 7)  # built in chunks, as for millions of sites
    assert torch.equal(neighbour_table(coords, coords, SHAPE[2:], kernel, (1, 1, 1), pad, dilation), searched)
    assert (fast[:, fast.shape[1] // 2] == torch.arange(coords.shape[0])).all()  # centre = itself


STRIDED = [
    dict(kernel_size=(1, 2, 2), stride=(1, 2, 2)),
    dict(kernel_size=(2, 2, 2), stride=(2, 2, 2)),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(1, 3, 3), stride=(1, 2, 2), dilation=(1, 2, 1)),
]


@pytest.fixture(params=["volume", "search", "search-chunked"])
def lookup(request, monkeypatch):
    """Run with either site lookup: the dense key volume or the sorted-key binary search, the latter
    also with neighbour tables built a few output sites at a time (as for 4K clips)."""
    if request.param.startswith("search"):
        monkeypatch.setattr(sparse, "_DENSE_LOOKUP_MAX", 0)
    if request.param == "search-chunked":
        monkeypatch.setattr(sparse, "_TABLE_ROWS", 7)
    return request.param


@pytest.mark.parametrize("geometry", STRIDED)
def test_strided_conv_equals_dense_conv3d(threads, lookup, geometry):
    threads(2)
    feats, mask = random_sites(seed=2)
    conv = SparseConv3d(3, 4, backend="torch", **geometry)
    x = leaf(SparseTensor.from_dense_mask(feats, mask))
    out = conv(x)
    dense = F.conv3d(
        x.to_dense(), conv.dense_weight(), stride=conv.stride, padding=conv.padding, dilation=conv.dilation
    )
    assert out.spatial_shape == tuple(dense.shape[2:])
    assert_matches_dense(x, out, dense, reach_mask(mask, conv), conv.weight)


def test_kernel_equal_stride_sites_are_floor_division():
    """On a grid padded to a multiple of the stride, output sites are exactly the coords // stride."""
    feats, mask = random_sites(seed=3)
    x = SparseTensor.from_dense_mask(feats, mask, spatial_shape=(4, 10, 12))
    out = SparseConv3d(3, 2, (1, 2, 2), (1, 2, 2), backend="torch")(x)
    expected = torch.unique(x.coords // torch.tensor([1, 1, 2, 2]), dim=0)
    assert out.spatial_shape == (4, 5, 6)
    assert torch.equal(out.coords, expected)


@pytest.mark.parametrize("geometry", STRIDED)
def test_inverse_equals_dense_conv_transpose3d(threads, lookup, geometry):
    threads(2)
    feats, mask = random_sites(seed=4)
    down = SparseConv3d(3, 4, indice_key="k", backend="torch", **geometry)
    coarse = leaf(down(SparseTensor.from_dense_mask(feats, mask)))
    inv = SparseInverseConv3d(4, 5, down.kernel_size, "k", bias=True, backend="torch")
    out = inv(coarse)
    fine_shape = SHAPE[2:]
    base = [
        (c - 1) * s - 2 * p + d * (k - 1) + 1
        for c, s, p, d, k in zip(
            coarse.spatial_shape, down.stride, down.padding, down.dilation, down.kernel_size, strict=True
        )
    ]
    dense = F.conv_transpose3d(
        coarse.to_dense(),
        inv.dense_weight(),
        inv.bias,
        stride=down.stride,
        padding=down.padding,
        output_padding=tuple(f - b for f, b in zip(fine_shape, base, strict=True)),
        dilation=down.dilation,
    )
    assert out.spatial_shape == fine_shape
    assert_matches_dense(coarse, out, dense, mask[:, None], inv.weight)


def test_dense_grid_masked_reproduces_sparse_stack():
    feats, mask = random_sites(seed=5)
    sub = SubMConv3d(3, 4, 3, backend="torch")
    down = SparseConv3d(4, 4, (1, 2, 2), (1, 2, 2), indice_key="k", backend="torch")
    inv = SparseInverseConv3d(4, 2, (1, 2, 2), "k", backend="torch")
    sparse = inv(down(sub(SparseTensor.from_dense_mask(feats, mask)))).to_dense()
    m = mask[:, None].float()
    dense = inv(down(sub(DenseGrid(feats, m)))).x
    torch.testing.assert_close(sparse, dense, atol=ATOL, rtol=RTOL)


def test_round_trip_and_padded_grid():
    feats, mask = random_sites(seed=6)
    x = SparseTensor.from_dense_mask(feats, mask, spatial_shape=(4, 16, 16))
    assert x.spatial_shape == (4, 16, 16) and x.num_sites == int(mask.sum())
    assert x.to_dense().shape == (2, 3, 4, 16, 16)
    torch.testing.assert_close(x.to_dense(SHAPE[2:]), feats)
    with pytest.raises(ValueError, match="smaller"):
        SparseTensor.from_dense_mask(feats, mask, spatial_shape=(4, 8, 16))


def test_inverse_needs_its_strided_conv():
    feats, mask = random_sites(seed=7)
    x = SparseTensor.from_dense_mask(feats, mask)
    with pytest.raises(KeyError, match="nope"):
        SparseInverseConv3d(3, 3, (1, 2, 2), "nope", backend="torch")(x)
    down = SparseConv3d(3, 3, (1, 2, 2), (1, 2, 2), indice_key="k", backend="torch")
    y = down(x)
    with pytest.raises(ValueError, match="already written"):
        down(y)  # same key, other sites
    with pytest.raises(ValueError, match="coarse sites"):
        SparseInverseConv3d(3, 3, (1, 2, 2), "k", backend="torch")(x)


def test_auto_backend_is_torch_on_cpu():
    assert resolve_backend("auto", torch.device("cpu")) == "torch"
    assert resolve_backend("torch", torch.device("cpu")) == "torch"
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("cudnn", torch.device("cpu"))
    with pytest.raises(ValueError, match="backend"):
        SubMConv3d(1, 1, backend="dense")


def test_spconv_forward_matches_torch_path(threads):
    """Shared weights: spconv (KRSC) and the torch path agree. spconv's CPU kernels are only right with
    one thread, and only with contiguous int32 indices (torch.nonzero returns a transposed layout)."""
    threads(1)
    assert spconv_available()
    feats, mask = random_sites(seed=8)
    layers = [
        SubMConv3d(3, 4, 3, dilation=2),
        SparseConv3d(4, 5, (2, 2, 2), (2, 2, 2), indice_key="k"),
        SubMConv3d(5, 5, 3),
        SparseInverseConv3d(5, 2, (2, 2, 2), "k"),
        SubMConv3d(2, 3, 1, bias=True),  # pointwise with C_in != C_out (spconv's own 1x1 path is wrong)
    ]
    results = {}
    for backend in ("torch", "spconv"):
        x = SparseTensor.from_dense_mask(feats, mask)
        for layer in layers:
            layer.backend = backend
            x = layer(x)
            results.setdefault(backend, []).append(x.to_dense().detach())
    for a, b in zip(results["torch"], results["spconv"], strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=RTOL)


def test_spconv_wide_submanifold_input_runs_in_channel_blocks(threads, monkeypatch):
    """Inputs past spconv's int32 range (dec0 at 4K: 4.5 M sites x 132 channels) run as a sum over
    input-channel blocks; emulated here by lowering the limit to three channels' worth."""
    threads(1)
    feats, mask = random_sites(seed=9)
    wide = torch.cat([feats, feats.flip(1), feats * 2], dim=1)  # 9 channels
    x = SparseTensor.from_dense_mask(wide, mask)
    monkeypatch.setattr(sparse, "SPCONV_MAX_BYTES", x.num_sites * 4 * 3)
    conv = SubMConv3d(9, 4, 3, bias=True, backend="torch")
    reference = conv(x).to_dense().detach()
    conv.backend = "spconv"
    mod, calls = conv._ensure_spconv(), []
    real = mod._conv_forward
    monkeypatch.setattr(mod, "_conv_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    got = conv(SparseTensor.from_dense_mask(wide, mask)).to_dense().detach()
    assert len(calls) == 3  # three blocks of three channels
    torch.testing.assert_close(got, reference, atol=ATOL, rtol=RTOL)
    # A strided conv cannot be split over channels (the blocks would need one pair table): past
    # the limit it and its inverse run through gather_conv, and give the torch backend's result.
    outs = {}
    for backend in ("torch", "spconv"):
        down = SparseConv3d(9, 4, (1, 2, 2), (1, 2, 2), indice_key="k", backend=backend)
        up = SparseInverseConv3d(4, 2, (1, 2, 2), "k", backend=backend)
        torch.manual_seed(0)
        down.weight.data.normal_()
        up.weight.data.normal_()
        y = down(SparseTensor.from_dense_mask(wide, mask))
        outs[backend] = (y.to_dense().detach(), up(y).to_dense().detach())
    for a, b in zip(outs["torch"], outs["spconv"], strict=True):
        torch.testing.assert_close(b, a, atol=ATOL, rtol=RTOL)


def test_gather_conv_inference_path_equals_autograd_path(monkeypatch):
    """Without autograd the products go straight into the output, chunk by chunk; missing neighbours
    (-1) count as zero on both paths, also across chunk boundaries."""
    g = torch.Generator().manual_seed(3)
    feats, weight = torch.randn(50, 6, generator=g), torch.randn(4, 6, 5, generator=g)
    table = torch.randint(-1, 50, (37, 4), generator=g)
    table[0] = -1  # an output with no neighbour at all
    monkeypatch.setattr(sparse, "_CHUNK_ELEMENTS", 4 * 6 * 5)  # 5 rows per chunk
    expected = torch.einsum("nkc,kcd->nd", torch.cat([feats, torch.zeros(1, 6)])[table], weight)
    with_graph = gather_conv(feats.requires_grad_(), table, weight)
    with torch.no_grad():
        without = gather_conv(feats, table, weight)
    torch.testing.assert_close(with_graph.detach(), expected)
    torch.testing.assert_close(without, expected)
    assert without[0].abs().max() < 1e-5  # no neighbour: zero up to rounding (row 0's share is subtracted)
