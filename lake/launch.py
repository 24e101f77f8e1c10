"""Launch job scripts the way a user does: ``spark-submit --properties-file spark-defaults.conf jobs/<job>.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from lake import paths


def spark_submit_binary() -> str:
    beside = Path(sys.executable).with_name("spark-submit")
    if beside.exists():
        return str(beside)
    found = shutil.which("spark-submit")
    if not found:
        raise FileNotFoundError(
            "spark-submit not found: install the spark extra (pip install 'lakeprep[spark]')"
        )
    return found


def spark_submit_command(job: str, args: Sequence[str], conf: Mapping[str, str] | None = None) -> list[str]:
    command = [spark_submit_binary(), "--properties-file", str(paths.spark_defaults())]
    for key, value in (conf or {}).items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(paths.job_script(job)), *args]


def job_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # The job's Python is this interpreter (the virtualenv with lakeprep), on driver and executors.
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    checkout = paths.checkout_root()
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(checkout), env.get("PYTHONPATH", "")] if p)
    # spark-submit reads log4j2.properties (and spark-defaults.conf) from $SPARK_CONF_DIR.
    env.setdefault("SPARK_CONF_DIR", str(paths.spark_defaults().parent))
    env.update(extra or {})
    return env


def run_job(
    job: str,
    args: Sequence[str],
    conf: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        spark_submit_command(job, args, conf),
        env=job_environment(env),
        text=True,
        capture_output=capture,
        check=False,
    )
