"""Learning-rate schedule: linear warmup, then a cosine decay to ``min_lr_ratio`` of the peak."""

from __future__ import annotations

import math

import torch


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Multiplier of the peak learning rate for optimizer step ``step`` (0-based).

    Warmup ramps linearly from 1/(warmup+1) to 1 over ``warmup_steps`` steps, so the first
    step already moves; the cosine then runs from 1 at ``warmup_steps`` down to
    ``min_lr_ratio`` at ``total_steps`` and stays there (a run extended past its schedule
    keeps training at the floor).
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR over every parameter group (each keeps its own layer-decayed peak lr).

    The factor is a plain closure, so the scheduler's state_dict holds only numbers and the
    schedule itself always comes from the config."""

    def factor(step: int) -> float:
        return lr_factor(step, warmup_steps, total_steps, min_lr_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
