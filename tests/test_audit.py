"""``python -m render.audit``: a clean rendered dataset passes; each corruption is found, named
(shard, key, frame) and fails the exit status. The datasets are copies of one real Cycles render
(``rendered_manifests``: 2 shots x 4 frames, 64x96, rgb/alpha/fg/bg)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from render import exrio
from render.audit.__main__ import main as audit_main
from render.lowres import shrink
from render.manifest import build_index
from render.shards import sha256_file
from tests.cli_helpers import run_audit as audit

SHOT = "shot00000"


@pytest.fixture
def dataset(rendered_manifests, tmp_path) -> Path:
    """A private copy of the rendered dataset (manifests and shards); returns the manifest dir."""
    root = tmp_path / "copy"
    shutil.copytree(rendered_manifests.parent, root, ignore=shutil.ignore_patterns("audit.*"))
    return root / rendered_manifests.name


def found(summary: dict, check: str) -> list[dict]:
    return [p for p in summary["problem_list"] if p["check"] == check]


def shard_path(manifests: Path, shot_id: str = SHOT) -> Path:
    rec = json.loads((manifests / "shots" / f"{shot_id}.json").read_text())
    return (manifests / rec["shards"][0]["url"]).resolve()


def rewrite_shard(manifests: Path, edit, shot_id: str = SHOT) -> None:
    """Apply ``edit(list of (name, bytes)) -> list of (name, bytes)`` to the shot's first shard and
    make the record and the index agree with the new file (so only the content check can fail)."""
    rec_path = manifests / "shots" / f"{shot_id}.json"
    rec = json.loads(rec_path.read_text())
    path = (manifests / rec["shards"][0]["url"]).resolve()
    with tarfile.open(path) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in edit(members):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    rec["shards"][0].update(sha256=sha256_file(path), bytes=path.stat().st_size)
    rec_path.write_text(json.dumps(rec))
    index = json.loads((manifests / "index.json").read_text())
    build_index(manifests, index["planned_shots"], index["seed"])


def edit_member(name: str, change):
    def edit(members):
        return [(n, change(d) if n == name else d) for n, d in members]

    return edit


def edit_alpha(change):
    def f(data: bytes) -> bytes:
        return exrio.encode_alpha(change(exrio.decode_alpha(data)))

    return f


def relabel_lowres(key: str):
    """Edit: ``lowres.exr`` of ``key`` made from the frame's (edited) ``alpha.exr``."""

    def edit(members):
        alpha = exrio.decode_alpha(dict(members)[f"{key}.alpha.exr"])

        def f(data: bytes) -> bytes:
            ch = exrio.decode(data)
            return exrio.encode_lowres(np.stack([ch[c].astype(np.float32) for c in "RGB"], -1), shrink(alpha))

        return edit_member(f"{key}.lowres.exr", f)(members)

    return edit


def test_clean_dataset_passes_with_exit_0(dataset):
    code, s, err = audit(dataset)
    assert code == 0, s["problem_list"]
    assert s["verdict"] == "clean"
    assert s["problems"]["errors"] == 0
    assert s["counts"] == {
        **s["counts"],
        "recorded_shots": 2,
        "planned_shots": 2,
        "frames_recorded": 8,
        "frames_decoded": 8,
    }
    assert "audit clean" in err and "2/2 shots" in err
    # The label figures are measured on every frame: a real character fills part of the frame.
    assert 0 < s["labels"]["fractional"] < 0.5
    assert 0 < s["labels"]["coverage"] < 1
    assert sum(s["labels"]["alpha_histogram"]["bins"]) > 0
    # The character moves, the camera moves: some pixels' α changes, most do not.
    assert 0.01 < s["sparsity"]["alpha"] < 0.6
    assert all(shot["windows"] == 1 and len(shot["frames"]) == 4 for shot in s["shots"])


def test_label_checks_measure_the_composite_residual_and_evidence(dataset):
    code, s, _ = audit(dataset)
    assert code == 0, s["problem_list"]
    lab = s["labels"]
    # The shipped set satisfies I = aF + (1 - a)B up to the background's sampling noise.
    assert lab["residual_all"] is not None and lab["residual_all"] < 0.02
    assert lab["evidence_without_label"] is not None and lab["evidence_without_label"] < 0.01
    assert lab["label_without_evidence"] is not None
    assert lab["label_flicker"] is None  # deep only
    _, deep, _ = audit(dataset, "--deep")
    assert deep["labels"]["label_flicker"] is not None and deep["labels"]["label_flicker"] < 0.1


