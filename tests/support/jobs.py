"""Run the real job scripts: in-process (sharing the session-scoped SparkSession) or via spark-submit."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from lake import launch

CHECKOUT = Path(__file__).resolve().parents[2]
JOBS = CHECKOUT / "jobs"
INJECT = Path(__file__).resolve().parent / "inject"


def job_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"lakeprep_job_{name}", JOBS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_inprocess(name: str, argv: Sequence[str]) -> Any:
    """``jobs/<name>.py`` main() in this process: the script's own code, the test's SparkSession."""
    return job_module(name).main(list(argv))


def killed_before_commit(ref: str) -> dict[str, str]:
    """Environment of a job or ``python -c`` command that SIGKILLs itself right before it commits
    ``ref`` (``zone/name``; see ``tests/support/inject``), as a crash there would."""
    return {
        "PYTHONPATH": os.pathsep.join([str(INJECT), str(CHECKOUT), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
        "LAKEPREP_TEST_KILL_BEFORE_COMMIT": ref,
    }


def spark_submit(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    conf: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``spark-submit --properties-file spark-defaults.conf jobs/<name>.py ...`` as a user runs it."""
    return launch.run_job(name, list(argv), conf=conf, env=env, capture=True)
