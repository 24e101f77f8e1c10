"""jobs/featurize.py end to end on a sample slice: accounting, reproducibility, incremental, apply,
OpenLineage events, the lineage trace and drift."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from polars.testing import assert_frame_equal
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from typer.testing import CliRunner

from lake.openlineage import read_events, run_uuid
from lake.sample import land_sample
from lake.storage import Storage
from lake.table import Table
from lake.trace import trace
from lakeprep.cli import app
from tests.support.jobs import run_inprocess

pytestmark = [pytest.mark.slow, pytest.mark.compat]


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    mp = pytest.MonkeyPatch()
    mp.setenv("LAKEPREP_PII_SALT", "featurize-salt")
    storage = Storage.resolve(str(tmp_path_factory.mktemp("featurize") / "lake"))
    land_sample(storage, months=[1, 2], limit=2500)  # the first three days of each month
    run_inprocess("ingest", ["--lake", storage.root])
    run_inprocess("clean", ["--lake", storage.root])
    run_inprocess("featurize", ["--lake", storage.root])
    yield storage
    mp.undo()


def features(storage: Storage, name: str = "flight_delay", version: int | None = None) -> pl.DataFrame:
    return pl.read_delta(storage.uri("features", name), version=version).sort("example_id")


def test_one_row_per_labelled_example_and_every_row_accounted(lake: Storage) -> None:
    table = features(lake)
    flights = pl.read_delta(lake.uri("cleaned", "flights"))
    cancelled = flights.filter(pl.col("dep_time").is_null()).height
    diverted = flights.filter(pl.col("dep_time").is_not_null() & pl.col("arr_delay").is_null()).height
    assert table.height == flights.height - cancelled - diverted
    assert table["example_id"].is_unique().all()
    tags = DeltaTable(lake.uri("features", "flight_delay")).history(1)[0]["lakeprep"]
    assert tags["rows"] == {
        "in": flights.height,
        "out": table.height,
        "quarantined": 0,
        "excluded": cancelled + diverted,
    }
    assert tags["excluded"] == {"cancelled": cancelled, "diverted": diverted}
    late = flights.filter(pl.col("arr_delay") > 15).height
    assert table["is_late"].sum() == late
    assert set(table["split"].unique()) == {"train", "validation", "test"}
    assert table.filter(pl.col("split") == "train").height / table.height == pytest.approx(0.8, abs=0.05)
    assert {i["table"] for i in tags["inputs"]} == {
        "cleaned/flights",
        "cleaned/weather",
        "cleaned/planes",
        "cleaned/airports",
    }
    width = len(table["features"][0])
    assert all(len(v) == width for v in table["features"].to_list())


def _tags(storage: Storage, name: str, version: int) -> dict:
    [entry] = [h for h in DeltaTable(storage.uri("features", name)).history() if h["version"] == version]
    return entry["lakeprep"]


def test_recorded_counts_equal_a_count_of_the_written_table(lake: Storage) -> None:
    """Rows, splits and positives recorded in the tags and the metrics table agree with polars counting
    the committed rows."""
    table = features(lake, version=0)
    tags = _tags(lake, "flight_delay", 0)
    splits = {s: table.filter(pl.col("split") == s).height for s in ("train", "validation", "test")}
    assert tags["examples"] == splits | {"positives": table["is_late"].sum()}
    assert tags["rows"]["out"] == table.height
    assert tags["rows"]["in"] == table.height + sum(tags["excluded"].values())
    metrics = pl.read_delta(lake.uri("metrics", "quality")).filter(
        (pl.col("table") == "features/flight_delay") & (pl.col("table_version") == 0)
    )
    recorded = {(r["metric"], r["subject"]): r["value"] for r in metrics.iter_rows(named=True)}
    assert {s: recorded[("split_rows", s)] for s in splits} == splits
    assert recorded[("rows_out", None)] == table.height
    assert {r: recorded[("rows_excluded", r)] for r in tags["excluded"]} == tags["excluded"]


@pytest.mark.parametrize(
    ("where", "output"), [("day = 2", "flight_delay_day2"), ("month = 12", "flight_delay_none")]
)
def test_applied_rows_are_counted_even_when_none_is_selected(lake: Storage, where: str, output: str) -> None:
    """``--apply`` keeps unlabelled rows: its counts match the table, also when the filter selects no row
    at all (counting that case by Spark ``observe`` during the write blocked forever: Spark drops the
    observation from a plan it proves empty, SPARK-54620, so the counts keep their own aggregation)."""
    [result] = run_inprocess(
        "featurize", ["--lake", lake.root, "--apply", "--where", where, "--output", output]
    )
    table = pl.read_delta(lake.uri("features", output))
    tags = _tags(lake, output, result.version)
    assert tags["rows"]["in"] == tags["rows"]["out"] == result.rows_out == table.height
    assert table["is_late"].null_count() == sum(tags["excluded"].values())
    assert tags["examples"]["positives"] == table["is_late"].sum()


def test_features_match_their_sources(lake: Storage) -> None:
    table = features(lake).filter(pl.col("split") == "train")
    assert table["dep_hour"].mean() == pytest.approx(0.0, abs=1e-9)  # scaled on the training split
    assert table["dep_hour"].std() == pytest.approx(1.0, abs=0.01)
    weather = pl.read_delta(lake.uri("cleaned", "weather"))
    assert table["wx_temp"].null_count() == 0  # imputed
    assert weather.height > 0


def test_rebuilding_a_version_reproduces_it(lake: Storage) -> None:
    run_inprocess(
        "featurize", ["--lake", lake.root, "--rebuild-version", "0", "--output", "flight_delay_rebuilt"]
    )
    original = features(lake, version=0)
    rebuilt = features(lake, "flight_delay_rebuilt")
    assert_frame_equal(original, rebuilt, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    tags = DeltaTable(lake.uri("features", "flight_delay_rebuilt")).history(1)[0]["lakeprep"]
    assert tags["rebuilt_from"] == {"table": "features/flight_delay", "version": 0}


def test_saved_pipeline_applied_to_new_data_gives_the_same_values(lake: Storage) -> None:
    run_inprocess(
        "featurize", ["--lake", lake.root, "--apply", "--where", "month = 2", "--output", "flight_delay_feb"]
    )
    applied = features(lake, "flight_delay_feb")
    trained = features(lake, version=0)
    assert applied.height > 0
    assert applied["example_id"].str.starts_with("2013|2|").all()
    common = applied.join(trained.select("example_id"), on="example_id", how="semi")
    expected = trained.join(applied.select("example_id"), on="example_id", how="semi")
    assert_frame_equal(
        common.select(expected.columns), expected, check_exact=False, rel_tol=1e-12, abs_tol=1e-12
    )
    # Rows without a label (cancelled flights) are kept for inference, with a NULL label.
    assert applied["is_late"].null_count() > 0


def test_new_base_rows_are_featurized_incrementally(spark: SparkSession, lake: Storage) -> None:
    before = features(lake)
    land_sample(lake, datasets=["flights"], months=[3], limit=300)
    run_inprocess("ingest", ["--lake", lake.root, "--dataset", "flights"])
    run_inprocess("clean", ["--lake", lake.root, "--dataset", "flights"])
    [result] = run_inprocess("featurize", ["--lake", lake.root])
    assert result.mode == "incremental"
    after = features(lake)
    march = after.filter(pl.col("example_id").str.starts_with("2013|3|"))
    assert march.height == result.rows_out > 0
    assert_frame_equal(after.filter(~pl.col("example_id").str.starts_with("2013|3|")), before)
    assert (
        result.pipeline
        == DeltaTable(lake.uri("features", "flight_delay")).history(2)[1]["lakeprep"]["pipeline"]
    )
    [again] = run_inprocess("featurize", ["--lake", lake.root])
    assert again.skipped == "up to date"


def _event(record: dict) -> RunEvent:
    """Rebuild an emitted event with the client's typed model: its validators check the run id is a
    UUID, the event time an ISO date-time and the URIs parse."""
    return RunEvent(
        eventType=RunState(record["eventType"]),
        eventTime=record["eventTime"],
        run=Run(runId=record["run"]["runId"]),
        job=Job(namespace=record["job"]["namespace"], name=record["job"]["name"]),
        producer=record["producer"],
    )


def test_openlineage_events_describe_the_run(lake: Storage) -> None:
    tags = DeltaTable(lake.uri("features", "flight_delay")).history()[-1]["lakeprep"]
    events = read_events(lake, "featurize", tags["run_id"])
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        typed = _event(event)  # type: ignore[arg-type]
        assert uuid.UUID(typed.run.runId)
        assert event["schemaURL"].startswith("https://openlineage.io/spec/")
        assert event["run"]["runId"] == run_uuid(tags["run_id"])
    complete = events[1]
    inputs = {i["name"]: i for i in complete["inputs"]}
    flights = inputs[lake.uri("cleaned", "flights")]
    assert flights["namespace"] == "file"
    assert flights["facets"]["version"]["datasetVersion"] == "0"
    schema_names = [f["name"] for f in flights["facets"]["schema"]["fields"]]
    assert schema_names == Table(lake, "cleaned", "flights").arrow_schema(0).names
    [output] = [o for o in complete["outputs"] if o["name"].endswith("features/flight_delay")]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == tags["rows"]["out"]
    lineage = output["facets"]["columnLineage"]["fields"]
    assert lineage["wx_temp"]["inputFields"][0]["name"] == lake.uri("cleaned", "weather")
    assert lineage["wx_temp"]["inputFields"][0]["field"] == "temp"
    assert {f["field"] for f in lineage["route_delay_7d"]["inputFields"]} == {"arr_delay", "origin", "dest"}
    assert "featurize-salt" not in json.dumps(events)


def test_clean_events_carry_quality_facets(lake: Storage) -> None:
    tags = DeltaTable(lake.uri("cleaned", "weather")).history(1)[0]["lakeprep"]
    complete = read_events(lake, "clean", tags["run_id"])[-1]
    [cleaned] = [o for o in complete["outputs"] if o["name"] == lake.uri("cleaned", "weather")]
    metrics = cleaned["facets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == tags["rows"]["out"]
    assertions = {a["assertion"]: a for a in cleaned["facets"]["dataQualityAssertions"]["assertions"]}
    assert assertions["wind_speed_plausible"]["success"] is False
    assert assertions["wind_speed_plausible"]["actual"] == "1"
    assert assertions["hour_of_day"]["success"] is True


def test_a_failed_run_emits_fail(lake: Storage) -> None:
    with pytest.raises(Exception, match="no feature spec 'nope'"):
        run_inprocess("featurize", ["--lake", lake.root, "--spec", "nope", "--run-id", "featurize-bad-spec"])
    events = read_events(lake, "featurize", "featurize-bad-spec")
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert "no feature spec 'nope'" in events[1]["run"]["facets"]["errorMessage"]["message"]


def test_lineage_trace_reaches_the_landed_files(lake: Storage) -> None:
    root = trace(lake, "features/flight_delay", 0)
    by_table = {child.table: child for child in root.inputs}
    flights = by_table["cleaned/flights"]
    assert flights.version == 0
    [raw] = [c for c in flights.inputs if c.table == "raw/flights"]
    assert raw.files == ["flights/flights_2013_01.csv", "flights/flights_2013_02.csv"]
    result = CliRunner().invoke(
        app, ["lineage", "features/flight_delay", "--lake", lake.root, "--version", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    tree = json.loads(result.output)
    assert tree["inputs"][0]["inputs"][0]["landed_files"] == raw.files


def test_drift_flags_a_shifted_feature_and_nothing_else(
    spark: SparkSession, lake: Storage, tmp_path: Path
) -> None:
    table = Table(lake, "features", "flight_delay")
    last = table.version()
    assert last is not None
    tags = table.commit_tags(last)
    current = table.read(spark)
    shifted = current.withColumn("wx_temp", F.col("wx_temp") + 2.0)
    table.write(
        shifted,
        schema=table.arrow_schema(),
        mode="overwrite",
        tags=tags,
        run_id="shifted",
        partition_by=["split"],
    )
    runner = CliRunner()
    same = runner.invoke(
        app,
        [
            "drift",
            "features/flight_delay",
            "--from",
            str(last),
            "--to",
            str(last),
            "--lake",
            lake.root,
            "--chart",
            str(tmp_path / "same.png"),
        ],
    )
    assert same.exit_code == 0, same.output
    moved = runner.invoke(
        app,
        [
            "drift",
            "features/flight_delay",
            "--from",
            str(last),
            "--to",
            str(last + 1),
            "--lake",
            lake.root,
            "--chart",
            str(tmp_path / "drift.png"),
        ],
        env={"COLUMNS": "200"},
    )
    assert moved.exit_code == 1, moved.output
    assert "past the thresholds" in moved.output
    assert "wx_temp" in moved.output.split("past the thresholds")[1]
    assert (tmp_path / "drift.png").stat().st_size > 1000
    from lake.features.drift import compare
    from lake.features.spec import recorded_spec

    spec = recorded_spec(lake, tags["pipeline"])
    results = {r.feature: r for r in compare(table.read(spark, last), table.read(spark, last + 1), spec)}
    assert results["wx_temp"].drifted
    assert [name for name, r in results.items() if r.drifted] == ["wx_temp"]
