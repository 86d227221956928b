"""``python -m render.audit MANIFEST_DIR [--report audit.html] [--json audit.json] [--deep]
[--workers N] [--sample K]``: check a dataset, write the HTML report and the JSON summary.

Exit status 0 when integrity and completeness hold (label-quality findings are warnings),
1 when they do not, 2 on bad input, 3 if the audit itself crashed; a one-line summary goes to
stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from render.audit.frames import Thresholds
from render.audit.runner import AuditOptions, run_audit
from render.store import StoreError, is_url


@click.command()
@click.argument("manifest_dir")
@click.option(
    "--report",
    "report_path",
    default=None,
    help="HTML report to write (default MANIFEST_DIR/audit.html; ./audit.html for an s3:// or gs:// one).",
)
@click.option(
    "--json",
    "json_path",
    default=None,
    help="JSON summary to write (default MANIFEST_DIR/audit.json; ./audit.json for an s3:// or gs:// one).",
)
@click.option("--deep", is_flag=True, help="Add the composite residual and the I-vs-B evidence checks.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores)."
)
@click.option(
    "--sample", type=click.IntRange(min=1), default=None, help="Decode only K frames per shot (quick look)."
)
@click.option(
    "--sheets", type=click.IntRange(min=0), default=24, show_default=True, help="Shots in the contact sheets."
)
@click.option(
    "--change-threshold",
    type=click.FloatRange(min=0.0, max=1.0),
    default=Thresholds.change,
    show_default=True,
    help="Temporal sparsity: a pixel changes when its range within a window exceeds this.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def main(
    manifest_dir, report_path, json_path, deep, workers, sample, sheets, change_threshold, quiet
) -> None:
    """Check a rendered αMatte4K dataset: integrity, completeness, labels, distributions."""
    from render.audit.report import write_json, write_report

    # Reports are written on this machine: beside a local manifest, else in the current folder.
    here = Path(".") if is_url(manifest_dir) else Path(manifest_dir)
    options = AuditOptions(
        deep=deep,
        workers=workers or (os.cpu_count() or 1),
        sample=sample,
        sheets=sheets,
        thresholds=Thresholds(change=change_threshold),
        progress=not quiet,
    )
    try:
        result = run_audit(manifest_dir, options)
        report = write_report(result, report_path or here / "audit.html")
        summary = write_json(result, json_path or here / "audit.json")
    except (FileNotFoundError, NotADirectoryError, StoreError) as exc:
        click.echo(f"audit: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # a bug in the audit: one line, not a traceback, and a failed status
        click.echo(f"audit: crashed ({type(exc).__name__}: {exc}); please report it", err=True)
        sys.exit(3)
    click.echo(f"report: {report}")
    click.echo(f"summary: {summary}")
    click.echo(result.one_line(), err=True)
    sys.exit(1 if result.errors else 0)


if __name__ == "__main__":
    main()
