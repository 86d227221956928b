"""BVH motion capture files (the CMU conventions: Y up, joints whose rest frames are the world's
axes, Euler channels in the order listed) read into a :class:`SourceMotion` in z-up axes."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from render.motion.rotations import euler
from render.motion.source import MotionError, SourceMotion

MAX_BYTES = 512 << 20  # decompressed text read at most: far above any take, below a gzip bomb


def _tokens(text: str):
    for line_no, line in enumerate(text.splitlines(), 1):
        for tok in line.split():
            yield line_no, tok


def parse(text: str, origin: str = "<bvh>") -> SourceMotion:
    """A BVH file's text → its motion (z up). Raises :class:`MotionError` with one line."""
    toks = list(_tokens(text))
    pos = 0

    def take(expect: str | None = None) -> str:
        nonlocal pos
        if pos >= len(toks):
            raise MotionError(
                f"{origin}: not a BVH file (ends early{', expected ' + expect if expect else ''})"
            )
        line, tok = toks[pos]
        pos += 1
        if expect is not None and tok.upper() != expect.upper():
            raise MotionError(f"{origin}: not a BVH file (line {line}: expected {expect}, found {tok!r})")
        return tok

    def number() -> float:
        line, tok = toks[pos] if pos < len(toks) else (0, "")
        try:
            value = float(take())
        except ValueError:
            raise MotionError(f"{origin}: line {line}: {tok!r} is not a number") from None
        return value

    names: list[str] = []
    parents: list[int] = []
    offsets: list[tuple[float, float, float]] = []
    channels: list[list[str]] = []
    take("HIERARCHY")
    kind = take()
    if kind.upper() != "ROOT":
        raise MotionError(f"{origin}: not a BVH file (no ROOT joint)")
    stack: list[int] = []
    name = take()
    while True:
        # A joint (or End Site) body: { OFFSET x y z [CHANNELS n ...] children }
        take("{")
        take("OFFSET")
        offset = (number(), number(), number())
        if name is not None:
            names.append(name)
            parents.append(stack[-1] if stack else -1)
            offsets.append(offset)
            take("CHANNELS")
            n = int(number())
            chans = [take() for _ in range(n)]
            bad = [
                c
                for c in chans
                if c.lower() not in {f"{a}{k}" for a in "xyz" for k in ("position", "rotation")}
            ]
            if bad:
                raise MotionError(f"{origin}: joint {name}: unknown channel {bad[0]!r}")
            channels.append(chans)
            stack.append(len(names) - 1)
        else:
            stack.append(-2)  # an End Site: no joint of its own
        # children or closing braces
        while True:
            tok = take()
            up = tok.upper()
            if up == "JOINT":
                name = take()
                break
            if up == "END":
                take("Site")
                name = None
                break
            if tok == "}":
                stack.pop()
                if not stack:
                    name = "__done__"
                    break
                continue
            raise MotionError(f"{origin}: unexpected {tok!r} in the hierarchy")
        if name == "__done__":
            break
    take("MOTION")
    take("Frames:")
    n_frames = int(number())
    take("Frame")
    take("Time:")
    dt = number()
    if n_frames < 1 or dt <= 0:
        raise MotionError(f"{origin}: {n_frames} frames of {dt} s: nothing to play")
    width = sum(len(c) for c in channels)
    try:
        values = [float(t) for _, t in toks[pos : pos + n_frames * width]] if pos < len(toks) else []
    except ValueError as exc:
        raise MotionError(f"{origin}: a frame holds a value that is not a number ({exc})") from None
    if len(values) < n_frames * width:
        raise MotionError(f"{origin}: {len(values) // max(width, 1)} of {n_frames} frames present")
    data = np.asarray(values, dtype=np.float64).reshape(n_frames, width)
    if not np.isfinite(data).all():
        raise MotionError(f"{origin}: non-finite channel values (nan or inf)")
    fps = 1.0 / dt
    if abs(fps - round(fps)) < 0.01:  # frame times are written to a few digits (.0083333)
        fps = float(round(fps))
    return _forward_kinematics(names, parents, offsets, channels, data, fps, origin)


def _forward_kinematics(names, parents, offsets, channels, data, fps, origin) -> SourceMotion:
    t, j = len(data), len(names)
    rot = np.empty((t, j, 3, 3))
    pos = np.empty((t, j, 3))
    rest = np.zeros((j, 3))
    col = 0
    for k, chans in enumerate(channels):
        block = data[:, col : col + len(chans)]
        col += len(chans)
        order = "".join(c[0] for c in chans if c.lower().endswith("rotation"))
        angles = (
            np.stack([block[:, i] for i, c in enumerate(chans) if c.lower().endswith("rotation")], -1)
            if order
            else None
        )
        local_r = euler(order, angles) if order else np.broadcast_to(np.eye(3), (t, 3, 3))
        trans = [block[:, i] for i, c in enumerate(chans) if c.lower().endswith("position")]
        local_t = np.stack(trans, -1) if len(trans) == 3 else np.broadcast_to(np.asarray(offsets[k]), (t, 3))
        p = parents[k]
        if p < 0:
            rot[:, k] = local_r
            pos[:, k] = local_t
            rest[k] = offsets[k]
        else:
            rot[:, k] = rot[:, p] @ local_r
            pos[:, k] = pos[:, p] + np.einsum("tij,tj->ti", rot[:, p], local_t)
            rest[k] = rest[p] + np.asarray(offsets[k])
    motion = SourceMotion(
        names=tuple(names),
        parents=np.asarray(parents, dtype=np.int64),
        rest_positions=rest,
        rest_rotations=np.broadcast_to(np.eye(3), (j, 3, 3)).copy(),
        rotations=rot,
        positions=pos,
        fps=float(fps),
        origin=origin,
    )
    return motion.to_z_up()


def read(path: str | Path) -> SourceMotion:
    """A ``.bvh`` or ``.bvh.gz`` file → its motion (z up)."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read(MAX_BYTES + 1)
        else:
            with open(path, "rb") as f:
                raw = f.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise MotionError(f"{path}: over {MAX_BYTES >> 20} MB of text: not read")
        text = raw.decode("utf-8", errors="strict")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as e:
        raise MotionError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    return parse(text, str(path))
