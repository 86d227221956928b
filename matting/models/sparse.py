"""Sparse 3D convolution over (b, t, y, x) sites, in pure PyTorch with an optional spconv backend.

A ``SparseTensor`` holds ``features`` (N, C) at integer sites ``coords`` (N, 4) = (b, t, y, x) inside a grid
of ``spatial_shape`` (T, H, W). Every layer here equals the dense ``conv3d`` / ``conv_transpose3d`` with the
same weights, evaluated at the output sites, when inactive inputs are zero-filled:

- ``SubMConv3d``: submanifold conv, output sites = input sites, "same" padding, any dilation.
- ``SparseConv3d``: strided conv; output sites = every output position that at least one active input
  reaches (spconv's definition). With ``kernel_size == stride`` that is the set of ``coord // stride``.
- ``SparseInverseConv3d``: transposed conv back onto the finer sites recorded by the ``SparseConv3d`` that
  wrote the same ``indice_key``.

Torch path: every conv is an output-centric neighbour table (N_out, K) of input rows (-1 where the
neighbour is inactive), found with ``searchsorted`` over linearised site keys; the output is one
gather + matmul ``cols (N_out, K*C_in) @ W (K*C_in, C_out)``, chunked over rows to bound memory. It is
deterministic at any thread count and differentiable. Tables live in ``SparseTensor.cache``, a dict shared
by every tensor derived from the same input (one forward pass), so layers on the same sites reuse them.

spconv path (``backend="spconv"``, or ``"auto"`` on CUDA): the same parameters are converted to spconv's
KRSC layout (C_out, kT, kH, kW, C_in) and passed to spconv's kernels. spconv 2.x on CPU is for debugging
only (no backward, wrong results with more than one thread), so ``"auto"`` never picks it on CPU. spconv
also silently computes garbage from non-contiguous indices, and ``torch.nonzero`` returns a transposed
(non-contiguous) layout, so indices are always made contiguous before they reach spconv.

``DenseGrid`` is the dense twin of ``SparseTensor``: the same modules run genuine dense ``conv3d`` with
the converted weights over the whole grid (optionally re-masked to the active sites after each layer, which
reproduces the sparse result exactly). It exists for benchmarks and equivalence checks.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Triple = tuple[int, int, int]
BACKENDS = ("torch", "spconv", "auto")
_DENSE_LOOKUP_MAX = 1 << 24  # grids up to this many cells get a dense key -> row table (128 MiB int64)
_TABLE_ROWS = 1 << 18  # output sites per chunk when building a neighbour table
_CHUNK_ELEMENTS = 1 << 20  # gathered column-matrix elements per chunk: 4 MiB stays in cache (2x faster)


def _triple(value: int | tuple[int, ...], name: str) -> Triple:
    out = (value,) * 3 if isinstance(value, int) else tuple(int(v) for v in value)
    if len(out) != 3 or min(out) < 0:
        raise ValueError(f"{name} must be an int or three non-negative ints, got {value!r}")
    return out  # type: ignore[return-value]


@dataclass
class SparseTensor:
    """Features at active sites of a (B, T, H, W) grid.

    features: (N, C) float; coords: (N, 4) int64 rows (b, t, y, x); spatial_shape: (T, H, W);
    cache: neighbour tables and down-sampling records shared by all tensors of one forward pass.
    """

    features: Tensor
    coords: Tensor
    spatial_shape: Triple
    batch_size: int
    cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_dense_mask(
        cls, feats: Tensor, mask: Tensor, spatial_shape: Triple | None = None
    ) -> SparseTensor:
        """Gather ``feats`` (B, C, T, H, W) at ``mask`` (B, T, H, W) bool into a sparse tensor.

        ``spatial_shape`` may be larger than (T, H, W) (padding the grid costs nothing for sparse data).
        """
        if feats.dim() != 5 or mask.shape != feats.shape[:1] + feats.shape[2:]:
            raise ValueError(f"feats (B,C,T,H,W) and mask (B,T,H,W) disagree: {feats.shape} vs {mask.shape}")
        shape = tuple(mask.shape[1:]) if spatial_shape is None else _triple(spatial_shape, "spatial_shape")
        if any(s < m for s, m in zip(shape, mask.shape[1:], strict=True)):
            raise ValueError(f"spatial_shape {shape} is smaller than the mask grid {tuple(mask.shape[1:])}")
        mask = mask.bool()
        coords = mask.nonzero().contiguous()  # lexicographic (b, t, y, x) order = sorted linear keys
        features = feats.permute(0, 2, 3, 4, 1)[mask]
        return cls(features, coords, shape, int(mask.shape[0]))  # type: ignore[arg-type]

    @property
    def num_sites(self) -> int:
        return int(self.coords.shape[0])

    def replace_features(self, features: Tensor) -> SparseTensor:
        """Same sites (and shared cache), new features (N, C')."""
        if features.shape[0] != self.num_sites:
            raise ValueError(f"expected {self.num_sites} feature rows, got {features.shape[0]}")
        return replace(self, features=features)

    def to_dense(self, shape: Triple | None = None) -> Tensor:
        """Scatter to a zero-filled (B, C, T, H, W) grid, cropped to ``shape`` (default: spatial_shape)."""
        t, h, w = self.spatial_shape
        out = self.features.new_zeros(self.batch_size, t, h, w, self.features.shape[1])
        b, tt, y, x = self.coords.unbind(1)
        out = out.index_put((b, tt, y, x), self.features)
        if shape is not None:
            out = out[:, : shape[0], : shape[1], : shape[2]]
        return out.permute(0, 4, 1, 2, 3)


@dataclass
class DenseGrid:
    """Dense twin of ``SparseTensor``: x (B, C, T, H, W); mask (B, 1, T, H, W) float of active sites, or
    None to run fully dense; cache holds the fine masks/shapes that inverse convs return to."""

    x: Tensor
    mask: Tensor | None
    cache: dict = field(default_factory=dict, repr=False)

    def masked(self, x: Tensor) -> DenseGrid:
        return replace(self, x=x if self.mask is None else x * self.mask)


# --------------------------------------------------------------------------- site indexing


def _linear_keys(batch: Tensor, txy: Tensor, shape: Triple) -> Tensor:
    """Keys ((b*T + t)*H + y)*W + x for batch (...,) and txy (..., 3) int64."""
    t, h, w = shape
    return ((batch * t + txy[..., 0]) * h + txy[..., 1]) * w + txy[..., 2]


def _kernel_offsets(kernel: Triple, dilation: Triple, device: torch.device) -> Tensor:
    """(K, 3) offsets k * dilation, kernel index order (kt, ky, kx) row-major like conv weights."""
    grid = list(itertools.product(*(range(k) for k in kernel)))
    return torch.tensor(grid, dtype=torch.int64, device=device) * torch.tensor(dilation, device=device)


def _row_finder(in_coords: Tensor, in_shape: Triple):
    """``find(batch, src, valid)``: row index in ``in_coords`` of each (batch, src) site, -1 where
    invalid or inactive. Built once per input site set, then queried chunk by chunk.

    Small grids use a dense key -> row volume (one gather per query); large ones binary-search the sorted
    keys, so memory stays proportional to the number of sites.
    """
    if in_coords.shape[0] == 0:
        return lambda batch, src, valid: torch.full(valid.shape, -1, dtype=torch.int64, device=valid.device)
    in_keys = _linear_keys(in_coords[:, 0], in_coords[:, 1:], in_shape)
    grid_size = (int(in_coords[:, 0].max()) + 1) * math.prod(in_shape)
    if grid_size <= _DENSE_LOOKUP_MAX:
        volume = torch.full((grid_size,), -1, dtype=torch.int64, device=in_keys.device)
        volume[in_keys] = torch.arange(in_keys.shape[0], device=in_keys.device)

        def find_dense(batch: Tensor, src: Tensor, valid: Tensor) -> Tensor:
            found = volume[_linear_keys(batch, src.clamp(min=0), in_shape).clamp(max=grid_size - 1)]
            return torch.where(valid, found, torch.full_like(found, -1))

        return find_dense
    keys, order = in_keys.sort()

    def find_sorted(batch: Tensor, src: Tensor, valid: Tensor) -> Tensor:
        query = _linear_keys(batch, src.clamp(min=0), in_shape)
        pos = torch.searchsorted(keys, query).clamp(max=keys.shape[0] - 1)
        hit = valid & (keys[pos] == query)
        return torch.where(hit, order[pos], torch.full_like(pos, -1))

    return find_sorted


def neighbour_table(
    out_coords: Tensor,
    in_coords: Tensor,
    in_shape: Triple,
    kernel: Triple,
    stride: Triple,
    padding: Triple,
    dilation: Triple,
    transposed: bool = False,
) -> Tensor:
    """(N_out, K) input rows feeding each output site per kernel offset, -1 where none.

    Conv: in = out * stride - padding + k * dilation.
    Transposed conv: out = in * stride - padding + k * dilation, i.e. in = (out + padding - k*dil) / stride.
    Built in chunks of ``_TABLE_ROWS`` output sites: the (rows, K, 3) int64 temporaries of a 4K clip's
    millions of sites would otherwise take gigabytes each.
    """
    dev = out_coords.device
    off = _kernel_offsets(kernel, dilation, dev)  # (K, 3)
    s, p = torch.tensor(stride, device=dev), torch.tensor(padding, device=dev)
    limit = torch.tensor(in_shape, device=dev)
    find = _row_finder(in_coords, in_shape)
    parts = []
    for i in range(0, max(out_coords.shape[0], 1), _TABLE_ROWS):
        chunk = out_coords[i : i + _TABLE_ROWS]
        o = chunk[:, None, 1:]  # (rows, 1, 3)
        if transposed:
            num = o + p - off
            valid = (num % s == 0).all(-1)
            src = torch.div(num, s, rounding_mode="floor")
        else:
            src = o * s - p + off
            valid = torch.ones(src.shape[:2], dtype=torch.bool, device=dev)
        valid &= ((src >= 0) & (src < limit)).all(-1)
        parts.append(find(chunk[:, None, 0].expand(valid.shape), src, valid))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def submanifold_table(coords: Tensor, shape: Triple, kernel: Triple, dilation: Triple) -> Tensor:
    """(N, K) neighbour rows of a submanifold conv (same sites in and out, 'same' padding), -1 if absent.

    Fast path: linear keys are affine in the coordinates, so on a grid padded by the kernel's reach every
    neighbour key is key + a per-offset constant, read from a dense key -> row volume. Grids too large for
    that volume fall back to ``neighbour_table``.
    """
    pad = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    n, dev = coords.shape[0], coords.device
    padded = tuple(s + 2 * p for s, p in zip(shape, pad, strict=True))
    size = (int(coords[:, 0].max()) + 1 if n else 1) * math.prod(padded)
    if n == 0 or size > _DENSE_LOOKUP_MAX:
        return neighbour_table(coords, coords, shape, kernel, (1, 1, 1), pad, dilation)
    keys = _linear_keys(coords[:, 0], coords[:, 1:] + torch.tensor(pad, device=dev), padded)
    volume = torch.full((size,), -1, dtype=torch.int64, device=dev)
    volume[keys] = torch.arange(n, device=dev)
    rel = _kernel_offsets(kernel, dilation, dev) - torch.tensor(pad, device=dev)  # (K, 3) around the centre
    rel_keys = _linear_keys(torch.zeros(rel.shape[0], dtype=torch.int64, device=dev), rel, padded)
    return volume[keys[:, None] + rel_keys[None, :]]


def conv_output_shape(
    in_shape: Triple, kernel: Triple, stride: Triple, padding: Triple, dilation: Triple
) -> Triple:
    """Dense conv3d output size per axis."""
    return tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(in_shape, kernel, stride, padding, dilation, strict=True)
    )  # type: ignore[return-value]


