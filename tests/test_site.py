"""The data ``lakeprep site`` pages are built from, on synthetic Delta tables written with delta-rs and
commit tags like the jobs write; then the rendered pages (escaping, PII, incremental rebuilds).

No Spark: the site reads Delta logs and small tables only. Expected values are computed from the
commits the tests make, never typed in twice.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import CommitProperties, write_deltalake

from lake.columns import QUARANTINE_SCHEMA, QUARANTINED_AT, REASONS, RECORD, RUN_ID, SOURCE_FILE, STAGE
from lake.contracts import parse_contract
from lake.contracts.model import Contract
from lake.lineage import LINEAGE_KEY
from lake.openlineage import events_uri
from lake.quality.metrics import METRICS_SCHEMA
from lake.site.build import SITE_FORMAT, STATE_FILE, build_site, table_charts
from lake.site.campaigns import campaigns
from lake.site.charts import MAX_POINTS, bar_chart, line_chart
from lake.site.gather import Metrics, quarantined, summary, version_point, versions
from lake.site.lineage import lineage_graph
from lake.site.model import lineage_page, table_page
from lake.storage import Storage
from lake.table import Table

CONTRACT = """
name: trips
description: Synthetic trips
columns:
  - {name: trip_id, type: string, nullable: false, description: The trip}
  - {name: rider, type: string, pii: hash, description: Who rode}
  - {name: phone, type: string, pii: drop, description: Never published}
  - {name: city, type: string, description: Where}
rules:
  - {name: city_known, check: allowed_values, column: city, values: [paris, rome]}
  - {name: trip_id_format, check: regex, column: trip_id, pattern: "^t[0-9]+$", severity: warn}
dataset_rules:
  - {name: has_rows, check: row_count, min: 1, severity: fail}
