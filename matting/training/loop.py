"""The training loop of both muMatting stages, read top to bottom by ``train``.

Stage "cap": CAP alone, ``stage1_losses`` on its low-resolution output against the ground
truth area-downsampled to that size. Stage "far": CAP frozen, ``stage2_losses`` on the refined,
fused and key maps at the full crop resolution. One optimizer step per batch; a step counter
``step`` counts finished optimizer steps, so ``step_000010.pt`` holds the state after ten.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from matting.data import MixtureDataset, build_dataset
from matting.losses import stage1_losses, stage2_losses
from matting.models import ModelConfig, build_model
from matting.models.registry import get_config
from matting.precision import autocast
from matting.training import distributed
from matting.training.checkpoint import (
    CheckpointError,
    CheckpointWriter,
    load_checkpoint,
    load_model_weights,
    rng_state,
    set_rng_state,
)
from matting.training.config import TrainConfig, save_config, with_total_steps
from matting.training.logging import RunLogger
from matting.training.schedule import build_scheduler


class TrainError(RuntimeError):
    """A run that cannot start or continue; one-line message."""


def collate(samples: list[dict]) -> dict:
    """Stack clips: rgb (B, T, 3, S, S), alpha (B, T, 1, S, S), context (B, T, 3, C, C),
    context_alpha (B, T, 1, C, C), box (B, 4); stream/index/source as lists."""
    out = {
        name: torch.stack([torch.as_tensor(s[name]) for s in samples])
        for name in ("rgb", "alpha", "context", "context_alpha", "box")
    }
    out.update(
        stream=[int(s["stream"]) for s in samples],
        index=[int(s["index"]) for s in samples],
        source=[s["source"] for s in samples],
    )
    return out


def stage_losses(
    out: dict, gt: torch.Tensor, stage: str, weights: Iterable[float], gt_context: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Named loss terms (float32) of one stage; ``out`` is the model's output dict, gt (B, T, 1,
    H, W) the window's alpha. Stage "cap" scores CAP's canvas-wide coarse alpha against
    ``gt_context`` (B, T, 1, C, C), the letterboxed whole-frame alpha (default: gt, when the
    window is the whole canvas)."""
    if stage == "cap":
        coarse_lr = out["coarse_lr"].float()
        b, t = coarse_lr.shape[:2]
        target = gt if gt_context is None else gt_context
        gt_lr = F.interpolate(target.flatten(0, 1).float(), size=coarse_lr.shape[-2:], mode="area")
        return stage1_losses(coarse_lr, gt_lr.view(b, t, *gt_lr.shape[1:]))
    return stage2_losses(
        out["refined"].float(), out["alpha"].float(), out["key"].float(), gt, weights=tuple(weights)
    )


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _build_model(cfg: TrainConfig, init_ckpt: dict | None) -> torch.nn.Module:
    try:
        model = build_model(cfg.model, **cfg.model_overrides)
    except (ValueError, TypeError) as exc:
        raise TrainError(f"model {cfg.model!r}: {exc}") from exc
    if init_ckpt is not None:
        load_model_weights(model, init_ckpt, f"--init {cfg.init}")
    if cfg.stage == "far":
        model.freeze_cap()
    return model


