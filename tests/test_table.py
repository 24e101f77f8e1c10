"""The Delta table layer: Spark-staged Parquet committed by delta-rs, checked with independent readers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lake.maintenance import vacuum
from lake.storage import Storage
from lake.table import Table, TableError

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("part", pa.string()),
        pa.field("amount", pa.float64()),
        pa.field("at", pa.timestamp("us", tz="UTC")),
    ]
)
TAGS = {"job": "test", "run_id": "r1"}


def frame(spark: SparkSession, rows: list[tuple[int, str | None, float | None, str]]):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(rows, "id long, part string, amount double, at string").selectExpr(
        "id", "part", "amount", "cast(at as timestamp) as at"
    )


ROWS = [
    (1, "a", 1.5, "2013-01-01T10:00:00Z"),
    (2, "a", None, "2013-01-01T11:30:00.123456Z"),
    (3, "b", -2.0, "2013-01-02T00:00:00Z"),
    (4, None, 7.25, "2013-01-03T00:00:00Z"),
    (5, "b c/d", 0.0, "2013-01-04T00:00:00Z"),
]


def test_commit_creates_a_standard_delta_table_with_footer_stats(spark: SparkSession, lake: Storage) -> None:
    table = Table(lake, "raw", "events")
    result = table.write(
        frame(spark, ROWS), schema=SCHEMA, mode="append", tags=TAGS, run_id="r1", partition_by=["part"]
    )

    assert (result.version, result.rows) == (0, 5)
    delta = DeltaTable(table.uri)
    assert delta.metadata().partition_columns == ["part"]
    assert delta.history(1)[0]["lakeprep"] == TAGS
    # Independent readers see exactly the rows, partition values included (even odd ones).
    got = pl.read_delta(table.uri).sort("id")
    assert got["id"].to_list() == [1, 2, 3, 4, 5]
    assert got["part"].to_list() == ["a", "a", "b", None, "b c/d"]
    assert got["at"].to_list()[1].microsecond == 123456
    # Per-file statistics come from the Parquet footers.
    actions = pa.table(delta.get_add_actions(flatten=True)).to_pylist()
    by_part = {a["partition.part"]: a for a in actions}
    assert by_part["a"]["num_records"] == 2
    assert by_part["a"]["min.id"] == 1
    assert by_part["a"]["max.id"] == 2
    assert by_part["a"]["null_count.amount"] == 1
    assert sum(a["num_records"] for a in actions) == 5


def test_spark_reads_current_and_pinned_versions(spark: SparkSession, lake: Storage) -> None:
    table = Table(lake, "raw", "events")
    table.write(
        frame(spark, ROWS[:2]), schema=SCHEMA, mode="append", tags=TAGS, run_id="r1", partition_by=["part"]
    )
    table.write(
        frame(spark, ROWS[2:]), schema=SCHEMA, mode="append", tags=TAGS, run_id="r2", partition_by=["part"]
    )

    now = table.read(spark)
    assert sorted(r.id for r in now.collect()) == [1, 2, 3, 4, 5]
    assert now.columns == SCHEMA.names
    assert sorted((r.id, r.part) for r in table.read(spark, version=0).collect()) == [(1, "a"), (2, "a")]
    assert table.row_count() == 5
    assert table.row_count(0) == 2


def test_replace_partitions_and_overwrite_where(spark: SparkSession, lake: Storage) -> None:
    table = Table(lake, "cleaned", "events")
    table.write(
        frame(spark, ROWS), schema=SCHEMA, mode="append", tags=TAGS, run_id="r1", partition_by=["part"]
    )
    replacement = frame(spark, [(10, "a", 1.0, "2013-02-01T00:00:00Z")])
    table.write(
        replacement, schema=SCHEMA, mode="replace_partitions", tags=TAGS, run_id="r2", partition_by=["part"]
    )
    assert sorted(pl.read_delta(table.uri)["id"].to_list()) == [3, 4, 5, 10]

    only_b = frame(spark, [(20, "b", 2.0, "2013-02-01T00:00:00Z")])
    table.write(
        only_b,
        schema=SCHEMA,
        mode="overwrite",
        replace_where={"part": "b"},
        tags=TAGS,
        run_id="r3",
        partition_by=["part"],
    )
    assert sorted(pl.read_delta(table.uri)["id"].to_list()) == [4, 5, 10, 20]

    table.write(
        frame(spark, ROWS[:1]), schema=SCHEMA, mode="overwrite", tags=TAGS, run_id="r4", partition_by=["part"]
    )
    assert pl.read_delta(table.uri)["id"].to_list() == [1]
    assert DeltaTable(table.uri).version() == 3


def test_app_transactions_make_commits_idempotent(spark: SparkSession, lake: Storage) -> None:
    table = Table(lake, "raw", "events")
    table.write(
        frame(spark, ROWS),
        schema=SCHEMA,
        mode="append",
        tags=TAGS,
        run_id="r1",
        app_transactions=[("batch:x", 7)],
    )
    assert table.app_version("batch:x") == 7
    assert table.app_versions(["batch:x", "batch:y"]) == {"batch:x": 7, "batch:y": None}
    write = {"schema": SCHEMA, "mode": "append", "tags": TAGS}
    again = table.write(frame(spark, ROWS), run_id="r1", app_transactions=[("batch:x", 7)], **write)
    assert again.skipped  # the same run committed twice adds nothing
    assert (DeltaTable(table.uri).version(), pl.read_delta(table.uri).height) == (0, 5)
    newer = table.write(frame(spark, ROWS[:1]), run_id="r2", app_transactions=[("batch:x", 8)], **write)
    assert not newer.skipped
    assert pl.read_delta(table.uri).height == 6


def test_a_run_killed_before_its_commit_leaves_the_table_unchanged(
    spark: SparkSession, lake: Storage
) -> None:
    table = Table(lake, "raw", "events")
    table.write(frame(spark, ROWS[:2]), schema=SCHEMA, mode="append", tags=TAGS, run_id="r1")
    staged = table.stage(frame(spark, ROWS[2:]), run_id="killed")  # files written, never committed

    assert staged.rows == 3
    assert DeltaTable(table.uri).version() == 0
    assert pl.read_delta(table.uri).height == 2
    orphans = set(vacuum(table, retention_hours=0, dry_run=True))
    assert {a.path for a in staged.adds} <= orphans  # every file of the killed write goes
    assert not orphans & set(table.files())  # no committed file does
    vacuum(table, retention_hours=0, dry_run=False)
    assert not any(os.path.exists(os.path.join(table.uri, a.path)) for a in staged.adds)
    assert pl.read_delta(table.uri).height == 2


def test_partitioning_cannot_change_silently(spark: SparkSession, lake: Storage) -> None:
    table = Table(lake, "raw", "events")
    table.write(
        frame(spark, ROWS), schema=SCHEMA, mode="append", tags=TAGS, run_id="r1", partition_by=["part"]
    )
    with pytest.raises(TableError, match="partitioned by"):
        table.write(frame(spark, ROWS), schema=SCHEMA, mode="append", tags=TAGS, run_id="r2")


def test_commit_tags_and_history(spark: SparkSession, lake: Storage) -> None:
    table = Table(lake, "raw", "events")
    table.write(frame(spark, ROWS), schema=SCHEMA, mode="append", tags={"job": "a"}, run_id="r1")
    table.append_arrow(
        pa.Table.from_pylist([{"id": 9, "part": "z", "amount": 1.0, "at": None}], schema=SCHEMA),
        tags={"job": "b"},
    )
    assert [r.tags["job"] for r in table.history()] == ["b", "a"]
    assert table.commit_tags(0) == {"job": "a"}
    with pytest.raises(TableError, match="no version 5"):
        table.commit_tags(5)
    with open(os.path.join(table.uri, "_delta_log", f"{1:020d}.json")) as commit:
        log = [json.loads(line) for line in commit]
    assert any("commitInfo" in entry and entry["commitInfo"]["lakeprep"] == {"job": "b"} for entry in log)


def test_empty_frame_commits_an_empty_version(spark: SparkSession, lake: Storage) -> None:
    table = Table(lake, "quarantine", "events")
    result = table.write(frame(spark, []), schema=SCHEMA, mode="append", tags=TAGS, run_id="r1")
    assert (result.rows, result.files) == (0, 0)
    assert pl.read_delta(table.uri).height == 0
    assert table.read(spark).count() == 0


def test_two_runs_committing_the_same_input_at_once_add_it_once(spark: SparkSession, lake: Storage) -> None:
    """Both runs checked the app transaction before either committed: delta-rs refuses the second commit
    as a concurrent transaction on the same app id, and the loser then finds the input committed and
    adds nothing (its staged files are deleted), instead of failing the run."""
    write = {"schema": SCHEMA, "mode": "append", "tags": TAGS}
    first, second = Table(lake, "raw", "race"), Table(lake, "raw", "race")
    first.write(frame(spark, ROWS), run_id="r0", **write)
    staged_first = first.stage(frame(spark, ROWS[:2]), run_id="r1")
    staged_second = second.stage(frame(spark, ROWS[:2]), run_id="r2")
    seen_before_the_first_commit = second.snapshot()
    first.commit(staged_first, app_transactions=[("ingest:a.csv", 1)], **write)

    reads = iter([seen_before_the_first_commit])  # one snapshot for the check and the commit
    fresh = Table.snapshot.__get__(second)
    second.snapshot = lambda version=None: next(reads, None) or fresh(version)  # type: ignore[method-assign]
    result = second.commit(staged_second, app_transactions=[("ingest:a.csv", 1)], **write)

    assert result.skipped
    assert pl.read_delta(first.uri).height == len(ROWS) + 2
    assert DeltaTable(first.uri).version() == 1
    assert not os.path.exists(os.path.join(first.uri, staged_second.write_id))


METRIC = pa.table({"table_version": pa.array([0], pa.int64()), "value": pa.array([1.0])})


def test_a_driver_side_append_checked_before_a_concurrent_one_adds_nothing(lake: Storage) -> None:
    """Two runs record the metrics of one table version: the second checked the app transaction before
    the first committed. Its write is checked against that same snapshot, so delta-rs refuses it as a
    concurrent transaction and the run adds nothing (it used to append a second metrics set)."""
    first, second = Table(lake, "metrics", "race"), Table(lake, "metrics", "race")
    first.append_arrow(METRIC, tags=TAGS)
    seen_before_the_first_commit = second.snapshot()
    assert not first.append_arrow(METRIC, tags=TAGS, app_transactions=[("metrics:t@0", 0)]).skipped

    reads = iter([seen_before_the_first_commit])
    fresh = Table.snapshot.__get__(second)
    second.snapshot = lambda version=None: next(reads, None) or fresh(version)  # type: ignore[method-assign]
    result = second.append_arrow(METRIC, tags=TAGS, app_transactions=[("metrics:t@0", 0)])

    assert result.skipped
    assert pl.read_delta(first.uri).height == 2
    assert DeltaTable(first.uri).version() == 1


def creations(uri: str) -> int:
    """How many commits in the table's log carry table metadata (only version 0 should)."""
    log = Path(uri) / "_delta_log"
    return sum(
        1
        for commit in log.glob("*.json")
        if any("metaData" in json.loads(line) for line in commit.read_text().splitlines())
    )


