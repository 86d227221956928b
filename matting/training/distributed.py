"""Device choice and torchrun/DDP setup from the environment (WORLD_SIZE, RANK, LOCAL_RANK)."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> cuda:LOCAL_RANK when CUDA is available, else cpu; ``cuda`` -> cuda:LOCAL_RANK."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {preference!r} requested but CUDA is not available")
        return torch.device(preference if ":" in preference else f"cuda:{local_rank}")
    return torch.device(preference)


def setup(device_preference: str) -> Runtime:
    """Join the process group when launched by torchrun with WORLD_SIZE > 1 (NCCL on CUDA,
    Gloo on CPU); a plain single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_preference, local)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Runtime(rank, world, local, device)


TEARDOWN_TIMEOUT_S = 300


def teardown(runtime: Runtime, together: bool = True) -> None:
    """Leave the process group; ``together`` (after a run that ended well on every rank) waits
    for all ranks first: without that barrier a rank can tear Gloo down while another still
    talks to it, and the late rank aborts at exit ("terminate called without an active
    exception", seen once in a test on a loaded machine)."""
    if runtime.distributed and dist.is_initialized():
        try:
            if together and dist.get_backend() == "gloo":  # a rank that died late: an error, not a hang
                dist.monitored_barrier(timeout=datetime.timedelta(seconds=TEARDOWN_TIMEOUT_S))
            elif together:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def gather(obj, runtime: Runtime) -> list:
    """``obj`` of every rank, in rank order (every rank must call this)."""
    if not runtime.distributed:
        return [obj]
    out: list = [None] * runtime.world_size
    dist.all_gather_object(out, obj)
    return out


def mean_across_ranks(values: dict[str, float], runtime: Runtime) -> dict[str, float]:
    """Average scalar logs over the ranks (every rank must call this)."""
    if not runtime.distributed:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=runtime.device)
    dist.all_reduce(t)
    return {k: float(v) / runtime.world_size for k, v in zip(keys, t.tolist(), strict=True)}
