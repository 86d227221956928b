"""``python -m render.noise_floor MANIFEST_DIR OTHER_MANIFEST_DIR [--record]``: the α noise floor
of every shot both datasets hold, measured between them.

Render the same config twice, the second time with ``--sampler-seed S`` into another
``--manifests`` (same shots, other sampling noise), then run this. ``--record`` writes each
shot's figure into the first dataset's shot records (``stats.noise_floor`` and the sampler seed
it was measured against), where the audit and the trainer can read it. The two datasets must
have the same config and identity but for ``sampler_seed``; frames are streamed in pairs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np

from render import exrio, labels
from render.config import ConfigError, config_from_dict, parse_yaml
from render.manifest import CONFIG, as_location, load_dataset, shot_record_name
from render.shards import iter_shard


def _frames(dataset, shot_id: str) -> Iterator[tuple[str, np.ndarray, int]]:
    """(sample key, alpha (H, W), sampler seed) of one shot's frames, streamed in order."""
    for s in dataset.shards:
        if s["shot_id"] == shot_id:
            for sample in iter_shard(s["path"]):
                try:
                    seed = json.loads(sample["json"])["seeds"]["render"]
                    alpha = exrio.decode_alpha(sample["alpha.exr"])
                except KeyError as exc:
                    raise ValueError(f"{s['path']}: sample {sample['__key__']} lacks {exc}") from None
                yield sample["__key__"], alpha, seed


def check_pair(first: str, second: str) -> None:
    """Both datasets must be the same config and identity but for ``sampler_seed``."""
    configs, seeds = [], []
    for m in (first, second):
        loc = as_location(m)
        try:
            text = loc.read_text(CONFIG)
        except FileNotFoundError:
            raise FileNotFoundError(f"{loc.url(CONFIG)}: no dataset config") from None
        saved = parse_yaml(text, loc.url(CONFIG))
        identity = saved.pop("identity", None)
        content = config_from_dict(saved).content_dict()
        seeds.append(content.pop("sampler_seed"))
        configs.append((content, identity))
    (a, ia), (b, ib) = configs
    if seeds[0] == seeds[1]:
        raise ValueError(f"{first} and {second} have the same sampler seed ({seeds[0]}): nothing to measure")
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if diff:
        raise ValueError(f"{first} and {second} differ in {diff[0]}, not only in the sampler seed")
    if ia != ib:
        raise ValueError(f"{first} and {second} were made from other catalogs or engine versions")


def compare(first: str | Path, second: str | Path) -> dict[str, dict]:
    """{shot_id: {"noise_floor", "pixels", "frames", "seeds"}} for shots in both datasets."""
    first, second = str(first), str(second)
    check_pair(first, second)
    a, b = load_dataset(first), load_dataset(second)
    common = sorted({s["shot_id"] for s in a.shards} & {s["shot_id"] for s in b.shards})
    if not common:
        raise ValueError(f"{first} and {second} share no shot")
    result = {}
    for shot_id in common:
        total, pixels, frames, seeds = 0.0, 0, 0, [None, None]
        pairs = itertools.zip_longest(_frames(a, shot_id), _frames(b, shot_id))
        for one, two in pairs:
            if one is None or two is None:
                raise ValueError(f"{shot_id}: the two datasets hold different numbers of frames")
            (ka, fa, sa), (kb, fb, sb) = one, two
            if ka != kb or fa.shape != fb.shape:
                raise ValueError(f"{shot_id}: frame {ka} {fa.shape} vs {kb} {fb.shape}")
            if sa == sb:
                raise ValueError(f"{shot_id}: frame {ka} was rendered with the same seed ({sa}) in both")
            value, n = labels.noise_floor(fa, fb)
            if n:
                total += value * n
                pixels += n
            frames += 1
            seeds = [sa, sb]
        result[shot_id] = {
            "noise_floor": round(total / pixels, 6) if pixels else None,
            "pixels": pixels,
            "frames": frames,
            "seeds": seeds,
        }
    return result


def record(manifest_dir: str | Path, figures: dict[str, dict]) -> None:
    loc = as_location(manifest_dir)
    for shot_id, fig in figures.items():
        rec = json.loads(loc.read_bytes(shot_record_name(shot_id)))
        rec.setdefault("stats", {})
        rec["stats"]["noise_floor"] = fig["noise_floor"]
        rec["stats"]["noise_floor_against_seed"] = fig["seeds"][1]
        loc.write_text(shot_record_name(shot_id), json.dumps(rec, indent=2, sort_keys=True) + "\n")


@click.command()
@click.argument("manifest_dir")
@click.argument("other_manifest_dir")
@click.option(
    "--record", "write", is_flag=True, help="Store each shot's figure in MANIFEST_DIR's shot records."
)
def main(manifest_dir: str, other_manifest_dir: str, write: bool) -> None:
    """Mean |α₁ − α₂| over pixels fractional in either render, per shot and overall."""
    try:
        figures = compare(manifest_dir, other_manifest_dir)
        if write:
            record(manifest_dir, figures)
    except (OSError, ValueError, ConfigError) as exc:  # OSError: a missing file or an unreachable store
        raise click.ClickException(str(exc)) from exc
    total = sum(f["noise_floor"] * f["pixels"] for f in figures.values() if f["pixels"])
    pixels = sum(f["pixels"] for f in figures.values())
    for shot_id, f in figures.items():
        click.echo(
            f"{shot_id}  noise floor {f['noise_floor']}  ({f['pixels']} px, {f['frames']} frames, seeds {f['seeds']})"
        )
    if pixels:
        click.echo(
            f"overall  noise floor {total / pixels:.6f}  ({pixels} fractional px, {len(figures)} shots)"
        )
    if write:
        click.echo(f"recorded in {as_location(manifest_dir).url('shots')}")


if __name__ == "__main__":
    main()
