"""Run a pipeline locally, stage by stage, through the same ``spark-submit`` path as ``lakeprep run``.

The run's state is kept in the lake (``<lake>/_pipelines/<pipeline>/last_run.json``, rewritten
after every stage, with each stage's output in ``<lake>/_pipelines/<pipeline>/<run id>/<job>.log``).
The first failing stage stops the run; the next run with the same selection resumes at that stage
(the stages before it succeeded, and every stage is idempotent anyway, so resuming never
duplicates rows: it only saves re-running finished work).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

from lake import launch
from lake.job_scripts import as_argv
from lake.lineage import new_run_id
from lake.openlineage import read_events
from lake.pipeline.model import Pipeline, Stage
from lake.storage import Storage

PIPELINES_AREA = "_pipelines"
StageState = Literal["pending", "running", "succeeded", "failed", "skipped"]
Selection = dict[str, list[str] | str | None]  # what a run was asked to do: --dataset, --contracts
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit)\b:?\s*(.*)$")


@dataclass
class StageRun:
    job: str
    state: StageState = "pending"
    run_id: str | None = None
    seconds: float | None = None
    reason: str | None = None
    log: str | None = None


@dataclass
class PipelineRun:
    """One run of a pipeline: what was asked (the selection) and where each stage got to."""

    pipeline: str
    run_id: str
    started_at: str
    selection: Selection
    stages: list[StageRun] = field(default_factory=list)
    resumed_from: str | None = None

    @property
    def stopped_at(self) -> StageRun | None:
        """The stage that failed, or was running when the run was interrupted."""
        return next((s for s in self.stages if s.state in {"failed", "running"}), None)

    @property
    def succeeded(self) -> bool:
        return all(s.state in {"succeeded", "skipped"} for s in self.stages)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> PipelineRun:
        data = json.loads(text)
        data["stages"] = [StageRun(**s) for s in data["stages"]]
        return cls(**data)


def state_uri(storage: Storage, pipeline: str) -> str:
    return storage.uri(PIPELINES_AREA, pipeline, "last_run.json")


def last_run(storage: Storage, pipeline: str) -> PipelineRun | None:
    uri = state_uri(storage, pipeline)
    return PipelineRun.from_json(storage.read_text(uri)) if storage.exists(uri) else None


def _save(storage: Storage, run: PipelineRun) -> None:
    storage.write_bytes(state_uri(storage, run.pipeline), run.to_json().encode())


def one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def failure_reason(storage: Storage, job: str, run_id: str, stderr: str, returncode: int) -> str:
    """Why a stage failed, in one line: the error its OpenLineage FAIL event recorded, else the
    job's ``error: …`` line, else the exception (or ``SystemExit`` message) Python printed last,
    else the exit code."""
    try:
        events = read_events(storage, job, run_id)
    except (OSError, ValueError):
        events = []
    for event in reversed(events):
        message = ((event.get("run") or {}).get("facets") or {}).get("errorMessage", {}).get("message")
        if event.get("eventType") == "FAIL" and message:
            return one_line(message)
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):  # how lake.errors reports a failed run
        if line.startswith(("error: ", "error (a defect")):
            return one_line(line.split(": ", 1)[1])
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return one_line(line)
    # A SystemExit("message") prints only its message; it is the last line Python wrote.
    python_lines = [line for line in lines if not re.match(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d ", line)]
    if python_lines:
        return one_line(python_lines[-1])
    return f"exit code {returncode}"


def plan(
    pipeline: Pipeline, storage: Storage, selection: Selection, start: str | None
) -> tuple[list[Stage], PipelineRun | None]:
    """The stages to run: from ``start`` when given; else from the stage where the last run with the
    same selection failed (returned as the run resumed); else all of them."""
    if start:
        return pipeline.stages_from(start), None
    previous = last_run(storage, pipeline.name)
    failed = previous.stopped_at if previous is not None and previous.selection == selection else None
    if failed is not None and failed.job in pipeline.jobs:
        return pipeline.stages_from(failed.job), previous
    return list(pipeline.stages), None


Listener = Callable[[StageRun], None]


def run_pipeline(
    pipeline: Pipeline,
    storage: Storage,
    *,
    datasets: list[str] | None = None,
    contracts: str | None = None,
    start: str | None = None,
    on_plan: Callable[[PipelineRun], None] | None = None,
    on_start: Listener | None = None,
    on_end: Listener | None = None,
) -> PipelineRun:
    """Run the planned stages in order with ``spark-submit`` until one fails; the state is saved
    before and after every stage, so an interrupted run resumes where it stopped."""
    selection: Selection = {"datasets": datasets, "contracts": contracts}
    to_run, resumed = plan(pipeline, storage, selection, start)
    chosen = {stage.job for stage in to_run}
    run = PipelineRun(
        pipeline=pipeline.name,
        run_id=new_run_id(f"pipeline-{pipeline.name}"),
        started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        selection=selection,
        stages=[StageRun(job, "pending" if job in chosen else "skipped") for job in pipeline.jobs],
        resumed_from=resumed.run_id if resumed else None,
    )
    _save(storage, run)
    if on_plan:
        on_plan(run)
    for stage, record in zip(pipeline.stages, run.stages, strict=True):
        if record.state == "skipped":
            continue
        record.state, record.run_id = "running", new_run_id(stage.job)
        record.log = storage.uri(PIPELINES_AREA, pipeline.name, run.run_id, f"{stage.job}.log")
        _save(storage, run)
        if on_start:
            on_start(record)
        args = ["--lake", storage.root, "--run-id", record.run_id]
        args += ["--contracts", contracts] if contracts else []
        args += as_argv(stage.arguments(datasets))
        began = time.monotonic()
        result = launch.run_job(stage.job, args, capture=True)
        record.seconds = round(time.monotonic() - began, 1)
        storage.write_bytes(record.log, f"{result.stdout or ''}{result.stderr or ''}".encode())
        if result.returncode == 0:
            record.state = "succeeded"
        else:
            record.state = "failed"
            record.reason = failure_reason(
                storage, stage.job, record.run_id, result.stderr or "", result.returncode
            )
        _save(storage, run)
        if on_end:
            on_end(record)
        if record.state == "failed":
            break
    return run
