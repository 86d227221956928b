"""One-line errors for ``torch.load(..., weights_only=True)`` of checkpoints, shared by the Sapiens
loader (``matting.models.sapiens``) and the trainer's checkpoints (``matting.training.checkpoint``)."""

from __future__ import annotations

import re


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line and names the file."""


def first_line(err: BaseException) -> str:
    """The first sentence of the first line of ``err`` (torch's messages go on with long advice)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0].split('. ')[0]}" if text else type(err).__name__


def unpickler_reason(err: BaseException) -> str:
    """The 'Unsupported global: ...' part of torch's many-line weights_only refusal."""
    match = re.search(r"WeightsUnpickler error:\s*([^\n]*)", str(err))
    reason = (
        match.group(1).split(" was not")[0].split(". ")[0] if match and match.group(1) else first_line(err)
    )
    return reason[:200]
