"""Shot planning (pure): the config becomes a list of frozen shot specs.

Every random choice comes from a generator seeded by the dataset seed and a stable tag
(the shot index, the character index, ...), so the same config gives the same plan,
byte for byte, on any machine. Floats are rounded before they are stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from render.camera import PRESETS, CameraSpec
from render.config import ConfigError, DatasetConfig
from render.people.hairstyles import STYLES
from render.people.identities import CharacterSpec, identity

HAIR_STYLES = tuple(STYLES)
__all__ = ["CharacterSpec", "ShotSpec", "AnimationSpec", "plan_shots"]

# Measured ZIP-compressed bytes per pixel of our EXRs on rendered frames (see docs/usage.md).
# fg (half RGB + float32 A) is estimated as rgb + alpha, not measured.
BYTES_PER_PIXEL = {"rgb": 2.7, "alpha": 0.72, "fg": 3.42, "bg": 2.7}


def rng_for(seed: int, *tags: object) -> np.random.Generator:
    digest = hashlib.sha256(json.dumps([seed, *tags]).encode()).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "little")))


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


@dataclass(frozen=True)
class AnimationSpec:
    clip: str
    start: float  # seconds into the clip at the shot's first frame
    speed: float  # playback rate
    heading_deg: float
    position: tuple[float, float]


def _legacy_character(ch: dict) -> dict:
    """A character entry of a plan written before garments (painted ``top_color``,
    ``bottom_color``, ``long_sleeves``) in today's fields, so older datasets stay readable."""
    if "outfit" in ch or "top_color" not in ch:
        return ch
    ch = dict(ch)

    def cloth(kind: str, color) -> dict:
        return {"kind": kind, "fabric": "weave", "color": list(color), "color2": list(color), "seed": 0.0}

    ch["outfit"] = {
        "top": cloth("shirt" if ch["long_sleeves"] else "tshirt", ch.pop("top_color")),
        "outer": None,
        "bottom": cloth("trousers", ch.pop("bottom_color")),
        "shoes": {**cloth("shoes", (0.05, 0.045, 0.04)), "fabric": "leather"},
        "sleeves": "long" if ch.pop("long_sleeves") else "short",
    }
    ch.setdefault("accessories", {})
    ch.setdefault("traits", {})
    return ch


@dataclass(frozen=True)
class ShotSpec:
    shot_id: str
    index: int
    scene: str
    split: str
    frame_count: int
    fps: int
    resolution: tuple[int, int]
    seed: int
    camera: CameraSpec
    character: CharacterSpec
    animation: AnimationSpec
    occluder: bool

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(d: dict) -> ShotSpec:
        cam = dict(d["camera"])
        cam["shake_phase"] = tuple(cam["shake_phase"])
        ch = _legacy_character(dict(d["character"]))
        an = dict(d["animation"])
        an["position"] = tuple(an["position"])
        return ShotSpec(
            **{
                **d,
                "resolution": tuple(d["resolution"]),
                "camera": CameraSpec(**cam),
                "character": CharacterSpec(**ch),
                "animation": AnimationSpec(**an),
            }
        )


def _camera(rng: np.random.Generator) -> CameraSpec:
    preset = PRESETS[int(rng.integers(len(PRESETS)))]
    focal = float(rng.choice([24.0, 35.0, 50.0, 85.0]))
    # Framing: how much of the frame's height the body fills; tight shots aim higher (chest).
    fill = rng.uniform(0.55, 1.6)
    coverage = 1.75 / fill  # metres of the scene visible vertically at the character
    distance = max(1.2, coverage * focal / 36.0)
    aim = 0.95 if fill < 0.9 else 1.3 if fill < 1.25 else 1.5
    height = aim + rng.uniform(-0.4, 0.5) * min(1.0, distance / 3)
    return CameraSpec(
        anchor="middle",
        preset=preset,
        distance=_r(distance),
        height=_r(max(0.3, height)),
        aim_height=_r(aim),
        focal_mm=focal,
        azimuth_deg=_r(rng.uniform(-70, 70) if rng.uniform() < 0.85 else rng.uniform(110, 250)),
        sweep_deg=_r(rng.uniform(20, 70) * rng.choice([-1, 1])),
        travel=_r(rng.uniform(0.5, 1.5) * min(1.0, distance / 3)),
        shake=_r(rng.uniform(0.0, 0.015) if preset in ("static", "follow") else 0.0),
        shake_phase=(_r(rng.uniform()), _r(rng.uniform()), _r(rng.uniform())),
    )


def _fstop(seed: int, index: int, lo: float, hi: float) -> float:
    """Per-shot f-number, log-uniform in [lo, hi] (each stop as likely as the next); its own
    random stream, so switching depth of field on or off changes nothing else in the plan."""
    u = rng_for(seed, "aperture", index).uniform()
    return _r(lo * (hi / lo) ** u, 2)


