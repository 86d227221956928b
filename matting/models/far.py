"""FAR, the Fractional Alpha Refiner: a 3D sparse encoder-decoder over the key-region sites of a clip.

Sites are the (b, t, y, x) pixels inside the key region K; each carries RGB mapped to [-1, 1] and the
coarse alpha (4 channels). The encoder is SparseMat's ResNet-18 made 3D (as in the official release):
a submanifold stem, a (1, 2, 2) strided conv, residual stages at 1/2, 1/4 and 1/8 resolution, and a last
stage at 1/8 with dilation 2. Time is never strided (clips are 4 frames); 3x3x3 kernels mix frames.
TSCM gates the deepest features with the clip's [CLS] tokens. The decoder returns through sparse inverse
convs with skip concatenations to the input sites, where a 1x1x1 head predicts a residual on the coarse
alpha: A_d = clamp(A_c + head, 0, 1) with a gradient that also passes outside [0, 1] when it points
back inside (``residual="alpha"``), so an untrained head starts near A_c and every site learns at the
same rate, whatever its A_c. The first release used A_d = sigmoid(logit(A_c) +
head) (``residual="logit"``), whose gradient is scaled by A_c(1 - A_c): ~2,500x smaller at A_c = 1e-4
(hair CAP missed, sites K adds by dilation) than at A_c = 0.5; bench/tiny_training.py compares the two.

The same modules run densely over the whole grid (``forward_dense``) with genuine ``conv3d`` layers, for
benchmarks and equivalence checks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from matting.models.sparse import (
    DenseGrid,
    SparseAct,
    SparseBatchNorm,
    SparseConv3d,
    SparseInverseConv3d,
    SparseTensor,
    SubMConv3d,
    sparse_add,
    sparse_cat,
)
from matting.models.tscm import TSCM, gate_sites

DOWN = (1, 2, 2)  # every strided conv halves y and x, keeps t
TOTAL_STRIDE = 8  # three strided convs
_EPS = 1e-4  # coarse alpha is clamped to [eps, 1 - eps] before its logit


def conv_bn_act(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, SparseBatchNorm(channels), SparseAct(nn.ReLU))


class BasicBlock(nn.Module):
    """ResNet basic block on fixed sites: two 3x3x3 submanifold convs and a (projected) shortcut."""

    def __init__(self, cin: int, cout: int, dilation: int = 1, backend: str = "auto"):
        super().__init__()
        self.conv1 = conv_bn_act(SubMConv3d(cin, cout, 3, dilation, backend=backend), cout)
        self.conv2 = nn.Sequential(
            SubMConv3d(cout, cout, 3, dilation, backend=backend), SparseBatchNorm(cout)
        )
        self.shortcut = None
        if cin != cout:
            self.shortcut = nn.Sequential(SubMConv3d(cin, cout, 1, backend=backend), SparseBatchNorm(cout))
        self.act = SparseAct(nn.ReLU)

    def forward(self, x):
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.act(sparse_add(self.conv2(self.conv1(x)), skip))


def stage(cin: int, cout: int, blocks: int = 2, dilation: int = 1, backend: str = "auto") -> nn.Sequential:
    layers = [BasicBlock(cin if i == 0 else cout, cout, dilation, backend) for i in range(blocks)]
    return nn.Sequential(*layers)


class FAR(nn.Module):
    """Sparse refiner. ``forward(rgb, coarse, key, cls) -> A_d``.

    rgb (B, T, 3, H, W) in [0, 1]; coarse (B, T, 1, H, W) in [0, 1]; key (B, T, 1, H, W) bool or {0, 1};
    cls (B, T, cls_dim), or None when ``use_tscm=False``. Returns A_d (B, T, 1, H, W): in [0, 1] at key
    sites and exactly 0 elsewhere. Any H, W (the sparse grid is padded to a multiple of 8 at no cost).
    """

    def __init__(
        self,
        channels: tuple[int, int, int, int] = (64, 128, 256, 512),
        cls_dim: int = 1024,
        tscm_hidden: int = 256,
        use_tscm: bool = True,
        backend: str = "auto",
        residual: str = "alpha",
    ):
        super().__init__()
        if residual not in ("alpha", "logit"):
            raise ValueError(f"residual must be 'alpha' or 'logit', got {residual!r}")
        self.residual = residual
        c0, c1, c2, c3 = channels
        self.channels, self.use_tscm = tuple(channels), use_tscm
        b = backend
        self.stem = conv_bn_act(SubMConv3d(4, c0, 3, backend=b), c0)
        self.down1 = conv_bn_act(SparseConv3d(c0, c0, DOWN, DOWN, indice_key="d1", backend=b), c0)
        self.stage1 = stage(c0, c0, backend=b)
        self.down2 = conv_bn_act(SparseConv3d(c0, c1, DOWN, DOWN, indice_key="d2", backend=b), c1)
        self.stage2 = stage(c1, c1, backend=b)
        self.down3 = conv_bn_act(SparseConv3d(c1, c2, DOWN, DOWN, indice_key="d3", backend=b), c2)
        self.stage3 = stage(c2, c2, backend=b)
        self.stage4 = stage(c2, c3, dilation=2, backend=b)
        self.tscm = TSCM(cls_dim, tscm_hidden, c3) if use_tscm else None

        self.dec3 = conv_bn_act(SubMConv3d(c3 + c2, c2, 3, backend=b), c2)
        self.up3 = conv_bn_act(SparseInverseConv3d(c2, c1, DOWN, "d3", backend=b), c1)
        self.dec2 = conv_bn_act(SubMConv3d(2 * c1, c1, 3, backend=b), c1)
        self.up2 = conv_bn_act(SparseInverseConv3d(c1, c0, DOWN, "d2", backend=b), c0)
        self.dec1 = conv_bn_act(SubMConv3d(2 * c0, c0, 3, backend=b), c0)
        self.up1 = conv_bn_act(SparseInverseConv3d(c0, c0, DOWN, "d1", backend=b), c0)
        self.dec0 = conv_bn_act(SubMConv3d(2 * c0 + 4, c0, 3, backend=b), c0)
        self.head = SubMConv3d(c0, 1, 1, bias=True, backend=b)
        nn.init.normal_(self.head.weight, std=1e-3)  # start as A_d ~ A_c
        nn.init.zeros_(self.head.bias)

    # ------------------------------------------------------------------ inputs

    def _check(self, rgb: Tensor, coarse: Tensor, key: Tensor, cls: Tensor | None) -> None:
        if rgb.dim() != 5 or rgb.shape[2] != 3:
            raise ValueError(f"rgb must be (B, T, 3, H, W), got {tuple(rgb.shape)}")
        b, t, _, h, w = rgb.shape
        for name, x in (("coarse", coarse), ("key", key)):
            if tuple(x.shape) != (b, t, 1, h, w):
                raise ValueError(f"{name} must be (B, T, 1, H, W) = {(b, t, 1, h, w)}, got {tuple(x.shape)}")
        if self.use_tscm and (cls is None or cls.shape[:2] != (b, t)):
            got = None if cls is None else tuple(cls.shape)
            raise ValueError(f"use_tscm=True needs cls (B, T, cls_dim) with B, T = {b}, {t}; got {got}")

    @staticmethod
    def _site_features(rgb: Tensor, coarse: Tensor) -> Tensor:
        """(B, 4, T, H, W): RGB in [-1, 1] and the coarse alpha."""
        return torch.cat([rgb * 2 - 1, coarse], dim=2).permute(0, 2, 1, 3, 4)

    @staticmethod
    def _padded_shape(t: int, h: int, w: int) -> tuple[int, int, int]:
        return t, -(-h // TOTAL_STRIDE) * TOTAL_STRIDE, -(-w // TOTAL_STRIDE) * TOTAL_STRIDE

    # ------------------------------------------------------------------ network

    def _network(self, x, gate: Tensor | None):
        """Encoder-decoder on a SparseTensor or DenseGrid with 4 channels -> 1-channel residual."""
        f0 = self.stem(x)
        f1 = self.stage1(self.down1(f0))
        f2 = self.stage2(self.down2(f1))
        f3 = self.stage3(self.down3(f2))
        f4 = self.stage4(f3)
        if gate is not None:
            f4 = _apply_gate(f4, gate)
        y = self.dec3(sparse_cat([f4, f3]))
        y = self.dec2(sparse_cat([self.up3(y), f2]))
        y = self.dec1(sparse_cat([self.up2(y), f1]))
        y = self.dec0(sparse_cat([self.up1(y), f0, x]))
        return self.head(y)

    def _output(self, coarse: Tensor, delta: Tensor) -> Tensor:
        """A_d from the coarse alpha and the head's output (same shapes), in [0, 1]."""
        if self.residual == "logit":
            c = coarse.clamp(_EPS, 1 - _EPS)
            return torch.sigmoid(torch.logit(c) + delta)
        return _ClampBack.apply(coarse + delta)

    def _gate(self, cls: Tensor | None) -> Tensor | None:
        return self.tscm(cls) if self.tscm is not None else None

    def forward(self, rgb: Tensor, coarse: Tensor, key: Tensor, cls: Tensor | None = None) -> Tensor:
        self._check(rgb, coarse, key, cls)
        b, t, _, h, w = rgb.shape
        mask = key[:, :, 0].bool()  # (B, T, H, W)
        if not bool(mask.any()):
            # Nothing to refine; stay in the graph so that loss.backward() still works.
            anchor = sum(p.sum() for p in self.parameters()) * 0.0
            return rgb.new_zeros(b, t, 1, h, w) + anchor
        x = SparseTensor.from_dense_mask(self._site_features(rgb, coarse), mask, self._padded_shape(t, h, w))
        delta = self._network(x, self._gate(cls)).features[:, 0]
        alpha = self._output(x.features[:, 3], delta)
        out = x.replace_features(alpha[:, None]).to_dense((t, h, w))  # (B, 1, T, H, W)
        return out.permute(0, 2, 1, 3, 4)

    def forward_dense(
        self, rgb: Tensor, coarse: Tensor, key: Tensor, cls: Tensor | None = None, masked: bool = True
    ) -> Tensor:
        """The same weights as genuine dense conv3d layers over the whole (padded) T x H x W grid.

        ``masked=True`` zeroes inactive sites after every layer, which reproduces ``forward`` exactly in
        eval mode; ``masked=False`` is the plain dense network (the cost baseline). Output as ``forward``.
        """
        self._check(rgb, coarse, key, cls)
        b, t, _, h, w = rgb.shape
        _, hp, wp = self._padded_shape(t, h, w)
        pad = (0, wp - w, 0, hp - h)
        feats = nn.functional.pad(self._site_features(rgb, coarse), pad)
        mask = nn.functional.pad(key[:, :, 0].to(rgb.dtype)[:, None], pad)  # (B, 1, T, Hp, Wp)
        grid = DenseGrid(feats * mask if masked else feats, mask if masked else None)
        delta = self._network(grid, self._gate(cls)).x
        alpha = self._output(feats[:, 3:4], delta) * mask
        return alpha[:, :, :, :h, :w].permute(0, 2, 1, 3, 4)


class _ClampBack(torch.autograd.Function):
    """clamp(x, 0, 1) whose gradient also passes where x is outside [0, 1], but only the part
    that moves x back towards it: a site whose raw value overshot (A_c ~ 0 with a slightly
    negative start) can still learn, and none is pushed further out by terms it cannot obey."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp(0.0, 1.0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        # Gradient descent moves x by -grad: below 0 only a negative grad helps, above 1 a positive one.
        keep = ((x >= 0) | (grad < 0)) & ((x <= 1) | (grad > 0))
        return grad * keep


def _apply_gate(x, gate: Tensor):
    """Gate (B, C) applied per clip to a SparseTensor or DenseGrid."""
    if isinstance(x, DenseGrid):
        return x.masked(x.x * gate[:, :, None, None, None])
    return x.replace_features(gate_sites(x.features, x.coords[:, 0], gate))
