"""Foot contact of the clip catalog, measured side by side in one run.

For every captured clip, on each of ``--identities`` bodies, over a 130-frame window at 30 fps
from the start of the clip's range: how fast the balls of planted feet slide (m/s, planted =
within 2.5 cm of their lowest) after retargeting, against the capture's own joints scaled to the
same leg, and the lowest ball height (the rest pose's is ~3 cm). A procedural walk that glides
at 1.3 m/s while its legs swing is measured alike, as the figure a sliding clip gets.

    python bench/foot_slide.py                  # ~1 min on 2 cores (bodies built once)
    python bench/foot_slide.py --identities 0,3,17,40
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from render.body import BONE_PREFIX, BodyModel, rig_rest
from render.catalog import load_clips, load_scenes
from render.config import load_config
from render.motion import library
from render.motion.contact import BALLS, foot_slide, joint_positions
from render.motion.retarget import ANKLE_SHARE
from render.people.identities import identity
from render.plan import plan_shots
from render.timeline import frame_states

GLIDE = {
    "source": "procedural",
    "period": 1.1,
    "root": {"speed": 1.3, "bob": 0.0},
    "osc": [
        ["LeftUpLeg", "x", 24.0, 1, 0.0],
        ["RightUpLeg", "x", 24.0, 1, 0.5],
        ["LeftLeg", "x", 22.0, 1, 0.15],
    ],
}


def balls_of(shot, clip, body) -> np.ndarray:
    names = [n.removeprefix(BONE_PREFIX) for n in body.bone_names]
    idx = [names.index(b) for b in BALLS]
    rest = rig_rest(body)
    return np.array(
        [
            joint_positions(names, body.bone_parents, body.bone_heads, s.origin, s.heading_deg, s.bones)[idx]
            for s in frame_states(shot, clip, rest)[1:-1]
        ]
    )


def capture_balls(clip, n: int, fps: float, leg: float) -> np.ndarray:
    src = library.read_source(clip["source"], library.clip_path(clip))
    m = library.load_skeletons()[clip["skeleton"]]
    rest = src.rest_positions
    shank = np.mean(
        [
            np.linalg.norm(rest[src.index(m[f"{s}Leg"])] - rest[src.index(m[f"{s}UpLeg"])])
            + np.linalg.norm(rest[src.index(m[f"{s}Foot"])] - rest[src.index(m[f"{s}Leg"])])
            for s in ("Left", "Right")
        ]
    )
    times = clip["frames"][0] / clip["fps"] + np.arange(n) / fps
    frames = np.clip(np.round(times * src.fps).astype(int), 0, src.frames - 1)
    return src.positions[frames][:, [src.index(m[b]) for b in BALLS]] * (leg * (1 - ANKLE_SHARE) / shank)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--identities", default="3,17,40")
    args = ap.parse_args()
    cfg = load_config(None, {"cams": 22})
    clips = load_clips(cfg.clip_catalog_path())
    base = plan_shots(cfg, [s["name"] for s in load_scenes(cfg.scene_catalog_path())], list(clips))[0]
    model = BodyModel()
    print(
        f"{'clip':18s} {'identity':8s} {'ours m/s':>9s} {'capture':>8s} {'ratio':>6s} {'planted':>8s} {'lowest m':>9s}"
    )
    for who in (int(i) for i in args.identities.split(",")):
        spec = identity(who)
        body = model.body(spec.phenotype)
        leg = rig_rest(body).leg
        for name, clip in [
            *((k, c) for k, c in clips.items() if c["source"] != "procedural"),
            ("glide", GLIDE),
        ]:
            start = clip["frames"][0] / clip["fps"] if "fps" in clip else 0.0
            anim = dataclasses.replace(base.animation, clip=name, start=start, speed=1.0)
            shot = dataclasses.replace(base, character=spec, frame_count=130, fps=30, animation=anim)
            balls = balls_of(shot, clip, body)
            ours = foot_slide(balls, 30.0)
            own = foot_slide(capture_balls(clip, len(balls), 30.0, leg), 30.0) if name != "glide" else None
            ratio = f"{ours['speed'] / own['speed']:.2f}" if own and own["speed"] > 0 else "-"
            print(
                f"{name:18s} {spec.id:8s} {ours['speed']:9.3f} {own['speed'] if own else float('nan'):8.3f} "
                f"{ratio:>6s} {ours['planted']:8.2f} {balls[:, :, 2].min():9.3f}"
            )


if __name__ == "__main__":
    main()