def downsample_sites(
    in_coords: Tensor, in_shape: Triple, kernel: Triple, stride: Triple, padding: Triple, dilation: Triple
) -> tuple[Tensor, Triple]:
    """Output sites of a strided conv: every output position reached by at least one active input.

    Returns coords (M, 4) int64 sorted by linear key, and the output grid shape.
    """
    out_shape = conv_output_shape(in_shape, kernel, stride, padding, dilation)
    dev = in_coords.device
    off = _kernel_offsets(kernel, dilation, dev)
    s = torch.tensor(stride, device=dev)
    num = in_coords[:, None, 1:] + torch.tensor(padding, device=dev) - off  # (N, K, 3) = out * stride
    out = torch.div(num, s, rounding_mode="floor")
    valid = (num % s == 0).all(-1) & ((out >= 0) & (out < torch.tensor(out_shape, device=dev))).all(-1)
    batch = in_coords[:, None, 0].expand(valid.shape)
    keys = torch.unique(_linear_keys(batch, out, out_shape)[valid])  # sorted
    t, h, w = out_shape
    coords = torch.stack([keys // (t * h * w), keys // (h * w) % t, keys // w % h, keys % w], dim=1)
    return coords, out_shape


def gather_conv(features: Tensor, table: Tensor, weight: Tensor) -> Tensor:
    """out[i] = sum_k features[table[i, k]] @ weight[k] (missing rows count as zero).

    features (N_in, C_in), table (N_out, K) int64 with -1 for missing, weight (K, C_in, C_out) -> (N_out, C_out).
    Work goes in chunks of output rows so that the gathered column matrix stays small. Without autograd
    (inference) each chunk's product is written straight into the output: no padded copy of the input
    and no list of parts to concatenate (at 4K, dec0 has 4.5 M sites x 132 channels: by arithmetic ~3.5 GB;
    bench/infer_4k.py measured the peak RSS fall from 22.5 to 11.3 GiB).
    """
    n_in, c_in = features.shape
    k, _, c_out = weight.shape
    if table.shape[0] == 0 or n_in == 0:
        return features.new_zeros(table.shape[0], c_out)
    w = weight.reshape(k * c_in, c_out)
    rows = max(1, _CHUNK_ELEMENTS // (k * c_in))
    needs_graph = torch.is_grad_enabled() and (features.requires_grad or weight.requires_grad)
    if needs_graph or torch.is_autocast_enabled(features.device.type):  # out= supports neither
        padded = torch.cat([features, features.new_zeros(1, c_in)])
        # -1 (missing) -> the zero row n_in, per chunk: a whole-table copy would cost N_out*K*8 bytes.
        parts = []
        for i in range(0, table.shape[0], rows):
            idx = table[i : i + rows].reshape(-1)
            idx = torch.where(idx >= 0, idx, n_in)
            parts.append(padded.index_select(0, idx).view(-1, k * c_in) @ w)
        return parts[0] if len(parts) == 1 else torch.cat(parts)
    # Missing entries gather row 0 instead of a zero row; their contribution, row 0 through each tap
    # (K, C_out), is subtracted per output row afterwards: a small (rows, K) @ (K, C_out) product.
    # Zeroing the gathered columns instead (masked_fill over K*C_in) made gather_conv ~45 % slower in a
    # micro-benchmark (400 k output rows, 27 taps, 64 and 132 input channels, 2 threads).
    w = w.to(features.dtype)
    row0 = torch.einsum("c,kcd->kd", features[0], weight.to(features.dtype))
    out = features.new_empty(table.shape[0], c_out)
    for i in range(0, table.shape[0], rows):
        idx = table[i : i + rows]
        cols = features.index_select(0, idx.reshape(-1).clamp_min(0)).view(-1, k * c_in)
        out[i : i + rows] = torch.addmm(cols @ w, (idx < 0).to(features.dtype), row0, alpha=-1)
    return out


# --------------------------------------------------------------------------- backend selection


def spconv_available() -> bool:
    try:
        import spconv.pytorch  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, device: torch.device) -> str:
    """``"auto"`` -> ``"spconv"`` for CUDA tensors when spconv imports, else ``"torch"``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        use = device.type == "cuda" and torch.cuda.is_available() and spconv_available()
        return "spconv" if use else "torch"
    if backend == "spconv" and not spconv_available():
        raise ImportError("backend='spconv' needs spconv (pip install spconv-cu12x on CUDA machines)")
    return backend


SPCONV_MAX_BYTES = 2**31 - 1  # spconv 2.3 asserts sites x channels x itemsize of a conv input below this


def _spconv_dtype(features: Tensor) -> torch.dtype:
    """Under autocast spconv computes in float16 (its training path casts its inputs so; its inference
    path keeps whatever it is given, so we cast for it); otherwise the features' own dtype. MuMatting
    runs FAR outside autocast while it trains (``MuMatting._refine``), so this float16 is inference's."""
    if torch.is_autocast_enabled(features.device.type):
        return torch.float16
    return features.dtype


def _fits_spconv(x: SparseTensor) -> bool:
    """Whether a strided conv's input is within spconv's int32 range (at the dtype spconv will
    compute in). A larger one runs through ``gather_conv`` instead, so does its inverse: strided
    convs cannot be split over channel blocks, which all need one pair table."""
    itemsize = torch.empty((), dtype=_spconv_dtype(x.features)).element_size()
    return x.features.shape[0] * x.features.shape[1] * itemsize <= SPCONV_MAX_BYTES


def _to_spconv(x: SparseTensor):
    """The spconv tensor for x's sites (cached so spconv's own index dict travels along)."""
    import spconv.pytorch as spconv

    entry = x.cache.get(("spconv", id(x.coords)))
    if entry is not None and entry[0] is x.coords:
        return entry[1].replace_feature(x.features)
    st = spconv.SparseConvTensor(
        x.features.contiguous(), x.coords.int().contiguous(), list(x.spatial_shape), x.batch_size
    )
    x.cache[("spconv", id(x.coords))] = (x.coords, st)
    return st


def _from_spconv(result, like: SparseTensor, coords: Tensor | None = None) -> SparseTensor:
    if coords is None:
        coords = result.indices.long()
        like.cache[("spconv", id(coords))] = (coords, result)
    return SparseTensor(result.features, coords, tuple(result.spatial_shape), like.batch_size, like.cache)


# --------------------------------------------------------------------------- layers


class _SparseConvBase(nn.Module):
    """Parameters shared by all convs: weight (K, C_in, C_out), K = kT*kH*kW row-major; optional bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, bias: bool, backend: str):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.backend = backend
        k = math.prod(self.kernel_size)
        self.weight = nn.Parameter(torch.empty(k, in_channels, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        bound = 1.0 / math.sqrt(k * in_channels)  # nn.Conv3d's default kaiming-uniform(a=sqrt(5)) bound
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)
        self._spconv_module = None  # built lazily; holds no parameters of its own

    def dense_weight(self) -> Tensor:
        """conv3d layout (C_out, C_in, kT, kH, kW)."""
        return self.weight.reshape(*self.kernel_size, self.in_channels, self.out_channels).permute(
            4, 3, 0, 1, 2
        )

    def spconv_weight(self) -> Tensor:
        """spconv KRSC layout (C_out, kT, kH, kW, C_in)."""
        return self.weight.reshape(*self.kernel_size, self.in_channels, self.out_channels).permute(
            4, 0, 1, 2, 3
        )

    def _add_bias(self, features: Tensor) -> Tensor:
        return features if self.bias is None else features + self.bias

    def _ensure_spconv(self):
        if self._spconv_module is None:
            mod = self._make_spconv()
            mod._parameters.pop("weight")  # our own weight is passed in at every call
            object.__setattr__(self, "_spconv_module", mod)
        return self._spconv_module

    def _run_spconv(self, x: SparseTensor):
        """One spconv call; a submanifold conv whose input is too large for spconv's int32 offsets is
        run as a sum over input-channel blocks (convolution is linear in the input channels; the
        blocks share one pair table through the indice key)."""
        mod = self._ensure_spconv()
        mod.train(self.training)
        dtype = _spconv_dtype(x.features)
        feats, weight = x.features.to(dtype), self.spconv_weight().to(dtype)
        n, c = feats.shape
        block = max(1, SPCONV_MAX_BYTES // max(1, n * feats.element_size()))  # input channels per call
        if c > block and not isinstance(self, SubMConv3d):  # callers check _fits_spconv first
            raise ValueError(f"{type(self).__name__}: {n} sites x {c} channels exceed spconv's int32 range")
        base = _to_spconv(x)
        result = None
        try:
            for lo in range(0, c, block):
                part_feats = feats[:, lo : lo + block].contiguous()
                mod.in_channels = part_feats.shape[1]  # spconv checks the input width against it
                part = mod._conv_forward(
                    self.training,
                    base.replace_feature(part_feats),
                    weight[..., lo : lo + block].contiguous(),
                    None,
                    sparse_unique_name=mod._sparse_unique_name,
                )
                result = part if result is None else result.replace_feature(result.features + part.features)
        finally:
            mod.in_channels = self.in_channels
        return result

    def _make_spconv(self):
        # Each layer kind (SubM, strided, inverse) builds its own spconv module.
        raise NotImplementedError(f"{type(self).__name__} has no spconv counterpart")

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, backend={self.backend}"
        )


class SubMConv3d(_SparseConvBase):
    """Submanifold conv: (N, C_in) -> (N, C_out) at the same sites; odd kernel, 'same' padding."""

    def __init__(self, in_channels, out_channels, kernel_size=3, dilation=1, bias=False, backend="auto"):
        super().__init__(in_channels, out_channels, kernel_size, bias, backend)
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"SubMConv3d needs odd kernel sizes, got {self.kernel_size}")
        self.dilation = _triple(dilation, "dilation")
        self.padding = tuple(d * (k - 1) // 2 for k, d in zip(self.kernel_size, self.dilation, strict=True))

    def forward(self, x: SparseTensor | DenseGrid) -> SparseTensor | DenseGrid:
        if isinstance(x, DenseGrid):
            y = F.conv3d(x.x, self.dense_weight(), self.bias, padding=self.padding, dilation=self.dilation)
            return x.masked(y)
        if self.kernel_size == (1, 1, 1):
            # Pointwise: one matmul, on every backend. spconv 2.3.8's own 1x1 path reads its KRSC weight
            # as (C_in, C_out) and is wrong whenever C_in != C_out > 1 (found by bench/far_backends.py).
            return x.replace_features(self._add_bias(x.features @ self.weight[0]))
        if resolve_backend(self.backend, x.features.device) == "spconv":
            self._ensure_spconv().indice_key = f"subm_{id(x.coords)}_k{self.kernel_size}_d{self.dilation}"
            return x.replace_features(self._add_bias(self._run_spconv(x).features))
        return x.replace_features(self._add_bias(gather_conv(x.features, self.table(x), self.weight)))

    def table(self, x: SparseTensor) -> Tensor:
        key = ("subm", id(x.coords), x.spatial_shape, self.kernel_size, self.dilation)
        entry = x.cache.get(key)
        if entry is None or entry[0] is not x.coords:
            tbl = submanifold_table(x.coords, x.spatial_shape, self.kernel_size, self.dilation)
            entry = x.cache[key] = (x.coords, tbl)
        return entry[1]

    def _make_spconv(self):
        import spconv.pytorch as spconv

        return spconv.SubMConv3d(
            self.in_channels, self.out_channels, self.kernel_size, dilation=self.dilation, bias=False
        )


@dataclass
class _DownRecord:
    """What a strided conv leaves for its inverse: the fine sites and the conv geometry."""

    fine_coords: Tensor
    fine_shape: Triple
    coarse_coords: Tensor
    stride: Triple
    padding: Triple
    dilation: Triple
    fine_mask: Tensor | None = None  # dense mode: (B, 1, T, H, W) active fine sites, None = all
    torch_path: bool = False  # run by gather_conv (spconv has no pairs for it): so is its inverse


class SparseConv3d(_SparseConvBase):
    """Strided sparse conv: (N, C_in) at fine sites -> (M, C_out) at every output site reached by an input.

    ``indice_key`` names the record that a matching ``SparseInverseConv3d`` reads to return to the fine
    sites; each key may be written once per forward pass (per input ``SparseTensor`` cache).
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding=0,
        dilation=1,
        bias=False,
        indice_key: str | None = None,
        backend="auto",
    ):
        super().__init__(in_channels, out_channels, kernel_size, bias, backend)
        self.stride = _triple(stride, "stride")
        self.padding = _triple(padding, "padding")
        self.dilation = _triple(dilation, "dilation")
        self.indice_key = indice_key

    def forward(self, x: SparseTensor | DenseGrid) -> SparseTensor | DenseGrid:
        if isinstance(x, DenseGrid):
            return self._dense(x)
        self._check_key_free(x)
        use_spconv = resolve_backend(self.backend, x.features.device) == "spconv" and _fits_spconv(x)
        if use_spconv:
            out = _from_spconv(self._run_spconv(x), x)
            out = out.replace_features(self._add_bias(out.features))
        else:  # the torch backend, or an input past spconv's int32 range (on the same device)
            coords, shape = downsample_sites(
                x.coords, x.spatial_shape, self.kernel_size, self.stride, self.padding, self.dilation
            )
            table = neighbour_table(
                coords, x.coords, x.spatial_shape, self.kernel_size, self.stride, self.padding, self.dilation
            )
            feats = self._add_bias(gather_conv(x.features, table, self.weight))
            out = SparseTensor(feats, coords, shape, x.batch_size, x.cache)
        if self.indice_key is not None:
            x.cache[("down", self.indice_key)] = _DownRecord(
                x.coords,
                x.spatial_shape,
                out.coords,
                self.stride,
                self.padding,
                self.dilation,
                torch_path=not use_spconv,
            )
        return out

    def _check_key_free(self, x: SparseTensor) -> None:
        record = x.cache.get(("down", self.indice_key))
        if self.indice_key is not None and record is not None and record.fine_coords is not x.coords:
            raise ValueError(f"indice_key {self.indice_key!r} was already written by another strided conv")

    def _dense(self, x: DenseGrid) -> DenseGrid:
        w = self.dense_weight()
        y = F.conv3d(x.x, w, self.bias, stride=self.stride, padding=self.padding, dilation=self.dilation)
        mask = None
        if x.mask is not None:
            ones = x.mask.new_ones(1, 1, *self.kernel_size)
            reach = F.conv3d(x.mask, ones, stride=self.stride, padding=self.padding, dilation=self.dilation)
            mask = (reach > 0).to(x.mask.dtype)
        if self.indice_key is not None:
            x.cache[("down", self.indice_key)] = _DownRecord(
                None, tuple(x.x.shape[2:]), None, self.stride, self.padding, self.dilation, x.mask
            )
        return DenseGrid(y if mask is None else y * mask, mask, x.cache)

    def _make_spconv(self):
        import spconv.pytorch as spconv

        return spconv.SparseConv3d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            bias=False,
            indice_key=self.indice_key,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, stride={self.stride}, indice_key={self.indice_key!r}"


class SparseInverseConv3d(_SparseConvBase):
    """Transposed conv from the coarse sites of the ``SparseConv3d`` that wrote ``indice_key`` back to its
    fine sites: (M, C_in) -> (N, C_out). Kernel size must match that conv; stride/padding/dilation are
    taken from its record. Equals dense ``conv_transpose3d`` evaluated at the fine sites.
    """

    def __init__(self, in_channels, out_channels, kernel_size, indice_key: str, bias=False, backend="auto"):
        super().__init__(in_channels, out_channels, kernel_size, bias, backend)
        self.indice_key = indice_key

    def dense_weight(self) -> Tensor:
        """conv_transpose3d layout (C_in, C_out, kT, kH, kW)."""
        return self.weight.reshape(*self.kernel_size, self.in_channels, self.out_channels).permute(
            3, 4, 0, 1, 2
        )

    def _record(self, cache: dict):
        record = cache.get(("down", self.indice_key))
        if record is None:
            raise KeyError(f"no strided conv wrote indice_key {self.indice_key!r} in this forward pass")
        return record

    def forward(self, x: SparseTensor | DenseGrid) -> SparseTensor | DenseGrid:
        if isinstance(x, DenseGrid):
            return self._dense(x)
        rec = self._record(x.cache)
        if x.coords is not rec.coarse_coords and not torch.equal(x.coords, rec.coarse_coords):
            raise ValueError(f"input sites differ from the coarse sites recorded under {self.indice_key!r}")
        if resolve_backend(self.backend, x.features.device) == "spconv" and not rec.torch_path:
            res = self._run_spconv(x)
            if not torch.equal(res.indices.long(), rec.fine_coords):
                raise RuntimeError("spconv returned sites in an unexpected order")
            feats = res.features
        else:
            key = ("inverse", self.indice_key, self.kernel_size)
            entry = x.cache.get(key)
            if entry is None or entry[0] is not rec:
                table = neighbour_table(
                    rec.fine_coords,
                    rec.coarse_coords,
                    x.spatial_shape,
                    self.kernel_size,
                    rec.stride,
                    rec.padding,
                    rec.dilation,
                    transposed=True,
                )
                entry = x.cache[key] = (rec, table)
            feats = gather_conv(x.features, entry[1], self.weight)
        return SparseTensor(self._add_bias(feats), rec.fine_coords, rec.fine_shape, x.batch_size, x.cache)

    def _dense(self, x: DenseGrid) -> DenseGrid:
        rec = self._record(x.cache)
        stride, padding, dilation = rec.stride, rec.padding, rec.dilation
        base = [
            (c - 1) * s - 2 * p + d * (k - 1) + 1
            for c, s, p, d, k in zip(x.x.shape[2:], stride, padding, dilation, self.kernel_size, strict=True)
        ]
        extra = tuple(f - b for f, b in zip(rec.fine_shape, base, strict=True))
        y = F.conv_transpose3d(
            x.x,
            self.dense_weight(),
            self.bias,
            stride=stride,
            padding=padding,
            output_padding=extra,
            dilation=dilation,
        )
        return DenseGrid(y if rec.fine_mask is None else y * rec.fine_mask, rec.fine_mask, x.cache)

    def _make_spconv(self):
        import spconv.pytorch as spconv

        return spconv.SparseInverseConv3d(
            self.in_channels, self.out_channels, self.kernel_size, indice_key=self.indice_key, bias=False
        )


class SparseBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the features (N, C) of active sites (statistics over sites, not the grid).

    With fewer than two sites in training mode the running statistics are used instead of failing.
    On a ``DenseGrid`` it normalises every grid cell per channel (meant for eval-mode benchmarks).
    """

    def forward(self, x: SparseTensor | DenseGrid) -> SparseTensor | DenseGrid:  # type: ignore[override]
        if isinstance(x, DenseGrid):
            b, c = x.x.shape[:2]
            y = super().forward(x.x.reshape(b, c, -1)).reshape(x.x.shape)
            return x.masked(y)
        feats = x.features
        if self.training and feats.shape[0] < 2:
            y = F.batch_norm(
                feats, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        else:
            y = super().forward(feats)
        return x.replace_features(y)


class SparseAct(nn.Module):
    """Pointwise activation on features; ``act_layer`` is any nn.Module class (default ReLU)."""

    def __init__(self, act_layer: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.act = act_layer()

    def forward(self, x: SparseTensor | DenseGrid) -> SparseTensor | DenseGrid:
        if isinstance(x, DenseGrid):
            return x.masked(self.act(x.x))
        return x.replace_features(self.act(x.features))


def _same_sites(a: SparseTensor, b: SparseTensor) -> bool:
    return a.coords is b.coords or (a.coords.shape == b.coords.shape and torch.equal(a.coords, b.coords))


def sparse_cat(tensors: list[SparseTensor | DenseGrid]) -> SparseTensor | DenseGrid:
    """Channel concatenation of tensors on the same sites."""
    first = tensors[0]
    if isinstance(first, DenseGrid):
        return replace(first, x=torch.cat([t.x for t in tensors], dim=1))
    if not all(_same_sites(first, t) for t in tensors[1:]):
        raise ValueError("sparse_cat needs tensors on identical sites")
    return first.replace_features(torch.cat([t.features for t in tensors], dim=1))


def sparse_add(a: SparseTensor | DenseGrid, b: SparseTensor | DenseGrid) -> SparseTensor | DenseGrid:
    """Elementwise sum of two tensors on the same sites."""
    if isinstance(a, DenseGrid):
        return replace(a, x=a.x + b.x)
    if not _same_sites(a, b):
        raise ValueError("sparse_add needs tensors on identical sites")
    return a.replace_features(a.features + b.features)
