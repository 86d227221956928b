"""``python -m render.contact_sheet MANIFEST_DIR --out sheet.png``: one row per shot (its
middle frame) with I, α, F over a checkerboard, B and the composite residual ×50, for looking
at a dataset with one's own eyes.

Colour is shown as sRGB of the scene-linear values (clipped, no tone mapping).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from render import exrio, labels
from render.manifest import load_dataset
from render.shards import iter_shard

TILE_HEIGHT = 480  # rows taller than this are scaled down
COLUMNS = ("I", "alpha", "F over checker", "B", "|I - comp| x50")


def to_srgb8(linear: np.ndarray) -> np.ndarray:
    """(..., 3) scene-linear → sRGB uint8, clipped to [0, 1] first."""
    x = np.clip(linear, 0.0, 1.0)
    s = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return (s * 255 + 0.5).astype(np.uint8)


def checker(h: int, w: int, size: int = 8) -> np.ndarray:
    """(h, w, 3) grey checkerboard, linear values 0.2 and 0.5."""
    yy, xx = np.mgrid[0:h, 0:w]
    c = ((yy // size + xx // size) % 2).astype(np.float32) * 0.3 + 0.2
    return np.repeat(c[..., None], 3, axis=-1)


def row(sample: dict) -> np.ndarray:
    """(h, 5w, 3) uint8 tiles of one frame, h = min(H, TILE_HEIGHT)."""
    rgb = exrio.decode_rgb(sample["rgb.exr"])
    alpha = exrio.decode_alpha(sample["alpha.exr"])
    h, w = alpha.shape
    f = exrio.decode_fg(sample["fg.exr"])[0] if "fg.exr" in sample else np.zeros_like(rgb)
    bg = exrio.decode_rgb(sample["bg.exr"]) if "bg.exr" in sample else np.zeros_like(rgb)
    over = labels.composite(alpha, f, checker(h, w))
    resid = np.clip(labels.residual_map(rgb, alpha, f, bg) * 50, 0, 1)
    tiles = [to_srgb8(rgb), to_srgb8(np.repeat(alpha[..., None], 3, -1)), to_srgb8(over), to_srgb8(bg)]
    tiles.append((np.stack([resid, resid * 0.3, 1 - resid], -1) * 255).astype(np.uint8))
    out = np.concatenate(tiles, axis=1)
    if h > TILE_HEIGHT:  # a 4K frame: a sheet, not a poster
        import cv2

        out = cv2.resize(
            out, (round(out.shape[1] * TILE_HEIGHT / h), TILE_HEIGHT), interpolation=cv2.INTER_AREA
        )
    return out


def middle_frame(shards: list[dict]) -> dict:
    """The middle sample of a shot whose shards (in order, with their frame counts) are given,
    read without decoding the frames before it."""
    target = sum(s["frames"] for s in shards) // 2
    for s in shards:
        if target < s["frames"]:
            for i, sample in enumerate(iter_shard(s["path"])):
                if i == target:
                    return sample
        target -= s["frames"]
    raise ValueError(f"{shards[0]['url']}: fewer frames than the index says")


def sheet(manifest_dir: str | Path, max_shots: int = 12) -> np.ndarray:
    """(rows·H, 5·W, 3) uint8: one row per shot, its middle frame."""
    ds = load_dataset(manifest_dir)
    rows = []
    by_shot: dict[str, list[dict]] = {}
    for s in ds.shards:
        by_shot.setdefault(s["shot_id"], []).append(s)
    for shot_id in sorted(by_shot)[:max_shots]:
        mid = middle_frame(sorted(by_shot[shot_id], key=lambda s: s["url"]))
        meta = json.loads(mid["json"])
        rows.append(row(mid))
        click.echo(f"{shot_id}: {meta['scene']}, frame {meta['frame']}, f/{meta['camera'].get('fstop', '-')}")
    if not rows:
        raise click.ClickException(f"{manifest_dir}: no shots to show")
    return np.concatenate(rows, axis=0)


@click.command()
@click.argument("manifest_dir")
@click.option("--out", default="contact_sheet.png", help="PNG to write.")
@click.option("--max-shots", default=12, help="At most this many shots (rows).")
def main(manifest_dir: str, out: str, max_shots: int) -> None:
    """One row per shot: I, alpha, F over a checkerboard, B, composite residual x50."""
    import cv2

    try:
        img = sheet(manifest_dir, max_shots)
    except (OSError, ValueError) as exc:  # OSError: a missing file or an unreachable store
        raise click.ClickException(str(exc)) from exc
    cv2.imwrite(out, img[..., ::-1])
    click.echo(f"{out}: {img.shape[1]}x{img.shape[0]} ({' | '.join(COLUMNS)})")


if __name__ == "__main__":
    main()