"""


@pytest.fixture
def contract() -> Contract:
    return parse_contract(CONTRACT, "trips.yaml")


def commit(
    storage: Storage, ref: str, data: pa.Table, tags: dict[str, Any], partition_by: list[str] | None = None
) -> None:
    """One delta-rs append with lineage tags, as the jobs make them."""
    write_deltalake(
        storage.uri(*ref.split("/")),
        data,
        mode="append",
        partition_by=partition_by,
        commit_properties=CommitProperties(custom_metadata={LINEAGE_KEY: tags}),
    )


def rows(n: int, start: int = 0) -> pa.Table:
    return pa.table({"trip_id": [f"t{i}" for i in range(start, start + n)], "city": ["paris"] * n})


def clean_tags(version: int, rows_in: int, quarantined: int, **extra: Any) -> dict[str, Any]:
    return {
        "job": "clean",
        "run_id": f"clean-run-{version}",
        "git_sha": "abc123",
        "params": {"lake": "/x", "pii-salt-secret": "do-not-show"},
        "inputs": [{"table": "raw/trips", "uri": "u", "version": version}],
        "rows": {"in": rows_in, "out": rows_in - quarantined, "quarantined": quarantined},
        "rule_failures": {"city_known": {"rows": quarantined, "severity": "quarantine"}},
        "dataset_rules": {"has_rows": True},
        "anomalies": [],
        **extra,
    }


def quarantine_rows(records: list[tuple[str, str]]) -> pa.Table:
    now = dt.datetime.now(dt.timezone.utc)
    return pa.Table.from_pylist(
        [
            {
                STAGE: stage,
                RUN_ID: "clean-run-0",
                SOURCE_FILE: "landing/trips/day1.csv",
                REASONS: ["city_known"],
                RECORD: record,
                QUARANTINED_AT: now,
            }
            for stage, record in records
        ],
        schema=QUARANTINE_SCHEMA,
    )


def metric_rows(table: str, version: int, run: str, metrics: list[tuple[str, str | None, float]]) -> pa.Table:
    now = dt.datetime.now(dt.timezone.utc)
    return pa.Table.from_pylist(
        [
            {
                "recorded_at": now,
                "run_id": run,
                "job": "clean",
                "table": table,
                "table_version": version,
                "metric": m,
                "subject": s,
                "value": v,
            }
            for m, s, v in metrics
        ],
        schema=METRICS_SCHEMA,
    )


@pytest.fixture
def trips(lake: Storage) -> Storage:
    """raw/trips (two ingests listing landed files), cleaned/trips (three cleans), quarantine/trips,
    metrics for the cleans and OpenLineage events for the last clean run."""
    for v, name in enumerate(["day1.csv", "day2.csv"]):
        commit(lake, "raw/trips", rows(5, 5 * v), {"job": "ingest", "run_id": f"ingest-{v}", "inputs": [
            {"table": "landing/trips", "uri": "l", "version": None}], "source_files": [f"trips/{name}"],
            "rows": {"in": 5, "out": 5, "quarantined": 0}})  # fmt: skip
    quarantined_per_run = [1, 0, 3]
    for v, q in enumerate(quarantined_per_run):
        extra: dict[str, Any] = {}
        if v == 2:
            extra = {
                "anomalies": ["cleaned/trips: 2 rows out vs a median of 4"],
                "dataset_rules": {"has_rows": False},
            }
        commit(lake, "cleaned/trips", rows(5 - q, 10 * v), clean_tags(min(v, 1), 5, q, **extra))
        commit(
            lake,
            "metrics/quality",
            metric_rows(
                "cleaned/trips", v, f"clean-run-{v}", [("null_rate", "city", 0.1 * v), ("rows_in", None, 5)]
            ),
            {"job": "clean"},
        )
    commit(
        lake,
        "quarantine/trips",
        quarantine_rows(
            [
                (
                    "clean",
                    json.dumps({"trip_id": "t1", "rider": "9f86d081", "city": "<script>alert(1)</script>"}),
                ),
                ("clean", json.dumps({"trip_id": "t2", "rider": "2c26b46b", "phone": "+33 6 12 34 56 78"})),
                ("ingest", "t3,Alice Smith,+33 6 00 00 00 00,paris,broken"),
            ]
        ),
        {"job": "clean"},
        partition_by=[STAGE],  # as the jobs partition it
    )
    events = [
        {"eventType": "START", "eventTime": "2026-01-01T00:00:00Z"},
        {"eventType": "COMPLETE", "eventTime": "2026-01-01T00:01:00Z"},
    ]
    lake.write_bytes(events_uri(lake, "clean", "clean-run-1"), "\n".join(map(json.dumps, events)).encode())
    return lake


# --------------------------------------------------------------------------------------- versions
def test_versions_carry_the_commit_tags(trips: Storage) -> None:
    table = Table(trips, "cleaned", "trips")
    points = versions(table, 2)
    assert [p.version for p in points] == [0, 1, 2]
    assert [p.quarantined for p in points] == [1, 0, 3]
    assert [p.rule_failures["city_known"] for p in points] == [1, 0, 3]
    assert points[2].quarantine_share == pytest.approx(3 / 5)
    assert points[2].failed_dataset_rules == ("has_rows",)
    assert points[2].anomalies == ("cleaned/trips: 2 rows out vs a median of 4",)
    assert points[1].inputs == ("raw/trips@1",)
    assert all(p.rules_checked for p in points)
    assert not any(p.rules_checked for p in versions(Table(trips, "raw", "trips"), 1))  # ingest checks none
    info = summary(table, 2, points)
    assert (info.rows, info.files, info.version) == (2 + 5 + 4, 3, 2)
    assert info.status == "bad"  # 60% quarantined
    assert info.failed_dataset_rules == ("has_rows",)


def test_versions_read_only_commits_newer_than_the_cache(trips: Storage) -> None:
    table = Table(trips, "cleaned", "trips")
    first = versions(table, 2)
    # a marker the log does not hold: kept only if cached commits are not read again
    marked = [first[0], first[1].__class__(**{**first[1].__dict__, "operation": "CACHED"}), first[2]]
    commit(trips, "cleaned/trips", rows(5, 100), clean_tags(3, 5, 0))
    again = versions(table, 3, marked)
    assert [p.version for p in again] == [0, 1, 2, 3]
    assert again[1].operation == "CACHED"
    assert again[3].rows_in == 5

    shutil.rmtree(trips.uri("cleaned", "trips"))  # rebuilt from scratch: other commits, same numbers
    time.sleep(0.01)
    for v in range(4):
        commit(trips, "cleaned/trips", rows(2, v), clean_tags(v, 2, 0))
    rebuilt = versions(table, 3, again)
    assert [p.rows_in for p in rebuilt] == [2, 2, 2, 2]
    assert all(p.operation != "CACHED" for p in rebuilt)


def test_foreign_commits_have_no_tags() -> None:
    from lake.table import CommitRecord

    point = version_point(CommitRecord(4, 1, "WRITE", {}))
    assert (point.version, point.job, point.rows_in, point.inputs) == (4, None, None, ())
    assert point.quarantine_share is None


# ------------------------------------------------------------------------------- metrics, quarantine
def test_metrics_give_the_latest_null_rates(trips: Storage) -> None:
    metrics = Metrics(trips)
    assert metrics.rows("cleaned/trips") == 6
    run, rates = metrics.null_rates("cleaned/trips")
    assert run == "clean-run-2"
    assert rates == {"city": pytest.approx(0.2)}
    assert Metrics(trips).null_rates("cleaned/other") == (None, {})


def test_quarantine_sample_is_pii_safe(trips: Storage, contract: Contract) -> None:
    table = Table(trips, "quarantine", "trips")
    sample, total = quarantined(table, 0, contract)
    assert total == 3
    by_stage = {(r.stage, dict(r.fields).get("trip_id")): r for r in sample}
    first = dict(by_stage[("clean", "t1")].fields)
    assert first["city"] == "<script>alert(1)</script>"  # kept as data; the page escapes it
    assert first["rider"] == "9f86d081"  # hashed in the record, shown hashed
    second = dict(by_stage[("clean", "t2")].fields)
    assert "phone" not in second  # a `pii: drop` column never shows, even if a record carried it
    broken = by_stage[("ingest", None)]
    assert broken.fields == ()
    assert broken.withheld is not None  # a verbatim landed line of a dataset with PII is withheld
    assert all(r.source_file == "landing/trips/day1.csv" and r.reasons == ("city_known",) for r in sample)
    assert {r.run_id for r in sample} == {"clean-run-0"}

    time.sleep(0.01)
    commit(
        trips, "quarantine/trips", quarantine_rows([("clean", json.dumps({"trip_id": "t9"}))]), {}, [STAGE]
    )
    newest, total = quarantined(table, 1, contract, limit=1)
    assert total == 4
    assert [dict(r.fields) for r in newest] == [{"trip_id": "t9"}]  # the sample starts with the newest files

    no_pii = contract.model_copy(update={"columns": [c for c in contract.columns if c.pii == "none"]})
    shown = {r.stage: r for r in quarantined(table, 0, no_pii)[0] if r.stage == "ingest"}
    assert shown["ingest"].fields == (("record", "t3,Alice Smith,+33 6 00 00 00 00,paris,broken"),)


# -------------------------------------------------------------------------------------- lineage
def test_lineage_graph_reaches_the_landed_files(trips: Storage) -> None:
    commit(trips, "features/trip_features", rows(3), {"job": "featurize", "run_id": "featurize-0",
           "inputs": [{"table": "cleaned/trips", "uri": "u", "version": 1}]})  # fmt: skip
    graph = lineage_graph(trips, "features/trip_features")
    keys = {n.key: n for n in graph.nodes}
    assert set(keys) == {
        "features/trip_features@0",
        "cleaned/trips@1",
        "raw/trips@1",
        "file:trips/day1.csv",
        "file:trips/day2.csv",
    }
    assert graph.landed_files == ("trips/day1.csv", "trips/day2.csv")
    assert ("cleaned/trips@1", "features/trip_features@0") in graph.edges
    assert ("raw/trips@1", "cleaned/trips@1") in graph.edges
    assert ("file:trips/day1.csv", "raw/trips@1") in graph.edges
    assert keys["file:trips/day2.csv"].depth == max(n.depth for n in graph.nodes)
    assert graph.runs["clean-run-1"]["final"] == "COMPLETE"
    assert "COMPLETE" in keys["cleaned/trips@1"].detail
    assert keys["cleaned/trips@1"].run_id == "clean-run-1"
    assert graph.runs["featurize-0"] == {}  # no events in the lake for that run


# ------------------------------------------------------------------------------------ campaigns
def test_campaign_progress_cost_and_per_class_agreement(lake: Storage) -> None:
    spec = {"name": "c1", "source": "features/x", "source_version": 3, "labels": ["neg", "pos"],
            "pool_size": 100, "target_accuracy": 0.9, "annotators_per_item": 2,
            "budget": {"cost_per_label": 0.5, "currency": "EUR", "max_items": 50}, "backend": {"kind": "simulated"}}  # fmt: skip
    now = dt.datetime.now(dt.timezone.utc)
    events = [
        ("created", "created", None, {"spec": spec}),
        ("trained:r1", "trained", 1, {}),
        ("autolabelled:r1", "autolabelled", 1, {"rows": 6, "accuracy_above": 0.97, "lower_bound": 0.91}),
        ("finished", "finished", 1, {"reason": "budget", "round": 1}),
    ]
    state = pa.Table.from_pylist(
        [
            {
                "campaign": "c1",
                "key": k,
                "kind": kind,
                "round": r,
                "batch_id": None,
                "payload": json.dumps(p),
                "run_id": "r",
                "recorded_at": now,
                "seq": i,
            }
            for i, (k, kind, r, p) in enumerate(events)
        ]
    )
    commit(lake, "labels/campaigns", state, {"job": "campaign-create"})
    human = [("e1", "neg"), ("e1", "neg"), ("e2", "pos"), ("e2", "neg"), ("e2", "pos"), ("e3", "pos")]
    machine = [("e1", "pos"), ("e2", "pos"), ("e3", "pos"), ("e4", "neg"), ("e5", "neg"), ("e6", "pos")]
    labels = pa.Table.from_pylist(
        [{"campaign": "c1", "example_id": i, "label": lab, "source": "human"} for i, lab in human]
        + [{"campaign": "c1", "example_id": i, "label": lab, "source": "machine"} for i, lab in machine]
    )
    commit(lake, "labels/c1", labels, {"job": "campaign-sync"})
    [view] = campaigns(lake)
    assert (view.pool_size, view.human_items, view.human_annotations, view.machine_items) == (100, 3, 6, 6)
    assert view.spent == pytest.approx(6 * 0.5)
    assert view.machine_value == pytest.approx(6 * 0.5 * 2)
    assert view.coverage == pytest.approx(9 / 100)
    assert view.finished == "budget"
    assert view.measured_accuracy == ((1, 0.97, 0.91),)
    per_class = {c.label: c for c in view.per_class}
    # consensus: e1 neg, e2 pos, e3 pos; machine pos on e1 (wrong), e2 and e3 (right)
    assert (per_class["pos"].machine_items, per_class["pos"].checked, per_class["pos"].agreeing) == (4, 3, 2)
    assert (per_class["neg"].machine_items, per_class["neg"].checked) == (2, 0)
    assert per_class["neg"].accuracy is None
    assert per_class["pos"].human_items == 2


# --------------------------------------------------------------------------------------- charts
def test_percentages_never_round_a_few_bad_rows_to_zero() -> None:
    from lake.site.build import _pct

    assert [_pct(v) for v in (None, 0.0, 1 / 2501, 0.0005, 0.6)] == ["-", "0.0%", "<0.1%", "0.1%", "60.0%"]


def test_charts_escape_text_and_thin_long_series() -> None:
    svg = line_chart("<b>rows</b>", list(range(5000)), {"<i>in</i>": [float(i) for i in range(5000)]})
    assert "<b>" not in svg
    assert "&lt;b&gt;rows&lt;/b&gt;" in svg
    assert "&lt;i&gt;in&lt;/i&gt;" in svg
    polyline = re.search(r'points="([^"]+)"', svg)
    assert polyline is not None
    points = polyline.group(1).split()
    assert len(points) <= MAX_POINTS + 1
    assert points[-1].startswith(f"{640 - 44:.1f},")  # the last version is always drawn, at the right edge
    bars = bar_chart("psi", [("a", 0.1), ("<x>", 0.3)], threshold=0.2, highlight=[False, True])
    assert bars.count("<rect") == 2
    assert "&lt;x&gt;" in bars
    assert "#c0392b" in bars  # the drifted bar
    assert "stroke-dasharray" in bars  # the threshold


def test_table_charts_follow_the_versions(trips: Storage) -> None:
    points = versions(Table(trips, "cleaned", "trips"), 2)
    charts = table_charts(points)
    assert len(charts) == 3  # rows, quarantine share, failures per rule
    assert "city_known v2: 3" in charts[2]
    assert table_charts(versions(Table(trips, "metrics", "quality"), 2)) == []


# ----------------------------------------------------------------------------------------- site
def test_site_escapes_hides_pii_and_rebuilds_only_what_changed(
    trips: Storage, contract: Contract, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    first = build_site(trips, out, contracts={"trips": contract})
    tables = ["raw/trips", "cleaned/trips", "quarantine/trips", "metrics/quality"]
    assert first.tables == len(tables)
    assert set(first.written) >= {table_page(t) for t in tables} | {
        "index.html",
        lineage_page("cleaned/trips"),
    }
    index = (out / "index.html").read_text()
    for ref in tables:
        assert f'data-table="{ref}"' in index
    page = (out / table_page("cleaned/trips")).read_text()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "+33 6 12 34 56 78" not in page  # a dropped column's value never shows
    assert "Alice Smith" not in page  # nor a raw landed line of a dataset with PII
    assert "phone" not in page  # the dropped column is not even named
    assert "9f86d081" in page  # hashed values are shown hashed
    assert "do-not-show" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") == 3
    lineage = (out / lineage_page("cleaned/trips")).read_text()
    assert "trips/day1.csv" in lineage
    assert "trips/day2.csv" in lineage
    assert "START 2026-01-01T00:00:00Z" in lineage  # the run's OpenLineage events
    state = json.loads((out / STATE_FILE).read_text())
    assert state["format"] == SITE_FORMAT

    again = build_site(trips, out, contracts={"trips": contract})
    assert set(again.kept) == {table_page(t) for t in tables} | {
        lineage_page(t) for t in ("raw/trips", "cleaned/trips")
    }
    assert set(again.written) == {"index.html", "features.html", "campaigns.html"}

    commit(trips, "cleaned/trips", rows(5, 500), clean_tags(1, 5, 0))
    third = build_site(trips, out, contracts={"trips": contract})
    assert table_page("cleaned/trips") in third.written
    assert lineage_page("cleaned/trips") in third.written
    assert table_page("raw/trips") in third.kept
    assert "v3" in (out / table_page("cleaned/trips")).read_text()

    shutil.rmtree(trips.uri("raw", "trips"))  # a table dropped from the lake leaves the site too
    fourth = build_site(trips, out, contracts={"trips": contract})
    assert fourth.tables == len(tables) - 1
    assert not (out / table_page("raw/trips")).exists()
    assert not (out / lineage_page("raw/trips")).exists()
    assert 'data-table="raw/trips"' not in (out / "index.html").read_text()


def test_site_of_many_versions_is_incremental(lake: Storage, tmp_path: Path) -> None:
    """A table with many commits copied to many tables; the second build reads only each log's head.
    (50 tables x 1,000 versions is measured in the report, not here: building the logs takes minutes.)"""
    versions_per_table, tables = 120, 12
    for v in range(versions_per_table):
        commit(lake, "cleaned/t0", rows(1, v), clean_tags(v, 3, v % 3))
    for i in range(1, tables):
        shutil.copytree(lake.uri("cleaned", "t0"), lake.uri("cleaned", f"t{i}"))
    out = tmp_path / "site"
    first = build_site(lake, out, contracts={})
    assert first.tables == tables
    page = (out / table_page("cleaned/t5")).read_text()
    assert f"v{versions_per_table - 1}" in page
    again = build_site(lake, out, contracts={})
    assert len(again.kept) == 2 * tables  # table and lineage pages
    assert again.seconds < first.seconds


def test_site_command_prints_where_the_site_is(trips: Storage, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lakeprep.cli import app

    out = tmp_path / "cli-site"
    result = CliRunner().invoke(app, ["site", "--lake", trips.root, "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "4 tables" in printed
    assert "index.html" in printed
    assert (out / "index.html").is_file()
    again = CliRunner().invoke(app, ["site", "--lake", trips.root, "--out", str(out)])
    assert "6 unchanged" in " ".join(again.output.split())  # 4 table pages, 2 lineage pages


def test_feature_set_splits_exclusions_and_cached_drift(lake: Storage) -> None:
    from lake.features.spec import load_feature_spec, save_spec
    from lake.paths import contracts_dir
    from lake.site.features import drift_key, feature_set, with_drift

    spec = load_feature_spec(contracts_dir(), "flight_delay")
    pipeline = lake.uri("features", "fd", "_pipelines", "run-1")
    save_spec(lake, pipeline, spec)
    tags = {"job": "featurize", "pipeline": pipeline, "spec": {"name": spec.name, "hash": spec.fingerprint},
            "examples": {"train": 70, "validation": 20, "test": 10, "positives": 30}, "excluded": {"cancelled": 4}}  # fmt: skip
    for v in range(2):
        commit(lake, "features/fd", rows(3, v), tags)
    table = Table(lake, "features", "fd")
    view = feature_set(table, 1, table.commit_tags(1))
    assert view.splits == {"train": 70, "validation": 20, "test": 10}
    assert (view.positives, view.excluded, view.spec) == (30, {"cancelled": 4}, spec.name)
    asked = with_drift(view, table, lake, {}, spark=None)  # no Spark: how to get it, nothing computed
    assert asked.drift == ()
    assert "--from 0 --to 1" in asked.drift_note
    cache = {
        drift_key("features/fd", 0, 1): [
            {"feature": "distance", "kind": "numeric", "psi": 0.01, "ks": 0.02, "drifted": False},
            {"feature": "carrier_idx", "kind": "categorical", "psi": 0.5, "ks": None, "drifted": True},
        ]
    }
    cached = with_drift(view, table, lake, cache, spark=None)  # compared before: read from the cache
    assert [d.feature for d in cached.drift] == ["carrier_idx", "distance"]
    assert cached.drift_versions == (0, 1)
    assert (cached.psi_threshold, cached.ks_threshold) == (spec.drift.psi_threshold, spec.drift.ks_threshold)
    first = feature_set(table, 0, table.commit_tags(0))
    assert with_drift(first, table, lake, cache, spark=None).drift_note.startswith("only one version")
