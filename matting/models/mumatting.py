"""muMatting: CAP (coarse alpha + CLS per frame), key regions, FAR (sparse refinement), fusion.

    context (B, T, 3, c, c): the whole frame letterboxed on CAP's canvas (matting.framing)
    context --CAP--> coarse_lr (B, T, 1, h, w) over the canvas, cls (B, T, D)
    coarse_lr --key_regions--> key_lr; both cut at the box of rgb's window and resampled to
    (H, W): coarse (bilinear), key (nearest)
    FAR(rgb, coarse, key, cls) -> refined, zero outside key
    alpha = key * refined + (1 - key) * coarse

At inference rgb is the whole frame and its box the frame's place on the canvas; in training
rgb is a full-resolution window of the frame and CAP still sees the whole frame, so CAP
works at one scale (the frame's longer side shrunk to ``cap_size``) in both.

Training runs in two stages: "cap" trains CAP alone (FAR is not run), "far" trains FAR
(with TSCM) on top of a frozen CAP (``freeze_cap``).
"""

from __future__ import annotations

from dataclasses import asdict

import torch
from torch import nn

from matting.framing import context_torch, cut, frame_box
from matting.models.cap import CAP
from matting.models.far import FAR
from matting.models.keyregion import check_key_args, key_regions
from matting.models.registry import ModelConfig
from matting.models.sapiens import LoadReport, load_sapiens_checkpoint

STAGES = ("cap", "far")


