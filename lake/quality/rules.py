"""Contract rules compiled to Spark column expressions.

Each compiled rule is a boolean column that is true exactly when a row fails it (never NULL), so
all rules of a table are evaluated together in one projection: no Python UDFs, no extra passes.
Rules on NULL values pass, except ``not_null``: nullability is its own rule, as in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lake.contracts import (
    AllowedValuesRule,
    Contract,
    ExpressionRule,
    NotNullRule,
    RangeRule,
    ReferenceRule,
    RegexRule,
    RowRule,
    UniqueRule,
)
from lake.contracts.model import Severity

FAILED_RULES = "_failed_rules"


@dataclass(frozen=True)
class CompiledRule:
    name: str
    severity: Severity
    failed: Column
    description: str = ""


def _bound(value: float | str, spark_type: str) -> Column:
    return F.lit(value).cast(spark_type)


def compile_rule(rule: RowRule, contract: Contract) -> CompiledRule:
    """One contract row rule as a "this row fails" column. Reference and unique rules need
    helper columns added first (see ``with_reference_flags`` and ``with_unique_flags``)."""
    if isinstance(rule, NotNullRule):
        failed = F.col(rule.column).isNull()
    elif isinstance(rule, AllowedValuesRule):
        spark_type = contract.column(rule.column).logical.spark_ddl
        failed = ~F.col(rule.column).isin([F.lit(v).cast(spark_type) for v in rule.values])
    elif isinstance(rule, RangeRule):
        spark_type = contract.column(rule.column).logical.spark_ddl
        column = F.col(rule.column)
        checks = []
        if rule.min is not None:
            checks.append(column < _bound(rule.min, spark_type))
        if rule.max is not None:
            checks.append(column > _bound(rule.max, spark_type))
        failed = checks[0] if len(checks) == 1 else (checks[0] | checks[1])
    elif isinstance(rule, RegexRule):
        failed = ~F.col(rule.column).cast("string").rlike(rule.pattern)
    elif isinstance(rule, ExpressionRule):
        failed = ~F.expr(rule.expr)
    elif isinstance(rule, UniqueRule | ReferenceRule):
        failed = F.col(helper_column(rule.name))
    else:  # pragma: no cover - the contract model admits no other rule
        raise TypeError(f"unsupported rule {rule!r}")
    return CompiledRule(rule.name, rule.severity, F.coalesce(failed, F.lit(False)), rule.description)


def helper_column(rule_name: str) -> str:
    return f"__rule_{rule_name}"


def with_unique_flags(frame: DataFrame, rules: Sequence[UniqueRule], order_by: Sequence[str]) -> DataFrame:
    """Flag every row after the first of its key (first by ``order_by``; NULL keys never clash)."""
    for rule in rules:
        window = Window.partitionBy(*rule.columns).orderBy(*[F.col(c).asc_nulls_last() for c in order_by])
        any_null = F.lit(False)
        for column in rule.columns:
            any_null = any_null | F.col(column).isNull()
        frame = frame.withColumn(helper_column(rule.name), ~any_null & (F.row_number().over(window) > 1))
    return frame


@dataclass(frozen=True)
class ReferenceLookup:
    """The referenced values (one column, read at a recorded version) and how to compare to them:
    ``probe`` is the row's value in the referenced table's representation (e.g. its PII hash)."""

    values: DataFrame
    probe: Column


def with_reference_flags(
    frame: DataFrame, rules: Sequence[ReferenceRule], lookups: Mapping[str, ReferenceLookup]
) -> DataFrame:
    """Flag values missing from the referenced column (a left join on the distinct values)."""
    for rule in rules:
        lookup = lookups[rule.name]
        key = f"__ref_value_{rule.name}"
        present = f"__ref_present_{rule.name}"
        values = lookup.values.select(F.col(lookup.values.columns[0]).alias(key)).distinct()
        values = values.withColumn(present, F.lit(True))
        frame = frame.join(values, lookup.probe == values[key], "left")
        frame = frame.withColumn(
            helper_column(rule.name), F.col(rule.column).isNotNull() & F.col(present).isNull()
        ).drop(key, present)
    return frame


def failed_rules_column(rules: Sequence[CompiledRule]) -> Column:
    """``array<string>`` of the names of the rules a row fails (empty when it passes all)."""
    if not rules:
        return F.array().cast("array<string>")
    names = F.array(*[F.when(rule.failed, F.lit(rule.name)) for rule in rules])
    return F.filter(names, lambda name: name.isNotNull())
