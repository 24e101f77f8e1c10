"""The same table layer and jobs on a real S3-compatible server (SeaweedFS), Spark through S3A."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lake import launch
from lake.columns import STAGE
from lake.maintenance import vacuum
from lake.sample import land_sample
from lake.spark import s3a_jars
from lake.storage import Storage
from lake.table import Table, list_tables
from tests.support.jobs import run_inprocess
from tests.support.servers import S3Server, seaweedfs

pytestmark = [pytest.mark.s3, pytest.mark.slow]

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("part", pa.string())])


def test_table_layer_on_s3(spark: SparkSession, s3_lake: Storage, s3_env: S3Server) -> None:
    table = Table(s3_lake, "raw", "events")
    rows = spark.createDataFrame([(1, "a"), (2, "b"), (3, "b")], "id long, part string")
    table.write(rows, schema=SCHEMA, mode="append", tags={"job": "s3"}, run_id="r1", partition_by=["part"])
    staged = table.stage(rows, ["part"], run_id="killed")  # never committed

    assert table.uri.startswith("s3://")
    options = s3_lake.delta_options
    assert DeltaTable(table.uri, storage_options=options).history(1)[0]["lakeprep"] == {"job": "s3"}
    got = pl.read_delta(table.uri, storage_options={**options, **s3_env.env()}).sort("id")
    assert got["id"].to_list() == [1, 2, 3]
    assert sorted(r.id for r in table.read(spark).collect()) == [1, 2, 3]
    orphans = set(vacuum(table, retention_hours=0, dry_run=False))
    assert {a.path for a in staged.adds} <= orphans
    keys = [
        o["Key"] for o in s3_env.client().list_objects_v2(Bucket=s3_lake.root[5:].split("/")[0])["Contents"]
    ]
    assert not any(staged.write_id in k and k.endswith(".parquet") for k in keys)
    assert table.row_count() == 3


def test_ingest_and_clean_on_s3(spark: SparkSession, s3_lake: Storage) -> None:
    land_sample(s3_lake, datasets=["airlines", "airports", "planes", "weather"], months=[2], limit=100)
    run_inprocess("ingest", ["--lake", s3_lake.root])
    results = run_inprocess("clean", ["--lake", s3_lake.root])

    by_name = {r.dataset: r for r in results}
    assert by_name["weather"].rows_quarantined == 1  # the 1048 mph wind reading
    for name in ("airlines", "airports", "planes", "weather"):
        cleaned = Table(s3_lake, "cleaned", name)
        raw = Table(s3_lake, "raw", name)
        rejected = pl.from_arrow(Table(s3_lake, "quarantine", name).to_arrow())
        assert isinstance(rejected, pl.DataFrame)
        assert cleaned.row_count() + rejected.filter(pl.col(STAGE) == "clean").height == raw.row_count()
    assert {t.ref for t in list_tables(s3_lake, ["cleaned"])} == {
        "cleaned/airlines",
        "cleaned/airports",
        "cleaned/planes",
        "cleaned/weather",
    }
    again = {r.dataset: r.skipped for r in run_inprocess("clean", ["--lake", s3_lake.root])}
    assert again == {
        "airlines": "up to date",
        "airports": "up to date",
        "planes": "up to date",
        "weather": "up to date",
        "flights": "no raw table",
        "digits": "no raw table",  # content datasets of the sample, not landed here
        "fortunes": "no raw table",
    }


def _user_env(server: S3Server, **extra: str) -> dict[str, str]:
    """A user's shell: the S3 endpoint and credentials only (no region, no jar paths, no Spark conf)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAKEPREP_S3A_JARS"))}
    return {
        **env,
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        **extra,
    }


def test_jobs_on_s3_in_one_step(s3_env: S3Server, s3_bucket: str) -> None:
    """`lakeprep run` on an s3:// lake with only AWS_ENDPOINT_URL and credentials set (the S3A jars come
    from the checkout's .cache/jars); then plain `spark-submit --jars` with nothing else (get_spark)."""
    lake = Storage.resolve(f"s3://{s3_bucket}/one-step")
    landed = land_sample(lake, datasets=["airlines", "planes"])
    env = _user_env(s3_env)
    lakeprep = str(Path(sys.executable).with_name("lakeprep"))
    ingest = subprocess.run(
        [lakeprep, "run", "ingest", "--lake", lake.root], env=env, capture_output=True, text=True, check=False
    )
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    clean = subprocess.run(
        [
            launch.spark_submit_binary(),
            "--jars",
            ",".join(s3a_jars()),
            str(launch.paths.job_script("clean")),
            "--lake",
            lake.root,
            "--dataset",
            "airlines,planes",
        ],
        env=launch.job_environment(env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert clean.returncode == 0, clean.stderr[-3000:]
    options = {**lake.delta_options, **s3_env.env()}
    for item in landed:
        raw = pl.read_delta(Table(lake, "raw", item.dataset).uri, storage_options=options)
        assert raw.height == item.rows
        cleaned = pl.read_delta(Table(lake, "cleaned", item.dataset).uri, storage_options=options)
        rejected = Table(lake, "quarantine", item.dataset)
        assert cleaned.height + (rejected.row_count() if rejected.exists() else 0) == item.rows


def test_missing_s3a_jars_say_how_to_get_them(s3_env: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    """No S3A connector: one line saying how to get it, exit 2, before any Spark starts."""
    lake = Storage.resolve(f"s3://{s3_bucket}/no-jars")
    land_sample(lake, datasets=["airlines"])
    lakeprep = str(Path(sys.executable).with_name("lakeprep"))
    env = _user_env(s3_env, LAKEPREP_S3A_JARS=str(tmp_path / "absent.jar"))
    result = subprocess.run(
        [lakeprep, "run", "ingest", "--lake", lake.root],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "make s3a-jars" in result.stderr
    assert "LAKEPREP_S3A_JARS" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Exception" not in result.stderr


def test_the_suite_s3_server_has_room_for_many_buckets(tmp_path: Path) -> None:
    """The suite makes a bucket per test (~50 and growing). The server's room must not follow the
    machine's free disk: a CI run on a fuller disk failed every later S3 test with "no free volumes".
    At 7 volumes of 64 MB per new bucket, 150 buckets needed 67 GB free; now each takes one."""
    buckets = 150
    with seaweedfs(tmp_path) as server:
        client = server.client()
        for number in range(buckets):
            client.create_bucket(Bucket=f"room-{number:03d}")
            client.put_object(Bucket=f"room-{number:03d}", Key="probe", Body=b"x")
        stored = sum(client.list_objects_v2(Bucket=f"room-{n:03d}")["KeyCount"] for n in range(buckets))
    assert stored == buckets
