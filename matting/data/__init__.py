"""Training clips for muMatting: αMatte4K shards, VideoMatte-style folders and image matting
sets, cropped and augmented identically across the frames of a clip and mixed by weight.

Samples are {"rgb": (T, 3, S, S) float32 in [0, 1] display values (the clip's look, see
``matting.data.color``), "alpha": (T, 1, S, S) float32 in [0, 1], "context": (T, 3, C, C) and
"context_alpha": (T, 1, C, C) (CAP's whole-frame view, ``matting.framing``), "box": (4,),
"source": str, "key": str, "stream": int, "index": int}.
"""

from matting.data.amatte4k import AMatte4KSource
from matting.data.augment import AugmentConfig, augment_clip
from matting.data.clip import ClipSource, PlanarFrames, RawClip
from matting.data.color import linear_to_srgb, srgb_to_linear, to_display
from matting.data.config import DataConfig, build_dataset, build_source, parse_config
from matting.data.images import ImageMatteSource
from matting.data.mixture import MixtureDataset
from matting.data.videomatte import VideoMatteSource

__all__ = [
    "AMatte4KSource",
    "AugmentConfig",
    "ClipSource",
    "DataConfig",
    "ImageMatteSource",
    "MixtureDataset",
    "PlanarFrames",
    "RawClip",
    "VideoMatteSource",
    "augment_clip",
    "build_dataset",
    "build_source",
    "linear_to_srgb",
    "parse_config",
    "srgb_to_linear",
    "to_display",
]
