"""What deployment needs to know about each job script: its options and which lake areas it touches.

Options are read from the script's ``OPTIONS`` literal without importing it (deploying must not
need Spark). Lake access is declared here, next to the IAM policy it feeds; a test fails when a
job script exists without an entry, so a new job cannot ship with a guessed policy.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from lake import paths

LANDING = "landing"
LINEAGE = "_lineage"


@dataclass(frozen=True)
class LakeAccess:
    """Top-level lake areas (zones, ``landing``, ``_lineage``) a job reads and writes."""

    reads: tuple[str, ...]
    writes: tuple[str, ...]

    @property
    def readable(self) -> tuple[str, ...]:
        """A Delta commit reads the log it appends to: written areas are read as well."""
        return tuple(dict.fromkeys((*self.reads, *self.writes)))


# As the jobs declare in their docstrings; every job also writes OpenLineage events under _lineage/.
JOB_ACCESS: dict[str, LakeAccess] = {
    "ingest": LakeAccess(reads=(LANDING,), writes=("raw", "quarantine", "metrics")),
    "clean": LakeAccess(reads=("raw", "cleaned"), writes=("cleaned", "quarantine", "metrics")),
    "featurize": LakeAccess(reads=("cleaned",), writes=("features", "metrics")),
}


def available_jobs() -> list[str]:
    """Job scripts of this checkout or installed package (``jobs/<name>.py``)."""
    return sorted(p.stem for p in paths.jobs_dir().glob("*.py") if not p.name.startswith("_"))


def access_of(job: str) -> LakeAccess:
    try:
        access = JOB_ACCESS[job]
    except KeyError:
        raise KeyError(
            f"job {job!r} has no lake access declared in lake/deploy/jobs.py JOB_ACCESS; "
            "add which areas it reads and writes before deploying it"
        ) from None
    return LakeAccess(access.reads, (*access.writes, LINEAGE))


def job_options(script: Path) -> dict[str, str]:
    """The script's own ``OPTIONS = {...}`` (name -> help), read from its source."""
    tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        if any(isinstance(t, ast.Name) and t.id == "OPTIONS" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise ValueError(
                    f"{script}: OPTIONS must be a literal dict (deploy reads it without importing)"
                ) from None
            if isinstance(value, dict):
                return {str(k): str(v) for k, v in value.items()}
    return {}
