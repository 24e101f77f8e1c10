"""Launch job scripts the way a user does: ``spark-submit --properties-file spark-defaults.conf jobs/<job>.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from lake import paths
from lake.runtime import parse_args
from lake.storage import Storage


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


def lake_is_s3(args: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether the job's lake (``--lake``, else ``$LAKEPREP_LAKE``) is an s3:// prefix."""
    return Storage.resolve(parse_args(args).get("lake") or environ.get("LAKEPREP_LAKE") or None).is_s3


def spark_submit_command(
    job: str,
    args: Sequence[str],
    conf: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """On an s3:// lake the S3A jars and settings (from ``environ``, the job's environment) come first;
    ``conf`` overrides them."""
    from lake.spark import s3a_spark_conf  # pyspark: only where a job is launched

    environ = os.environ if environ is None else environ
    settings = s3a_spark_conf(environ) if lake_is_s3(args, environ) else {}
    settings.update(conf or {})
    command = [spark_submit_binary(), "--properties-file", str(paths.spark_defaults())]
    for key, value in settings.items():
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
    """spark-submit the job; a setup problem found before launching (no S3A jars) is one line on stderr
    and exit status 2, as spark-submit reports a usage error."""
    from lake.spark import S3AJarsMissingError

    environment = job_environment(env)
    try:
        command = spark_submit_command(job, args, conf, environment)
    except S3AJarsMissingError as exc:
        message = f"lakeprep: {exc}\n"
        if not capture:
            sys.stderr.write(message)
        return subprocess.CompletedProcess(
            [job, *args], 2, "" if capture else None, message if capture else None
        )
    return subprocess.run(
        command,
        env=environment,
        text=True,
        capture_output=capture,
        check=False,
    )
