"""Where one ``clean`` run's time goes, stage by stage: ``python -m bench.stages [--repeats N] [--rules-scaling]``.

clean is one Spark job of a few stages, so its parts cannot be timed one after the other from Python.
Spark's event log times each stage and says what it read, shuffled and wrote. This runs the
``lakeprep_clean`` tier (25 rules, the 4.4M-row ``one_percent`` table) with whole-stage codegen's
method limit at Spark's default (65535 bytes) and at HotSpot's JIT limit (8000, what
spark-defaults.conf sets), each a fresh process, alternating; ``--rules-scaling`` runs 10 and 50 rules
at 8000 instead. Writes bench/results/clean_stages.json (runs of other settings kept) for section 1.
``--featurize 1M`` profiles featurize and the hand-written job the same way, by the Spark jobs each
starts (bench/results/featurize_jobs.json, section 3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import paths, validation
from bench.proc import run_workload

LIMITS = (65535, 8000)
RULES = 25


def _started() -> dict[str, Any]:
    """When a measurement started and the machine's load then."""
    return {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _stage_metrics(event: dict[str, Any]) -> dict[str, Any]:
    """A completed stage's task metrics by name (``internal.metrics.*``)."""
    return {a["Name"]: a.get("Value", 0) for a in event["Stage Info"].get("Accumulables", [])}


def stage_figures(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every completed stage of a Spark event log: wall seconds, task seconds, bytes."""
    stages = []
    for event in events:
        if event["Event"] != "SparkListenerStageCompleted":
            continue
        info = event["Stage Info"]
        metrics = _stage_metrics(event)
        shuffle_read = metrics.get("internal.metrics.shuffle.read.localBytesRead", 0) + metrics.get(
            "internal.metrics.shuffle.read.remoteBytesRead", 0
        )
        stages.append(
            {
                "stage": info["Stage ID"],
                "tasks": info["Number of Tasks"],
                "wall_seconds": (info["Completion Time"] - info["Submission Time"]) / 1000,
                "task_seconds": metrics.get("internal.metrics.executorRunTime", 0) / 1000,
                "input_mb": metrics.get("internal.metrics.input.bytesRead", 0) / 1e6,
                "shuffle_write_mb": metrics.get("internal.metrics.shuffle.write.bytesWritten", 0) / 1e6,
                "shuffle_read_mb": shuffle_read / 1e6,
                "output_mb": metrics.get("internal.metrics.output.bytesWritten", 0) / 1e6,
                "spill_mb": metrics.get("internal.metrics.diskBytesSpilled", 0) / 1e6,
            }
        )
    return stages


def _event_log_run(app: str, limit: int, work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], Path]:
    """``work`` in a session that writes an uncompressed event log; its result and the log's folder."""
    from bench.spark import session

    folder = Path(tempfile.mkdtemp(prefix="bench-eventlog-"))
    spark = session(
        app,
        {
            "spark.sql.codegen.hugeMethodLimit": str(limit),
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": str(folder),
            "spark.eventLog.compress": "false",
        },
    )
    measured = work()  # the workload's own session() call gets this session back
    spark.stop()  # flushes the event log
    return measured, folder


def _read_log(folder: Path) -> list[dict[str, Any]]:
    """The events of the one application logged under ``folder`` (Spark 4 writes a folder per
    application, Spark 3.5 one file), then ``folder`` removed."""
    logs = [Path(root) / name for root, _, names in os.walk(folder) for name in names]
    log = next(p for p in logs if p.name.startswith(("events_", "local-")))
    events = [json.loads(line) for line in log.read_text().splitlines()]
    shutil.rmtree(folder, ignore_errors=True)
    return events


def clean_stages(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: the ``lakeprep_clean`` tier, and its stages from the event log."""
    measured, folder = _event_log_run(
        "bench-lakeprep_clean", params["limit"], lambda: validation.lakeprep_clean(params)
    )
    return {**measured, "stages": stage_figures(_read_log(folder))}


SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
SQL_END = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd"


def job_figures(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Work grouped by the action that started it: each SQL execution (its description names the line
    of code, e.g. ``first at lake/features/run.py:100``) with its nested ones, and RDD jobs outside SQL
    (pyspark.ml's aggregations) by their stage's name. Per group: Spark jobs, wall and task seconds."""
    stage_tasks: dict[int, float] = {}
    executions: dict[int, dict[str, Any]] = {}
    roots: dict[int, int] = {}
    jobs: dict[int, dict[str, Any]] = {}
    for event in events:
        kind = event["Event"]
        if kind == SQL_START:
            execution = event["executionId"]
            roots[execution] = event.get("rootExecutionId", execution)
            executions[execution] = {
                "site": event["description"],
                "start": event["time"],
                "end": event["time"],
            }
        elif kind == SQL_END:
            executions[event["executionId"]]["end"] = event["time"]
        elif kind == "SparkListenerJobStart":
            properties = event.get("Properties", {})
            execution = properties.get("spark.sql.execution.id")
            names = [info["Stage Name"] for info in event.get("Stage Infos", [])]
            jobs[event["Job ID"]] = {
                "execution": int(execution) if execution is not None else None,
                "name": names[-1] if names else "?",
                "start": event["Submission Time"],
                "stages": event["Stage IDs"],
            }
        elif kind == "SparkListenerJobEnd":
            jobs[event["Job ID"]]["end"] = event["Completion Time"]
        elif kind == "SparkListenerStageCompleted":
            runtime = _stage_metrics(event).get("internal.metrics.executorRunTime", 0)
            stage_tasks[event["Stage Info"]["Stage ID"]] = runtime / 1000
    grouped: dict[str, dict[str, Any]] = {}

    def entry(site: str) -> dict[str, Any]:
        return grouped.setdefault(site, {"site": site, "jobs": 0, "wall_seconds": 0.0, "task_seconds": 0.0})

    for execution, info in executions.items():
        if roots.get(execution, execution) == execution:
            entry(info["site"])["wall_seconds"] += (info["end"] - info["start"]) / 1000
    for job in jobs.values():
        if job["execution"] is not None and job["execution"] in executions:
            root = roots.get(job["execution"], job["execution"])
            group = entry(executions[root]["site"])
        else:
            group = entry(job["name"])
            group["wall_seconds"] += (job.get("end", job["start"]) - job["start"]) / 1000
        group["jobs"] += 1
        group["task_seconds"] += sum(stage_tasks.get(s, 0.0) for s in job["stages"])
    return sorted(grouped.values(), key=lambda e: -e["task_seconds"])


def featurize_jobs(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: one featurize tier (lakeprep or hand-written), and its Spark jobs from the event log."""
    from bench import features

    work = getattr(features, params["tier"])
    measured, folder = _event_log_run(f"bench-{params['tier']}", params["limit"], lambda: work(params))
    return {**measured, "jobs": job_figures(_read_log(folder))}


def measure(settings: list[tuple[int, int]], repeats: int) -> dict[str, Any]:
    """``settings``: (rule count, method limit) pairs, each run ``repeats`` times, alternating order."""
    lake = validation.variant_lake("4.4M", "one_percent")
    started = _started()
    runs = []
    for repeat in range(repeats):
        for rules, limit in settings if repeat % 2 == 0 else list(reversed(settings)):
            params = {"lake": str(lake), "tier": "lakeprep_clean", "rules": rules, "limit": limit}
            result = run_workload("bench.stages:clean_stages", params)
            runs.append(
                {
                    "rules": rules,
                    "limit": limit,
                    "repeat": repeat,
                    **result.detail,
                    "seconds": result.seconds,
                    "peak_rss_mb": result.peak_rss_mb,
                    **started,
                }
            )
    return {"rows": validation.prepare("4.4M")["one_percent"]["rows"], "runs": runs}


def measure_featurize(size: str) -> dict[str, Any]:
    """Both featurize tiers once each at ``size``, at the 8000 limit."""
    from bench import features

    started = _started()
    runs = []
    for tier in features.TIERS:
        params = {
            "lake": str(paths.lake(size)),
            "output": str(paths.scratch(f"handwritten_{size}")),
            "tier": tier,
            "limit": 8000,
        }
        result = run_workload("bench.stages:featurize_jobs", params)
        runs.append(
            {"tier": tier, **result.detail, "seconds": result.seconds, "peak_rss_mb": result.peak_rss_mb}
        )
    return {"size": size, **started, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--rules-scaling",
        action="store_true",
        help="profile 10 and 50 rules at the 8000 limit instead (merged with the 25-rule runs on file)",
    )
    parser.add_argument("--featurize", default="", help="profile featurize's Spark jobs at this size instead")
    args = parser.parse_args()
    if args.featurize:
        profile = measure_featurize(args.featurize)
        (paths.RESULTS / "featurize_jobs.json").write_text(json.dumps(profile, indent=1, default=str))
        return
    settings = [(10, 8000), (50, 8000)] if args.rules_scaling else [(RULES, limit) for limit in LIMITS]
    result = measure(settings, args.repeats)
    target = paths.RESULTS / "clean_stages.json"
    if target.exists():  # keep the runs of the other settings
        kept = [r for r in json.loads(target.read_text())["runs"] if (r["rules"], r["limit"]) not in settings]
        result["runs"] = kept + result["runs"]
    target.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
