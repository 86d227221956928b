"""``torch.load(..., weights_only=True)`` with one-line errors, shared by the Sapiens loader
(``matting.models.sapiens``) and the trainer's checkpoints (``matting.training.checkpoint``)."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path

import torch


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


def load_weights_only(path: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """``torch.load(path, weights_only=True)``; :class:`CheckpointError` for a missing file, a corrupt
    or foreign one, or one that pickles Python objects (refused by the weights-only unpickler)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        reason = unpickler_reason(err)
        if "Unsupported global" in reason:
            raise CheckpointError(
                f"{path}: not a plain checkpoint; weights_only loading refused it ({reason}): "
                "save state dicts (model.state_dict()), not pickled objects"
            ) from None
        raise CheckpointError(_corrupt(path, reason)) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise CheckpointError(_corrupt(path, first_line(err))) from None


def _corrupt(path: Path, reason: str) -> str:
    return f"{path}: corrupt or not a torch checkpoint (unreadable or corrupt file: {reason})"