def test_a_shifted_label_is_caught_and_shown(dataset):
    """α (and fg's A) moved 6 px sideways on one frame: the image no longer supports the label."""

    def shift(a):
        return np.roll(a, 6, axis=1)

    def shift_fg(data):
        ch = exrio.decode(data)
        rgb = np.stack([np.roll(ch[c].astype(np.float32), 6, axis=1) for c in "RGB"], -1)
        return exrio.encode_rgba(rgb, np.roll(ch["A"], 6, axis=1))

    key = f"{SHOT}_0002"
    rewrite_shard(dataset, edit_member(f"{key}.alpha.exr", edit_alpha(shift)))
    rewrite_shard(dataset, edit_member(f"{key}.fg.exr", shift_fg))
    rewrite_shard(dataset, relabel_lowres(key))  # a consistent frame whose label is off
    code, s, _ = audit(dataset, "--deep")
    assert code == 0  # label findings are warnings
    hits = [p for p in s["problem_list"] if p["category"] == "labels" and p.get("key") == key]
    # I shows the subject where α is now 0, and α covers background that I shows as B.
    assert {"evidence_without_label", "label_without_evidence"} <= {p["check"] for p in hits}, hits
    assert all(p["frame"] == 2 and p["shard"].endswith("shot00000-000.tar") for p in hits)
    others = [
        p
        for p in s["problem_list"]
        if p["category"] == "labels" and p.get("key") not in (key, f"{SHOT}_0003")
    ]
    assert not [p for p in others if p["check"] != "composite_residual"], others
    html = (dataset.parent / "out" / "a.html").read_text()
    assert "Flagged frames" in html and key in html


def test_report_is_self_contained_with_sheets_and_plots(dataset):
    code, s, _ = audit(dataset, "--deep")
    html = (dataset.parent / "out" / "a.html").read_text()
    assert "CLEAN" in html and "Temporal sparsity" in html and "13.7" in html
    assert html.count("data:image/png;base64,") >= 5  # α histogram, distributions, subject, brightness
    # first, middle, last frame of both shots, each with α, F and B of the middle frame; and four
    # views (I, α, residual map, evidence map) per flagged frame (a frame with a label warning; at
    # this fixture's 4 samples the composite residual can sit at its threshold)
    flagged = {(p["key"], p["frame"]) for p in s["problem_list"] if p["category"] == "labels"}
    assert html.count("data:image/jpeg;base64,") == 2 * (3 + 3) + 4 * len(flagged)
    assert ("Flagged frames" in html) == bool(flagged)
    assert 'src="http' not in html and "<script" not in html


def test_sampled_audit_decodes_k_frames_per_shot(dataset):
    code, s, _ = audit(dataset, "--sample", "2")
    assert code == 0
    assert s["counts"]["frames_read"] == 8
    # 2 evenly spaced frames (first, last) plus the contact sheet's middle frame
    assert s["counts"]["frames_decoded"] == 2 * 3


def test_workers_give_the_same_findings(dataset):
    shard_path(dataset, "shot00001").write_bytes(b"")  # one problem in the second shot
    _, one, _ = audit(dataset)
    code, two, _ = audit(dataset, "--workers", "2")
    assert code == 1
    key = lambda p: json.dumps(p, sort_keys=True)  # noqa: E731
    assert sorted(map(key, one["problem_list"])) == sorted(map(key, two["problem_list"]))
    assert one["labels"] == two["labels"]


def _truncate(m: Path) -> None:
    p = shard_path(m)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip(m: Path) -> None:
    p = shard_path(m)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x40
    p.write_bytes(bytes(data))


def _delete(m: Path) -> None:
    shard_path(m).unlink()


def _extra_member(m: Path) -> None:
    rewrite_shard(m, lambda ms: ms[:3] + [(f"{SHOT}_0000.notes", b"hello")] + ms[3:])


def _dotdot_member(m: Path) -> None:
    rewrite_shard(m, lambda ms: ms + [("../escape.json", b"{}")])


