"""Checkpoints as plain data, loadable with ``torch.load(path, weights_only=True)``.

A checkpoint is a dict::

    {"format": "mumatting-checkpoint/1", "step": int, "stage": "cap" | "far",
     "model": model state_dict, "model_config": dataclasses.asdict(model.config),
     "optimizer": AdamW state_dict, "scheduler": LambdaLR state_dict, "scaler": GradScaler
     state_dict or None, "world_size": int, "num_streams": int,
     "ranks": [{"consumed": [clips per loader stream], "rng": {"torch", "cuda", "numpy",
     "python"}} per rank], "interval_loss": mean training loss since the previous checkpoint,
     "best_loss": the lowest interval_loss so far, "train_config": the resolved TrainConfig}

Only tensors, numbers, strings, lists, tuples and dicts: no pickled classes, so loading never
runs code from the file. Writes go to a temporary name and are renamed into place.

A run folder keeps the newest ``keep`` ``step_NNNNNN.pt`` files; ``last.pt`` and ``best.pt``
(lowest interval_loss: a training-loss figure, the loop has no validation set) are hard links
to step files, so they cost no space of their own and survive the pruning of their step file.
:class:`CheckpointWriter` writes on a background thread from a CPU snapshot, so the training
ranks do not wait for the disk.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from matting.torchload import CheckpointError, load_weights_only

FORMAT = "mumatting-checkpoint/1"
REQUIRED = ("format", "model", "model_config")


def rng_state() -> dict:
    """The global RNG states of torch (CPU and CUDA), numpy and Python as plain data."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": random.getstate(),
    }


def set_rng_state(state: Mapping) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(path: str | os.PathLike, payload: Mapping) -> Path:
    """Write ``payload`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(dict(payload, format=FORMAT), tmp)
    os.replace(tmp, path)
    return path


def link_as(src: Path, name: str) -> Path:
    """Make ``src.parent / name`` the same file as ``src`` (a hard link, atomically replacing
    the old one; a copy where the filesystem has no hard links)."""
    dst = src.with_name(name)
    tmp = src.with_name(f".{name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return dst


STEP_FILE = re.compile(r"step_(\d+)\.pt")


def prune(ckpt_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` step files (``last.pt``/``best.pt`` are links and keep
    their data); returns what was deleted."""
    steps = sorted((int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := STEP_FILE.fullmatch(p.name)))
    gone = [p for _, p in steps[: max(0, len(steps) - keep)]]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def snapshot(obj):
    """``obj`` with every tensor copied to the CPU (a state that later optimizer steps cannot
    change while a background thread writes it)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, Mapping):
        return {k: snapshot(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(snapshot(v) for v in obj)
    return obj


class CheckpointWriter:
    """Writes checkpoints one at a time on a background thread: ``submit`` waits only for the
    previous write, ``wait`` for the last one; a write's error is raised at the next call (the
    loop checks ``failed`` at every checkpoint, on every rank's behalf)."""

    def __init__(self, ckpt_dir: Path, keep: int, clean: bool = True):
        self.ckpt_dir, self.keep = Path(ckpt_dir), keep
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        if clean and self.ckpt_dir.is_dir():  # temporary files of a write that a crash cut short
            for stale in self.ckpt_dir.glob(".*.tmp"):
                stale.unlink(missing_ok=True)

    def failed(self) -> str | None:
        """The error of a finished write, if any (without waiting for one in flight)."""
        if self._thread is not None and not self._thread.is_alive():
            self._thread.join()
            self._thread = None
        return None if self._error is None else str(self._error)

    def _write(self, path: Path, payload: dict, best: bool) -> None:
        try:
            save_checkpoint(path, payload)
            link_as(path, "last.pt")
            if best:
                link_as(path, "best.pt")
            prune(self.ckpt_dir, self.keep)
        except BaseException as exc:  # raised in the training thread by wait()
            self._error = exc

    def wait(self, raise_error: bool = True) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None and raise_error:
            error, self._error = self._error, None
            raise CheckpointError(f"{self.ckpt_dir}: writing a checkpoint failed ({error})") from error

    def submit(self, step: int, payload: dict, best: bool) -> Path:
        self.wait()
        path = self.ckpt_dir / f"step_{step:06d}.pt"
        self._thread = threading.Thread(
            target=self._write, args=(path, snapshot(payload), best), daemon=False
        )
        self._thread.start()
        return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; :class:`CheckpointError` for a missing,
    corrupt, non-plain (pickled objects) or foreign file."""
    ckpt = load_weights_only(path, map_location)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: expected a checkpoint dict, found {type(ckpt).__name__}")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing or ckpt.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a muMatting checkpoint (format {ckpt.get('format')!r}, missing {missing}); "
            f"expected {FORMAT!r} as written by matting.train"
        )
    return ckpt


def check_state_dict(model: torch.nn.Module, state: Mapping, where: str) -> None:
    """Raise :class:`CheckpointError` unless ``state`` has exactly the model's keys and shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and (not isinstance(state[k], torch.Tensor) or state[k].shape != own[k].shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) e.g. {missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) e.g. {unexpected[0]}")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatch(es) e.g. {wrong[0]}")
        name = getattr(getattr(model, "config", None), "name", type(model).__name__)
        raise CheckpointError(f"{where}: weights do not fit model {name!r}: {'; '.join(parts)}")


def load_model_weights(model: torch.nn.Module, ckpt: Mapping, where: str) -> None:
    """Copy the checkpoint's model weights into ``model`` after checking the model name,
    keys and shapes."""
    name = ckpt["model_config"].get("name")
    expected = getattr(getattr(model, "config", None), "name", None)
    if expected is not None and name != expected:
        raise CheckpointError(f"{where}: checkpoint is for model {name!r}, not {expected!r}")
    check_state_dict(model, ckpt["model"], where)
    model.load_state_dict(ckpt["model"])


def load_model(
    path: str | os.PathLike, model_name: str | None = None, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on ``device``, checkpoint) from a checkpoint written by the trainer.

    The model is rebuilt from the checkpoint's own config (a Sapiens path in it is not read
    again: the weights come from the checkpoint). ``model_name``, when given, must match."""
    from matting.models import ModelConfig, MuMatting

    ckpt = load_checkpoint(path)
    config = ckpt["model_config"]
    if not isinstance(config, dict) or "name" not in config:
        raise CheckpointError(f"{path}: model_config is not a model config dict")
    if model_name is not None and config["name"] != model_name:
        raise CheckpointError(f"{path}: checkpoint is for model {config['name']!r}, not {model_name!r}")
    try:
        model = MuMatting(ModelConfig.from_dict({**config, "sapiens_checkpoint": None}))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild model {config['name']!r} ({exc})") from exc
    load_model_weights(model, ckpt, str(path))
    return model.to(device).eval(), ckpt
