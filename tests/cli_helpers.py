"""Helpers shared by the CLI tests: one-line error assertions, and launching a command of this
repository in its own process group (so a test can SIGKILL it and everything it started)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def start_python(*args: str) -> subprocess.Popen:
    """``python ARGS`` from the repository root, stdout and stderr together as text, in a new
    session (``os.killpg(proc.pid, ...)`` reaches its children)."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def one_line_error(result) -> str:
    """The CLI failed with a ClickException (no traceback) and a single 'Error: ...' line; returns it."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def run_audit(manifests: Path, *args: str) -> tuple[int, dict, str]:
    """``render.audit MANIFESTS ARGS`` in-process, one worker, reports under
    ``MANIFESTS/../out``; (exit code, the JSON summary, stderr)."""
    from click.testing import CliRunner

    from render.audit.__main__ import main as audit_main

    out = manifests.parent / "out"
    r = CliRunner().invoke(
        audit_main,
        [
            str(manifests),
            "--workers",
            "1",
            "--quiet",
            "--report",
            str(out / "a.html"),
            "--json",
            str(out / "a.json"),
            *args,
        ],
    )
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    return r.exit_code, json.loads((out / "a.json").read_text()), r.stderr
