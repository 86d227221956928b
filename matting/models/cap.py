"""CAP, the Coarse Alpha Predictor: a ViT encoder per frame and a deconvolution head.

Each frame comes as CAP's view of the whole frame, letterboxed on a ``cap_size`` x ``cap_size``
canvas (512 in the paper; ``matting.framing``; anything else is resized to it),
normalised with the Sapiens pixel statistics and encoded by a timm ``VisionTransformer``
with a class token (Sapiens-0.3B: embed 1024, depth 24, 16 heads, patch 16). The patch
tokens, laid back out as a (D, G, G) map, go through the coarse head of the official
release: stride-2 transposed convolutions (InstanceNorm + SiLU), 1x1 convolutions
(InstanceNorm + SiLU), channel dropout (mmseg's decode-head default, 0.1), a 1x1
convolution to one channel and a sigmoid. With 512 input,
patch 16 and three deconvolutions the coarse alpha is 256 x 256.

The class token is kept (the official release drops it) because TSCM needs one global
token per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn

# Sapiens pixel statistics, RGB, on the 0-255 scale.
SAPIENS_MEAN = (123.675, 116.28, 103.53)
SAPIENS_STD = (58.395, 57.12, 57.375)


def build_vit(
    embed_dim: int,
    depth: int,
    heads: int,
    patch: int = 16,
    img_size: int = 512,
    drop_path: float = 0.0,
    patch_padding: int = 0,
) -> VisionTransformer:
    """A timm ViT shaped like Sapiens: CLS token, qkv bias, MLP ratio 4, LayerNorm eps 1e-6, no head.

    ``patch_padding`` pads the patch-embedding convolution (some Sapiens task configs use 2);
    it must stay below ``patch / 2`` so that the token grid is unchanged.
    """
    if not 0 <= patch_padding < patch / 2:
        raise ValueError(f"patch_padding must lie in [0, patch/2), got {patch_padding} for patch {patch}")
    vit = VisionTransformer(
        img_size=img_size,
        patch_size=patch,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=heads,
        mlp_ratio=4.0,
        qkv_bias=True,
        class_token=True,
        global_pool="token",
        num_classes=0,
        drop_path_rate=drop_path,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
    )
    if patch_padding:
        vit.patch_embed.proj.padding = (patch_padding, patch_padding)
    return vit


def _norm_act(channels: int) -> list[nn.Module]:
    # InstanceNorm2d without affine parameters, as mmcv builds "IN" for the release's head.
    return [nn.InstanceNorm2d(channels), nn.SiLU(inplace=True)]


class CoarseHead(nn.Sequential):
    """Token map (N, D, G, G) -> coarse alpha (N, 1, G * 2^len(deconv_widths), same) in [0, 1]."""

    def __init__(
        self, in_dim: int, deconv_widths: Sequence[int], conv_widths: Sequence[int], dropout: float = 0.1
    ):
        layers: list[nn.Module] = []
        channels = in_dim
        for width in deconv_widths:
            # kernel 4, stride 2, padding 1 doubles the size exactly; the norm makes a bias useless.
            layers += [nn.ConvTranspose2d(channels, width, 4, stride=2, padding=1, bias=False)]
            layers += _norm_act(width)
            channels = width
        for width in conv_widths:
            layers += [nn.Conv2d(channels, width, 1), *_norm_act(width)]
            channels = width
        if dropout > 0:
            layers += [nn.Dropout2d(dropout)]
        layers += [nn.Conv2d(channels, 1, 1), nn.Sigmoid()]
        super().__init__(*layers)


class CAP(nn.Module):
    """Clip (B, T, 3, H, W) in [0, 1], display sRGB -> coarse alpha and per-frame CLS token.

    ``forward`` returns ``(coarse_lr, cls)``: coarse_lr (B, T, 1, h, w) in [0, 1] with
    h = w = (cap_size / patch) * 2^len(deconv_widths), cls (B, T, embed_dim).
    """

    def __init__(
        self,
        embed_dim: int = 1024,
        depth: int = 24,
        heads: int = 16,
        patch: int = 16,
        cap_size: int = 512,
        deconv_widths: Sequence[int] = (768, 768, 768),
        conv_widths: Sequence[int] = (768, 768, 768),
        drop_path: float = 0.0,
        patch_padding: int = 0,
        head_dropout: float = 0.1,
    ):
        super().__init__()
        if cap_size % patch:
            raise ValueError(f"cap_size {cap_size} must be a multiple of the patch size {patch}")
        self.cap_size = cap_size
        self.depth = depth
        self.embed_dim = embed_dim
        self.backbone = build_vit(embed_dim, depth, heads, patch, cap_size, drop_path, patch_padding)
        self.head = CoarseHead(embed_dim, deconv_widths, conv_widths, head_dropout)
        mean = torch.tensor(SAPIENS_MEAN).view(1, 3, 1, 1) / 255.0
        std = torch.tensor(SAPIENS_STD).view(1, 3, 1, 1) / 255.0
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_std", std, persistent=False)

    @property
    def out_size(self) -> int:
        """Side of the coarse alpha map."""
        grid = self.backbone.patch_embed.grid_size[0]
        return grid * 2 ** sum(isinstance(m, nn.ConvTranspose2d) for m in self.head)

    @property
    def num_layers(self) -> int:
        """Layer ids run 0 (embeddings) .. depth + 1 (final norm and head)."""
        return self.depth + 2

    def layer_id(self, name: str) -> int:
        """Layer id of a parameter named relative to this module, for layer-wise LR decay.

        patch_embed, cls_token, pos_embed -> 0; backbone.blocks.i -> i + 1; final norm and head -> depth + 1.
        """
        if name.startswith("backbone."):
            rest = name[len("backbone.") :]
            if rest.startswith(("patch_embed.", "cls_token", "pos_embed", "reg_token")):
                return 0
            if rest.startswith("blocks."):
                return int(rest.split(".")[1]) + 1
            return self.depth + 1
        if name.startswith("head."):
            return self.depth + 1
        raise ValueError(f"{name!r} is not a CAP parameter name")

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 3, cap_size, cap_size), Sapiens-normalised."""
        size = (self.cap_size, self.cap_size)
        if frames.shape[-2:] != size:
            frames = F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=True)
        return (frames - self.pixel_mean) / self.pixel_std

    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) in [0, 1] -> patch tokens (N, G*G, D) and CLS (N, D), after the final norm."""
        tokens = self.backbone.forward_features(self.preprocess(frames))
        prefix = self.backbone.num_prefix_tokens
        return tokens[:, prefix:], tokens[:, 0]

    def forward(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """rgb (B, T, 3, H, W) -> coarse_lr (B, T, 1, h, w), cls (B, T, D)."""
        if rgb.ndim != 5 or rgb.shape[2] != 3:
            raise ValueError(f"CAP expects a clip (B, T, 3, H, W), got shape {tuple(rgb.shape)}")
        b, t = rgb.shape[:2]
        patches, cls = self.encode(rgb.flatten(0, 1))
        gh, gw = self.backbone.patch_embed.grid_size
        feat = patches.transpose(1, 2).reshape(b * t, self.embed_dim, gh, gw)
        coarse = self.head(feat)
        return coarse.view(b, t, *coarse.shape[1:]), cls.view(b, t, -1)