class Trainer:
    """Holds the pieces of one run; ``run`` trains up to ``cfg.max_steps``."""

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: Path,
        resume: bool,
        runtime: distributed.Runtime,
        progress: bool = True,
    ):
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.progress = progress
        self.rt = runtime
        resume_from = self._resume_checkpoint(resume)
        if resume_from is None:
            cfg = with_total_steps(cfg)
        elif cfg.schedule.total_steps is None:
            saved = resume_from["train_config"]["schedule"]["total_steps"]
            cfg = dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, total_steps=saved))
        init = load_checkpoint(cfg.init) if cfg.init and resume_from is None else None
        if resume_from is not None:
            cfg = self._keep_model_config(cfg, resume_from, str(self.ckpt_dir / "last.pt"))
        elif init is not None and init.get("stage") == "far":
            cfg = self._keep_model_config(cfg, init, f"--init {cfg.init}", only=("far.residual",))
        self.cfg = cfg
        _seed_everything(cfg.seed + self.rt.rank)
        if cfg.stage == "far" and cfg.init is None and resume_from is None and self.rt.is_main:
            print("warning: stage far without --init: CAP keeps its initial weights", flush=True)
        self.model = _build_model(cfg, init)
        if resume_from is not None:  # before DDP wraps the model, so every rank starts equal
            self._check_stage(resume_from)
            load_model_weights(self.model, resume_from, str(self.ckpt_dir / "last.pt"))
        self.model.to(self.rt.device)
        self.net = self.model
        if self.rt.distributed:
            ids = [self.rt.device.index] if self.rt.device.type == "cuda" else None
            self.net = DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=cfg.stage == "cap"
            )
        o = cfg.optim
        groups = self.model.param_groups(o.lr, o.weight_decay, o.layer_decay, stage=cfg.stage)
        self.params = [p for g in groups for p in g["params"]]
        self.optimizer = torch.optim.AdamW(groups, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        s = cfg.schedule
        self.scheduler = build_scheduler(self.optimizer, s.warmup_steps, s.total_steps, s.min_lr_ratio)
        use_scaler = self.rt.device.type == "cuda" and cfg.amp == "fp16"
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        try:
            self.dataset: MixtureDataset = build_dataset(
                cfg.data, rank=self.rt.rank, context_size=self.model.cap.cap_size
            )
        except (ValueError, OSError) as exc:
            raise TrainError(f"data: {exc}") from exc
        self.num_streams = max(cfg.num_workers, 1)
        self.consumed = [0] * self.num_streams
        self.step = 0
        self.interval = [0.0, 0]  # sum and count of training losses since the last checkpoint
        self.best_loss = math.inf
        self.writer = CheckpointWriter(self.ckpt_dir, cfg.keep_checkpoints, clean=self.rt.is_main)
        if resume_from is not None:
            self._restore(resume_from)
        if self.rt.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
            d = self.dataset.augment
            print(
                f"model {cfg.model}, stage {cfg.stage} on {self.rt.device} (x{self.rt.world_size}): "
                f"{cfg.batch_size} clip(s): whole frames on a {d.context_size} px canvas for CAP, "
                f"{d.size} px windows for FAR (from {', '.join(map(str, d.crop_sizes))} px of the frame), "
                f"amp {cfg.amp if self.rt.device.type == 'cuda' else 'off'}",
                flush=True,
            )

    def _keep_model_config(
        self, cfg: TrainConfig, ckpt: dict, where: str, only: tuple[str, ...] | None = None
    ) -> TrainConfig:
        """``cfg`` with the model settings the checkpoint's weights were trained with, where they
        differ from what ``cfg`` would build (a default changed since, e.g. ``far.residual``,
        which checkpoints from before the choice lack and used as ``logit``): weights read under
        other settings would be silently wrong. ``only``: the dotted fields to keep (``--init``
        keeps FAR's output form and lets a run choose the rest); the sparse-conv backend is a
        choice of this machine and never kept."""
        try:
            saved = ModelConfig.from_dict({**ckpt["model_config"], "sapiens_checkpoint": None})
            built = get_config(cfg.model, **cfg.model_overrides)
        except (ValueError, TypeError, KeyError):
            return cfg  # a foreign checkpoint: load_model_weights names the problem
        changed = {
            f"{section}.{key}": value
            for section in ("cap", "key", "far")
            for key, value in dataclasses.asdict(getattr(saved, section)).items()
            if key != "backend"
            and value != getattr(getattr(built, section), key)
            and (only is None or f"{section}.{key}" in only)
        }
        if not changed:
            return cfg
        if self.rt.is_main:
            names = {"far.residual": "FAR residual"}
            kept = ", ".join(f"{names.get(k, k)} {v!r}" for k, v in changed.items())
            print(f"note: {where} was trained with {kept}; this run keeps it", flush=True)
        overrides = {k: v for k, v in cfg.model_overrides.items() if k not in changed}
        for dotted, value in changed.items():
            section, key = dotted.split(".")
            overrides[section] = {**dict(overrides.get(section) or {}), key: value}
        return dataclasses.replace(cfg, model_overrides=overrides)

    def _resume_checkpoint(self, resume: bool) -> dict | None:
        last = self.ckpt_dir / "last.pt"
        if not resume:
            if last.exists():
                raise TrainError(
                    f"{self.run_dir}: holds checkpoints already; pass --resume or choose a new --out"
                )
            return None
        if not last.exists():
            raise TrainError(f"{last}: no checkpoint to resume from")
        return load_checkpoint(last, map_location="cpu")

    def _check_stage(self, ckpt: dict) -> None:
        if ckpt.get("stage") != self.cfg.stage:
            raise CheckpointError(
                f"{self.ckpt_dir / 'last.pt'}: saved at stage {ckpt.get('stage')!r}, this run is {self.cfg.stage!r}"
            )

    def _restore(self, ckpt: dict) -> None:
        """Optimizer, scheduler, scaler, data position and RNG from ``ckpt`` (weights are loaded earlier)."""
        where = str(self.ckpt_dir / "last.pt")
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        if "ranks" in ckpt:
            ranks, streams = ckpt["ranks"], ckpt["num_streams"]
        else:  # the first format: one process's data position and RNG
            ranks, streams = (
                [{"consumed": ckpt["data"]["consumed"], "rng": ckpt["rng"]}],
                ckpt["data"]["num_streams"],
            )
            if self.rt.world_size > 1:
                raise TrainError(
                    f"{where}: written by an earlier release, which saved one rank's state only; "
                    "it resumes exactly as a single process"
                )
        if len(ranks) != self.rt.world_size:
            raise TrainError(
                f"{where}: saved by {len(ranks)} rank(s), now {self.rt.world_size}; exact resume needs the "
                "same number of processes"
            )
        if streams != self.num_streams:
            raise TrainError(
                f"{where}: saved with {streams} loader stream(s), now num_workers gives "
                f"{self.num_streams}; exact resume needs the same num_workers"
            )
        own = ranks[self.rt.rank]  # each rank its own data position and random state
        self.consumed = [int(c) for c in own["consumed"]]
        self.dataset.load_state_dict(self.dataset.state_at(dict(enumerate(self.consumed)), self.num_streams))
        set_rng_state(own["rng"])
        self.step = int(ckpt["step"])
        self.best_loss = float(ckpt.get("best_loss", math.inf))

    def _loader(self) -> DataLoader:
        # A private generator: creating the loader iterator must not consume the global RNG,
        # or a resumed run would drift from an uninterrupted one.
        return DataLoader(
            self.dataset,
            batch_size=self.cfg.batch_size,
            num_workers=self.cfg.num_workers,
            collate_fn=collate,
            pin_memory=self.rt.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.cfg.seed),
        )

    def train_step(self, batch: dict) -> dict[str, float]:
        """One optimizer step on a batch; returns the named loss terms, lr and grad norm."""
        rgb, gt, context, gt_context, box = (
            batch[k].to(self.rt.device, non_blocking=True)
            for k in ("rgb", "alpha", "context", "context_alpha", "box")
        )
        # Training autocasts on CUDA only (config: "never used on CPU").
        with autocast(self.rt.device, self.cfg.amp if self.rt.device.type == "cuda" else "off"):
            out = self.net(rgb, stage=self.cfg.stage, context=context, box=box)
        losses = stage_losses(out, gt, self.cfg.stage, self.cfg.loss_weights, gt_context)
        if not torch.isfinite(losses["total"]):
            raise TrainError(f"step {self.step + 1}: loss is {losses['total'].item()} ({batch['source']})")
        lr = max(g["lr"] for g in self.optimizer.param_groups)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(losses["total"]).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            losses["total"].backward()
        clip = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        record = {k: float(v.detach()) for k, v in losses.items()}
        record.update(lr=lr, grad_norm=float(grad_norm))
        if self.cfg.stage == "far":  # FAR's cost follows its sites: key pixels per clip
            record["key_sites"] = float(out["key"].detach().sum()) / rgb.shape[0]
        return record

    def checkpoint(self) -> Path | None:
        """Write ``checkpoints/step_NNNNNN.pt``, link ``last.pt`` (and ``best.pt`` when the mean
        training loss since the previous checkpoint is the lowest so far), keep the newest
        ``keep_checkpoints`` step files. Every rank calls it (each rank's data position and random
        state are gathered); rank 0 writes, in the background. Returns the path on rank 0."""
        failed = self.writer.failed() if self.rt.is_main else None
        own = {
            "consumed": list(self.consumed),
            "rng": rng_state(),
            "loss": list(self.interval),
            "failed": failed,
        }
        gathered = distributed.gather(own, self.rt)
        self.interval = [0.0, 0]
        errors = [g["failed"] for g in gathered if g["failed"]]
        if errors:  # every rank stops together, not only the one whose write failed
            raise TrainError(f"{self.ckpt_dir}: writing a checkpoint failed ({errors[0]})")
        if not self.rt.is_main:
            return None
        total, n = sum(g["loss"][0] for g in gathered), sum(g["loss"][1] for g in gathered)
        ranks = [{"consumed": g["consumed"], "rng": g["rng"]} for g in gathered]
        interval_loss = total / n if n else math.inf  # over every rank's steps
        best = interval_loss < self.best_loss
        self.best_loss = min(self.best_loss, interval_loss)
        payload = {
            "step": self.step,
            "stage": self.cfg.stage,
            "model": self.model.state_dict(),
            "model_config": dataclasses.asdict(self.model.config),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "world_size": self.rt.world_size,
            "num_streams": self.num_streams,
            "ranks": ranks,
            "interval_loss": interval_loss,
            "best_loss": self.best_loss,
            "train_config": self.cfg.to_dict(),
        }
        return self.writer.submit(self.step, payload, best)

    def run(self) -> list[dict]:
        """Train until ``max_steps``; returns the records logged by this call."""
        cfg, rt = self.cfg, self.rt
        logger = RunLogger(self.run_dir, self.step, cfg.max_steps, rt.is_main, self.progress)
        records = []
        start = self.step
        self.model.train()
        try:
            batches = iter(self._loader())
            t0 = time.perf_counter()
            while self.step < cfg.max_steps:
                batch = next(batches)
                for stream, index in zip(batch["stream"], batch["index"], strict=True):
                    self.consumed[stream] = max(self.consumed[stream], index + 1)
                values = self.train_step(batch)
                if rt.is_main and "key_sites" in values and not records and self.step == start:
                    size = self.dataset.augment.size
                    clip_len = batch["rgb"].shape[1]
                    share = values["key_sites"] / (clip_len * size * size)
                    print(
                        f"FAR: {values['key_sites']:,.0f} key sites per clip in the first batch ({share:.1%})",
                        flush=True,
                    )
                self.step += 1
                self.interval[0] += values["total"]
                self.interval[1] += 1
                logger.step()
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    values = distributed.mean_across_ranks(values, rt)
                    record = {"step": self.step, "stage": cfg.stage, **values}
                    record["seconds"] = round(time.perf_counter() - t0, 3)
                    logger.log(record)
                    records.append(record)
                if self.step % cfg.ckpt_every == 0 or self.step == cfg.max_steps:
                    self.checkpoint()
            self.writer.wait()  # the last checkpoint is on disk when train() returns
        finally:
            logger.close()
            self.writer.wait(raise_error=False)  # an error already on its way is the one to show
        return records


def train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> list[dict]:
    """Train (or with ``resume`` continue) the run in ``run_dir``; returns the logged records."""
    runtime = distributed.setup(cfg.device)
    try:
        records = Trainer(cfg, Path(run_dir), resume, runtime, progress).run()
    except BaseException:
        distributed.teardown(runtime, together=False)  # the other ranks may never get here
        raise
    distributed.teardown(runtime)
    return records
