"""Evaluate a table's rules in one projection and measure the outcome in one aggregation.

``validate`` adds the failed-rule names to every row; ``measure`` computes row counts, rule
failure counts and null counts in a single ``agg`` over the (cached) validated frame. The driver
only ever receives that one summary row, never data rows (except a three-row sample when a
``fail`` rule trips, for the error message).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lake.contracts.model import CompletenessRule, Contract, DatasetRule, RowCountRule, Severity
from lake.quality.rules import FAILED_RULES, CompiledRule, any_of, failed_rules_column

QUARANTINED = "_quarantined"


class ContractViolationError(RuntimeError):
    """A ``fail`` rule tripped: the run stops before any commit."""


@dataclass(frozen=True)
class ValidationReport:
    """What one validation pass measured (all counts exact)."""

    rows: int
    quarantined: int
    failures: dict[str, int]
    severities: dict[str, Severity]
    null_counts: dict[str, int] = field(default_factory=dict)  # over the rows that pass

    @property
    def rows_out(self) -> int:
        return self.rows - self.quarantined

    def failing(self, severity: Severity) -> dict[str, int]:
        return {n: c for n, c in self.failures.items() if c and self.severities[n] == severity}

    def null_rate(self, column: str) -> float:
        return self.null_counts.get(column, 0) / self.rows_out if self.rows_out else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "quarantined": self.quarantined,
            "rows_out": self.rows_out,
            "failures": dict(self.failures),
            "severities": dict(self.severities),
            "null_counts": self.null_counts,
        }


def validate(frame: DataFrame, rules: Sequence[CompiledRule]) -> DataFrame:
    """Add ``_failed_rules`` (names) and ``_quarantined`` (a quarantine rule failed) to each row."""
    quarantine_names = [r.name for r in rules if r.severity == "quarantine"]
    return frame.withColumn(FAILED_RULES, failed_rules_column(rules)).withColumn(
        QUARANTINED, any_of(quarantine_names)
    )


def measure(validated: DataFrame, rules: Sequence[CompiledRule], columns: Sequence[str]) -> ValidationReport:
    """Counts, per-rule failures and null counts of the passing rows, in one aggregation."""
    passing = ~F.col(QUARANTINED)
    aggregates = [
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col(QUARANTINED).cast("long")).alias("quarantined"),
    ]
    aggregates += [
        F.sum(F.array_contains(F.col(FAILED_RULES), r.name).cast("long")).alias(f"r{i}")
        for i, r in enumerate(rules)
    ]
    aggregates += [
        F.sum((passing & F.col(c).isNull()).cast("long")).alias(f"n{i}") for i, c in enumerate(columns)
    ]
    row = validated.agg(*aggregates).first()
    assert row is not None  # an aggregation without grouping always yields one row
    return ValidationReport(
        rows=int(row["rows"]),
        quarantined=int(row["quarantined"] or 0),
        failures={r.name: int(row[f"r{i}"] or 0) for i, r in enumerate(rules)},
        severities={r.name: r.severity for r in rules},
        null_counts={c: int(row[f"n{i}"] or 0) for i, c in enumerate(columns)},
    )


def raise_on_failures(
    report: ValidationReport, validated: DataFrame, table: str, context: Sequence[str]
) -> None:
    """Stop the run when a ``fail`` row rule tripped, naming the rule, the count and sample rows."""
    tripped = report.failing("fail")
    if not tripped:
        return
    lines = [f"{table}: {len(tripped)} fail-severity rule(s) tripped; nothing was committed."]
    for name, count in sorted(tripped.items()):
        sample = (
            validated.where(F.array_contains(F.col(FAILED_RULES), name)).select(*context).limit(3).collect()
        )
        shown = "; ".join(json.dumps(r.asDict(), default=str) for r in sample)
        lines.append(f"  rule {name!r} failed on {count} row(s), e.g. {shown}")
    raise ContractViolationError("\n".join(lines))


@dataclass(frozen=True)
class DatasetRuleOutcome:
    name: str
    severity: Severity
    passed: bool
    observed: float
    message: str


def check_dataset_rules(contract: Contract, report: ValidationReport) -> list[DatasetRuleOutcome]:
    """Evaluate row-count and completeness rules on the measured batch (no extra pass)."""
    outcomes = []
    for rule in contract.dataset_rules:
        outcomes.append(_dataset_rule(rule, report))
    return outcomes


def _dataset_rule(rule: DatasetRule, report: ValidationReport) -> DatasetRuleOutcome:
    if isinstance(rule, RowCountRule):
        rows = report.rows_out
        ok = (rule.min is None or rows >= rule.min) and (rule.max is None or rows <= rule.max)
        bounds = (
            f"[{rule.min if rule.min is not None else '-inf'}, {rule.max if rule.max is not None else 'inf'}]"
        )
        return DatasetRuleOutcome(rule.name, rule.severity, ok, rows, f"{rows} rows out, expected {bounds}")
    assert isinstance(rule, CompletenessRule)
    ratio = 1.0 - report.null_rate(rule.column)
    return DatasetRuleOutcome(
        rule.name,
        rule.severity,
        ratio >= rule.min_ratio,
        ratio,
        f"{rule.column} is {ratio:.2%} complete, expected at least {rule.min_ratio:.2%}",
    )
