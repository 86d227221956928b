"""Run logs: ``metrics.jsonl`` (one JSON object per logged step), TensorBoard under ``tb/``
and a tqdm progress bar. Only the main rank writes."""

from __future__ import annotations

import json
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop records after ``last_step`` (logged after the checkpoint a run resumes from)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= last_step]
    path.write_text("".join(line + "\n" for line in kept))


class RunLogger:
    """Writes each logged step to metrics.jsonl and TensorBoard and drives the progress bar."""

    def __init__(self, run_dir: Path, start_step: int, max_steps: int, enabled: bool, progress: bool):
        self.enabled = enabled
        self.path = run_dir / "metrics.jsonl"
        self.writer = None
        if enabled:
            truncate_metrics(self.path, start_step)
            self.writer = SummaryWriter(log_dir=str(run_dir / "tb"), purge_step=start_step + 1)
        self.bar = tqdm(
            total=max_steps, initial=start_step, disable=not (enabled and progress), desc="train", unit="step"
        )

    def step(self) -> None:
        self.bar.update(1)

    def log(self, record: dict) -> None:
        """``record``: {"step": int, "lr": float, <loss term>: float, ...}."""
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        step = record["step"]
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                group = "train" if key in ("lr", "grad_norm", "key_sites") else "loss"
                self.writer.add_scalar(f"{group}/{key}", value, step)
        self.bar.set_postfix(loss=f"{record.get('total', float('nan')):.4f}", lr=f"{record['lr']:.2e}")

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
