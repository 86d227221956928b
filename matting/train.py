"""``python -m matting.train``: train muMatting (stage cap or far) on αMatte4K and friends.

    python -m matting.train --data manifests/ --model mumatting-tiny --max-steps 1000 --out runs/cap
    python -m matting.train --config configs/train/mumatting-sapiens03b.yaml --stage far \\
        --init runs/cap/checkpoints/last.pt --out runs/far
    torchrun --nproc-per-node 8 -m matting.train --config ... --out runs/cap   # DDP
    python -m matting.train --out runs/cap --resume --max-steps 2000           # continue a run

Layering: config defaults < --config YAML (with its ``stages.<stage>`` section) < flags. With
--resume the run's saved ``config.yaml`` is the base layer. See docs/training.md.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from matting.training.checkpoint import CheckpointError
from matting.training.config import ConfigError, manifest_source, read_yaml, resolve_config
from matting.training.loop import TrainError, train


def fresh_run_dir(parent: Path, name: str) -> Path:
    """``parent/name``, or ``name-2``, ``name-3``… : a folder no other run has (made here)."""
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        path = parent / (name if i == 1 else f"{name}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ConfigError(f"{parent}: no free run folder named {name}; pass --out")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data_dir", type=str, default=None, help="Manifest dir (αMatte4K train split).")
@click.option("--model", type=str, default=None, help="Registered model name (e.g. mumatting-tiny).")
@click.option("--max-steps", type=int, default=None, help="Stop after this many optimizer steps.")
@click.option(
    "--out",
    "run_dir",
    type=str,
    default=None,
    help="Run folder (config, logs, checkpoints); default runs/<stage>-<date>-<time>, printed.",
)
@click.option("--stage", type=click.Choice(["cap", "far"]), default=None, help="Training stage.")
@click.option("--config", "config_path", type=str, default=None, help="YAML config.")
@click.option("--init", type=str, default=None, help="Checkpoint to start from (stage far: a cap run).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from checkpoints/last.pt.")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None, help="Peak learning rate.")
@click.option("--num-workers", type=int, default=None, help="Data loader workers.")
@click.option("--device", type=str, default=None, help="auto, cpu or cuda[:N].")
@click.option("--ckpt-every", type=int, default=None, help="Checkpoint period in steps.")
@click.option("--log-every", type=int, default=None, help="Logging period in steps.")
@click.option("--seed", type=int, default=None)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def main(data_dir, model, max_steps, run_dir, stage, config_path, init, resume, no_progress, **flags) -> None:
    """Train muMatting; writes RUN_DIR/{config.yaml, metrics.jsonl, tb/, checkpoints/}."""
    try:
        if run_dir is None and (resume or int(os.environ.get("WORLD_SIZE", "1")) > 1):
            raise ConfigError("--out: name the run folder (needed with --resume and under torchrun)")
        layers = []
        saved = Path(run_dir) / "config.yaml" if run_dir else None
        if resume and saved is not None and saved.exists():
            layers.append(read_yaml(saved))
        if config_path:
            layers.append(read_yaml(config_path))
        cli = {
            "model": model,
            "max_steps": max_steps,
            "stage": stage,
            "init": str(Path(init).resolve()) if init else None,
            "batch_size": flags["batch_size"],
            "num_workers": flags["num_workers"],
            "device": flags["device"],
            "ckpt_every": flags["ckpt_every"],
            "log_every": flags["log_every"],
            "seed": flags["seed"],
            "optim.lr": flags["lr"],
        }
        if data_dir:
            data = manifest_source(data_dir)
            cli["data.sources"] = data["sources"]
            if data["below"]:
                names = ", ".join(
                    f"{name} ({'?' if n is None else n} train frames)" for name, n in data["datasets"]
                )
                n = len(data["datasets"])
                skipped = (
                    f"; skipped (no train shots): {', '.join(data['skipped'])}" if data["skipped"] else ""
                )
                click.echo(f"data: {n} dataset{'s' * (n > 1)} under {data_dir}, all used: {names}{skipped}")
        cfg = resolve_config(*layers, cli=cli, model_scale=not resume)
        if run_dir is None:
            run_dir = str(fresh_run_dir(Path("runs"), f"{cfg.stage}-{time.strftime('%Y%m%d-%H%M%S')}"))
            click.echo(f"run folder: {run_dir}")
        records = train(cfg, run_dir, resume=resume, progress=not no_progress)
    except (ConfigError, CheckpointError, TrainError) as exc:
        raise click.ClickException(str(exc)) from exc
    if records and os.environ.get("RANK", "0") == "0":
        last = records[-1]
        click.echo(f"step {last['step']}: loss {last['total']:.4f}; run folder {run_dir}")


if __name__ == "__main__":
    main()
