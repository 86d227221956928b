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
]


@pytest.mark.parametrize("args, message", CASES)
def test_bad_input(tmp_path, args, message):
    (tmp_path / "bad.yaml").write_text("cams: [1,\n")
    (tmp_path / "hdri.yaml").write_text(f"assets: {{hdri_dir: {tmp_path / 'no_such_dir'}}}\n")
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
