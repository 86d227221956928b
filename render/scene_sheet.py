"""``python -m render.scene_sheet --out scenes.png``: every scene of the catalog as the dataset
renders it, for looking at the places with one's own eyes: each scene's first planned shot, its
first frame (a one-frame shot: no motion blur), the real renderer at a small size and few
samples, labelled with the scene's kind, the clip and the exposure.

    python -m render.scene_sheet --out scenes.png                   # 22 tiles, ~6 min on 2 cores
    python -m render.scene_sheet --out s.png --scenes gym,cafe --resolution 360x640 --samples 64
"""

from __future__ import annotations

import dataclasses
import tempfile
import time

import click
import numpy as np

from render.contact_sheet import to_srgb8


def _label(tile: np.ndarray, lines: list[str]) -> np.ndarray:
    import cv2

    out = tile.copy()
    for k, text in enumerate(lines):
        y = 14 + 14 * k
        cv2.putText(out, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return out


@click.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write")
@click.option(
    "--scenes", "names", default="", help="comma-separated scene names (default: the whole catalog)"
)
@click.option("--resolution", default="180x320", show_default=True)
@click.option("--samples", default=24, show_default=True)
@click.option("--columns", default=11, show_default=True)
@click.option("--config", "config_path", default=None, help="YAML config (catalogs, seed, assets)")
def main(out, names, resolution, samples, columns, config_path) -> None:
    import cv2
    from tqdm import tqdm

    from render.backends import RenderSettings, create_renderer
    from render.catalog import load_clips, load_scenes
    from render.config import load_config
    from render.plan import plan_shots

    cfg = load_config(config_path, {"resolution": resolution})
    catalog = load_scenes(cfg.scene_catalog_path())
    cfg = dataclasses.replace(
        cfg,
        scenes=len(catalog),
        cams=len(catalog),
        frames=1,
        frames_jitter=0.0,
        samples=samples,
        alpha_samples=32,
        alpha_min_samples=16,
        alpha_time_strata=1,
        motion_blur=False,
        hair_strands=min(cfg.hair_strands, 20000),
        hair_dynamics=False,
    )
    scenes = {s["name"]: s for s in catalog}
    wanted = [n for n in names.split(",") if n] or list(scenes)
    unknown = [n for n in wanted if n not in scenes]
    if unknown:
        raise click.UsageError(f"--scenes: {unknown[0]} is not in {cfg.scene_catalog_path()}")
    clips = load_clips(cfg.clip_catalog_path(), cfg.assets.clip_folders(), lambda m: click.echo(m, err=True))
    shots = {s.scene: s for s in reversed(plan_shots(cfg, list(scenes), clips))}
    renderer = create_renderer(cfg.backend)
    settings = RenderSettings.from_config(cfg, threads=0)
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in tqdm(wanted, desc="scenes", unit="scene"):
            shot = shots[name]
            t0 = time.time()
            files = renderer.render_shot(
                shot, scenes[name], clips[shot.animation.clip], settings, f"{tmp}/{name}"
            )
            frame = renderer.read_frame(files[0], settings.passes)
            ev = scenes[name].get("exposure", 0.0) + shot.camera.exposure_ev
            tiles.append(
                _label(
                    to_srgb8(frame.rgb[..., :3]),
                    [
                        f"{name} ({scenes[name]['kind']})",
                        f"{shot.animation.clip}",
                        f"{ev:+.1f} EV {time.time() - t0:.0f}s",
                    ],
                )
            )
    h, w = tiles[0].shape[:2]
    rows = []
    for i in range(0, len(tiles), columns):
        row = tiles[i : i + columns] + [np.zeros_like(tiles[0])] * (columns - len(tiles[i : i + columns]))
        rows.append(np.concatenate([np.pad(t, ((0, 2), (0, 2), (0, 0))) for t in row], axis=1))
    sheet = np.concatenate(rows, axis=0)
    cv2.imwrite(out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    click.echo(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {len(tiles)} scenes)")


if __name__ == "__main__":
    main()
