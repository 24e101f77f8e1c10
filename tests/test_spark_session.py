"""The Spark sessions lakeprep starts in-process (campaigns, the demo, the site's helpers) are as quiet
as its spark-submit runs: a user's shell has no SPARK_CONF_DIR, yet no log4j WARN line reaches it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.jobs import CHECKOUT

START_A_SESSION = "from lake.spark import local_session; print(local_session('quiet').range(3).count())"


@pytest.mark.slow
def test_a_local_session_prints_no_spark_warnings() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS"}}
    result = subprocess.run(
        [sys.executable, "-c", START_A_SESSION],
        capture_output=True,
        text=True,
        env=env,
        cwd=CHECKOUT,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "3"
    assert [line for line in result.stderr.splitlines() if " WARN " in line] == []
