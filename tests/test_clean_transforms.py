"""raw -> cleaned transforms on five-row frames: normalise, cast, de-duplicate, PII."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake.columns import INGESTED_AT, OUTCOME, QUARANTINED_AT, REASONS, RECORD, RUN_ID, SOURCE_FILE
from lake.contracts import parse_contract
from lake.contracts.implicit_rules import DUPLICATE_KEY, not_null_rule, type_rule
from lake.quality.rules import FAILED_RULES
from lake.quality.validate import QUARANTINED, flag_quarantined, measure, observe_rules, validate
from lake.zones.clean.transform import (
    all_rules,
    cast_to_contract,
    flag_rows,
    normalize_text,
    published_columns,
    quarantine_record,
    split_by_outcome,
    with_salt,
)

CONTRACT = parse_contract(
    """
name: people
keys: [id]
source: {null_values: ["", "NA"]}
columns:
  - {name: id, type: int, nullable: false}
  - {name: code, type: string, normalize: upper}
  - {name: score, type: double}
  - {name: seen, type: timestamp}
  - {name: born, type: date, format: "dd/MM/yyyy"}
  - {name: email, type: string, pii: hash}
  - {name: phone, type: string, pii: drop}
""",
    "people.yaml",
)
TEXT = "id string, code string, score string, seen string, born string, email string, phone string"


def raw(spark: SparkSession, rows: Sequence[tuple[str | None, ...]]) -> DataFrame:
    frame = spark.createDataFrame(rows, TEXT)
    return frame.withColumn(SOURCE_FILE, F.lit("f.csv")).withColumn(
        INGESTED_AT, F.lit("2026-01-01T00:00:00Z").cast("timestamp")
    )


def test_normalize_trims_cases_and_nulls_tokens(spark: SparkSession) -> None:
    frame = raw(spark, [(" 1 ", " ab ", "NA", "", "01/02/2013", "x@y.z", "555")])
    row = normalize_text(frame, CONTRACT).first()
    assert row is not None
    assert (row.id, row.code, row.score, row.seen) == ("1", "AB", None, None)
    assert row["__text_code"] == " ab "  # the landed text stays for quarantine records


def test_casts_never_throw_and_flag_what_does_not_fit(spark: SparkSession) -> None:
    rows = [
        ("1", "a", "1.5", "2013-01-01T10:00:00Z", "01/02/2013", None, None),
        ("517.0", "b", "abc", "not a time", "31/02/2013", None, None),
        ("517.5", "c", "2", "2013-01-01 10:00:00", "bad", None, None),
        ("99999999999", "d", None, None, None, None, None),
        ("x", "e", "1e3", "2013-06-01T00:00:00+02:00", "01/12/2013", None, None),
    ]
    typed = cast_to_contract(normalize_text(raw(spark, rows), CONTRACT), CONTRACT)
    got = [r.asDict() for r in typed.orderBy("code").collect()]
    assert [r["id"] for r in got] == [1, 517, None, None, None]
    assert [r[type_rule("id")] for r in got] == [
        False,
        False,
        True,
        True,
        True,
    ]  # 517.5 is no integer; overflow; text
    assert [r["score"] for r in got] == [1.5, None, 2.0, None, 1000.0]
    assert [r[type_rule("score")] for r in got] == [False, True, False, False, False]
    assert got[0]["seen"] == dt.datetime(2013, 1, 1, 10, 0)  # session time zone is UTC
    assert got[4]["seen"] == dt.datetime(2013, 5, 31, 22, 0)
    assert [r[type_rule("seen")] for r in got] == [False, True, False, False, False]
    assert [r["born"] for r in got] == [dt.date(2013, 2, 1), None, None, None, dt.date(2013, 12, 1)]
    assert [r[type_rule("born")] for r in got] == [False, True, True, False, False]


def test_duplicates_keep_the_earliest_ingested_row(spark: SparkSession) -> None:
    frame = raw(
        spark, [("1", "late", None, None, None, None, None), ("1", "early", None, None, None, None, None)]
    )
    frame = frame.withColumn(
        INGESTED_AT,
        F.when(F.col("code") == "early", F.lit("2025-01-01T00:00:00Z"))
        .otherwise(F.lit("2026-01-01T00:00:00Z"))
        .cast("timestamp"),
    )
    typed = with_salt(cast_to_contract(normalize_text(frame, CONTRACT), CONTRACT), "salt")
    validated = validate(flag_rows(typed, CONTRACT), all_rules(CONTRACT))
    outcome = {r.code: r[FAILED_RULES] for r in validated.collect()}
    assert outcome == {"EARLY": [], "LATE": [DUPLICATE_KEY]}


def test_incremental_batches_treat_published_keys_as_duplicates(spark: SparkSession) -> None:
    frame = raw(spark, [("1", "a", None, None, None, None, None), ("2", "b", None, None, None, None, None)])
    typed = with_salt(cast_to_contract(normalize_text(frame, CONTRACT), CONTRACT), "salt")
    existing = spark.createDataFrame([(2,)], "id int")
    validated = validate(flag_rows(typed, CONTRACT, existing_keys=existing), all_rules(CONTRACT))
    assert {r.id: r[FAILED_RULES] for r in validated.collect()} == {1: [], 2: [DUPLICATE_KEY]}


def test_pii_is_hashed_with_the_salt_or_dropped_everywhere(spark: SparkSession) -> None:
    frame = raw(
        spark,
        [("1", "a", "1", None, None, "Ann@Example.com", "555-0100"), ("2", "b", "zz", None, None, None, "1")],
    )
    typed = with_salt(cast_to_contract(normalize_text(frame, CONTRACT), CONTRACT), "s3cret")
    rules = all_rules(CONTRACT)
    validated = validate(flag_rows(typed, CONTRACT), rules)
    published = validated.where(~F.col(QUARANTINED)).select(*published_columns(CONTRACT))
    expected_hash = hashlib.sha256(b"s3cret|Ann@Example.com").hexdigest()
    expected = spark.createDataFrame(
        [(1, "A", 1.0, None, None, expected_hash)],
        "id int, code string, score double, seen timestamp, born date, email string",
    )
    assert_df_equality(published, expected, ignore_nullable=True)

    first = validated.where(F.col(QUARANTINED)).select(quarantine_record(CONTRACT).alias("r")).first()
    assert first is not None
    record = json.loads(first.r)
    assert record == {"id": "2", "code": "b", "score": "zz"}  # landed text, no phone, null email omitted
    assert "s3cret" not in published._jdf.queryExecution().toString()

    report = measure(validated, rules, [c.name for c in CONTRACT.published_columns])
    assert (report.rows, report.quarantined, report.failures[type_rule("score")]) == (2, 1, 1)


def test_one_frame_carries_both_outcomes_and_the_write_measures_the_rules(spark: SparkSession) -> None:
    """Accepted rows in the cleaned layout, rejected rows in the quarantine layout, each side's columns
    NULL on the other's rows; the rule counts come from the same action (observe), no pass of their own."""
    frame = raw(
        spark,
        [
            ("1", "a", "1", None, None, "Ann@Example.com", "555-0100"),
            ("2", "b", "zz", None, None, None, "1"),
            ("4", "c", None, None, "bad", None, None),
            ("3", "d", "4", None, None, None, None),
            (None, "e", "5", None, None, None, None),
        ],
    )
    typed = with_salt(cast_to_contract(normalize_text(frame, CONTRACT), CONTRACT), "s3cret")
    rules = all_rules(CONTRACT)
    flagged = flag_quarantined(flag_rows(typed, CONTRACT), rules)
    observed, measured = observe_rules(flagged, rules, ["score", "email"], "five-rows")
    at = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    split = split_by_outcome(observed, CONTRACT, rules, "run-1", at)
    rows = {r.code or json.loads(r[RECORD])["code"]: r.asDict() for r in split.collect()}  # the action

    report = measured.report()
    assert (report.rows, report.quarantined) == (5, 3)
    names = (type_rule("score"), type_rule("born"), not_null_rule("id"))
    assert {n: report.failures[n] for n in names} == dict.fromkeys(names, 1)
    assert report.null_counts == {"score": 0, "email": 1}  # over the 2 accepted rows
    assert {k: r[OUTCOME] for k, r in rows.items()} == {
        "A": "accepted",
        "b": "rejected",
        "c": "rejected",
        "D": "accepted",
        "e": "rejected",
    }
    accepted, rejected = rows["A"], rows["b"]
    assert accepted["email"] == hashlib.sha256(b"s3cret|Ann@Example.com").hexdigest()
    quarantine_side = (REASONS, RECORD, QUARANTINED_AT)
    assert [accepted[c] for c in quarantine_side] == [None, None, None]
    assert (accepted[INGESTED_AT] is not None, accepted[RUN_ID]) == (True, "run-1")
    assert [rejected[c] for c in ("id", "code", INGESTED_AT)] == [None, None, None]
    assert rejected[REASONS] == [type_rule("score")]
    assert json.loads(rejected[RECORD]) == {"id": "2", "code": "b", "score": "zz"}
    assert rejected[QUARANTINED_AT] == dt.datetime(2026, 1, 2)
    assert rows["e"][REASONS] == [not_null_rule("id")]
    assert "phone" not in split.columns


