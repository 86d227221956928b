"""``python -m render.portraits --out people.png``: contact sheets of the people, rendered with
Cycles in a neutral studio, for looking at them with one's own eyes.

- ``--what hairstyles``: one row per hairstyle on one body: front, three-quarter, back, and a
  close-up of the head at 4K pixel density (``--px-per-mm``: a 2160×3840 frame spanning 1 m of
  height has 3.84);
- ``--what identities``: one row per identity of the catalog (the first ``--characters``, or
  ``--ids``): front, three-quarter, back and the close-up, with the identity's traits;
- ``--what actions``: one row per clip of the clip catalog (or ``--clips``): ``--frames`` poses
  across a 130-frame window from the start of its range, played on one identity as a shot
  would play it (retargeted, resampled to 30 fps), the camera following at 30° off the front.

Strands follow the same level of detail as in the dataset (by pixels per millimetre), so what
the sheet shows is what a shot at that scale renders.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import click
import numpy as np

from render.contact_sheet import to_srgb8
from render.people.hair import LOD_FULL_PX_PER_MM, LOD_MIN, head_hair
from render.people.hairstyles import STYLES
from render.people.identities import catalog, identity

BODY_PX_PER_MM = 0.2  # full-body views: 1.9 m over ~380 px


def _label(tile: np.ndarray, text: str, line: int = 0) -> np.ndarray:
    import cv2

    out = tile.copy()
    y = 18 + 18 * line
    cv2.putText(out, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _lod(px_per_mm: float) -> float:
    return float(np.clip(px_per_mm / LOD_FULL_PX_PER_MM, LOD_MIN, 1.0))


def portrait_row(bodies, spec, strands: int, px_per_mm: float, size: int, samples: int, views) -> list:
    """Tiles (uint8) of one character: full-body ``views`` (azimuths) and a head close-up."""
    from render.backends.blender import portrait
    from render.people.regions import head_frame

    body = bodies.body(spec.phenotype)
    key = json.dumps(asdict(spec), sort_keys=True)
    frame = head_frame(body)
    tiles = []
    body_h = float(body.vertices[:, 2].max())
    # Full-body views at their own level of detail, then the close-up at its own.
    hair = head_hair(
        body, spec.hair, strands, _lod(BODY_PX_PER_MM * size / 384), key, spec.accessories.get("hat", "none")
    )
    portrait.setup(body, spec, hair, samples)
    for az in views:
        rgba = portrait.shoot((0.0, 0.0, body_h * 0.52), az, body_h * 1.12, 50.0, (size * 9 // 16, size))
        tiles.append(_label(to_srgb8(rgba[..., :3]), f"{az:+.0f} deg"))
    hair = head_hair(body, spec.hair, strands, _lod(px_per_mm), key, spec.accessories.get("hat", "none"))
    portrait.setup(body, spec, hair, samples)
    span = size / (px_per_mm * 1000.0)  # metres the close-up spans at that density
    # A long lens keeps the camera out of the hair at any density (span · focal / sensor away).
    # The crown's edge a third from the top: hair against the background.
    top = frame.centre + np.array([0.0, 0.0, frame.radii[2] + 0.03 - span / 6])
    rgba = portrait.shoot(tuple(top), 35.0, span, 500.0, (size, size), transparent=True)
    grey = np.full(rgba.shape[:2] + (3,), 0.18, np.float32)
    over = rgba[..., :3] + (1 - rgba[..., 3:]) * grey  # premultiplied over a grey card
    tiles.append(_label(to_srgb8(over), f"close-up {px_per_mm:g} px/mm"))
    tiles.append(_label(to_srgb8(np.repeat(rgba[..., 3:], 3, -1)), "alpha"))
    return tiles


def action_rows(bodies, clip_names: str, n_frames: int, spec, size: int, samples: int) -> list:
    """One row of tiles per clip: ``n_frames`` poses over 130 frames at 30 fps from the start of
    the clip's range (procedural clips: from t = 0), on ``spec`` without hair (bald heads show the
    head's motion plainly and render fast)."""
    import dataclasses

    from tqdm import tqdm

    from render.backends.blender import portrait
    from render.body import rig_rest
    from render.catalog import load_clips, load_scenes
    from render.config import load_config
    from render.plan import plan_shots
    from render.timeline import frame_states

    cfg = load_config(None, {"cams": 22})
    clips = load_clips(cfg.clip_catalog_path(), cfg.assets.clip_folders(), lambda m: click.echo(m, err=True))
    names = [c for c in clip_names.split(",") if c] or list(clips)
    unknown = [c for c in names if c not in clips]
    if unknown:
        raise click.UsageError(f"--clips: {unknown[0]} is not in the clip catalog")
    base = plan_shots(cfg, [s["name"] for s in load_scenes(cfg.scene_catalog_path())], list(clips))[0]
    body = bodies.body(spec.phenotype)
    height = float(body.vertices[:, 2].max())
    rows = []
    for name in tqdm(names, desc="actions", unit="clip"):
        clip = clips[name]
        start = clip["frames"][0] / clip["fps"] if "fps" in clip else 0.0
        anim = dataclasses.replace(
            base.animation, clip=name, start=start, speed=1.0, heading_deg=0.0, position=(0.0, 0.0)
        )
        shot = dataclasses.replace(base, character=spec, frame_count=130, fps=30, animation=anim)
        states = frame_states(shot, clip, rig_rest(body))
        rig = portrait.setup(body, spec, [], samples, floor=True)
        tiles = []
        for k in np.linspace(1, len(states) - 2, n_frames).round().astype(int):
            portrait.pose(rig, states, int(k))
            root = states[k].root
            target = (root[0], root[1], root[2] + height * 0.5)
            rgba = portrait.shoot(target, 30.0, height * 1.25, 50.0, (size * 9 // 16, size))
            tiles.append(_label(to_srgb8(rgba[..., :3]), f"{states[k].clip_time:.1f}s", line=1))
        tags = ",".join(clip.get("tags", []))
        tiles[0] = _label(tiles[0], f"{name} ({clip.get('source', 'procedural')})")
        tiles[1] = _label(tiles[1], tags)
        rows.append(tiles)
    return rows


def _rows_to_sheet(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Rows of tiles (uint8) padded into one sheet."""
    h = max(t.shape[0] for r in rows for t in r)
    lines = []
    for r in rows:
        padded = [np.pad(t, ((0, h - t.shape[0]), (0, 4), (0, 0))) for t in r]
        line = np.concatenate(padded, axis=1)
        lines.append(line)
    w = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 4), (0, w - line.shape[1]), (0, 0))) for line in lines]
    return np.concatenate(lines, axis=0)


@click.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write")
@click.option("--what", type=click.Choice(["hairstyles", "identities", "actions"]), default="hairstyles")
@click.option("--clips", "clip_names", default="", help="actions: comma-separated clip names (default: all)")
@click.option("--frames", "n_frames", default=6, show_default=True, help="actions: poses per clip")
@click.option(
    "--characters", default=48, show_default=True, help="identities to draw (the catalog's first N)"
)
@click.option("--ids", default="", help="comma-separated catalog indices instead (e.g. 0,4,9)")
@click.option("--strands", default=60000, show_default=True, help="strands of a full head (hair_strands)")
@click.option("--px-per-mm", default=3.84, show_default=True, help="close-up pixel density at the head")
@click.option("--size", default=384, show_default=True, help="tile height in pixels")
@click.option("--samples", default=32, show_default=True)
def main(out, what, clip_names, n_frames, characters, ids, strands, px_per_mm, size, samples) -> None:
    import cv2
    from tqdm import tqdm

    from render.body import BodyModel

    bodies = BodyModel()
    if what == "actions":
        rows = action_rows(
            bodies, clip_names, n_frames, identity(int(ids.split(",")[0]) if ids else 3), size, samples
        )
        sheet = _rows_to_sheet(rows)
        cv2.imwrite(out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        click.echo(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {len(rows)} rows)")
        return
    if what == "hairstyles":
        base = identity(0)
        # One woman (anny's gender 1) of middle age and build, no hat, wears every style.
        neutral = {**base.phenotype, "gender": 1.0, "age": 0.75, "weight": 0.5, "muscle": 0.5}
        plain = dict.fromkeys(base.accessories, "none")
        specs = [
            replace(
                base,
                id=name,
                phenotype=neutral,
                hair={**base.hair, "style": name, "facial": "none"},
                accessories=plain,
            )
            for name in STYLES
        ]
        views = (0.0, 40.0, 180.0)
    else:
        specs = [identity(int(i)) for i in ids.split(",")] if ids else catalog(characters)
        views = (0.0, 40.0, 180.0)
    rows = []
    for spec in tqdm(specs, desc=what, unit="row"):
        tiles = portrait_row(bodies, spec, strands, px_per_mm, size, samples, views)
        title = f"{spec.id}: {spec.hair['style']}" + (
            f", {spec.hair['facial']}" if spec.hair.get("facial", "none") != "none" else ""
        )
        if what == "identities":
            t = spec.traits
            title = f"{spec.id} {t['sex']} {t['years']:.0f}y skin {t['skin']}"
            tiles[1] = _label(tiles[1], spec.hair["style"], line=1)
            wear = [g["kind"] for g in spec.outfit.values() if isinstance(g, dict) and g["kind"] != "shoes"]
            tiles[2] = _label(tiles[2], "+".join(wear), line=1)
        rows.append([_label(tiles[0], title), *tiles[1:]])
    sheet = _rows_to_sheet(rows)
    cv2.imwrite(out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    click.echo(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {len(rows)} rows)")


if __name__ == "__main__":
    main()
