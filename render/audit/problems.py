"""A finding of the audit: what is wrong, how bad, and exactly where."""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"  # integrity or completeness: the dataset is not what its manifest says
WARNING = "warning"  # a label-quality outlier or a leftover: worth a look, not a failure

CATEGORIES = ("integrity", "completeness", "labels")


@dataclass(frozen=True)
class Problem:
    severity: str  # ERROR | WARNING
    category: str  # one of CATEGORIES
    check: str  # short code, e.g. "sha256", "nonfinite", "missing_frame"
    message: str
    shot: str | None = None
    shard: str | None = None  # the shard's url as the index lists it (or its path when unlisted)
    key: str | None = None  # sample key, e.g. shot00042_0017
    frame: int | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def where(self) -> str:
        """``shard · key · frame`` (the parts that are known)."""
        parts = [p for p in (self.shard, self.key) if p]
        if self.frame is not None:
            parts.append(f"frame {self.frame}")
        if not parts and self.shot:
            parts.append(self.shot)
        return " · ".join(parts)


def error(category: str, check: str, message: str, **where) -> Problem:
    return Problem(ERROR, category, check, message, **where)


def warning(category: str, check: str, message: str, **where) -> Problem:
    return Problem(WARNING, category, check, message, **where)
