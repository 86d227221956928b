"""One shot's shards, streamed once: hashed, walked member by member, decoded and checked.

Each shard is read sequentially exactly once (the SHA-256 is computed from the same bytes the
tar reader sees), one sample in memory at a time, so a worker holds one 4K frame, never a shard.
Runs in a worker process (:mod:`render.audit.runner`); takes and returns plain picklable data.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import tarfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from render import exrio, labels
from render.audit import frames, metadata
from render.audit.problems import Problem, error, warning
from render.audit.sparsity import WindowedChange, window_frames
from render.contact_sheet import checker
from render.lowres import lowres_rgb, lowres_size, shrink
from render.manifest import FIELDS
from render.plan import ShotSpec
from render.shards import check_member_name
from render.store import open_binary
from render.timeline import FrameState, frame_states

THUMB_HEIGHT = 200
MAX_PIXELS = 1 << 26  # a layer without a planned size may declare at most this many pixels (8192²)
LOWRES_TOLERANCE = 1e-5  # float32 area filter, computed twice: equal up to rounding
LOWRES_RGB_TOLERANCE = 1e-3  # the same for colour stored as half floats (in [0, 1]: <= 2^-11)
MAX_VIEWS = 4  # deep audit: flagged frames per shot shown with their residual and evidence maps
KEY_FIELD = "__key__"


@dataclass(frozen=True)
class ShotTask:
    shot_id: str
    plan: dict | None  # the shot's line of plan.jsonl (None: the shot is not in the plan)
    fields: tuple[str, ...]  # what the shot record says every sample holds
    frames: int  # frames the shot record lists
    shards: tuple[dict, ...]  # {"url", "path", "sha256", "bytes", "frames"}, in order
    deep: bool = False
    sample: int | None = None  # decode only this many frames (evenly spaced); None = all
    thumbs: bool = False  # make contact-sheet thumbnails (first, middle, last frame)
    clip: dict | None = None  # the clip catalog entry, to recompute poses (None: not checked)
    thresholds: frames.Thresholds = field(default_factory=frames.Thresholds)


@dataclass
class ShotAudit:
    shot_id: str
    problems: list[Problem] = field(default_factory=list)
    frames: list[dict] = field(default_factory=list)  # per decoded frame: key, shard, frame, figures
    frames_read: int = 0  # samples walked (decoded or not)
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(frames.HIST_BINS + 2, np.int64))
    sparsity: dict = field(default_factory=dict)  # "alpha" / "image": WindowedChange.to_json()
    thumbs: dict = field(default_factory=dict)  # frame -> {"image", "alpha", "fg", "bg"}: JPEG bytes
    views: dict = field(default_factory=dict)  # deep: flagged frame -> {"image", "alpha", "residual", ...}
    bytes_read: int = 0
    seconds: float = 0.0


class _HashingReader(io.RawIOBase):
    """A read-only stream that hashes and counts what passes through it."""

    def __init__(self, raw):
        self.raw, self.sha, self.count = raw, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = self.raw.readinto(buf)
        if n:
            self.sha.update(memoryview(buf)[:n])
            self.count += n
        return n or 0

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def chosen_frames(n: int, k: int | None) -> set[int]:
    """Frames to decode: all, or ``k`` evenly spaced ones including the first and the last."""
    if k is None or k >= n:
        return set(range(n))
    return {int(round(x)) for x in np.linspace(0, n - 1, max(1, k))}


def sheet_frames(n: int) -> set[int]:
    return {0, n // 2, n - 1} if n > 0 else set()


def _thumb(img: np.ndarray) -> bytes:
    h, w = img.shape[:2]
    if h > THUMB_HEIGHT:
        img = cv2.resize(
            img, (max(1, round(w * THUMB_HEIGHT / h)), THUMB_HEIGHT), interpolation=cv2.INTER_AREA
        )
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    assert ok
    return buf.tobytes()


def thumbnails(rgb, alpha, fg, bg) -> dict[str, bytes]:
    """JPEG thumbnails of one frame: I with α overlaid (the background dimmed by 1 − α, the
    subject's colours untouched, the α = 0.5 contour in magenta), α, F over a checkerboard, B."""
    shown = frames.display(rgb)
    overlay = shown * (0.45 + 0.55 * alpha[..., None])
    edge = cv2.morphologyEx((alpha > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    overlay[edge > 0] = (1.0, 0.1, 0.8)
    out = {"image": _thumb(_u8(overlay)), "alpha": _thumb(_u8(np.repeat(alpha[..., None], 3, -1)))}
    if fg is not None:
        board = checker(*alpha.shape, size=max(4, alpha.shape[0] // 24))
        out["fg"] = _thumb(_u8(frames.display(labels.composite(alpha, fg, board))))
    if bg is not None:
        out["bg"] = _thumb(_u8(frames.display(bg)))
    return out


def _u8(x: np.ndarray) -> np.ndarray:
    """Display values in [0, 1] → uint8."""
    return (x * 255 + 0.5).astype(np.uint8)


def problem_views(image: np.ndarray, alpha: np.ndarray, maps: dict, checks: list[str]) -> dict:
    """JPEG views of a flagged frame: I, α, and where computed the composite residual (x50, linear)
    and the display difference |I − B| (x4), as heat maps; plus the checks that flagged it."""
    out = {"checks": checks, "image": _thumb(_u8(frames.display(image)))}
    out["alpha"] = _thumb(_u8(np.repeat(alpha[..., None], 3, -1)))
    for name, gain in (("residual", 50.0), ("evidence", 4.0)):
        if name in maps:
            m = np.clip(maps[name] * gain, 0, 1)
            out[name] = _thumb(_u8(np.stack([m, m * 0.3, 1 - m], -1)))
    return out


def member_limit(resolution: tuple[int, int] | None) -> int:
    """The most bytes a listed member may have: an uncompressed float32 RGBA EXR of the planned
    size plus 1 MiB (headers, offsets; JSON is far smaller). Unknown size: 2 GiB."""
    if resolution is None:
        return 1 << 31
    w, h = resolution
    return 16 * w * h + (1 << 20)


def _samples(
    tar: tarfile.TarFile, url: str, problems: list[Problem], shot: str, fields: set[str], limit: int
) -> Iterator[dict]:
    """Group consecutive members into samples. Unsafe or malformed members become problems and
    are skipped (never extracted); members of unlisted fields or above ``limit`` bytes are not
    read (the sample holds ``None`` for them), so memory stays at one sample of listed fields."""
    current: dict | None = None
    for member in tar:
        key, _, fld = member.name.partition(".")
        where = {"shot": shot, "shard": url}
        if "/" not in key and "\\" not in key and key not in ("", ".", ".."):
            where |= {"key": key, "frame": _frame_of(key, shot)}
        try:
            check_member_name(member.name, url)
        except ValueError:
            problems.append(
                error("integrity", "unsafe_member", f"unsafe member name {member.name!r}", **where)
            )
            continue
        if not member.isfile():
            kind = "symlink" if member.issym() else "hard link" if member.islnk() else "not a regular file"
            problems.append(
                error("integrity", "unsafe_member", f"member {member.name!r} is a {kind}", **where)
            )
            continue
        if not fld:
            problems.append(
                error("integrity", "malformed_member", f"member {member.name!r} has no field", **where)
            )
            continue
        if current is not None and current[KEY_FIELD] != key:
            yield current
            current = None
        if current is None:
            current = {KEY_FIELD: key}
        if fld in current:
            problems.append(
                error("integrity", "duplicate_member", f"member {member.name!r} appears twice", **where)
            )
        data = None
        if fld in fields:
            if member.size > limit:
                problems.append(
                    error(
                        "integrity",
                        "member_too_large",
                        f"{member.name}: {member.size} bytes (at most {limit})",
                        **where,
                    )
                )
            else:
                f = tar.extractfile(member)
                data = f.read() if f is not None else b""
        current[fld] = data
    if current is not None:
        yield current


def _frame_of(key: str, shot_id: str) -> int | None:
    prefix = f"{shot_id}_"
    if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
        return None
    return int(key[len(prefix) :])


class _Frames:
    """Everything one shot accumulates over its frames."""

    def __init__(self, task: ShotTask, spec: ShotSpec | None, result: ShotAudit):
        self.task, self.spec, self.result = task, spec, result
        self.seen: dict[int, str] = {}
        n = task.frames
        self.decode = chosen_frames(n, task.sample)
        self.sheet = sheet_frames(n) if task.thumbs else set()
        self.decode |= self.sheet
        self.states: list[FrameState] | None = None
        if spec is not None and task.clip is not None:
            self.states = frame_states(spec, task.clip)[1:-1]
        fps = spec.fps if spec is not None else 30
        win = window_frames(fps, task.thresholds.window_seconds)
        self.change = {
            "alpha": WindowedChange(win, task.thresholds.change, n),
            "image": WindowedChange(win, task.thresholds.change, n),
        }
        self.resolution = tuple(spec.resolution) if spec is not None else None
        self.limit = member_limit(self.resolution)
        self.shape: tuple[int, int] | None = None  # (width, height) of the first decoded frame
        self.last_frame = -1
        self._prev: tuple | None = None  # (frame, α, display channels of I) for the flicker check

    def where(self, url: str, key: str, frame: int | None) -> dict:
        return {"shot": self.task.shot_id, "shard": url, "key": key, "frame": frame}

    def sample(self, sample: dict, url: str) -> None:
        t, res = self.task, self.result
        key = sample[KEY_FIELD]
        frame = _frame_of(key, t.shot_id)
        at = self.where(url, key, frame)
        res.frames_read += 1
        if frame is None:
            res.problems.append(
                error("integrity", "foreign_member", f"key {key!r} is not a frame of {t.shot_id}", **at)
            )
            return
        if frame in self.seen:
            res.problems.append(
                error("completeness", "duplicate_frame", f"frame {frame} also in {self.seen[frame]}", **at)
            )
            return
        self.seen[frame] = url
        if frame < self.last_frame:
            res.problems.append(
                error("integrity", "frame_order", f"frame {frame} after frame {self.last_frame}", **at)
            )
        self.last_frame = max(self.last_frame, frame)
        if frame >= t.frames:
            res.problems.append(
                error(
                    "completeness", "extra_frame", f"frame {frame} beyond the shot's {t.frames} frames", **at
                )
            )
        have = set(sample) - {KEY_FIELD}
        for fld in sorted(set(t.fields) - have):
            res.problems.append(
                error("integrity", "missing_field", f"no {fld} (the shot record lists it)", **at)
            )
        for fld in sorted(have - set(t.fields)):
            res.problems.append(error("integrity", "extra_member", f"unlisted member {key}.{fld}", **at))
        if "json" in t.fields and sample.get("json") is not None:
            self._json(sample["json"], frame, at)
        if frame in self.decode:
            self._decode(sample, frame, at)

    def _json(self, raw: bytes, frame: int, at: dict) -> None:
        try:
            meta = json.loads(raw)
        except ValueError as exc:
            self.result.problems.append(
                error("integrity", "json_unreadable", f"json does not parse ({exc})", **at)
            )
            return
        if self.spec is None:
            return
        state = self.states[frame] if self.states is not None and frame < len(self.states) else None
        for msg in metadata.json_findings(meta, self.spec, frame, state):
            self.result.problems.append(error("integrity", "json_mismatch", msg, **at))

    def _decode(self, sample: dict, frame: int, at: dict) -> None:
        t, res = self.task, self.result
        decoded: dict[str, dict[str, np.ndarray]] = {}
        for fld in sorted(k for k in sample if k.endswith(".exr") and sample[k] is not None):
            try:  # the header first: a layer's declared size bounds what decoding it allocates
                w, h = exrio.data_size(sample[fld])
            except ValueError as exc:
                res.problems.append(error("integrity", "exr_unreadable", f"{fld}: {exc}", **at))
                continue
            small = fld == FIELDS["lowres"]  # the frame shrunk: its size follows the frame's
            resolution = self.resolution and (
                lowres_size(*self.resolution) if small else tuple(self.resolution)
            )
            if resolution is not None and (w, h) != resolution:
                msg = f"{fld}: {w}x{h}, the plan says {resolution[0]}x{resolution[1]}"
            elif self.resolution is None and self.shape is not None and not small and (w, h) != self.shape:
                msg = f"{fld}: {w}x{h}, the shot's first decoded frame is {self.shape[0]}x{self.shape[1]}"
            elif w * h > MAX_PIXELS:
                msg = f"{fld}: {w}x{h} declares more than {MAX_PIXELS} pixels"
            else:
                msg = None
            if msg:  # not decoded
                res.problems.append(error("integrity", "resolution", msg, **at))
                continue
            try:
                ch = exrio.decode(sample[fld])
            except ValueError as exc:
                res.problems.append(error("integrity", "exr_unreadable", f"{fld}: {exc}", **at))
                continue
            if not ch:
                res.problems.append(
                    error("integrity", "exr_unreadable", f"{fld}: no channels (truncated?)", **at)
                )
                continue
            found = frames.check_channels(fld, ch, resolution)
            for check, msg in found:
                res.problems.append(error("integrity", check, msg, **at))
            if not found:  # only well-formed layers go on to the label checks
                decoded[fld] = ch
        small = decoded.pop(FIELDS["lowres"], None)
        if "alpha.exr" not in decoded:
            return
        if small is not None:
            self._check_lowres(small, decoded, res, at)
        if len({a.shape for ch in decoded.values() for a in ch.values()}) > 1:
            res.problems.append(
                error("integrity", "resolution", "the layers of this frame differ in size", **at)
            )
            return
        alpha = np.asarray(decoded["alpha.exr"]["A"], dtype=np.float32)
        if self.shape is None:
            self.shape = (alpha.shape[1], alpha.shape[0])
        rgb, bg, fg = (decoded.get(k) for k in ("rgb.exr", "bg.exr", "fg.exr"))
        if fg is not None and not np.array_equal(fg["A"], alpha):
            n = int(np.count_nonzero(fg["A"] != alpha))
            res.problems.append(
                error("integrity", "fg_alpha", f"fg.exr A differs from alpha.exr on {n} pixels", **at)
            )
        figures, maps = frames.frame_figures(rgb, alpha, fg, bg, t.thresholds, maps=t.deep)
        if t.deep and rgb is not None:
            figures["label_flicker"] = self._flicker(frame, alpha, rgb, fg, bg)
        findings = frames.label_findings(figures, t.thresholds)
        for check, msg in findings:
            res.problems.append(warning("labels", check, msg, **at))
        res.frames.append({"key": at["key"], "shard": at["shard"], "frame": frame, **figures})
        res.histogram += frames.alpha_histogram(alpha)
        self.change["alpha"].add(alpha, frame)
        if "luminance" in maps:
            self.change["image"].add(maps["luminance"], frame)
        if rgb is not None and (frame in self.sheet or (t.deep and findings and len(res.views) < MAX_VIEWS)):
            image = frames.colour(rgb)
            f = labels.unpremultiply(frames.colour(fg), alpha) if fg is not None else None
            b = frames.colour(bg) if bg is not None else None
            if frame in self.sheet:
                res.thumbs[frame] = thumbnails(image, alpha, f, b)
            if t.deep and findings and len(res.views) < MAX_VIEWS:
                res.views[frame] = problem_views(image, alpha, maps, [c for c, _ in findings])

    def _check_lowres(self, small: dict, decoded: dict, res, at: dict) -> None:
        """``lowres.exr`` must be the frame shrunk (alpha to float32 rounding, colour to half
        rounding), or whole-frame readers learn from another frame than the label's."""
        alpha = decoded["alpha.exr"]["A"]
        want = shrink(alpha)
        if small["A"].shape != want.shape:
            got = f"{small['A'].shape[1]}x{small['A'].shape[0]}"
            msg = f"lowres.exr: {got}, the frame shrunk is {want.shape[1]}x{want.shape[0]}"
            res.problems.append(error("integrity", "resolution", msg, **at))
            return
        diff = float(np.abs(small["A"] - want).max()) if want.size else 0.0
        if diff > LOWRES_TOLERANCE:
            msg = f"lowres.exr A differs from alpha.exr shrunk by up to {diff:.2g}"
            res.problems.append(error("integrity", "lowres_alpha", msg, **at))
        rgb = decoded.get("rgb.exr")
        if rgb is None:
            return
        want = lowres_rgb(np.stack([frames.f32(rgb[c]) for c in "RGB"], axis=-1))
        got = np.stack([frames.f32(small[c]) for c in "RGB"], axis=-1)
        diff = float(np.abs(got - want).max()) if want.size else 0.0
        if diff > LOWRES_RGB_TOLERANCE:
            msg = f"lowres.exr RGB differs from rgb.exr clipped and shrunk by up to {diff:.2g}"
            res.problems.append(error("integrity", "lowres_rgb", msg, **at))

    def _flicker(self, frame: int, alpha: np.ndarray, rgb: frames.Channels, fg, bg) -> float | None:
        """Label flicker: of the pixels where the change of α since the previous frame predicts a
        visible change of I (the composite with this frame's F and B under both α differs by more
        than 2·evidence in display values), the share where no channel of I changed by evidence/2.
        Needs F and B and the previous frame decoded; else None."""
        shown = {c: frames.display(rgb[c]) for c in "RGB"}
        prev, self._prev = self._prev, (frame, alpha, shown)
        if fg is None or bg is None or prev is None or prev[0] != frame - 1 or prev[1].shape != alpha.shape:
            return None
        t = self.task.thresholds.evidence
        seen = alpha > 0
        step = alpha - prev[1]
        expect = np.zeros(alpha.shape, bool)
        still = np.ones(alpha.shape, bool)
        for c in "RGB":
            b = frames.f32(bg[c])
            f = np.where(seen, frames.f32(fg[c]) / np.where(seen, alpha, 1.0), b)
            now = alpha * f + (1 - alpha) * b
            expect |= np.abs(frames.display(now) - frames.display(now - step * (f - b))) > 2 * t
            still &= np.abs(shown[c] - prev[2][c]) < t / 2
        return float((expect & still).sum() / expect.sum()) if expect.any() else 0.0

    def finish(self) -> None:
        t, res = self.task, self.result
        missing = sorted(set(range(t.frames)) - set(self.seen))
        for lo, hi in _runs(missing):
            what = f"frame {lo}" if lo == hi else f"frames {lo}–{hi}"
            res.problems.append(
                error(
                    "completeness", "missing_frame", f"{what} of {t.frames} missing", shot=t.shot_id, frame=lo
                )
            )
        res.sparsity = {k: (v.finish(), v.to_json())[1] for k, v in self.change.items()}


def _runs(values: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for v in values:
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def scan_shard(entry: dict, acc: _Frames) -> None:
    """Stream one shard: hash it, walk its members, hand each sample to ``acc``."""
    res, url, shot = acc.result, entry["url"], acc.task.shot_id
    try:
        raw = open_binary(entry["path"])
    except (OSError, ValueError, ImportError) as exc:  # ImportError: no fsspec backend for the scheme
        res.problems.append(
            error("integrity", "shard_missing", f"cannot open the shard ({exc})", shot=shot, shard=url)
        )
        return
    reader = _HashingReader(raw)
    n_before = res.frames_read
    try:
        with tarfile.open(fileobj=io.BufferedReader(reader, 1 << 20), mode="r|") as tar:
            for sample in _samples(tar, url, res.problems, shot, set(acc.task.fields), acc.limit):
                try:
                    acc.sample(sample, url)
                except Exception as exc:  # one sample's surprise must not hide the shard's checks
                    key = sample.get(KEY_FIELD)
                    res.problems.append(
                        error(
                            "integrity",
                            "audit_crashed",
                            f"checking this sample failed: {exc!r}",
                            shot=shot,
                            shard=url,
                            key=key,
                            frame=_frame_of(key, shot) if isinstance(key, str) else None,
                        )
                    )
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        res.problems.append(
            error("integrity", "tar_malformed", f"not a well-formed tar ({exc})", shot=shot, shard=url)
        )
    finally:
        try:
            reader.drain()
        except OSError:
            pass
        raw.close()
    res.bytes_read += reader.count
    if reader.count != entry["bytes"]:
        res.problems.append(
            error(
                "integrity",
                "size",
                f"{reader.count} bytes, the index says {entry['bytes']}",
                shot=shot,
                shard=url,
            )
        )
    digest = reader.sha.hexdigest()
    if digest != entry["sha256"]:
        res.problems.append(
            error(
                "integrity",
                "sha256",
                f"sha256 {digest[:12]}…, the index says {entry['sha256'][:12]}…",
                shot=shot,
                shard=url,
            )
        )
    if res.frames_read - n_before != entry["frames"]:
        res.problems.append(
            error(
                "integrity",
                "shard_frames",
                f"{res.frames_read - n_before} samples, the index says {entry['frames']}",
                shot=shot,
                shard=url,
            )
        )


def keep_freed_memory() -> None:
    """Ask glibc to keep freed blocks up to 1 GiB instead of returning them to the system: a 4K
    frame's arrays (32-95 MiB each) are then reused frame after frame instead of being mapped
    and page-faulted afresh, which costs more than the arithmetic on them. Peak memory is
    unchanged (the same arrays, reused); elsewhere than glibc this does nothing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def audit_shot(task: ShotTask) -> ShotAudit:
    """Audit one shot: every shard of it, every sample, the chosen frames decoded."""
    keep_freed_memory()
    t0 = time.perf_counter()
    res = ShotAudit(task.shot_id)
    spec = None
    if task.plan is not None:
        try:
            spec = ShotSpec.from_json(task.plan)
        except (TypeError, KeyError, ValueError) as exc:
            res.problems.append(
                error("completeness", "plan_unreadable", f"plan entry unreadable ({exc})", shot=task.shot_id)
            )
    acc = _Frames(task, spec, res)
    for entry in task.shards:
        scan_shard(entry, acc)
    acc.finish()
    res.seconds = time.perf_counter() - t0
    return res
