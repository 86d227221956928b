"""Bad input to ``render.launch``: a one-line error, exit status 2, nothing written."""

import socket

import pytest
from click.testing import CliRunner

from render.launch import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CASES = [
    (["--scenes", "23"], "scene catalog has 22 scenes"),
    (["--scenes", "0"], "scenes: must be a positive integer"),
    (["--cams", "0"], "cams: must be a positive integer"),
    (["--cams", "-5"], "cams: must be a positive integer"),
    (["--frames", "-1"], "frames: must be a positive integer"),
    (["--scenes", "5", "--cams", "3"], "need at least one camera per scene"),
    (["--resolution", "2160by3840"], "expected WIDTHxHEIGHT"),
    (["--resolution", "0x10"], "between 8 and 16384"),
    (["--backend", "povray"], "backend 'povray'"),
    (["--config", "{tmp}/missing.yaml"], "cannot read"),
    (["--config", "{tmp}/bad.yaml"], "not valid YAML"),
    (["--config", "{tmp}/hdri.yaml"], "assets.hdri_dir"),
    (["--address", "127.0.0.1:{port}"], "no Ray cluster reachable"),
    (["--address", "not an address"], "expected HOST:PORT"),
    (["--sampler-seed", "-1"], "sampler-seed -1: expected a non-negative integer"),
    (["--sampler-seed", "1.5"], "sampler-seed '1.5': expected a non-negative integer"),
    (["--fstop", "0,4"], "f-stops must be positive"),
    (["--fstop", "5.6,2"], "empty range"),
    (["--fstop", "wide"], "expected LO,HI"),
    (["--fstop", "nan,nan"], "must be finite"),
    (["--fstop", "1.8,inf"], "must be finite"),
    (["--fstop", "0.2,8"], "must lie in [0.5, 64.0]"),
    (["--config", "{tmp}/fgnobg.yaml"], "fg needs bg"),
    (["--alpha-samples", "1001"], "must be a multiple of alpha_time_strata (8)"),
    (["--config", "{tmp}/strata.yaml"], "at most 64 renders per frame"),
    (["--unreal-endpoint", "127.0.0.1:{port}"], "--unreal-endpoint: only with --backend unreal"),
    (["--config", "{tmp}/noalpha.yaml"], "must include rgb and alpha"),
    (["--config", "{tmp}/filter.yaml"], "pixel_filter 'mitchell'"),
    (
        ["--config", "{tmp}/unrealfg.yaml"],
        "give --unreal-endpoint HOST:PORT (a running engine) or unreal.engine",
    ),
]


@pytest.mark.parametrize("args, message", CASES)
def test_bad_input(tmp_path, args, message):
    (tmp_path / "bad.yaml").write_text("cams: [1,\n")
    (tmp_path / "hdri.yaml").write_text(f"assets: {{hdri_dir: {tmp_path / 'no_such_dir'}}}\n")
    (tmp_path / "noalpha.yaml").write_text("passes: [rgb, fg]\n")
    (tmp_path / "filter.yaml").write_text("pixel_filter: mitchell\n")
    (tmp_path / "fgnobg.yaml").write_text("passes: [rgb, alpha, fg]\n")
    (tmp_path / "strata.yaml").write_text("alpha_time_strata: 128\nalpha_samples: 1280\n")
    (tmp_path / "unrealfg.yaml").write_text("backend: unreal\npasses: [rgb, alpha, fg, bg]\n")
    work = tmp_path / "work"
    work.mkdir()
    args = [a.format(tmp=tmp_path, port=_free_port()) for a in args]
    out = ["--out", str(work / "data"), "--manifests", str(work / "manifests")]
    result = CliRunner().invoke(main, args + out)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert list(work.iterdir()) == []


