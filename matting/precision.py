"""Mixed precision, one policy for training, evaluation and inference.

``amp`` is ``auto`` (bf16 on CUDA, off elsewhere), ``bf16``, ``fp16`` or ``off``. CAP runs under
the autocast this gives; FAR runs in float32 while gradients are recorded and follows the
autocast at inference (``MuMatting._refine``). Training uses autocast on CUDA only (its config
says so); evaluation and inference also honour an explicit ``bf16`` on the CPU.
"""

from __future__ import annotations

import contextlib

import click
import torch

AMP_CHOICES = ("auto", "bf16", "fp16", "off")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp(amp: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on CUDA, ``off`` elsewhere; ``fp16`` is CUDA-only."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {list(AMP_CHOICES)}, got {amp!r}")
    if amp == "auto":
        return "bf16" if device.type == "cuda" else "off"
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp fp16 needs a CUDA device (use bf16 or off on the CPU)")
    return amp


def autocast(device: torch.device, amp: str):
    """The autocast context for a resolved ``amp`` on ``device`` (a no-op for ``off``)."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[amp])


amp_option = click.option(
    "--amp",
    type=click.Choice(AMP_CHOICES),
    default="auto",
    show_default=True,
    help="Mixed precision of the model: auto = bf16 on CUDA (memory and speed at 4K), off on the CPU.",
)
