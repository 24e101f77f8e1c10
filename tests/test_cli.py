"""The `lakeprep` CLI on a real lake: sample, tables, history, quality (with anomalies), vacuum."""

from __future__ import annotations

import json
import re

import pytest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from lake.storage import Storage
from lake.table import Table
from lakeprep.cli import app
from tests.support.jobs import run_inprocess

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_sample_lands_every_dataset(lake: Storage) -> None:
    output = invoke("sample", "--lake", lake.root, "--months", "1", "--limit", "10")
    for name in (
        "flights_2013_01.csv",
        "weather_EWR.jsonl",
        "planes.csv",
        "airports.jsonl",
        "airlines.parquet",
    ):
        assert name in output
    assert lake.exists(lake.uri("landing", "flights", "flights_2013_01.csv"))


@pytest.fixture
def cleaned_lake(spark: SparkSession, lake: Storage) -> Storage:
    invoke("sample", "--lake", lake.root, "--dataset", "weather", "--dataset", "airlines", "--months", "1")
    run_inprocess("ingest", ["--lake", lake.root, "--dataset", "weather,airlines"])
    run_inprocess("clean", ["--lake", lake.root, "--dataset", "weather,airlines"])
    return lake


def test_tables_and_history_show_lineage(cleaned_lake: Storage) -> None:
    listing = invoke("tables", "--lake", cleaned_lake.root)
    for ref in ("raw/weather", "cleaned/weather", "quarantine/weather", "metrics/quality"):
        assert ref in listing
    history = invoke("history", "cleaned/weather", "--lake", cleaned_lake.root)
    assert re.search(r"raw/weather@0", history)
    tags = json.loads(invoke("history", "cleaned/weather", "--lake", cleaned_lake.root, "--json"))
    assert tags[0]["tags"]["inputs"][0]["table"] == "raw/weather"
    assert tags[0]["tags"]["contract"]["name"] == "weather"

    # In a pipe or a log rich assumes 80 columns: the tables are printed whole there, never cut to '…'.
    run_id = tags[0]["tags"]["run_id"]
    for command in ("tables", "history"):
        args = [command, "cleaned/weather"] if command == "history" else [command]
        piped = runner.invoke(app, [*args, "--lake", cleaned_lake.root], env={"COLUMNS": "80"})
        assert piped.exit_code == 0, piped.output
        assert "…" not in piped.output, piped.output
        assert "cleaned/weather" in piped.output, piped.output
        assert run_id in piped.output, piped.output


def test_quality_flags_a_row_count_anomaly(spark: SparkSession, cleaned_lake: Storage) -> None:
    # A much smaller second batch (one day of February) is an anomaly against the January run.
    from lake.sample import land_sample

    land_sample(cleaned_lake, datasets=["weather"], months=[2])
    landing = cleaned_lake.uri("landing", "weather")
    for origin in ("EWR", "JFK", "LGA"):
        text = cleaned_lake.read_text(f"{landing}/weather_{origin}.jsonl").splitlines()
        cleaned_lake.write_bytes(
            f"{landing}/weather_{origin}_feb.jsonl", ("\n".join(text[-24:]) + "\n").encode()
        )
        cleaned_lake.delete_dir(f"{landing}/weather_{origin}.jsonl")
    run_inprocess("ingest", ["--lake", cleaned_lake.root, "--dataset", "weather"])
    [result] = run_inprocess("clean", ["--lake", cleaned_lake.root, "--dataset", "weather"])
    assert result.mode == "incremental"
    assert result.anomalies
    assert "rows out vs a median" in result.anomalies[0]
    report = invoke("quality", "cleaned/weather", "--lake", cleaned_lake.root)
    assert "rows out vs a median" in report


def test_vacuum_lists_then_removes_orphans(spark: SparkSession, cleaned_lake: Storage) -> None:
    table = Table(cleaned_lake, "cleaned", "airlines")
    staged = table.stage(table.read(spark), run_id="orphan")
    listed = invoke("vacuum", "--lake", cleaned_lake.root, "--retention-hours", "0")
    assert "cleaned/airlines" in listed
    assert "would remove" in listed
    invoke("vacuum", "--lake", cleaned_lake.root, "--retention-hours", "0", "--apply")
    assert not any(cleaned_lake.exists(f"{table.uri}/{a.path}") for a in staged.adds)
    assert "nothing to vacuum" in invoke("vacuum", "--lake", cleaned_lake.root, "--retention-hours", "0")


def test_bad_table_reference_is_a_clear_error(lake: Storage) -> None:
    result = runner.invoke(app, ["history", "nowhere/x", "--lake", lake.root])
    assert result.exit_code != 0
    assert "use <zone>/<dataset>" in result.output
