from pathlib import Path

import pytest

from render.config import ConfigError, load_config, parse_resolution


def test_defaults_match_the_product():
    cfg = load_config()
    assert (cfg.scenes, cfg.cams, cfg.frames, cfg.fps) == (22, 900, 130, 30)
    assert cfg.resolution == (2160, 3840)
    assert cfg.backend == "blender"
    assert {"rgb", "alpha"} <= set(cfg.passes)


def test_file_then_overrides(tmp_path: Path):
    p = tmp_path / "c.yaml"
    p.write_text("cams: 10\nscenes: 2\nassets: {hdri_dir: skies}\n")
    cfg = load_config(p, {"cams": 4, "seed": None})
    assert cfg.cams == 4 and cfg.scenes == 2 and cfg.seed == 0
    assert cfg.assets.hdri_dir == "skies"


@pytest.mark.parametrize(
    "text, message",
    [
        ("camz: 3\n", "unknown config key"),
        ("cams: three\n", "cams: expected an integer"),
        ("cams: true\n", "cams: expected an integer"),
        ("cams: -1\n", "cams: must be a positive integer"),
        ("frames: 0\n", "frames: must be a positive integer"),
        ("resolution: 12x\n", "resolution '12x'"),
        ("motion_blur: 1\n", "motion_blur: expected true or false"),
        ("assets: {hdri: x}\n", "assets.hdri"),
        ("backend: mitsuba\n", "backend 'mitsuba'"),
        ("unreal: {enigne: x}\n", "unreal.enigne"),
        ("unreal: {port: 0}\n", "unreal.port: must be a positive integer"),
        ("unreal: {endpoint: myhost}\n", "unreal.endpoint 'myhost': expected HOST:PORT"),
        ("unreal: {stall_timeout: 0}\n", "unreal.stall_timeout: must be a positive number"),
        ("unreal: {extra_args: -log}\n", "unreal.extra_args: expected a list of strings"),
        ("- a list\n", "expected a mapping"),
        ("cams: [1, \n", "not valid YAML"),
    ],
)
def test_bad_config_files_give_one_line_errors(tmp_path: Path, text: str, message: str):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_config(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "value, expected", [("2160x3840", (2160, 3840)), (" 64 X 112 ", (64, 112)), ([8, 8], (8, 8))]
)
def test_parse_resolution(value, expected):
    assert parse_resolution(value) == expected


@pytest.mark.parametrize("value", ["2160", "0x100", "-5x10", "axb", [1.5, 2], "99999x10"])
def test_parse_resolution_rejects(value):
    with pytest.raises(ConfigError):
        parse_resolution(value)


def test_resolved_config_round_trips(tmp_path: Path):
    cfg = load_config(None, {"cams": 7, "resolution": "64x112"})
    p = tmp_path / "resolved.yaml"
    p.write_text(cfg.to_yaml())
    assert load_config(p) == cfg


def test_unreal_section_merges_and_only_its_samples_are_content(tmp_path: Path):
    p = tmp_path / "u.yaml"
    p.write_text("backend: unreal\nunreal: {engine: /opt/UE/UnrealEditor, temporal_samples: 4}\n")
    cfg = load_config(p, {"unreal": {"endpoint": "10.0.0.2:9000"}})  # a flag adds to the file's section
    assert (cfg.unreal.engine, cfg.unreal.endpoint, cfg.unreal.temporal_samples) == (
        "/opt/UE/UnrealEditor",
        "10.0.0.2:9000",
        4,
    )
    assert cfg.unreal.stall_timeout == 600.0  # defaults kept
    moved = load_config(p, {"unreal": {"engine": "/elsewhere/UnrealEditor", "port": 9100}})
    assert moved.content_dict() == load_config(p).content_dict()
    assert load_config(p, {"unreal": {"spatial_samples": 2}}).content_dict() != load_config(p).content_dict()
    # A Blender dataset does not change with the Unreal settings.
    assert (
        load_config(None, {"unreal": {"temporal_samples": 2}}).content_dict() == load_config().content_dict()
    )
    r = tmp_path / "resolved.yaml"
    r.write_text(cfg.to_yaml())
    assert load_config(r) == cfg


def test_runtime_keys_do_not_change_content():
    a = load_config(None, {"workers": 3, "out": "elsewhere"})
    b = load_config()
    assert a.content_dict() == b.content_dict()
    assert load_config(None, {"seed": 1}).content_dict() != b.content_dict()