def test_existing_dataset_with_another_config_is_refused(tmp_path):
    from render.config import load_config

    man = tmp_path / "manifests"
    man.mkdir()
    (man / "config.yaml").write_text(load_config(None, {"seed": 5}).to_yaml())
    before = sorted(p.name for p in man.iterdir())
    result = CliRunner().invoke(main, ["--manifests", str(man), "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "different seed" in result.output
    assert sorted(p.name for p in man.iterdir()) == before and not (tmp_path / "d").exists()


def _manifest_of(tmp_path, scene_catalog):
    """A manifest directory as a first run with ``scene_catalog`` would have left it."""
    from render.catalog import load_clips, load_scenes
    from render.config import load_config
    from render.identity import dataset_identity
    from render.launch import manifest_config

    cfg = load_config(None, {"scene_catalog": str(scene_catalog)})
    man = tmp_path / "manifests"
    man.mkdir()
    identity = dataset_identity(
        "blender", load_scenes(scene_catalog)[: cfg.scenes], load_clips(cfg.clip_catalog_path())
    )
    (man / "config.yaml").write_text(manifest_config(cfg, identity))
    return man


def test_a_catalog_edit_between_runs_is_refused(tmp_path):
    import yaml

    from render.config import load_config

    original = load_config().scene_catalog_path()
    catalog = tmp_path / "scenes.yaml"
    catalog.write_text(original.read_text())
    man = _manifest_of(tmp_path, catalog)
    data = yaml.safe_load(catalog.read_text())
    data["scenes"][0]["props"] = data["scenes"][0].get("props", [])[:-1]  # one prop fewer
    catalog.write_text(yaml.safe_dump(data))
    before = sorted(p.name for p in man.iterdir())
    args = ["--manifests", str(man), "--out", str(tmp_path / "d"), "--config", str(tmp_path / "c.yaml")]
    (tmp_path / "c.yaml").write_text(f"scene_catalog: {catalog}\n")
    result = CliRunner().invoke(main, args)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "scene catalog changed" in lines[0], lines[0]
    assert sorted(p.name for p in man.iterdir()) == before and not (tmp_path / "d").exists()


def test_an_engine_upgrade_between_runs_is_refused(tmp_path):
    import yaml

    from render.config import load_config

    man = _manifest_of(tmp_path, load_config().scene_catalog_path())
    saved = yaml.safe_load((man / "config.yaml").read_text())
    saved["identity"]["engine"] = "bpy 4.2.0"
    (man / "config.yaml").write_text(yaml.safe_dump(saved))
    result = CliRunner().invoke(main, ["--manifests", str(man), "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "engine version changed (bpy 4.2.0, now bpy " in result.output


def test_a_manifest_config_reproduces_its_dataset(tmp_path):
    """manifests/config.yaml (config plus identity) is itself a valid --config."""
    from render.config import load_config

    man = _manifest_of(tmp_path, load_config().scene_catalog_path())
    again = load_config(man / "config.yaml")
    assert (
        again.content_dict()
        == load_config(None, {"scene_catalog": str(load_config().scene_catalog_path())}).content_dict()
    )


def test_a_malformed_identity_is_one_line(tmp_path):
    import yaml

    from render.config import load_config

    man = _manifest_of(tmp_path, load_config().scene_catalog_path())
    saved = yaml.safe_load((man / "config.yaml").read_text())
    saved["identity"] = "corrupt"
    (man / "config.yaml").write_text(yaml.safe_dump(saved))
    result = CliRunner().invoke(main, ["--manifests", str(man), "--out", str(tmp_path / "d")])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "identity is not a mapping" in lines[0], (
        result.output
    )


def test_a_render_node_with_another_engine_refuses_to_work():
    """A cluster node whose bpy or anny differs from the dataset's must not add shots to it."""
    from render.identity import check_runtime, package_version

    check_runtime({"engine": package_version("bpy"), "body_model": package_version("anny")}, "blender")
    with pytest.raises(RuntimeError, match=r"this node has bpy .*, the dataset was made with bpy 4\.2\.0"):
        check_runtime({"engine": "bpy 4.2.0"}, "blender")
