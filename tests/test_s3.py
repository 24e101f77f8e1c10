"""The same table layer and jobs on a real S3-compatible server (SeaweedFS), Spark through S3A."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lake.sample import land_sample
from lake.storage import Storage
from lake.table import Table, list_tables
from tests.support.jobs import run_inprocess
from tests.support.servers import S3Server

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
    orphans = set(table.vacuum(retention_hours=0, dry_run=False))
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

    by_name = {r["dataset"]: r for r in results}
    assert by_name["weather"]["rows_quarantined"] == 1  # the 1048 mph wind reading
    for name in ("airlines", "airports", "planes", "weather"):
        cleaned = Table(s3_lake, "cleaned", name)
        raw = Table(s3_lake, "raw", name)
        rejected = pl.from_arrow(Table(s3_lake, "quarantine", name).to_arrow())
        assert isinstance(rejected, pl.DataFrame)
        assert cleaned.row_count() + rejected.filter(pl.col("_stage") == "clean").height == raw.row_count()
    assert {t.ref for t in list_tables(s3_lake, ["cleaned"])} == {
        "cleaned/airlines",
        "cleaned/airports",
        "cleaned/planes",
        "cleaned/weather",
    }
    again = {r["dataset"]: r.get("skipped") for r in run_inprocess("clean", ["--lake", s3_lake.root])}
    assert again == {
        "airlines": "up to date",
        "airports": "up to date",
        "planes": "up to date",
        "weather": "up to date",
        "flights": "no raw table",
    }
