"""Describe the machine a run measured on: CPU, cores, memory, Java, Spark, Python, the peers' versions,
and how busy the machine was (these numbers only compare within one run)."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from typing import Any

PACKAGES = (
    "pyspark",
    "deltalake",
    "pyarrow",
    "pandas",
    "numpy",
    "scikit-learn",
    "pandera",
    "great_expectations",
    "scikit-activeml",
    "psutil",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _java() -> str:
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
        return done.stderr.splitlines()[0] if done.stderr else "unknown"
    except OSError:
        return "not found"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_sha() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def describe() -> dict[str, Any]:
    import psutil

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _java(),
        "spark_master": "local[2]",
        "spark_driver_memory": "4g (spark-defaults.conf)",
        "packages": {p: _version(p) for p in PACKAGES},
        "lakeprep_commit": _git_sha(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
