"""``python -m render.noise_floor MANIFEST_DIR OTHER_MANIFEST_DIR [--record]``: the α noise floor
of every shot both datasets hold, measured between them.

Render the same config twice, the second time with ``--sampler-seed S`` into another
``--manifests`` (same shots, other sampling noise), then run this. ``--record`` writes each
shot's figure into the first dataset's shot records (``stats.noise_floor`` and the sampler seed
it was measured against), where the audit and the trainer can read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from render import exrio, labels
from render.atomic import write_json_atomic
from render.manifest import load_dataset, shot_record_path
from render.shards import iter_shard


def shot_alphas(dataset, shot_id: str) -> dict[str, tuple[object, int]]:
    """{sample key: (alpha (H, W), sampler seed)} of one shot."""
    out = {}
    for s in dataset.shards:
        if s["shot_id"] != shot_id:
            continue
        for sample in iter_shard(s["path"]):
            meta = json.loads(sample["json"])
            out[sample["__key__"]] = (exrio.decode_alpha(sample["alpha.exr"]), meta["seeds"]["render"])
    return out


def compare(first: str | Path, second: str | Path) -> dict[str, dict]:
    """{shot_id: {"noise_floor", "pixels", "frames", "seeds"}} for shots in both datasets."""
    a, b = load_dataset(first), load_dataset(second)
    common = sorted({s["shot_id"] for s in a.shards} & {s["shot_id"] for s in b.shards})
    if not common:
        raise ValueError(f"{first} and {second} share no shot")
    result = {}
    for shot_id in common:
        fa, fb = shot_alphas(a, shot_id), shot_alphas(b, shot_id)
        keys = sorted(set(fa) & set(fb))
        total, pixels = 0.0, 0
        for k in keys:
            if fa[k][0].shape != fb[k][0].shape:
                raise ValueError(f"{shot_id}: frame {k} has shape {fa[k][0].shape} vs {fb[k][0].shape}")
            value, n = labels.noise_floor(fa[k][0], fb[k][0])
            if n:
                total += value * n
                pixels += n
        seeds = (fa[keys[0]][1], fb[keys[0]][1]) if keys else (None, None)
        result[shot_id] = {
            "noise_floor": round(total / pixels, 6) if pixels else None,
            "pixels": pixels,
            "frames": len(keys),
            "seeds": list(seeds),
        }
    return result


def record(manifest_dir: str | Path, figures: dict[str, dict]) -> None:
    for shot_id, fig in figures.items():
        path = shot_record_path(manifest_dir, shot_id)
        rec = json.loads(path.read_text())
        rec.setdefault("stats", {})
        rec["stats"]["noise_floor"] = fig["noise_floor"]
        rec["stats"]["noise_floor_against_seed"] = fig["seeds"][1]
        write_json_atomic(path, rec)


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
    except (FileNotFoundError, ValueError) as exc:
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
        record(manifest_dir, figures)
        click.echo(f"recorded in {Path(manifest_dir) / 'shots'}")


if __name__ == "__main__":
    main()
