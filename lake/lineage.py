"""Who wrote a commit: a run's identity (job, run id, redacted parameters) and the code version.

Every commit a run makes carries lineage tags (their layout is ``lake.tags``) in the Delta
commit's ``commitInfo``, so any Delta reader can walk from a features version back to the cleaned
and raw versions it was built from. Parameters are redacted when the run starts: secrets never
reach commit metadata.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from lake import __version__, paths
from lake.tags import LINEAGE_KEY as LINEAGE_KEY
from lake.tags import REDACTED as REDACTED
from lake.tags import CommitTags, ContractRef, RunStamp, StageTags
from lake.tags import InputRef as InputRef
from lake.tags import RowCounts as RowCounts
from lake.tags import redact as redact

if TYPE_CHECKING:
    import pyarrow as pa

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

    def stamp(self) -> RunStamp:
        """This run as its commits record it."""
        return RunStamp(
            self.job, self.run_id, __version__, git_sha(), self.runtime, self.started_at, self.params
        )

    def tags(
        self,
        *,
        inputs: Sequence[InputRef],
        rows: RowCounts | None = None,
        contract: ContractRef | None = None,
        stage: StageTags | None = None,
        metrics: list[Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> CommitTags:
        """The lineage tags of one commit by this run (``extra``: keys of a caller's own)."""
        return CommitTags(self.stamp(), tuple(inputs), rows, contract, stage, metrics, dict(extra or {}))


@dataclass
class DatasetIO:
    """An input or output of a run, as OpenLineage and the run summary see it."""

    table: str
    uri: str
    version: int | None
    schema: pa.Schema | None = None
    facets: dict[str, Any] = field(default_factory=dict)


class ObservedRun(Protocol):
    """What a lineage observer sees of a run (``lake.runtime.JobRun`` is one): observers depend on
    this, not on the job runtime, so the runtime can load them without an import cycle."""

    job: str
    run: RunContext
    inputs: list[DatasetIO]
    outputs: list[DatasetIO]


class RunObserver(Protocol):
    def started(self, run: ObservedRun) -> None: ...

    def finished(self, run: ObservedRun, error: BaseException | None) -> None: ...
