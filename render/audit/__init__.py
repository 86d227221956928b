"""Dataset audit: ``python -m render.audit MANIFEST_DIR``.

Checks a rendered dataset the way a maintainer does after every render and a user after every
download, and writes an HTML report and a JSON summary.

* :mod:`render.audit.problems`: what a finding is (severity, category, where).
* :mod:`render.audit.frames`: per-frame checks and figures over decoded arrays (pure).
* :mod:`render.audit.sparsity`: temporal sparsity over 2-second windows (pure, streaming).
* :mod:`render.audit.scan`: one shot's shards streamed, hashed, decoded and checked (file I/O).
* :mod:`render.audit.completeness`: the manifest directory against the plan (file I/O).
* :mod:`render.audit.summary`: per-shot results aggregated into distributions (pure).
* :mod:`render.audit.report`: the self-contained HTML report (matplotlib plots, thumbnails).
* :mod:`render.audit.runner`: the whole audit over a process pool, with a progress bar.
"""

from render.audit.runner import AuditOptions, run_audit

__all__ = ["AuditOptions", "run_audit"]
