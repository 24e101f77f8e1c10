"""Feature-spec loading and each feature transform on a tiny frame."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake.contracts import ContractError
from lake.features import pipeline as ml
from lake.features.build import (
    EXAMPLE_ID,
    EXCLUDED,
    SPLIT,
    join_inputs,
    window_values,
    with_derived,
    with_example_id,
    with_label,
    with_split,
)
from lake.features.spec import feature_spec_names, load_feature_spec, parse_feature_spec

SPEC_TEXT = """
name: toy
base: trips
id: [trip]
joins:
  - {dataset: cities, keys: {city: name}, columns: [population], prefix: city_, how: inner}
label:
  name: late
  expr: "CASE WHEN delay > 15 THEN 1 ELSE 0 END"
  exclude: {cancelled: "delay IS NULL"}
derived:
  - {name: log_km, log1p: km}
  - {name: km_per_stop, ratio: [km, stops]}
  - {name: weekday, date_part: dayofweek, of: day}
windows:
  - {name: city_delay_2d, partition_by: [city], value: delay, agg: avg, days: 2, date: day}
features:
  - {column: km, impute: mean, scale: true}
  - {column: stops, impute: median}
  - {column: km_bucket_src, buckets: [0, 10, 100, .inf]}
  - {column: city, kind: categorical, encode: onehot}
  - {column: weekday, kind: categorical}
split: {train: 0.6, validation: 0.2, test: 0.2}
"""
SPEC = parse_feature_spec(SPEC_TEXT, "toy.yaml")


@pytest.fixture
def trips(spark: SparkSession) -> DataFrame:
    rows = [
        ("t1", "Oslo", 10.0, 2, 20, "2024-01-01"),
        ("t2", "Oslo", None, 0, 5, "2024-01-02"),
        ("t3", "Rome", 100.0, 4, None, "2024-01-02"),
        ("t4", "Rome", 50.0, None, 30, "2024-01-03"),
        ("t5", "Nowhere", 5.0, 1, 0, "2024-01-04"),
    ]
    return spark.createDataFrame(
        rows, "trip string, city string, km double, stops int, delay int, day string"
    ).withColumn("day", F.to_date("day"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("log1p: km", "log1p: km, expr: km"), r"derived\[0\]: .*exactly one of"),
        (("buckets: [0, 10, 100, .inf]", "buckets: [10, 0, 5]"), r"features\[2\]: .*increasing"),
        (("train: 0.6", "train: 0.7"), r"split: .*must be 1"),
        (
            ("kind: categorical}", "kind: categorical, scale: true}"),
            r"features\[4\]: .*categorical feature 'weekday'",
        ),
        (("prefix: city_", "prefix: City"), r"joins\[0\]\.prefix"),
    ],
)
def test_spec_errors_name_the_field(change: tuple[str, str], message: str) -> None:
    assert change[0] in SPEC_TEXT
    with pytest.raises(ContractError, match=r"toy\.yaml: " + message):
        parse_feature_spec(SPEC_TEXT.replace(*change), "toy.yaml")


def test_specs_in_every_format_the_loader_reads_are_found(tmp_path: Path) -> None:
    """featurize builds every spec by default: a JSON spec is listed like a YAML one (a ``*.y*ml`` glob
    skipped it though the loader reads it), and a missing spec's error names both."""
    features = tmp_path / "features"
    features.mkdir()
    (features / "toy.yaml").write_text(SPEC_TEXT)
    (features / "toy_json.json").write_text(json.dumps(yaml.safe_load(SPEC_TEXT) | {"name": "toy_json"}))
    (features / "notes.txt").write_text("not a spec")
    assert feature_spec_names(tmp_path) == ["toy", "toy_json"]
    assert load_feature_spec(tmp_path, "toy_json").fingerprint != SPEC.fingerprint  # read, other name
    with pytest.raises(ContractError, match=r"known: \['toy', 'toy_json'\]"):
        load_feature_spec(tmp_path, "missing")


def test_label_and_exclusions_are_explicit(spark: SparkSession, trips: DataFrame) -> None:
    cities = spark.createDataFrame([("Oslo", 700_000), ("Rome", 2_800_000)], "name string, population int")
    joined = join_inputs(trips, {"cities": cities}, SPEC)
    assert joined.count() == 5  # an inner join never drops rows silently...
    labelled = with_label(joined, SPEC)
    got = {r.trip: (r.late, r[EXCLUDED]) for r in labelled.collect()}
    assert got == {
        "t1": (1, None),
        "t2": (0, None),
        "t3": (None, "cancelled"),
        "t4": (1, None),
        "t5": (None, "no_cities"),  # ...it gives the row a reason instead
    }


