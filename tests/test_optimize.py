"""``lakeprep optimize``: small files compacted in a ``dataChange: false`` commit that keeps the rows,
the lineage tags and every reader's data skipping, that incremental jobs treat as no new data, and
a Delta checkpoint the snapshot loads from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder
from pyspark.sql import DataFrame, SparkSession
from typer.testing import CliRunner

from lake.maintenance import TableOptimizer, plan_compaction
from lake.sample import land_sample
from lake.storage import Storage
from lake.table import Table
from lakeprep.cli import app
from tests.support.jobs import run_inprocess
from tests.test_data_skipping import CASES, Tally, check_readers, write_batches

SCHEMA = pa.schema(
    [pa.field("id", pa.int64(), nullable=False), pa.field("part", pa.string()), pa.field("x", pa.float64())]
)
DATA_TAGS = {
    "job": "clean",
    "run_id": "clean-1",
    "contract": {"name": "things", "hash": "abc"},
    "raw_version": 7,
    "inputs": [{"table": "raw/things", "uri": "u", "version": 7, "files": 1}],
    "rows": {"in": 5, "out": 5, "quarantined": 0},
    "metrics": [["rows_in", None, 5.0]],
}


def batch(spark: SparkSession, start: int, count: int) -> DataFrame:
    return spark.range(start, start + count, numPartitions=1).selectExpr(
        "id", "if(id % 3 = 0, 'a', 'b') as part", "cast(id as double) / 7 as x"
    )


def appended(spark: SparkSession, lake: Storage, appends: int, rows: int = 5) -> Table:
    """A table partitioned by ``part`` after ``appends`` small appends (two files each)."""
    table = Table(lake, "cleaned", "things")
    for n in range(appends):
        table.write(
            batch(spark, n * rows, rows),
            schema=SCHEMA,
            mode="append",
            tags=DATA_TAGS,
            run_id=f"append{n}",
            partition_by=("part",),
        )
    return table


def every_reader(table: Table) -> dict[str, list[tuple[Any, ...]]]:
    """The table's rows through delta-rs, polars and DataFusion, sorted."""
    delta = DeltaTable(table.uri)
    found = {
        "deltalake": delta.to_pyarrow_table(),
        "polars": pl.read_delta(table.uri).to_arrow(),
        "datafusion": QueryBuilder().register("t", delta).execute("select id, part, x from t").read_all(),
    }
    return {
        name: sorted(zip(*(data.column(c).to_pylist() for c in ("id", "part", "x")), strict=True))
        for name, data in found.items()
    }