@dataclass(frozen=True)
class Split:
    """What the val split holds out: ``val_scenes`` and ``val_identities`` (ids) appear in no
    train shot; ``holdout``: what was held out whole, after fallbacks (one scene cannot be held
    out, nor one identity), with ``note`` saying why when it differs from the config's."""

    holdout: str
    val_scenes: tuple[str, ...]
    val_identities: tuple[str, ...]
    note: str = ""


def _held_out(n: int, fraction: float) -> int:
    """How many of ``n`` things a split holds out: the share, at least one, never all."""
    if fraction <= 0 or n < 2:
        return 0
    return min(n - 1, max(1, round(fraction * n)))


def plan_split(cfg: DatasetConfig, scenes: list[str]) -> Split:
    """The held-out scenes and identities of a dataset (its seed's own streams: they do not move
    when cams change). Of the used ``scenes`` and the catalog's first ``cfg.characters``."""
    wants_scene, wants_identity = "scene" in cfg.holdout, "identity" in cfg.holdout
    n_scenes = _held_out(len(scenes), cfg.val_fraction) if wants_scene else 0
    n_ids = _held_out(cfg.characters, cfg.val_fraction) if wants_identity else 0
    notes = []
    if wants_scene and not n_scenes and cfg.val_fraction > 0:
        notes.append(f"{len(scenes)} scene(s): val shots drawn by share instead")
    if wants_identity and not n_ids and cfg.val_fraction > 0:
        notes.append(
            f"{cfg.characters} identit{'y' if cfg.characters == 1 else 'ies'}: shared by both splits"
        )
    pick_s = rng_for(cfg.seed, "holdout", "scenes").permutation(len(scenes))[:n_scenes]
    pick_i = rng_for(cfg.seed, "holdout", "identities").permutation(cfg.characters)[:n_ids]
    held = [w for w, n in (("scene", n_scenes), ("identity", n_ids)) if n]
    return Split(
        holdout="+".join(held) or "shot",
        val_scenes=tuple(scenes[i] for i in sorted(pick_s)),
        val_identities=tuple(f"char{i:02d}" for i in sorted(pick_i)),
        note="; ".join(notes),
    )


SLOWEST = 0.7  # a captured clip plays no slower than this to fit its range
SPEEDS = (0.85, 1.15)  # playback speeds drawn per shot
PROCEDURAL_WINDOW = 10.0  # s: a shot starts this early at most in a (periodic) procedural clip


def _window(clip: dict, u: float, frames: int, fps: int, speed: float) -> tuple[float, float]:
    """(seconds into the clip at a shot's first frame, playback speed) from a uniform draw ``u``
    and the drawn ``speed``: anywhere in the first 10 s of a periodic (procedural) clip; for a
    captured clip, a window inside its catalog frame range, played slower (down to
    :data:`SLOWEST`) when the shot is longer than the range, and from the range's start if it is
    longer still. The motion-blur guard frames (-1 and N) fall inside the clip too: an engine
    that plays a clip asset (Unreal's Sequencer) has no pose outside it."""
    if "duration" not in clip:
        return max(_r(PROCEDURAL_WINDOW * u), _up(speed / fps)), speed
    span = (frames + 1) / fps  # frames -1 .. N
    if span * speed > clip["duration"]:
        speed = _r(max(SLOWEST, clip["duration"] / span) if span > 0 else speed)
    first = clip["frames"][0] / clip["fps"] + _up(speed / fps)
    return max(_r(first + u * max(0.0, clip["duration"] - span * speed)), _up(first)), speed


def _up(x: float, nd: int = 4) -> float:
    """``x`` rounded up at ``nd`` decimals (a start never before the first allowed time)."""
    return math.ceil(round(x * 10**nd, 6)) / 10**nd


def clip_seconds(clip: dict, cfg: DatasetConfig) -> float:
    """How far into ``clip`` (s, its own timeline) any shot of ``cfg`` can reach, guard frames
    included: what an engine that plays baked clips (render.backends.blender.clip_export) needs."""
    longest = (math.ceil(cfg.frames * (1 + cfg.frames_jitter)) + 1) / cfg.fps
    if "duration" not in clip:
        return PROCEDURAL_WINDOW + SPEEDS[1] * longest + 0.5
    first, last = (float(f) / float(clip["fps"]) for f in clip["frames"])
    return first + max(last - first, SLOWEST * longest) + 0.1


