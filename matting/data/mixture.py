"""An endless, seeded mixture of clip sources that can resume exactly.

Randomness has two layers. Each stream (one per loader worker of one rank) owns a
``numpy.random.Generator`` seeded from (seed, rank, worker id); for every clip it draws only
two numbers: which source (by the mixing weights) and a 63-bit clip seed. Everything else
about the clip (which clip of the source, background, motion, crop, flip, jitter) comes from a
generator seeded with that clip seed. So a stream's position is just (clips drawn, stream
generator state), and the state at any position can be recomputed without reading data.

Resuming with loader workers: the dataset object in the main process never sees the workers'
draws, so record what the trainer consumed instead. Every sample carries ``stream`` (its stream
id) and ``index`` (its number within that stream); after training on a batch, keep
``consumed[stream] = max(index) + 1`` and checkpoint ``dataset.state_at(consumed, num_workers)``.
Without workers (``num_workers=0``) ``state_dict()`` is live and equals that.

A DataLoader takes batches from its workers round robin, always starting with worker 0. So
that a resumed loader continues the interleaving too, not only each stream, the state records
which stream comes next (the least consumed one) and worker i then serves stream
(i + first_stream) mod num_workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from matting.data.augment import AugmentConfig, augment_clip
from matting.data.clip import ClipSource

STATE_FORMAT = "matting-mixture/1"


@dataclass
class _Stream:
    rng: np.random.Generator
    drawn: int = 0


class MixtureDataset(IterableDataset):
    """Yields {"rgb": (T, 3, S, S) float32, "alpha": (T, 1, S, S) float32, "context":
    (T, 3, C, C), "context_alpha": (T, 1, C, C), "box": (4,), "source": str, "key": str,
    "stream": int, "index": int} forever (see ``augment_clip``). Iterate it once: a new iterator continues
    from the current position rather than starting over."""

    def __init__(
        self,
        sources: Sequence[ClipSource],
        weights: Sequence[float],
        augment: AugmentConfig,
        seed: int = 0,
        rank: int = 0,
    ):
        if not sources or len(sources) != len(weights):
            raise ValueError(
                f"mixture: need one weight per source, got {len(sources)} sources, {len(weights)} weights"
            )
        w = np.asarray(weights, dtype=np.float64)
        if not np.all(np.isfinite(w)) or (w <= 0).any():
            raise ValueError(f"mixture: weights must be positive, got {list(weights)}")
        self.sources = list(sources)
        self.weights = tuple(float(x) for x in w)
        self._cumulative = np.cumsum(w / w.sum())
        self.augment = augment
        self.seed = int(seed)
        self.rank = int(rank)
        self._streams: dict[int, _Stream] = {}
        self._num_streams: int | None = None
        self._first_stream = 0  # stream served by worker 0

    def _new_stream(self, stream_id: int) -> _Stream:
        seq = np.random.SeedSequence([self.seed, self.rank, stream_id])
        return _Stream(np.random.Generator(np.random.PCG64(seq)))

    def _stream(self, stream_id: int) -> _Stream:
        if stream_id not in self._streams:
            self._streams[stream_id] = self._new_stream(stream_id)
        return self._streams[stream_id]

    def _draw(self, stream: _Stream) -> tuple[int, int]:
        """Advance a stream by one clip: (source index, clip seed)."""
        u = stream.rng.random()
        source = min(int(np.searchsorted(self._cumulative, u, side="right")), len(self.sources) - 1)
        clip_seed = int(stream.rng.integers(0, 2**63 - 1))
        stream.drawn += 1
        return source, clip_seed

    def make_clip(self, source_index: int, clip_seed: int) -> dict:
        """The augmented clip that (source, clip seed) stands for; pure function of its inputs."""
        rng = np.random.default_rng(clip_seed)
        source = self.sources[source_index]
        raw = source.load(int(rng.integers(len(source))), rng)
        return augment_clip(raw, rng, self.augment)

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        stream_id, num_streams = (info.id, info.num_workers) if info is not None else (0, 1)
        if self._num_streams is not None and self._num_streams != num_streams:
            raise ValueError(
                f"mixture: state was saved with {self._num_streams} loader stream(s) but this loader has "
                f"{num_streams}; exact resume needs the same num_workers"
            )
        self._num_streams = num_streams
        stream_id = (stream_id + self._first_stream) % num_streams
        stream = self._stream(stream_id)
        while True:
            source_index, clip_seed = self._draw(stream)
            sample = self.make_clip(source_index, clip_seed)
            sample["stream"] = stream_id
            sample["index"] = stream.drawn - 1
            yield sample

    def state_dict(self) -> dict:
        """Live position of the streams iterated in this process (see the module docstring):
        {"format", "seed", "rank", "num_streams", "first_stream",
         "streams": {"<id>": {"clips_drawn": int, "rng": PCG64 state}}}; JSON-serialisable."""
        return {
            "format": STATE_FORMAT,
            "seed": self.seed,
            "rank": self.rank,
            "num_streams": self._num_streams,
            "first_stream": self._first_stream,
            "streams": {
                str(i): {"clips_drawn": s.drawn, "rng": s.rng.bit_generator.state}
                for i, s in sorted(self._streams.items())
            },
        }

    def load_state_dict(self, state: Mapping) -> None:
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"mixture: state format {state.get('format')!r}, expected {STATE_FORMAT!r}")
        if (state["seed"], state["rank"]) != (self.seed, self.rank):
            raise ValueError(
                f"mixture: state is for seed {state['seed']} rank {state['rank']}, "
                f"this dataset has seed {self.seed} rank {self.rank}"
            )
        streams = {}
        for key, entry in state["streams"].items():
            stream = self._new_stream(int(key))
            stream.rng.bit_generator.state = entry["rng"]
            stream.drawn = int(entry["clips_drawn"])
            streams[int(key)] = stream
        self._streams = streams
        self._num_streams = state["num_streams"]
        self._first_stream = int(state.get("first_stream", 0))

    def state_at(self, consumed: Mapping[int, int], num_streams: int) -> dict:
        """The state after ``consumed[stream]`` clips of each stream, recomputed from the seed.

        Cheap (two random numbers per clip, no data read); streams not named are at 0. Assumes
        the consumed clips came from a round-robin loader with ``num_streams`` workers.
        """
        unknown = set(consumed) - set(range(num_streams))
        if unknown:
            raise ValueError(f"mixture: streams {sorted(unknown)} outside 0..{num_streams - 1}")
        probe = MixtureDataset(self.sources, self.weights, self.augment, self.seed, self.rank)
        probe._num_streams = num_streams
        # Round robin serves the least consumed stream next (the lowest id among equals).
        counts = [int(consumed.get(i, 0)) for i in range(num_streams)]
        probe._first_stream = counts.index(min(counts))
        for stream_id in range(num_streams):
            stream = probe._stream(stream_id)
            for _ in range(int(consumed.get(stream_id, 0))):
                probe._draw(stream)
        return probe.state_dict()
