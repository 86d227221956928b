"""The audit as one self-contained HTML file: verdict, problems (each naming shard, key and
frame), completeness, label quality, distributions, temporal sparsity with its definition,
and contact sheets. Plots are matplotlib PNGs and thumbnails JPEGs, embedded as data URIs."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from render.audit.problems import ERROR  # noqa: E402
from render.audit.runner import AuditResult  # noqa: E402
from render.audit.sparsity import DEFINITION  # noqa: E402
from render.audit.summary import COUNTED  # noqa: E402

MAX_PROBLEM_ROWS = 2000
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1400px;color:#222;padding:0 16px}
h1{margin-bottom:4px} h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{display:inline-block;padding:4px 12px;border-radius:4px;color:#fff;font-weight:600}
.clean{background:#2a7d2e} .failed{background:#b3261e} .error{color:#b3261e;font-weight:600} .warning{color:#8a6d00}
.plots img{max-width:460px;margin:4px;border:1px solid #eee;vertical-align:top} .sheet td{vertical-align:top;border:none;padding:2px}
.sheet img{height:200px;display:block} .cap{font-size:12px;color:#555} pre{background:#f7f7f7;padding:8px;white-space:pre-wrap}
"""


class Raw(str):
    """Markup that a table cell shows as is (everything else is escaped)."""


def _e(x: object) -> str:
    return html.escape(str(x))


def _fmt(x: object, digits: int = 4) -> str:
    if isinstance(x, Raw):
        return x
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return _e(x)


def _img(data: bytes, mime: str, alt: str = "") -> str:
    return f'<img alt="{_e(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _fig(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return _img(buf.getvalue(), "image/png")


def _table(header: list[str], rows: list[list[object]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_fmt(v)}</td>' if i in numeric else f"<td>{_fmt(v)}</td>"
            for i, v in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _bar(title: str, counts: dict[str, dict[str, list[int]]], what: str) -> str:
    """Shots per category, one bar group per split."""
    cats = sorted({c for split in counts.values() for c in split.get(what, {})})
    if not cats:
        return ""
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * len(cats) + 2), 3))
    splits = sorted(counts)
    width = 0.8 / max(1, len(splits))
    for i, split in enumerate(splits):
        vals = [counts[split].get(what, {}).get(c, [0, 0])[0] for c in cats]
        ax.bar([j + i * width for j in range(len(cats))], vals, width, label=split)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cats))], cats, rotation=45, ha="right")
    ax.set_ylabel("shots")
    ax.set_title(title)
    ax.legend()
    return _fig(fig)


def _hist(values: list[float], title: str, xlabel: str, bins: int = 30, rng=None) -> str:
    if not values:
        return ""
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.hist(values, bins=bins, range=rng, color="#4a6fa5")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("frames")
    return _fig(fig)


def _alpha_hist(h: dict) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 3))
    edges = h["bin_edges"]
    labels = ["0"] + [f"{edges[i]:.2f}" for i in range(len(h["bins"]))] + ["1"]
    vals = [h["zero"], *h["bins"], h["one"]]
    ax.bar(
        range(len(vals)),
        [max(v, 0.5) for v in vals],
        color=["#888"] + ["#c0508a"] * len(h["bins"]) + ["#888"],
    )
    ax.set_yscale("log")
    ax.set_xticks(range(0, len(vals), 2), labels[::2], rotation=90, fontsize=7)
    ax.set_title("α histogram (pixels; 0 and 1 in grey, log scale)")
    return _fig(fig)


def _position(subject: dict) -> str:
    if not subject["cx"]:
        return ""
    fig, ax = plt.subplots(figsize=(3, 4.5))
    ax.scatter(subject["cx"], subject["cy"], s=8, alpha=0.5, color="#c0508a")
    ax.set_xlim(0, 1)
    ax.set_ylim(1, 0)
    ax.set_title("subject centre in frame")
    ax.set_xlabel("x (fraction of width)")
    ax.set_ylabel("y (fraction of height)")
    return _fig(fig)


