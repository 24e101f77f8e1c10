"""What deployment needs to know about each job script beyond its options (``lake.job_scripts``):
which lake areas it touches.

Lake access is declared here, next to the IAM policy it feeds; a test fails when a job script exists
without an entry, so a new job cannot ship with a guessed policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from lake.storage import LANDING, LINEAGE_DIR


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


def access_of(job: str) -> LakeAccess:
    try:
        access = JOB_ACCESS[job]
    except KeyError:
        raise KeyError(
            f"job {job!r} has no lake access declared in lake/deploy/jobs.py JOB_ACCESS; "
            "add which areas it reads and writes before deploying it"
        ) from None
    return LakeAccess(access.reads, (*access.writes, LINEAGE_DIR))
