"""Load a Sapiens ("_clean", mmpretrain-named) ViT checkpoint into a timm ``VisionTransformer``.

Key mapping (Sapiens -> timm), for every block i::

    cls_token, pos_embed                  -> cls_token, pos_embed (resized, see below)
    patch_embed.projection.{weight,bias}  -> patch_embed.proj.{weight,bias}
    layers.i.ln1 / ln2                    -> blocks.i.norm1 / norm2
    layers.i.attn.qkv / proj              -> blocks.i.attn.qkv / proj
    layers.i.ffn.layers.0.0 / layers.1    -> blocks.i.mlp.fc1 / fc2
    ln1 (final norm)                      -> norm

The position embedding (1, 1 + G*G, D) of the checkpoint (G = 64 for the 1024 px MAE
pre-training) is resized bicubically (no antialias, as mmpretrain does) to the model's grid,
keeping the CLS position as is; a grid-only embedding (task checkpoints trained without a class
token) leaves the model's own CLS position and token in place (``strict=False``). Weights are read with ``weights_only=True``: a checkpoint
must be a plain mapping of tensors (optionally nested under "state_dict" or "model").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer

from matting.torchload import CheckpointError, load_weights_only

_RULES = [
    (re.compile(r"^patch_embed\.projection\.(weight|bias)$"), r"patch_embed.proj.\1"),
    (re.compile(r"^layers\.(\d+)\.ln1\.(weight|bias)$"), r"blocks.\1.norm1.\2"),
    (re.compile(r"^layers\.(\d+)\.ln2\.(weight|bias)$"), r"blocks.\1.norm2.\2"),
    (re.compile(r"^layers\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)$"), r"blocks.\1.attn.\2.\3"),
    (re.compile(r"^layers\.(\d+)\.ffn\.layers\.0\.0\.(weight|bias)$"), r"blocks.\1.mlp.fc1.\2"),
    (re.compile(r"^layers\.(\d+)\.ffn\.layers\.1\.(weight|bias)$"), r"blocks.\1.mlp.fc2.\2"),
    (re.compile(r"^ln1\.(weight|bias)$"), r"norm.\1"),
    (re.compile(r"^(cls_token|pos_embed)$"), r"\1"),
]
_PREFIXES = ("backbone.", "module.")


@dataclass(frozen=True)
class LoadReport:
    source: str
    loaded: int
    pos_embed_from: tuple[int, int] | None
    pos_embed_to: tuple[int, int]
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()

    def __str__(self) -> str:
        resized = (
            f"pos_embed resized {self.pos_embed_from} -> {self.pos_embed_to}"
            if self.pos_embed_from and self.pos_embed_from != self.pos_embed_to
            else "pos_embed kept"
        )
        extra = f", {len(self.missing)} missing, {len(self.unexpected)} ignored" if not self.is_exact else ""
        return f"{self.source}: {self.loaded} tensors loaded, {resized}{extra}"

    @property
    def is_exact(self) -> bool:
        return not self.missing and not self.unexpected


def sapiens_to_timm_key(key: str) -> str | None:
    """Sapiens checkpoint key -> timm ViT key, or None when the key is not part of the encoder."""
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
    for pattern, repl in _RULES:
        if pattern.match(key):
            return pattern.sub(repl, key)
    return None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint file as a flat {name: tensor} mapping, with one-line errors."""
    obj = load_weights_only(path)
    return _as_state_dict(obj, str(path))


def _as_state_dict(obj, source: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for nest in ("state_dict", "model"):
            if isinstance(obj.get(nest), Mapping):
                obj = obj[nest]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{source}: expected a non-empty mapping of tensors, got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{source}: not a plain state dict; non-tensor entries such as {bad[0]!r}")
    return dict(obj)


def _square_side(n: int) -> int | None:
    side = int(round(max(n, 0) ** 0.5))
    return side if side > 0 and side * side == n else None


def _resize_pos_embed(src: torch.Tensor, vit: VisionTransformer, source: str):
    """Checkpoint (1, [1 +] G*G, D) -> the model's (1, 1 + gh*gw, D), and the two grid sizes.

    Pre-training checkpoints carry the CLS position (1 + G*G rows, kept as is); task
    checkpoints trained without a class token carry only the grid, and the model keeps its
    own CLS position then.
    """
    prefix = vit.num_prefix_tokens
    target = vit.pos_embed
    if src.ndim != 3 or src.shape[0] != 1 or src.shape[2] != target.shape[2]:
        raise CheckpointError(
            f"{source}: pos_embed shape {tuple(src.shape)} does not fit the model's {tuple(target.shape)}"
        )
    rows = src.shape[1]
    src_prefix = prefix if _square_side(rows - prefix) else 0
    side = _square_side(rows - src_prefix)
    if side is None:
        raise CheckpointError(f"{source}: pos_embed has {rows} rows, not [CLS +] a square grid")
    head = src[:, :src_prefix] if src_prefix == prefix else target[:, :prefix].detach().to(src.dtype)
    grid = src[:, src_prefix:]
    new_size = tuple(vit.patch_embed.grid_size)
    if (side, side) != new_size:
        grid = resample_abs_pos_embed(
            grid.float(), list(new_size), old_size=[side, side], num_prefix_tokens=0, antialias=False
        ).to(src.dtype)
    return torch.cat([head, grid], dim=1), (side, side), new_size


@torch.no_grad()
def load_sapiens_checkpoint(
    vit: VisionTransformer,
    path_or_state_dict: str | os.PathLike | Mapping[str, torch.Tensor],
    strict: bool = True,
) -> LoadReport:
    """Copy Sapiens encoder weights into ``vit`` (in place) and report what was loaded.

    ``strict``: every ViT tensor must be present and every checkpoint key must map (decoder
    or head keys of a non-clean checkpoint then fail); otherwise such keys are listed in the
    report. Shape mismatches (a different model size) always raise ``CheckpointError``.
    """
    if isinstance(path_or_state_dict, Mapping):
        source = "<state dict>"
        state = _as_state_dict(path_or_state_dict, source)
    else:
        source = str(path_or_state_dict)
        state = read_state_dict(path_or_state_dict)
    own = vit.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, value in state.items():
        name = sapiens_to_timm_key(key)
        if name is None or name not in own:
            unexpected.append(key)
        else:
            mapped[name] = value
    wanted = [k for k in own if not k.startswith("head.")]
    missing = [k for k in wanted if k not in mapped]
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{source}: does not match the ViT: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    grid_from = None
    grid_to = tuple(vit.patch_embed.grid_size)
    if "pos_embed" in mapped:
        mapped["pos_embed"], grid_from, grid_to = _resize_pos_embed(mapped["pos_embed"], vit, source)
    for name, value in mapped.items():
        if value.shape != own[name].shape:
            raise CheckpointError(
                f"{source}: shape mismatch for {name}: checkpoint {tuple(value.shape)}, "
                f"model {tuple(own[name].shape)} (a checkpoint of another model size?)"
            )
    for name, value in mapped.items():
        own[name].copy_(value.to(own[name].dtype))
    return LoadReport(source, len(mapped), grid_from, grid_to, tuple(missing), tuple(unexpected))