RACES = 30  # one race lost the other way in about 1 of 6 rounds on a loaded 2-core machine


@pytest.mark.parametrize("path", ["append_arrow", "commit"])
def test_appends_racing_to_create_a_table_record_each_app_transaction_once(lake: Storage, path: str) -> None:
    """Threads create one table and record two app transactions at once, many times over: no run
    fails, each app transaction lands once, and only version 0 creates the table. A creation that lost
    the race for version 0 used to be retried by delta-rs as a later version that re-created the table,
    recording an app transaction a second time (26 of 150 rounds)."""
    from concurrent.futures import ThreadPoolExecutor

    schema = METRIC.schema
    for race in range(RACES):
        name = f"threads_{race}"

        def record(n: int, name: str = name) -> bool:
            table = Table(lake, "metrics", name)
            app = [(f"metrics:t@{n % 2}", 0)]
            if path == "append_arrow":
                return not table.append_arrow(METRIC, tags=TAGS, app_transactions=app).skipped
            return not table.commit(
                None, schema=schema, mode="append", tags=TAGS, app_transactions=app
            ).skipped

        with ThreadPoolExecutor(4) as pool:
            written = list(pool.map(record, range(8)))
        uri = Table(lake, "metrics", name).uri
        assert sum(written) == 2, f"race {race}: {written}"
        assert creations(uri) == 1, f"race {race}"
        if path == "append_arrow":
            assert pl.read_delta(uri).height == 2