def test_joins_never_multiply_examples(spark: SparkSession, trips: DataFrame) -> None:
    cities = spark.createDataFrame([("Oslo", 1), ("Oslo", 2), ("Rome", 3)], "name string, population int")
    joined = join_inputs(trips, {"cities": cities}, SPEC)
    assert joined.count() == 5
    assert {r.trip: r.city_population for r in joined.collect()}["t1"] == 1  # deterministic pick


def test_derived_columns(trips: DataFrame) -> None:
    got = {r.trip: r for r in with_derived(trips, SPEC).collect()}
    assert got["t1"].log_km == pytest.approx(math.log1p(10))
    assert got["t1"].km_per_stop == 5.0
    assert got["t2"].km_per_stop is None  # a zero denominator is missing, not infinite
    assert got["t1"].weekday == 2  # 2024-01-01 was a Monday (Spark: Sunday = 1)


def test_window_aggregates_only_see_previous_days(trips: DataFrame) -> None:
    values = {(r.city, r["__day"]): r.city_delay_2d for r in window_values(trips, SPEC.windows[0]).collect()}
    # Days since the epoch: 19723 is 2024-01-01.
    oslo_day1, oslo_day2 = values[("Oslo", 19723)], values[("Oslo", 19724)]
    assert oslo_day1 is None  # nothing before the first day: no leakage of the day's own delay
    assert oslo_day2 == 20.0  # only Jan 1
    assert values[("Rome", 19725)] is None  # Jan 2's only Rome delay is NULL (cancelled)


def test_split_is_a_stable_function_of_the_id(spark: SparkSession, trips: DataFrame) -> None:
    first = {r[EXAMPLE_ID]: r[SPLIT] for r in with_split(with_example_id(trips, SPEC), SPEC).collect()}
    again = {
        r[EXAMPLE_ID]: r[SPLIT]
        for r in with_split(with_example_id(trips.orderBy(F.desc("trip")), SPEC), SPEC).collect()
    }
    assert first == again
    many = spark.range(20_000).select(F.col("id").cast("string").alias("trip"))
    shares = with_split(with_example_id(many, SPEC), SPEC).groupBy(SPLIT).count().collect()
    fractions = {r[SPLIT]: r["count"] / 20_000 for r in shares}
    assert fractions == pytest.approx({"train": 0.6, "validation": 0.2, "test": 0.2}, abs=0.02)


def test_pipeline_fits_on_train_only_and_reloads_identically(spark: SparkSession, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = [
        ("a", "train", 1, 10.0, 1, 5.0, "Oslo", "1"),
        ("b", "train", 0, None, None, 50.0, "Rome", "2"),
        ("c", "train", 1, 30.0, 3, 500.0, "Oslo", "1"),
        ("d", "test", 0, 1000.0, 9, None, "Paris", "3"),
    ]
    frame = spark.createDataFrame(
        rows,
        "example_id string, split string, late int, km double, stops int, km_bucket_src double, city string, weekday string",
    )
    inputs = ml.model_inputs(frame, SPEC)
    model = ml.fit(SPEC, inputs)
    out = {r.example_id: r for r in ml.transform(model, SPEC, inputs).collect()}
    # The imputed km of row b is the mean of the *training* rows only (10, 30), not including test's 1000.
    scaled = [out[k].km for k in ("a", "b", "c")]
    assert scaled[1] == pytest.approx(0.0)  # the mean, centred
    assert scaled[0] == pytest.approx(-scaled[2])
    assert (
        out["b"].stops == 1.0
    )  # Spark's (lower) median of the training 1 and 3; with test's 9 it would be 3
    assert out["a"].km_bucket_src_bucket == 0.0
    assert out["c"].km_bucket_src_bucket == 2.0
    assert out["d"].km_bucket_src_bucket == 3.0  # missing goes to its own bucket
    assert out["a"].city == [1.0, 0.0, 0.0]
    assert out["d"].city == [0.0, 0.0, 1.0]  # Paris was never seen in training: the "unseen" slot
    assert len(out["a"].features) == 1 + 1 + 1 + 3 + 1

    ml.save(model, str(tmp_path / "pipeline"))
    again = {
        r.example_id: r for r in ml.transform(ml.load(str(tmp_path / "pipeline")), SPEC, inputs).collect()
    }
    assert again == out


def test_a_feature_without_training_values_is_named(spark: SparkSession) -> None:
    """The fit counts the training split only when Spark's Imputer refuses a column, to name it."""
    rows = [("a", "train", 1, None, 1, 5.0, "Oslo", "1"), ("b", "test", 0, 3.0, 2, 6.0, "Rome", "2")]
    frame = spark.createDataFrame(
        rows,
        "example_id string, split string, late int, km double, stops int, km_bucket_src double, city string, weekday string",
    )
    with pytest.raises(ml.FeatureFitError, match=r"\['km'\] have no values in the training split"):
        ml.fit(SPEC, ml.model_inputs(frame, SPEC))
