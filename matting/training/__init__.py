"""Training machinery behind ``python -m matting.train``: config, loop, checkpoints, schedule, logs."""

from matting.training.checkpoint import CheckpointError, load_checkpoint, load_model_weights, save_checkpoint
from matting.training.config import ConfigError, TrainConfig, read_yaml, resolve_config
from matting.training.loop import Trainer, TrainError, train

__all__ = [
    "CheckpointError",
    "ConfigError",
    "TrainConfig",
    "TrainError",
    "Trainer",
    "load_checkpoint",
    "load_model_weights",
    "read_yaml",
    "resolve_config",
    "save_checkpoint",
    "train",
]