@pytest.mark.parametrize("salt", [None, ""])
def test_missing_salt_is_an_error(monkeypatch: pytest.MonkeyPatch, salt: str | None) -> None:
    from lake.secrets import MissingSecretError, pii_salt

    if salt is None:
        monkeypatch.delenv("LAKEPREP_PII_SALT", raising=False)
    else:
        monkeypatch.setenv("LAKEPREP_PII_SALT", salt)
    with pytest.raises(MissingSecretError, match="LAKEPREP_PII_SALT"):
        pii_salt()


def test_integral_casts_keep_whole_decimals_and_blank_tokens(spark: SparkSession) -> None:
    """Padded text, null tokens and whole decimals, as the cast has always read them."""
    rows = [
        (" 12 ", "a", None, None, None, None, None),
        ("NA", "b", None, None, None, None, None),
        (" 517.0 ", "c", None, None, None, None, None),
        ("1e2", "d", None, None, None, None, None),
        ("-3.000", "e", None, None, None, None, None),
    ]
    typed = cast_to_contract(normalize_text(raw(spark, rows), CONTRACT), CONTRACT)
    got = [(r["id"], r[type_rule("id")]) for r in typed.orderBy("code").collect()]
    assert got == [(12, False), (None, False), (517, False), (100, False), (-3, False)]