class MuMatting(nn.Module):
    """Clip (B, T, 3, H, W) in [0, 1] -> dict of alpha maps; see ``forward``."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        check_key_args(**asdict(config.key))
        # The config sections use the constructors' argument names.
        self.cap = CAP(**asdict(config.cap))
        self.far = FAR(cls_dim=config.cap.embed_dim, **asdict(config.far))
        self.cap_frozen = False

    # -- weights ---------------------------------------------------------------------------
    def load_cap_weights(self, path_or_state_dict, strict: bool = True) -> LoadReport:
        """Load Sapiens encoder weights into the CAP backbone (see ``matting.models.sapiens``)."""
        return load_sapiens_checkpoint(self.cap.backbone, path_or_state_dict, strict=strict)

    def freeze_cap(self) -> None:
        """Stage 2: CAP gets no gradients and stays in eval mode, even after ``train()``."""
        self.cap_frozen = True
        self.cap.requires_grad_(False)
        self.cap.eval()

    def unfreeze_cap(self) -> None:
        self.cap_frozen = False
        self.cap.requires_grad_(True)
        self.cap.train(self.training)

    def train(self, mode: bool = True) -> MuMatting:
        super().train(mode)
        if self.cap_frozen:
            self.cap.eval()
        return self

    # -- forward ---------------------------------------------------------------------------
    def forward(
        self,
        rgb: torch.Tensor,
        stage: str = "far",
        context: torch.Tensor | None = None,
        box: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """rgb (B, T, 3, H, W) in [0, 1] -> dict of alpha maps.

        context (B, T, 3, c, c), c = cap_size: CAP's letterboxed view of the whole frame
        (``matting.framing``); box (B, 4): rgb's place on that canvas. Without them rgb is taken
        as the whole frame (display sRGB) and its view made here, on rgb's device, as the data
        side makes it (``context_torch``; ``clip_inputs`` is the NumPy twin).

        Returns coarse_lr (B, T, 1, h, w), CAP's alpha over the canvas; coarse (B, T, 1, H, W)
        its bilinear cut at the box; key (B, T, 1, H, W) float 0/1, the key regions of
        coarse_lr cut nearest; cls (B, T, D); alpha (B, T, 1, H, W) = coarse for stage "cap",
        the fusion key * refined + (1 - key) * coarse for stage "far", which also returns
        refined. In stage "far" gradients reach CAP through coarse and cls unless
        ``freeze_cap()`` was called.
        """
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        if rgb.ndim != 5 or rgb.shape[2] != 3:
            raise ValueError(f"MuMatting expects a clip (B, T, 3, H, W), got shape {tuple(rgb.shape)}")
        b, t, _, h, w = rgb.shape
        size = self.cap.cap_size
        if context is None:
            if box is not None:
                raise ValueError("MuMatting: a box needs the context it refers to")
            context = context_torch(rgb.flatten(0, 1), size).view(b, t, 3, size, size)
            box = rgb.new_tensor(frame_box(h, w, size), dtype=torch.float64).expand(b, 4)
        elif box is None or context.shape[:3] != (b, t, 3) or box.shape != (b, 4):
            raise ValueError(
                f"MuMatting: context (B, T, 3, c, c) and box (B, 4) must match rgb {tuple(rgb.shape)}, got "
                f"{tuple(context.shape)} and {None if box is None else tuple(box.shape)}"
            )
        coarse_lr, cls = self.cap(context)
        k = self.config.key
        key_lr = key_regions(coarse_lr.detach(), k.low, k.high, k.op, k.kernel, k.iterations)
        boxes = box.repeat_interleave(t, dim=0)  # (B*T, 4)
        # In float32 even under autocast: outside K this is the output, and bf16 has 8 bits.
        coarse = cut(coarse_lr.flatten(0, 1), boxes, (h, w), "bilinear").view(b, t, 1, h, w)
        key = cut(key_lr.flatten(0, 1), boxes, (h, w), "nearest").to(coarse.dtype).view(b, t, 1, h, w)
        out = {"coarse_lr": coarse_lr, "coarse": coarse, "key": key, "cls": cls}
        if stage == "cap":
            out["alpha"] = coarse
            return out
        refined = self._refine(rgb, coarse, key, cls if self.config.far.use_tscm else None)
        out["refined"] = refined
        out["alpha"] = key * refined + (1 - key) * coarse
        return out

    def _refine(self, rgb, coarse, key, cls):
        """FAR under the precision policy: while gradients are recorded, FAR runs in float32
        outside any autocast (spconv computes in float16 under autocast, and nothing scales a
        bf16 run's loss, so FAR's small gradients would underflow); without gradients
        (inference) it follows the caller's autocast, where spconv's float16 is safe."""
        device = rgb.device.type
        if torch.is_grad_enabled() and torch.is_autocast_enabled(device):
            with torch.autocast(device, enabled=False):
                return self.far(
                    rgb.float(), coarse.float(), key.float(), None if cls is None else cls.float()
                )
        return self.far(rgb, coarse, key, cls)

    # -- optimisation ----------------------------------------------------------------------
    def param_groups(
        self, lr: float, weight_decay: float, layer_decay: float = 0.85, stage: str = "cap"
    ) -> list[dict]:
        """Parameter groups for ``torch.optim.AdamW``; trainable parameters of the stage only.

        Stage "cap": CAP parameters with layer-wise LR decay, lr * layer_decay^(L + 1 - layer_id)
        (L = depth; embeddings 0, block i -> i + 1, final norm and head -> L + 1, i.e. full lr).
        Stage "far": FAR (and TSCM) parameters at ``lr``. Norm weights, biases, position
        embeddings and the class token get no weight decay. Each group carries a ``name``
        and its ``lr_scale``.
        """
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        module = self.cap if stage == "cap" else self.far
        top = self.cap.num_layers - 1
        groups: dict[str, dict] = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            layer = self.cap.layer_id(name) if stage == "cap" else top
            scale = layer_decay ** (top - layer)
            no_decay = param.ndim <= 1 or name.endswith(("pos_embed", "cls_token"))
            gname = f"{stage}.layer{layer}.{'no_decay' if no_decay else 'decay'}"
            decay = 0.0 if no_decay else weight_decay
            group = {"name": gname, "params": [], "lr": lr * scale, "lr_scale": scale, "weight_decay": decay}
            groups.setdefault(gname, group)["params"].append(param)
        if not groups:
            raise ValueError(f"no trainable parameters for stage {stage!r} (is that part frozen?)")
        return list(groups.values())