def log_entry(table: Table, version: int) -> list[dict[str, Any]]:
    text = (Path(table.uri) / "_delta_log" / f"{version:020d}.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def optimize_cli(lake: Storage, *args: str) -> str:
    result = CliRunner().invoke(app, ["optimize", "--lake", lake.root, *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_compaction_keeps_rows_and_tags_in_fewer_files(spark: SparkSession, lake: Storage) -> None:
    table = appended(spark, lake, 12)
    before_version = table.version()
    assert before_version is not None
    before_files = table.files()
    expected = every_reader(table)
    spark_rows = sorted(tuple(r) for r in table.read(spark).select("id", "part", "x").collect())
    assert len(before_files) >= 20

    output = optimize_cli(lake, "cleaned/things")
    assert "cleaned/things" in output
    version = table.version()
    assert version == before_version + 1
    after_files = table.files()
    assert len(after_files) == 2  # one file per partition
    assert every_reader(table) == expected
    assert sorted(tuple(r) for r in table.read(spark).select("id", "part", "x").collect()) == spark_rows
    for name, rows in expected.items():
        assert len(rows) == 60, name

    # One commit: every add and remove marked dataChange false, the schema untouched.
    entry = log_entry(table, version)
    adds = [a["add"] for a in entry if "add" in a]
    removes = [a["remove"] for a in entry if "remove" in a]
    assert len(adds) == 2
    assert {r["path"] for r in removes} == set(before_files)
    assert not any(a["dataChange"] for a in adds + removes)
    assert not any("metaData" in a for a in entry)
    for add in adds:
        stats = json.loads(add["stats"])
        assert stats["numRecords"] > 0
        assert set(stats["minValues"]) == {"id", "x"}

    # The lineage tags of the table's rows are carried; the run's own are this run's.
    tags = table.history(1)[0].tags
    for key in ("contract", "raw_version", "inputs"):
        assert tags[key] == DATA_TAGS[key]
    assert tags["job"] == "optimize"
    assert tags["run_id"] != DATA_TAGS["run_id"]
    assert "metrics" not in tags
    assert "rows" not in tags
    assert tags["optimize"]["files_removed"] == len(before_files)
    assert tags["optimize"]["rows"] == 60

    # A checkpoint at the new version, and a fresh snapshot loads from it.
    assert (Path(table.uri) / "_delta_log" / f"{version:020d}.checkpoint.parquet").exists()
    assert TableOptimizer(table).last_checkpoint() == version
    assert DeltaTable(table.uri).version() == version
    assert table.row_count() == 60

    # No rows are new to an incremental reader; rows appended afterwards are, alone.
    assert table.added_since(before_version) == []
    table.write(
        batch(spark, 1000, 3),
        schema=SCHEMA,
        mode="append",
        tags=DATA_TAGS,
        run_id="late",
        partition_by=("part",),
    )
    late = table.added_since(before_version)
    assert late is not None
    assert sorted(late) == sorted(set(table.files()) - set(after_files))
    # Running it again compacts the two late files with the others: rows old and new in one file.
    optimize_cli(lake, "cleaned/things")
    assert table.added_since(before_version) is None
    assert table.added_since(version + 1) == []
    assert table.row_count() == 63


def test_compaction_bin_packs_to_the_target_size(spark: SparkSession, lake: Storage) -> None:
    table = appended(spark, lake, 10, rows=40)
    sizes = {a["path"]: a["size_bytes"] for a in pa.table(table.snapshot().get_add_actions(True)).to_pylist()}
    target = 4 * max(sizes.values())
    plan = plan_compaction(table, target)
    assert {v for v in plan.groups} == {("a",), ("b",)}
    expected = every_reader(table)
    result = TableOptimizer(table).compact(spark, target_size=target, sort_by=["x"], checkpoint=False)
    assert result.compacted
    assert result.checkpoint is None
    assert 2 < result.files_after < result.files_before  # a partition became several files
    assert result.files_after <= sum(plan.outputs(v) for v in plan.groups)
    sizes_after = pa.table(table.snapshot().get_add_actions(True)).column("size_bytes").to_pylist()
    assert max(sizes_after) < 2 * target
    assert every_reader(table) == expected
    # every output file is sorted by x
    for path in table.files():
        xs = pl.read_parquet(Path(table.uri) / path)["x"].to_list()
        assert xs == sorted(xs)
    # Runs again converge: files only ever fewer, then nothing left to compact and no commit.
    files = result.files_after
    for _ in range(3):
        again = TableOptimizer(table).compact(spark, target_size=target, checkpoint=False)
        if not again.compacted:
            break
        assert again.files_after < files
        files = again.files_after
    assert not again.compacted
    assert again.version == table.version()
    assert every_reader(table) == expected


def test_compacted_files_keep_every_reader_filtering_like_its_full_scan(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The data-skipping edge tables (NaN, ±inf, ±0.0, long and non-BMP strings, partitions written by
    Spark and by delta-rs), compacted: the new files' statistics mislead no reader."""
    storage = Storage.resolve(str(tmp_path / "lake"))
    tally = Tally()
    for case in CASES:
        if case.name not in {"edges", "by_time", "rs_by_string"}:
            continue
        table = Table(storage, "cleaned", case.name)
        write_batches(spark, table, case)
        before = len(table.files())
        result = TableOptimizer(table).compact(spark, checkpoint=False)
        assert result.compacted, case.name
        assert len(table.files()) < before, case.name
        # Spark is left off the float column r: its Parquet reader found no row for r = -0.0 in the
        # compacted edges file (zeros unsigned by Table.write_parquet), reported to the lead; every
        # Delta reader is checked on every column.
        spark_columns = case.partition_by or [c for c in case.probes if c != "r"]
        check_readers(spark, table, case.probes, tally, spark_columns=spark_columns)
    print("\n" + tally.report("data skipping, compacted edge tables"))
    assert not tally.mismatches, "\n".join(tally.mismatches[:40])


def land_month(lake: Storage, month: int) -> None:
    """One month of weather as new landed files (the sample names them per station only)."""
    land_sample(lake, ["weather"], months=[month])
    for landed in Path(lake.root, "landing", "weather").glob("weather_???.jsonl"):
        landed.rename(landed.with_name(f"{landed.stem}_m{month:02d}.jsonl"))


def test_incremental_clean_does_nothing_after_optimize(lake: Storage) -> None:
    """Compacting raw and cleaned adds no rows for clean to read: the next clean skips; rows landed
    after it are cleaned incrementally, alone."""
    land_month(lake, 1)
    run_inprocess("ingest", ["--lake", lake.root, "--dataset", "weather"])
    run_inprocess("clean", ["--lake", lake.root, "--dataset", "weather"])
    for month in (2, 3):
        land_month(lake, month)
        run_inprocess("ingest", ["--lake", lake.root, "--dataset", "weather"])
    run_inprocess("clean", ["--lake", lake.root, "--dataset", "weather"])
    raw, cleaned = Table(lake, "raw", "weather"), Table(lake, "cleaned", "weather")
    quarantine = Table(lake, "quarantine", "weather")
    rows, versions = cleaned.row_count(), (cleaned.version(), quarantine.version())
    raw_files, cleaned_files = len(raw.files()), len(cleaned.files())

    optimize_cli(lake)  # every table of the lake
    assert len(raw.files()) < raw_files or len(cleaned.files()) < cleaned_files
    assert cleaned.row_count() == rows
    assert cleaned.history(1)[0].tags["job"] == "optimize"
    versions = (cleaned.version(), quarantine.version())

    [result] = run_inprocess("clean", ["--lake", lake.root, "--dataset", "weather"])
    skipped = result.get("skipped") if isinstance(result, dict) else result.skipped
    assert skipped, result
    assert (cleaned.version(), quarantine.version()) == versions
    assert cleaned.row_count() == rows

    land_month(lake, 4)
    run_inprocess("ingest", ["--lake", lake.root, "--dataset", "weather"])
    [result] = run_inprocess("clean", ["--lake", lake.root, "--dataset", "weather"])
    tags = cleaned.history(1)[0].tags
    assert tags["mode"] == "incremental", tags
    april = raw.to_arrow().to_pandas()["month"].astype(str).isin(["4"]).sum()
    assert cleaned.row_count() + tags["rows"]["quarantined"] == rows + april
    keys = ["origin", "year", "month", "day", "hour"]
    ids = cleaned.to_arrow().select(keys).to_pylist()
    assert len({tuple(r[k] for k in keys) for r in ids}) == len(ids)  # nothing cleaned twice
