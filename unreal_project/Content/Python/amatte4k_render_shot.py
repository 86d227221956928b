"""Render one shot by hand: `py amatte4k_render_shot.py <absolute path of job.json>` (editor console).

The client does not use this: it hands jobs over through the inbox folder (init_unreal.py,
amatte4k/inbox.py). Both start the shot with amatte4k.shot.start_job, which returns at once;
progress goes to the job's status file and the end to its completion record. A job that
cannot be read has no paths to report to: its record goes to <X>.done.json beside <X>.job.json
(done.json beside a file of any other name), as do records that cannot be written to the job's
output paths.
"""

from __future__ import annotations

import os
import sys

import unreal
from amatte4k import shot


def main(argv: list[str]) -> None:
    """Start rendering the job named by argv[1]; returns as soon as the render chain is started."""
    if len(argv) != 2 or not os.path.isabs(argv[1]):
        unreal.log_error(f"usage: py amatte4k_render_shot.py <absolute path of job.json>, got {argv[1:]}")
        return
    shot.start_job(argv[1])


if __name__ == "__main__":
    main(sys.argv)