def _wrong_resolution(m: Path) -> None:
    rewrite_shard(m, edit_member(f"{SHOT}_0001.alpha.exr", edit_alpha(lambda a: a[: a.shape[0] // 2])))


def _nan_alpha(m: Path) -> None:
    def f(a):
        a = a.copy()
        a[3, 4] = np.nan
        return a

    rewrite_shard(m, edit_member(f"{SHOT}_0002.alpha.exr", edit_alpha(f)))


def _alpha_above_one(m: Path) -> None:
    rewrite_shard(m, edit_member(f"{SHOT}_0003.alpha.exr", edit_alpha(lambda a: np.maximum(a, 0.0) * 1.5)))


def _missing_frame(m: Path) -> None:
    rewrite_shard(m, lambda ms: [(n, d) for n, d in ms if not n.startswith(f"{SHOT}_0002.")])


def _duplicated_shot(m: Path) -> None:
    shutil.copy(m / "shots" / f"{SHOT}.json", m / "shots" / "shot00000-again.json")


def _done_and_failed(m: Path) -> None:
    (m / "failed").mkdir(exist_ok=True)
    (m / "failed" / f"{SHOT}.json").write_text(json.dumps({"shot_id": SHOT, "error": "boom", "attempts": 3}))


def _lowres_disagrees(m: Path) -> None:
    def f(data: bytes) -> bytes:
        ch = exrio.decode(data)
        rgb = np.stack([ch[c].astype(np.float32) for c in "RGB"], -1)
        return exrio.encode_lowres(rgb, np.roll(ch["A"], 2, axis=1))

    rewrite_shard(m, edit_member(f"{SHOT}_0002.lowres.exr", f))


def _lowres_unclipped(m: Path) -> None:
    """lowres.exr colour made from the HDR values (not clipped as a display shows them)."""

    def f(data: bytes) -> bytes:
        ch = exrio.decode(data)
        rgb = np.stack([ch[c].astype(np.float32) for c in "RGB"], -1)
        return exrio.encode_lowres(rgb * 1.5 + 0.01, ch["A"])

    rewrite_shard(m, edit_member(f"{SHOT}_0001.lowres.exr", f))


def _json_disagrees(m: Path) -> None:
    def f(data: bytes) -> bytes:
        meta = json.loads(data)
        meta["camera"]["preset"] = "not-the-plan"
        return json.dumps(meta).encode()

    rewrite_shard(m, edit_member(f"{SHOT}_0001.json", f))


def _nan_rgb(m: Path) -> None:
    def f(data: bytes) -> bytes:
        rgb = exrio.decode_rgb(data)
        rgb[1, 2, 0] = np.nan
        return exrio.encode_rgb(rgb)

    rewrite_shard(m, edit_member(f"{SHOT}_0001.rgb.exr", f))


def _not_a_tar(m: Path) -> None:
    p = shard_path(m)
    p.write_bytes(np.random.default_rng(0).bytes(p.stat().st_size))


def _symlink_member(m: Path) -> None:
    def edit(ms):
        return ms  # the link is added below, with the tarfile API

    rewrite_shard(m, edit)
    p = shard_path(m)
    with tarfile.open(p, "a") as tar:
        info = tarfile.TarInfo(f"{SHOT}_0003.link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)


def _foreign_member(m: Path) -> None:
    rewrite_shard(m, lambda ms: ms + [("shot00001_0000.json", b"{}")])


def _duplicate_frame(m: Path) -> None:
    rewrite_shard(m, lambda ms: ms + [(n, d) for n, d in ms if n.startswith(f"{SHOT}_0001.")])


def _fg_alpha(m: Path) -> None:
    def f(data: bytes) -> bytes:
        ch = exrio.decode(data)
        a = ch["A"].copy()
        a[0, :] = 0.5
        return exrio.encode_rgba(np.stack([ch[c].astype(np.float32) for c in "RGB"], -1), a)

    rewrite_shard(m, edit_member(f"{SHOT}_0000.fg.exr", f))


def _index_not_object(m: Path) -> None:
    (m / "index.json").write_text("[]")


def _index_shards_garbage(m: Path) -> None:
    index = json.loads((m / "index.json").read_text())
    index["shards"] = 5
    (m / "index.json").write_text(json.dumps(index))


def _config_not_mapping(m: Path) -> None:
    (m / "config.yaml").write_text("- a\n- b\n")


def _record_types(m: Path) -> None:
    p = m / "shots" / f"{SHOT}.json"
    rec = json.loads(p.read_text())
    rec["shards"][0]["frames"] = "4"
    p.write_text(json.dumps(rec))


def _plan_garbled(m: Path) -> None:
    lines = (m / "plan.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    del first["animation"]
    (m / "plan.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")


def _huge_member(m: Path) -> None:
    rewrite_shard(m, edit_member(f"{SHOT}_0001.json", lambda d: d + b" " * (2 << 20)))


def _index_totals(m: Path) -> None:
    index = json.loads((m / "index.json").read_text())
    index["frames"] += 5
    (m / "index.json").write_text(json.dumps(index))


def _plan_character_garbled(m: Path) -> None:
    lines = (m / "plan.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["character"] = "x"
    (m / "plan.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")


def _index_relabelled(m: Path) -> None:
    index = json.loads((m / "index.json").read_text())
    index["shards"][0]["split"] = "test"
    (m / "index.json").write_text(json.dumps(index))


def _config_fps_garbled(m: Path) -> None:
    cfg = (m / "config.yaml").read_text()
    (m / "config.yaml").write_text(cfg.replace("fps: 30", "fps: abc"))


def _plan_empty(m: Path) -> None:
    (m / "plan.jsonl").write_text("")


def _frames_swapped(m: Path) -> None:
    def edit(ms):
        one = [x for x in ms if x[0].startswith(f"{SHOT}_0001.")]
        two = [x for x in ms if x[0].startswith(f"{SHOT}_0002.")]
        rest = [x for x in ms if x not in one and x not in two]
        return rest[: len(rest) // 2] + two + one + rest[len(rest) // 2 :]

    rewrite_shard(m, edit)


def _unknown_scheme(m: Path) -> None:
    for rec_path in (m / "shots").glob(f"{SHOT}.json"):
        rec = json.loads(rec_path.read_text())
        rec["shards"][0]["url"] = "nosuchfs://bucket/shot00000-000.tar"
        rec_path.write_text(json.dumps(rec))
    index = json.loads((m / "index.json").read_text())
    build_index(m, index["planned_shots"], index["seed"])


def _orphan(m: Path) -> None:
    p = shard_path(m)
    shutil.copy(p, p.with_name("shot00007-000.tar"))


def _missing_shot(m: Path) -> None:
    (m / "shots" / "shot00001.json").unlink()
    index = json.loads((m / "index.json").read_text())
    build_index(m, index["planned_shots"], index["seed"])


# corruption, expected check, where it must be named: (shot, shard file name, key, frame)
CASES = {
    "truncated shard": (_truncate, "sha256", (SHOT, "shot00000-000.tar", None, None)),
    "flipped byte": (_flip, "sha256", (SHOT, "shot00000-000.tar", None, None)),
    "deleted shard": (_delete, "shard_missing", (SHOT, "shot00000-000.tar", None, None)),
    "extra unlisted member": (_extra_member, "extra_member", (SHOT, "shot00000-000.tar", f"{SHOT}_0000", 0)),
    "member path with ..": (_dotdot_member, "unsafe_member", (SHOT, "shot00000-000.tar", None, None)),
    "wrong resolution": (_wrong_resolution, "resolution", (SHOT, "shot00000-000.tar", f"{SHOT}_0001", 1)),
    "NaN in alpha": (_nan_alpha, "nonfinite", (SHOT, "shot00000-000.tar", f"{SHOT}_0002", 2)),
    "alpha above 1": (_alpha_above_one, "alpha_range", (SHOT, "shot00000-000.tar", f"{SHOT}_0003", 3)),
    "missing frame": (_missing_frame, "missing_frame", (SHOT, None, None, 2)),
    "duplicated shot": (_duplicated_shot, "duplicate_shot", (SHOT, None, None, None)),
    "done and failed": (_done_and_failed, "done_and_failed", (SHOT, None, None, None)),
    "JSON disagrees with the plan": (
        _json_disagrees,
        "json_mismatch",
        (SHOT, "shot00000-000.tar", f"{SHOT}_0001", 1),
    ),
    "orphaned shard": (_orphan, "orphan_shard", (None, "shot00007-000.tar", None, None)),
    "missing shot": (_missing_shot, "missing_shot", ("shot00001", None, None, None)),
    "NaN in rgb": (_nan_rgb, "nonfinite", (SHOT, "shot00000-000.tar", f"{SHOT}_0001", 1)),
    "not a tar": (_not_a_tar, "tar_malformed", (SHOT, "shot00000-000.tar", None, None)),
    "symlink member": (_symlink_member, "unsafe_member", (SHOT, "shot00000-000.tar", f"{SHOT}_0003", 3)),
    "member of another shot": (
        _foreign_member,
        "foreign_member",
        (SHOT, "shot00000-000.tar", "shot00001_0000", None),
    ),
    "duplicated frame": (_duplicate_frame, "duplicate_frame", (SHOT, "shot00000-000.tar", f"{SHOT}_0001", 1)),
    "lowres colour differs": (
        _lowres_unclipped,
        "lowres_rgb",
        (SHOT, "shot00000-000.tar", f"{SHOT}_0001", 1),
    ),
    "lowres alpha differs": (
        _lowres_disagrees,
        "lowres_alpha",
        (SHOT, "shot00000-000.tar", f"{SHOT}_0002", 2),
    ),
    "fg alpha differs": (_fg_alpha, "fg_alpha", (SHOT, "shot00000-000.tar", f"{SHOT}_0000", 0)),
    "member too large": (_huge_member, "member_too_large", (SHOT, "shot00000-000.tar", f"{SHOT}_0001", 1)),
    "index not an object": (_index_not_object, "index_unreadable", (None, None, None, None)),
    "index shards garbage": (_index_shards_garbage, "index_unreadable", (None, None, None, None)),
    "index totals wrong": (_index_totals, "index_stale", (None, None, None, None)),
    "config not a mapping": (_config_not_mapping, "config_unreadable", (None, None, None, None)),
    "record with wrong types": (_record_types, "record_unreadable", (None, None, None, None)),
    "plan entry garbled": (_plan_garbled, "plan_unreadable", (SHOT, None, None, None)),
    "plan character garbled": (_plan_character_garbled, "plan_unreadable", (SHOT, None, None, None)),
    "index split relabelled": (_index_relabelled, "index_stale", (SHOT, "shot00000-000.tar", None, None)),
    "config fps garbled": (_config_fps_garbled, "config_unreadable", (None, None, None, None)),
    "plan empty": (_plan_empty, "plan_empty", (None, None, None, None)),
    "frames out of order": (_frames_swapped, "frame_order", (SHOT, "shot00000-000.tar", f"{SHOT}_0001", 1)),
    "unknown url scheme": (
        _unknown_scheme,
        "shard_missing",
        (SHOT, "nosuchfs://bucket/shot00000-000.tar", None, None),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_corruption_is_found_named_and_fails(dataset, case):
    corrupt, check, (shot, shard, key, frame) = CASES[case]
    corrupt(dataset)
    code, s, err = audit(dataset)
    assert code == 1, case
    assert s["verdict"] == "failed" and "audit FAILED" in err
    hits = found(s, check)
    assert hits, f"{case}: no {check!r} among {[p['check'] for p in s['problem_list']]}"
    p = hits[0]
    assert p["severity"] == "error"
    assert p.get("shot") == shot, p
    if shard:
        assert p["shard"].endswith(shard), p
    if key:
        assert p["key"] == key, p
    if frame is not None:
        assert p["frame"] == frame, p
    # the report names the place too
    html = (dataset.parent / "out" / "a.html").read_text()
    assert check in html and (shard or p.get("shot") or "") in html


def test_truncated_shard_is_reported_as_malformed_and_short(dataset):
    _truncate(dataset)
    _, s, _ = audit(dataset)
    checks = {p["check"] for p in s["problem_list"]}
    assert {"sha256", "size"} <= checks
    assert checks & {"tar_malformed", "shard_frames"}


def test_a_recorded_shot_with_its_failure_named(dataset):
    (dataset / "shots" / "shot00001.json").unlink()
    (dataset / "failed").mkdir(exist_ok=True)
    (dataset / "failed" / "shot00001.json").write_text(
        json.dumps({"error": "Traceback...\nRuntimeError: GPU lost"})
    )
    _, s, _ = audit(dataset)
    (p,) = found(s, "failed_shot")
    assert p["shot"] == "shot00001" and "GPU lost" in p["message"]


def test_a_label_that_moves_while_the_image_stands_still_is_flicker(dataset):
    """Frame 2's image replaced by frame 1's: α moves between them, I does not."""
    rgb1 = {}

    def keep(ms):
        rgb1["data"] = dict(ms)[f"{SHOT}_0001.rgb.exr"]
        rgb1["lowres"] = exrio.decode(dict(ms)[f"{SHOT}_0001.lowres.exr"])
        return ms

    def lowres(data: bytes) -> bytes:  # frame 1's small image, frame 2's small alpha: consistent
        rgb = np.stack([rgb1["lowres"][c].astype(np.float32) for c in "RGB"], -1)
        return exrio.encode_lowres(rgb, exrio.decode(data)["A"])

    rewrite_shard(dataset, keep)
    rewrite_shard(dataset, edit_member(f"{SHOT}_0002.rgb.exr", lambda d: rgb1["data"]))
    rewrite_shard(dataset, edit_member(f"{SHOT}_0002.lowres.exr", lowres))
    code, s, _ = audit(dataset, "--deep")
    assert code == 0
    (p,) = [p for p in found(s, "label_flicker") if p["shot"] == SHOT]
    assert p["key"] == f"{SHOT}_0002" and p["frame"] == 2
    flicker = {f["frame"]: f["label_flicker"] for f in s["shots"][0]["frames"]}
    assert flicker[0] is None and flicker[2] > 0.5 and flicker[1] < 0.1


def test_a_shot_without_a_plan_line_is_still_decoded(dataset):
    lines = (dataset / "plan.jsonl").read_text().splitlines()
    (dataset / "plan.jsonl").write_text("\n".join(lines[1:]) + "\n")

    def f(a):
        a = a.copy()
        a[0, 0] = np.nan
        return a

    rewrite_shard(dataset, edit_member(f"{SHOT}_0001.alpha.exr", edit_alpha(f)))
    code, s, _ = audit(dataset)
    assert code == 1
    assert found(s, "extra_shot")[0]["shot"] == SHOT
    (p,) = found(s, "nonfinite")
    assert p["key"] == f"{SHOT}_0001"


def test_a_crash_in_one_shot_is_reported_not_raised(dataset, monkeypatch):
    import render.audit.runner as runner

    real = runner.audit_shot

    def flaky(task):
        if task.shot_id == SHOT:
            raise RuntimeError("bug in a check")
        return real(task)

    monkeypatch.setattr(runner, "audit_shot", flaky)
    code, s, _ = audit(dataset)
    assert code == 1
    (p,) = found(s, "audit_crashed")
    assert p["shot"] == SHOT and "bug in a check" in p["message"]
    assert s["counts"]["frames_decoded"] == 4  # the other shot was audited


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    r = CliRunner().invoke(audit_main, [str(tmp_path / "nope"), "--quiet"])
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "no such manifest directory" in r.stderr


def test_shards_listed_by_url_are_read_through_fsspec(dataset):
    """Object-store style locations (scheme://...) go through fsspec; file:// stands in for s3://."""
    for rec_path in (dataset / "shots").glob("*.json"):
        rec = json.loads(rec_path.read_text())
        for s in rec["shards"]:
            s["url"] = (dataset / s["url"]).resolve().as_uri()
        rec_path.write_text(json.dumps(rec))
    index = json.loads((dataset / "index.json").read_text())
    build_index(dataset, index["planned_shots"], index["seed"])
    code, s, _ = audit(dataset)
    assert code == 0, s["problem_list"]
    assert s["counts"]["frames_decoded"] == 8 and s["counts"]["bytes_read"] == s["counts"]["bytes"]
    shard_path_from_uri = Path(
        json.loads((dataset / "index.json").read_text())["shards"][0]["url"][len("file://") :]
    )
    shard_path_from_uri.write_bytes(b"x")
    code, s, _ = audit(dataset)
    assert code == 1 and found(s, "sha256")
