"""The jobs on a real distributed Spark, not only ``local[*]``: a standalone cluster on loopback (one
master and two workers, separate JVMs started with pyspark's own ``spark-class``) runs ingest -> clean
-> featurize through spark-submit against the local S3 server, and every table it writes equals the
local-mode run of the same landed files, row for row."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pyspark.sql import SparkSession

from lake.columns import INGESTED_AT, QUARANTINED_AT, RUN_ID
from lake.sample import land_sample
from lake.storage import Storage
from lake.table import Zone, list_tables
from tests.support.jobs import run_inprocess, spark_submit
from tests.support.servers import S3Server, spark_standalone

# Three JVMs of daemons, then three drivers each with two executors: more than the suite's 900 s
# default on a busy 2-core machine. `make test-cluster` runs it (`make test` leaves it out).
pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.slow, pytest.mark.timeout(3600)]

JOBS = ("ingest", "clean", "featurize")
ZONES: tuple[Zone, ...] = ("raw", "cleaned", "quarantine", "features")
# Differ between any two runs by design: which run wrote a row, and when.
PER_RUN = {RUN_ID, INGESTED_AT, QUARANTINED_AT}


EXECUTOR_LOG4J = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.executor.name = org.apache.spark.executor.Executor
logger.executor.level = info
"""


def _land(storage: Storage) -> None:
    """The first three days of January's flights (enough for the windows over previous days), with
    everything featurize joins."""
    land_sample(storage, months=[1], limit=2500)


def _tables(storage: Storage, options: dict[str, str]) -> dict[str, pl.DataFrame]:
    """Every zone table, per-run columns dropped, the lake's own root replaced in text, rows sorted."""
    frames = {}
    for table in list_tables(storage, ZONES):
        frame = pl.read_delta(table.uri, storage_options=options)
        frame = frame.drop([c for c in frame.columns if c in PER_RUN])
        frame = frame.with_columns(
            pl.col(c).str.replace_all(storage.root, "<lake>", literal=True)
            for c, kind in frame.schema.items()
            if kind == pl.String
        )
        order = [c for c, kind in frame.schema.items() if not kind.is_nested()]
        frames[table.ref] = frame.sort(order, nulls_last=True)
    return frames


def test_jobs_on_a_standalone_cluster_equal_local_mode(
    spark: SparkSession, s3_lake: Storage, s3_env: S3Server, tmp_path: Path
) -> None:
    local = s3_lake
    distributed = Storage.resolve(f"{s3_lake.root}-cluster")
    _land(local)
    _land(distributed)
    for job in JOBS:
        run_inprocess(job, ["--lake", local.root])

    # The repository's log4j2.properties silences the executor's task lines; the executors of this test
    # log them, so the workers' logs show where tasks ran.
    executor_log = tmp_path / "executor-log4j2.properties"
    executor_log.write_text(EXECUTOR_LOG4J)
    conf = {"spark.executor.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{executor_log}"}
    with spark_standalone(tmp_path, env=dict(os.environ)) as cluster:
        for job in JOBS:
            result = spark_submit(
                job,
                ["--lake", distributed.root],
                conf={**cluster.conf(), **conf},
                env={"SPARK_LOCAL_IP": "127.0.0.1"},
            )
            assert result.returncode == 0, f"{job}: {result.stderr[-4000:]}"

    # Both workers ran executors, and tasks, for every job.
    for index in range(cluster.workers):
        apps = sorted((tmp_path / f"worker-{index}").glob("app-*"))
        assert len(apps) == len(JOBS), f"worker-{index} ran {len(apps)} applications"
        ran_tasks = [
            any("Running task" in log.read_text(errors="replace") for log in app.glob("*/stderr"))
            for app in apps
        ]
        assert any(ran_tasks), f"worker-{index} ran no task"

    options = {**local.delta_options, **s3_env.env()}
    expected, got = _tables(local, options), _tables(distributed, options)
    assert set(got) == set(expected)
    assert {"raw/flights", "cleaned/flights", "features/flight_delay"} <= set(got)
    for ref, frame in expected.items():
        assert frame.height > 0 or ref.startswith("quarantine/"), ref
        try:
            # Floats to 1e-9 relative: a fitted scaler's mean and deviation are sums that two executors
            # add in another order than one process does; everything else must match exactly.
            assert_frame_equal(got[ref], frame, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
        except AssertionError as exc:
            raise AssertionError(f"{ref} differs between the cluster and local mode: {exc}") from None