def plan_shots(
    cfg: DatasetConfig, scene_names: list[str], clips: Mapping[str, dict] | list[str], reframe: bool = True
) -> list[ShotSpec]:
    """Plan ``cfg.cams`` shots over the first ``cfg.scenes`` scenes of the catalog, with the
    clips of ``clips``. Given the clips themselves (the catalog's mapping, as the launcher
    does), captured clips play windows inside their ranges and each shot's camera is then
    reframed so that the head stays in frame (:func:`render.framing.reframe`; not with
    ``reframe=False``); given only their names, neither. The val
    split is :func:`plan_split`'s: with scenes held out, a shot is val when its scene is; else a
    ``val_fraction`` share of the shots is. Val shots draw their identity from the held-out
    identities, train shots from the rest."""
    if cfg.scenes > len(scene_names):
        raise ConfigError(f"scenes {cfg.scenes}: the scene catalog has {len(scene_names)} scenes")
    if cfg.cams < cfg.scenes:
        raise ConfigError(f"cams {cfg.cams}: need at least one camera per scene ({cfg.scenes} scenes)")
    clip_names = list(clips)
    if not clip_names:
        raise ConfigError("the clip catalog is empty")
    scenes = scene_names[: cfg.scenes]
    split = plan_split(cfg, scenes)
    if split.val_scenes:
        val = {i for i in range(cfg.cams) if scenes[i % len(scenes)] in split.val_scenes}
    else:
        n_val = round(cfg.val_fraction * cfg.cams)
        if cfg.val_fraction > 0 and cfg.cams >= 2:
            n_val = max(1, n_val)
        val = {int(i) for i in rng_for(cfg.seed, "split").permutation(cfg.cams)[:n_val]}
    characters = [identity(c) for c in range(cfg.characters)]  # the catalog's first N
    pool = {
        "val": [c for c in characters if c.id in split.val_identities] or characters,
        "train": [c for c in characters if c.id not in split.val_identities],
    }
    shots = []
    for i in range(cfg.cams):
        rng = rng_for(cfg.seed, "shot", i)
        jitter = rng.uniform(-1, 1) * cfg.frames_jitter
        frames = max(1, round(cfg.frames * (1 + jitter)))
        clip = clip_names[int(rng.integers(len(clip_names)))]
        u, speed = rng.uniform(0, 1), _r(rng.uniform(*SPEEDS))
        start, speed = _window(clips[clip] if isinstance(clips, Mapping) else {}, u, frames, cfg.fps, speed)
        animation = AnimationSpec(
            clip=clip,
            start=start,
            speed=speed,
            heading_deg=_r(rng.uniform(0, 360)),
            position=(_r(rng.uniform(-1.5, 1.5)), _r(rng.uniform(-1.5, 1.5))),
        )
        people = pool["val" if i in val else "train"]
        shots.append(
            ShotSpec(
                shot_id=f"shot{i:05d}",
                index=i,
                scene=scenes[i % len(scenes)],
                split="val" if i in val else "train",
                frame_count=frames,
                fps=cfg.fps,
                resolution=cfg.resolution,
                seed=int(rng.integers(0, 2**31 - 1)),
                camera=dataclasses.replace(
                    _camera(rng),
                    fstop=_fstop(cfg.seed, i, *cfg.fstop) if cfg.depth_of_field else 0.0,
                    exposure_ev=_r(rng_for(cfg.seed, "exposure", i).uniform(*cfg.exposure), 3),
                ),
                character=people[int(rng.integers(len(people)))],
                animation=animation,
                occluder=bool(rng.uniform() < 0.2),
            )
        )
    if isinstance(clips, Mapping) and reframe:
        from render.framing import reframe as keep_head  # framing reads the timeline, which reads ShotSpec

        shots = [keep_head(s, clips[s.animation.clip]) for s in shots]
    return shots


def plan_bytes(shots: list[ShotSpec]) -> bytes:
    """The plan as JSON lines with sorted keys: identical configs give identical bytes."""
    return b"".join(
        json.dumps(s.to_json(), sort_keys=True, separators=(",", ":")).encode() + b"\n" for s in shots
    )


def summary(cfg: DatasetConfig, shots: list[ShotSpec]) -> dict:
    per_scene = Counter(s.scene for s in shots)
    frames = sum(s.frame_count for s in shots)
    px = cfg.width * cfg.height
    est = frames * px * sum(BYTES_PER_PIXEL[p] for p in cfg.passes if p in BYTES_PER_PIXEL)
    split = plan_split(cfg, list(dict.fromkeys(s.scene for s in shots)))  # scenes in catalog order
    n_val = sum(s.split == "val" for s in shots)
    if shots and n_val > 2 * cfg.val_fraction * len(shots) + 1:
        share = (
            f"val is {n_val / len(shots):.0%} of the shots (at least one of {len(per_scene)} scenes held out)"
        )
        split = dataclasses.replace(split, note="; ".join(x for x in (split.note, share) if x))
    return {
        "shots": len(shots),
        "frames": frames,
        "val_shots": n_val,
        "split": asdict(split),
        "scenes": dict(per_scene),
        "clips": dict(Counter(s.animation.clip for s in shots)),
        "presets": dict(Counter(s.camera.preset for s in shots)),
        "resolution": f"{cfg.width}x{cfg.height}",
        "estimated_bytes": int(est),
    }
