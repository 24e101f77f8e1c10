"""Each rule kind on a five-row frame, and one-pass validation and measurement."""

from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake.contracts import parse_contract
from lake.quality.rules import (
    FAILED_RULES,
    ReferenceLookup,
    compile_rule,
    with_reference_flags,
    with_unique_flags,
)
from lake.quality.validate import (
    ContractViolationError,
    check_dataset_rules,
    measure,
    raise_on_failures,
    validate,
)

CONTRACT = parse_contract(
    """
name: t
columns:
  - {name: id, type: int}
  - {name: code, type: string}
  - {name: amount, type: double}
  - {name: day, type: date}
rules:
  - {name: code_known, check: allowed_values, column: code, values: [A, B]}
  - {name: amount_range, check: range, column: amount, min: 0, max: 10}
  - {name: code_shape, check: regex, column: code, pattern: "^[A-Z]$", severity: warn}
  - {name: day_range, check: range, column: day, min: "2013-01-01", max: "2013-12-31"}
  - {name: amount_vs_id, check: expression, expr: "amount IS NULL OR amount >= id", columns: [amount, id]}
  - {name: id_present, check: not_null, column: id, severity: fail}
  - {name: id_unique, check: unique, columns: [id]}
  - {name: code_exists, check: reference, column: code, dataset: codes, ref_column: value}
dataset_rules:
  - {name: enough, check: row_count, min: 4, severity: fail}
  - {name: amounts_known, check: completeness, column: amount, min_ratio: 0.9}
""",
    "t.yaml",
)


@pytest.fixture
def five(spark: SparkSession) -> DataFrame:
    rows = [
        (1, "A", 5.0, "2013-01-01", 1),
        (2, "B", None, "2013-06-30", 2),
        (3, "c", 11.0, "2014-01-01", 3),
        (3, "A", 2.0, "2013-02-01", 4),
        (None, None, -1.0, "2012-12-31", 5),
    ]
    return spark.createDataFrame(rows, "id int, code string, amount double, day string, seq int").withColumn(
        "day", F.col("day").cast("date")
    )


def failing(frame: DataFrame, name: str) -> list[int]:
    rule = next(r for r in CONTRACT.rules if r.name == name)
    compiled = compile_rule(rule, CONTRACT)
    return sorted(r.seq for r in frame.where(compiled.failed).select("seq").collect())


def test_row_rules_fail_exactly_the_offending_rows(five: DataFrame) -> None:
    assert failing(five, "code_known") == [3]  # NULL passes: nullability is its own rule
    assert failing(five, "amount_range") == [3, 5]
    assert failing(five, "code_shape") == [3]
    assert failing(five, "day_range") == [3, 5]
    assert failing(five, "amount_vs_id") == [4]
    assert failing(five, "id_present") == [5]


def test_unique_keeps_the_first_row_of_a_key(five: DataFrame) -> None:
    rule = next(r for r in CONTRACT.rules if r.name == "id_unique")
    flagged = with_unique_flags(five, [rule], order_by=["seq"])  # type: ignore[list-item]
    assert failing(flagged, "id_unique") == [4]


def test_reference_rule_uses_a_lookup_frame(spark: SparkSession, five: DataFrame) -> None:
    rule = next(r for r in CONTRACT.rules if r.name == "code_exists")
    lookup = ReferenceLookup(spark.createDataFrame([("A",), ("B",)], "value string"), F.col("code"))
    flagged = with_reference_flags(five, [rule], {"code_exists": lookup})  # type: ignore[list-item]
    assert flagged.count() == 5
    assert failing(flagged, "code_exists") == [3]


def test_validate_and_measure_in_one_pass(spark: SparkSession, five: DataFrame) -> None:
    names = ["code_known", "amount_range", "code_shape", "id_present"]
    rules = [compile_rule(next(r for r in CONTRACT.rules if r.name == n), CONTRACT) for n in names]
    validated = validate(five, rules)
    per_row = {r.seq: (sorted(r[FAILED_RULES]), r._quarantined) for r in validated.collect()}
    assert per_row[1] == ([], False)
    assert per_row[3] == (["amount_range", "code_known", "code_shape"], True)
    assert per_row[5] == (["amount_range", "id_present"], True)  # a quarantine rule applies too

    report = measure(validated, rules, ["amount", "code"])
    assert (report.rows, report.quarantined, report.rows_out) == (5, 2, 3)
    assert report.failures == {"code_known": 1, "amount_range": 2, "code_shape": 1, "id_present": 1}
    assert report.null_counts == {"amount": 1, "code": 0}  # over the rows that pass
    assert report.failing("fail") == {"id_present": 1}

    with pytest.raises(
        ContractViolationError, match=r"rule 'id_present' failed on 1 row\(s\), e\.g\. .*\"seq\": 5"
    ):
        raise_on_failures(report, validated, rules, "cleaned/t", ["seq", "code"])

    outcomes = {o.name: o for o in check_dataset_rules(CONTRACT, report)}
    assert not outcomes["enough"].passed  # 3 rows out < 4
    assert outcomes["amounts_known"].observed == pytest.approx(2 / 3)
    assert not outcomes["amounts_known"].passed
