"""Run one workload in a fresh process and measure it: its own timing, and the peak memory of the
whole process tree (the Python driver, the JVM it starts and Spark's Python workers).

Peak memory is sampled: psutil reads the RSS of the child and all its descendants every 50 ms and
the maximum of the sums is kept. A fresh process per measurement means no JVM warm-up or cache is
shared between the workloads being compared; the workload reports the seconds of its measured
section itself (session start-up excluded), the wall time of the whole process is kept too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench import paths

SAMPLE_SECONDS = 0.05


class WorkloadError(RuntimeError):
    """The workload's process failed; the message carries the end of its output."""


@dataclass(frozen=True)
class Measured:
    seconds: float
    wall_seconds: float
    peak_rss_mb: float
    detail: dict[str, Any] = field(default_factory=dict)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def worker_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LAKEPREP_PII_SALT", "bench-salt")
    env["SPARK_CONF_DIR"] = str(paths.REPO)  # log4j2.properties: keep Spark quiet
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(paths.REPO), env.get("PYTHONPATH", "")] if p)
    return env


def run_workload(
    target: str, params: dict[str, Any], timeout: float = 7200, env: dict[str, str] | None = None
) -> Measured:
    """``target`` is ``module:function``; the function takes ``params`` and returns a dict with
    ``seconds`` (its measured section) and anything else worth reporting."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        result_path = os.path.join(tmp, "result.json")
        log_path = os.path.join(tmp, "output.log")
        command = [sys.executable, "-m", "bench.worker", target, json.dumps(params), result_path]
        started = time.perf_counter()
        with open(log_path, "w") as log:
            child = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**worker_environment(), **(env or {})}
            )
            watched = psutil.Process(child.pid)
            peak = 0
            while child.poll() is None:
                peak = max(peak, _tree_rss(watched))
                if time.perf_counter() - started > timeout:
                    child.kill()
                    raise WorkloadError(f"{target} timed out after {timeout:.0f} s")
                time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - started
        if child.returncode != 0 or not os.path.exists(result_path):
            with open(log_path) as log:
                tail = log.read()[-3000:]
            raise WorkloadError(f"{target} {params} exited with {child.returncode}:\n{tail}")
        with open(result_path) as handle:
            detail = json.load(handle)
    seconds = float(detail.pop("seconds", wall))
    return Measured(seconds, wall, peak / 2**20, detail)
