"""``lakeprep vacuum``: orphans of finished or killed runs go at once, a running write is never
touched, removed files wait for the retention, sidecars are not files, no version when nothing goes."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from typer.testing import CliRunner

from lake.maintenance import plan_vacuum, vacuum
from lake.runtime import JobRun
from lake.sample import land_sample
from lake.storage import Storage
from lake.table import Table
from lakeprep.cli import app
from tests.support.jobs import killed_before_commit, run_inprocess, spark_submit

SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())])
TAGS = {"job": "test", "run_id": "seed"}


def rows(spark: SparkSession, start: int, count: int) -> DataFrame:
    return spark.range(start, start + count, numPartitions=2).selectExpr("id", "cast(id as string) as name")


def seeded(spark: SparkSession, lake: Storage) -> Table:
    table = Table(lake, "cleaned", "things")
    table.write(rows(spark, 0, 10), schema=SCHEMA, mode="append", tags=TAGS, run_id="seed")
    return table


def vacuum_cli(lake: Storage, *args: str) -> str:
    result = CliRunner().invoke(app, ["vacuum", "--lake", lake.root, *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def parquet_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*.parquet")}


def test_a_running_write_is_kept_and_goes_once_its_run_is_over(spark: SparkSession, lake: Storage) -> None:
    table = seeded(spark, lake)
    with JobRun("stager", ["--lake", lake.root, "--run-id", "stager-1"], {}) as run:
        staged = table.stage(rows(spark, 10, 5), run_id=run.run.run_id)
        folder = Path(table.uri) / staged.write_id
        assert parquet_under(folder)
        # Even with no retention at all, the files of a run still going are left alone.
        plan = plan_vacuum(table, 0)
        assert plan.files == []
        assert sorted(plan.waiting) == sorted(f"{staged.write_id}/{p}" for p in parquet_under(folder))
        vacuum(table, retention_hours=0, dry_run=False)
        assert parquet_under(folder)
    # The run ended (COMPLETE) without committing them: at the default retention they go, with their
    # .crc sidecars (not counted as files), and no version is added.
    version = table.version()
    expected = {f"{staged.write_id}/{p}" for p in parquet_under(folder)}
    assert any(p.name.endswith(".crc") for p in folder.rglob(".*")), "Spark writes .crc sidecars locally"
    assert set(vacuum(table, dry_run=True)) == expected
    assert set(vacuum(table, dry_run=False)) == expected
    assert not folder.exists()
    assert table.version() == version
    assert pl.read_delta(table.uri).height == 10


def test_removed_files_wait_for_the_retention_and_nothing_commits_when_nothing_goes(
    spark: SparkSession, lake: Storage
) -> None:
    table = seeded(spark, lake)
    first = set(table.files())
    table.write(rows(spark, 100, 3), schema=SCHEMA, mode="overwrite", tags=TAGS, run_id="seed2")
    version = table.version()
    assert "nothing to vacuum" in vacuum_cli(lake, "--apply")
    assert table.version() == version  # no VACUUM commits for a vacuum that removed nothing
    assert pl.read_delta(table.uri, version=0).height == 10  # time travel still works
    # Past the retention, the files version 0 referenced go (delta-rs records that vacuum).
    assert set(vacuum(table, retention_hours=0, dry_run=False)) == first
    assert not any((Path(table.uri) / f).exists() for f in first)
    assert pl.read_delta(table.uri).height == 3


def test_orphans_of_a_killed_run_go_at_the_default_retention(spark: SparkSession, lake: Storage) -> None:
    land_sample(lake, datasets=["airlines"])
    run_inprocess("ingest", ["--lake", lake.root, "--dataset", "airlines"])
    killed = spark_submit(
        "clean",
        ["--lake", lake.root, "--dataset", "airlines", "--run-id", "clean-killed"],
        env=killed_before_commit("cleaned/airlines"),
    )
    assert killed.returncode != 0
    table = Table(lake, "quarantine", "airlines")
    assert table.exists()  # quarantine committed before the kill; cleaned never was
    cleaned_dir = Path(lake.uri("cleaned", "airlines"))
    [write] = [p for p in cleaned_dir.iterdir() if p.name.startswith("clean-killed-")]
    orphans = parquet_under(write)
    assert orphans
    # A stage cut short leaves Spark's _temporary folder behind: it goes too, and is not a file.
    (write / "_temporary" / "0").mkdir(parents=True)

    listed = vacuum_cli(lake)
    assert "nothing to vacuum" not in listed
    assert "would remove" in listed
    assert "quarantine/airlines" not in listed  # its staged files were committed
    assert "cleaned/airlines" in listed  # no version was ever committed there: every file is an orphan
    assert {f"{write.name}/{p}" for p in orphans} == set(vacuum(Table(lake, "cleaned", "airlines")))
    vacuum_cli(lake, "--apply")
    assert not cleaned_dir.exists()
    assert "nothing to vacuum" in vacuum_cli(lake)
