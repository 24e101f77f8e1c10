"""Lineage tags carried by every commit: which job and run, which code, which exact inputs, how many rows.

Tags live in the Delta commit's ``commitInfo`` under the ``lakeprep`` key, so any Delta reader can
walk from a features version back to the cleaned and raw versions it was built from. Parameters
are redacted before they get here: secrets never reach commit metadata.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import uuid
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from lake import __version__, paths

LINEAGE_KEY = "lakeprep"
_SECRET_NAME = re.compile(
    r"(?i)(secret|password|passwd|token|credential|api[_-]?key|access[_-]?key|salt|session)"
)
_SECRET_VALUE = re.compile(r"(AKIA|ASIA)[0-9A-Z]{16}|://[^/\s:@]+:[^/\s@]+@")
REDACTED = "***"


def redact(params: dict[str, Any]) -> dict[str, Any]:
    """Drop the values of anything that looks secret, by name or by shape (AWS keys, URL passwords)."""
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if _SECRET_NAME.search(key):
            clean[key] = REDACTED
        elif isinstance(value, dict):
            clean[key] = redact(value)
        elif isinstance(value, str) and _SECRET_VALUE.search(value):
            clean[key] = REDACTED
        else:
            clean[key] = value
    return clean


BUILD_INFO = "build_info.json"


@cache
def git_sha() -> str | None:
    """The code version: $LAKEPREP_GIT_SHA, else the sha baked into the wheel at build time
    (``lake/_bundle/build_info.json``, written by the deploy packaging), else the checkout's HEAD."""
    if os.environ.get("LAKEPREP_GIT_SHA"):
        return os.environ["LAKEPREP_GIT_SHA"]
    baked = paths.bundle_file(BUILD_INFO)
    if baked is not None:
        sha = json.loads(baked.read_text()).get("git_sha")
        if sha:
            return str(sha)
    root = paths.checkout_root()
    if root is None or not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def new_run_id(job: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{job}-{stamp}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class InputRef:
    """An input table read at an exact version (``files`` when only some landed files were read)."""

    table: str
    uri: str
    version: int | None
    files: int | None = None


@dataclass(frozen=True)
class RowCounts:
    """Where every input row of a run went. ``rows_excluded`` are rows a spec leaves out on
    purpose (e.g. flights without an arrival have no label), counted so nothing is silent."""

    rows_in: int
    rows_out: int
    rows_quarantined: int = 0
    rows_excluded: int = 0

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.rows_out + self.rows_quarantined + self.rows_excluded


@dataclass(frozen=True)
class RunContext:
    """Identity of one job run; every commit the run makes carries it."""

    job: str
    run_id: str
    params: dict[str, Any] = field(default_factory=dict)
    runtime: str = "local"
    started_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    )

    @classmethod
    def start(
        cls, job: str, params: dict[str, Any], run_id: str | None = None, runtime: str = "local"
    ) -> RunContext:
        return cls(job=job, run_id=run_id or new_run_id(job), params=redact(params), runtime=runtime)

    def tags(
        self,
        *,
        inputs: list[InputRef],
        rows: RowCounts | None = None,
        contract: tuple[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The lineage tags of one commit (JSON-serialisable)."""
        tags: dict[str, Any] = {
            "job": self.job,
            "run_id": self.run_id,
            "lakeprep_version": __version__,
            "git_sha": git_sha(),
            "runtime": self.runtime,
            "started_at": self.started_at,
            "params": self.params,
            "inputs": [asdict(i) for i in inputs],
        }
        if rows is not None:
            tags["rows"] = {"in": rows.rows_in, "out": rows.rows_out, "quarantined": rows.rows_quarantined}
            if rows.rows_excluded:
                tags["rows"]["excluded"] = rows.rows_excluded
        if contract is not None:
            tags["contract"] = {"name": contract[0], "hash": contract[1]}
        if extra:
            tags.update(redact(extra))
        json.dumps(tags)  # fail here, not inside the commit, if something is not serialisable
        return tags
