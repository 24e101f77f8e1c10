"""Where one ``clean`` run's time goes, stage by stage: ``python -m bench.stages [--repeats N] [--rules-scaling]``.

clean is one Spark job of a few stages, so its parts cannot be timed one after the other from Python.
Spark's event log times each stage and says what it read, shuffled and wrote. This runs the
``lakeprep_clean`` tier (25 rules, the 4.4M-row ``one_percent`` table) with whole-stage codegen's
method limit at Spark's default (65535 bytes) and at HotSpot's JIT limit (8000, what
spark-defaults.conf sets), each a fresh process, alternating; ``--rules-scaling`` runs 10 and 50 rules
at 8000 instead. Writes bench/results/clean_stages.json (runs of other settings kept) for section 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench import paths, validation
from bench.proc import run_workload

LIMITS = (65535, 8000)
RULES = 25


def stage_figures(event_log: Path) -> list[dict[str, Any]]:
    """Every completed stage of an (uncompressed) Spark event log: wall seconds, task seconds, bytes."""
    stages = []
    for line in event_log.read_text().splitlines():
        event = json.loads(line)
        if event["Event"] != "SparkListenerStageCompleted":
            continue
        info = event["Stage Info"]
        metrics = {a["Name"]: a.get("Value", 0) for a in info.get("Accumulables", [])}
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


def clean_stages(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: the ``lakeprep_clean`` tier in a session whose event log this function then reads."""
    from bench.spark import session

    with tempfile.TemporaryDirectory(prefix="bench-eventlog-") as folder:
        spark = session(
            "bench-lakeprep_clean",
            {
                "spark.sql.codegen.hugeMethodLimit": str(params["limit"]),
                "spark.eventLog.enabled": "true",
                "spark.eventLog.dir": folder,
                "spark.eventLog.compress": "false",
            },
        )
        measured = validation.lakeprep_clean(params)  # its session() call gets this session back
        spark.stop()  # flushes the event log
        logs = [Path(root) / name for root, _, names in os.walk(folder) for name in names]
        events = next(p for p in logs if p.name.startswith(("events_", "local-")))
        return {**measured, "stages": stage_figures(events)}


def measure(settings: list[tuple[int, int]], repeats: int) -> dict[str, Any]:
    """``settings``: (rule count, method limit) pairs, each run ``repeats`` times, alternating order."""
    lake = validation.variant_lake("4.4M", "one_percent")
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load = [round(x, 2) for x in os.getloadavg()]
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
                    "started": started,
                    "load_average": load,
                }
            )
    return {"rows": validation.prepare("4.4M")["one_percent"]["rows"], "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--rules-scaling",
        action="store_true",
        help="profile 10 and 50 rules at the 8000 limit instead (merged with the 25-rule runs on file)",
    )
    args = parser.parse_args()
    settings = [(10, 8000), (50, 8000)] if args.rules_scaling else [(RULES, limit) for limit in LIMITS]
    result = measure(settings, args.repeats)
    target = paths.RESULTS / "clean_stages.json"
    if target.exists():  # keep the runs of the other settings
        kept = [r for r in json.loads(target.read_text())["runs"] if (r["rules"], r["limit"]) not in settings]
        result["runs"] = kept + result["runs"]
    target.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