def _grouped_bar(groups: dict[str, dict], title: str) -> str:
    if not groups:
        return ""
    names = list(groups)
    fig, ax = plt.subplots(figsize=(max(3.5, 0.5 * len(names) + 2), 3))
    ax.bar(names, [100 * groups[n]["mean"] for n in names], color="#4a6fa5")
    ax.set_ylabel("fractional α share (%)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=45)
    return _fig(fig)


def _sheets(result: AuditResult) -> str:
    rows = []
    for r in result.shots:
        if not r.thumbs:
            continue
        plan = result.manifest.plan_of(r.shot_id) or {}
        cells = []
        for frame in sorted(r.thumbs):
            t = r.thumbs[frame]
            cells.append(
                f'<td>{_img(t["image"], "image/jpeg", f"{r.shot_id} frame {frame}")}<div class="cap">frame {frame}: I, α overlaid</div></td>'
            )
        mid = sorted(r.thumbs)[len(r.thumbs) // 2]
        t = r.thumbs[mid]
        cells.append(f'<td>{_img(t["alpha"], "image/jpeg")}<div class="cap">α, frame {mid}</div></td>')
        if "fg" in t:
            cells.append(f'<td>{_img(t["fg"], "image/jpeg")}<div class="cap">F over checker</div></td>')
        if "bg" in t:
            cells.append(f'<td>{_img(t["bg"], "image/jpeg")}<div class="cap">B (clean plate)</div></td>')
        char = plan.get("character", {})
        label = (
            f"<b>{_e(r.shot_id)}</b><br>{_e(plan.get('scene', '?'))} · {_e(plan.get('split', '?'))}<br>"
            f"{_e(char.get('id', '?'))}, {_e(char.get('hair', {}).get('style', '?'))} hair<br>"
            f"{_e(plan.get('animation', {}).get('clip', '?'))} · {_e(plan.get('camera', {}).get('preset', '?'))}"
        )
        rows.append(f'<tr><td class="cap">{label}</td>{"".join(cells)}</tr>')
    if not rows:
        return "<p>No frames to show.</p>"
    return f'<table class="sheet">{"".join(rows)}</table>'


MAX_VIEW_ROWS = 60


def _views(result: AuditResult) -> str:
    rows = []
    for r in result.shots:
        for frame, v in sorted(r.views.items()):
            if len(rows) >= MAX_VIEW_ROWS:
                break
            cells = [
                f'<td class="cap"><b>{_e(r.shot_id)}</b><br>frame {frame}<br>{_e(", ".join(v["checks"]))}</td>'
            ]
            for name, cap in (
                ("image", "I"),
                ("alpha", "α"),
                ("residual", "|I − comp| ×50"),
                ("evidence", "|I − B| ×4 (display)"),
            ):
                if name in v:
                    cells.append(f'<td>{_img(v[name], "image/jpeg")}<div class="cap">{_e(cap)}</div></td>')
            rows.append(f"<tr>{''.join(cells)}</tr>")
    if not rows:
        return ""
    return (
        "<h2>Flagged frames</h2><p>Deep audit: up to 4 frames per shot with a label finding, with their "
        "composite residual and I-vs-B difference maps (blue 0, red at full scale).</p>"
        f'<table class="sheet">{"".join(rows)}</table>'
    )


def render_html(result: AuditResult) -> str:
    s = result.summary
    c, pr, lab, sp = s["counts"], s["problems"], s["labels"], s["sparsity"]
    verdict = s["verdict"]
    opts = s["options"]
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>αMatte4K audit: {_e(Path(str(result.manifest_dir)).name)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>αMatte4K audit: {_e(Path(str(result.manifest_dir)).name)}</h1>",
        f'<p><span class="verdict {verdict}">{verdict.upper()}</span> &nbsp;{_e(result.one_line())}</p>',
        f"<p>seed {_e(opts['seed'])} · {'deep' if opts['deep'] else 'shallow'} audit · "
        f"{_decoded(opts['sample'])} · "
        f"{opts['workers']} worker(s) · {s['seconds']:.1f} s</p>",
        "<h2>Summary</h2>",
        _table(
            [
                "planned shots",
                "recorded",
                "failed",
                "shards",
                "bytes",
                "frames recorded",
                "frames read",
                "frames decoded",
            ],
            [
                [
                    c["planned_shots"],
                    c["recorded_shots"],
                    c["failed_shots"],
                    c["shards"],
                    _bytes(c["bytes"]),
                    c["frames_recorded"],
                    c["frames_read"],
                    c["frames_decoded"],
                ]
            ],
            set(range(8)),
        ),
        "<h2>Problems</h2>",
    ]
    if not result.problems:
        out.append("<p>None.</p>")
    else:
        tally = ", ".join(f"{k}: {v}" for k, v in pr["by_check"].items())
        out.append(f"<p>{pr['errors']} errors, {pr['warnings']} warnings ({_e(tally)}).</p>")
        ordered = sorted(
            result.problems, key=lambda p: (p.severity != ERROR, p.category, p.shot or "", p.frame or 0)
        )
        rows = [
            [
                Raw(f'<span class="{p.severity}">{p.severity}</span>'),
                p.category,
                p.check,
                p.shot or "",
                p.shard or "",
                p.key or "",
                "" if p.frame is None else p.frame,
                p.message,
            ]
            for p in ordered[:MAX_PROBLEM_ROWS]
        ]
        out.append(_table(["severity", "category", "check", "shot", "shard", "key", "frame", "what"], rows))
        if len(ordered) > MAX_PROBLEM_ROWS:
            out.append(f"<p>… and {len(ordered) - MAX_PROBLEM_ROWS} more (all in the JSON summary).</p>")
    t = s["thresholds"]
    out += [
        "<h2>Label quality</h2>",
        "<p>Means over decoded frames. Fractional: 0.002 &lt; α &lt; 0.998. Composite residual: "
        "|I − (αF + (1 − α)B)| in linear values, channel mean (needs F and B). Evidence checks compare I and B "
        f"in display values (sRGB of the clipped linear values): a difference above {t['evidence']} counts as visible; "
        "<i>evidence without label</i> is the share of α = 0 pixels where I differs visibly from B; <i>label without "
        f"evidence</i> the share of pixels where the label predicts a difference above {2 * t['evidence']:.2g} but I differs "
        f"from B by less than {t['evidence'] / 2:.2g}. <i>Label flicker</i> (deep audit): of the pixels where α's change since "
        f"the previous frame predicts a visible change of I (the composite with this frame's F and B under both α differs by "
        f"more than {2 * t['evidence']:.2g}), the share where no channel of I changed by {t['evidence'] / 2:.2g}. "
        f"Frames above {t['evidence_share']:.0%} on either evidence share, above {t['flicker_share']:.0%} flicker, or with a "
        f"residual above {t['residual']} (fractional pixels) or {t['residual_all']} (all pixels) are listed as problems; "
        f"so are frames with no subject (α = 0 everywhere) or one that fills more than {t['full_frame']:.0%} of the frame.</p>",
        _table(
            [
                "fractional share",
                "coverage",
                "brightness (display)",
                "residual (fractional)",
                "residual (all)",
                "evidence without label",
                "label without evidence",
                "label flicker (deep)",
            ],
            [
                [
                    lab["fractional"],
                    lab["coverage"],
                    lab["brightness"],
                    lab["residual_fractional"],
                    lab["residual_all"],
                    lab["evidence_without_label"],
                    lab["label_without_evidence"],
                    lab["label_flicker"],
                ]
            ],
            set(range(8)),
        ),
        '<div class="plots">',
        _alpha_hist(lab["alpha_histogram"]),
        _grouped_bar(lab["fractional_by_scene"], "fractional share by scene"),
        _grouped_bar(lab["fractional_by_hairstyle"], "fractional share by hairstyle"),
        "</div>",
        "<h2>Distributions</h2>",
        '<div class="plots">',
        *(_bar(f"shots per {w}", s["distributions"], w) for w in ("scene", "identity", "action", "preset")),
        *(_bar(f"shots per {w}", s["distributions"], w) for w in ("skin", "sex", "age")),
        _hist(s["subject"]["height"], "subject height", "fraction of frame height", rng=(0, 1)),
        _position(s["subject"]),
        _hist(s["brightness"], "brightness", "mean display luminance of I", rng=(0, 1)),
        "</div>",
    ]
    for split, d in sorted(s["distributions"].items()):
        rows = [[what, k, v[0], v[1]] for what in COUNTED for k, v in sorted(d.get(what, {}).items())]
        out.append(
            f"<details><summary>{_e(split)}: shots and frames per category</summary>{_table(['what', 'value', 'shots', 'frames'], rows, {2, 3})}</details>"
        )
    out += [
        "<h2>Temporal sparsity</h2>",
        f"<p>Overall: <b>α {_fmt(_pct(sp['alpha']))} %</b>, image {_fmt(_pct(sp['image']))} % of pixels change within "
        f"{sp['window_seconds']:g}-second windows ({sp['window_frames']} frames), threshold {sp['threshold']}. "
        f"The paper reports {sp['paper']:.1%} (“only 13.7 % of pixels change in 2 seconds”).</p>",
        _windows_note(s["shots"], sp, float(s.get("fps", 30)), bool(opts["sample"])),
        f"<pre>{_e(DEFINITION)}</pre>",
    ]
    if opts["sample"]:
        out.append(
            "<p><b>Sampled audit:</b> each window holds only its decoded frames, so the shares are lower bounds.</p>"
        )
    shots = s["shots"]
    out.append(
        _table(
            [
                "shot",
                "scene",
                "split",
                "identity",
                "hair",
                "action",
                "preset",
                "frames decoded",
                "windows",
                "frames in windows",
                "sparsity α (%)",
                "sparsity I (%)",
                "fractional (%)",
                "residual (fr.)",
                "errors",
                "warnings",
            ],
            [
                [
                    r["shot_id"],
                    r["scene"],
                    r["split"],
                    r["identity"],
                    r["hairstyle"],
                    r["action"],
                    r["preset"],
                    r["frames_decoded"],
                    r["windows"],
                    r["frames_in_windows"],
                    _pct(r["sparsity_alpha"]),
                    _pct(r["sparsity_image"]),
                    _pct(r["fractional"]),
                    r["residual_fractional"],
                    r["errors"],
                    r["warnings"],
                ]
                for r in shots
            ],
            set(range(7, 16)),
        )
    )
    out.append(_views(result))
    out += [
        "<h2>Contact sheets</h2>",
        "<p>First, middle and last frame of each shown shot: I with α overlaid (background dimmed by 1 − α, the α = 0.5 contour in magenta); then α, F over a checkerboard and B of the middle frame.</p>",
        _sheets(result),
    ]
    out.append("</body></html>")
    return "\n".join(x for x in out if x)


def _bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _windows_note(shots: list[dict], sp: dict, fps: float, sampled: bool) -> str:
    windows = sum(r["windows"] for r in shots)
    frames = sum(r["frames_in_windows"] for r in shots)
    if not windows:
        return "<p>No window had two decoded frames: nothing measured.</p>"
    mean = frames / windows
    note = f"<p>{windows} window(s), {mean:.1f} decoded frames each on average"
    if sampled:
        note += " (sampled audit)"
    elif mean < sp["window_frames"]:
        note += (
            f" ({mean / fps:.2f} s): shorter than {sp['window_seconds']:g} s because the shots are, "
            "so fewer pixels have time to change"
        )
    return note + ".</p>"


def _decoded(sample: int | None) -> str:
    return "all frames decoded" if not sample else f"{sample} frames per shot decoded"


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 3)


def write_report(result: AuditResult, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result), encoding="utf-8")
    return path


def write_json(result: AuditResult, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**result.summary, "problem_list": [p.to_json() for p in result.problems]}
    path.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    return path
