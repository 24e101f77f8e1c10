"""Evaluate a table's rules in one projection and measure the outcome with the write itself.

Each compiled rule is a boolean column; ``_quarantined`` is the OR of the quarantine rules, and the
names of the failed rules are built only where they are kept (a rejected row's reasons). The
measurements (row count, per-rule failures, null counts) are aggregate expressions that run either
as their own ``agg`` (``measure``) or inside the action that writes the rows (``observe_rules`` with a
Spark ``Observation``), so the clean job needs no pass of its own to count. The driver only ever
receives that one summary row, never data rows (except a three-row sample when a ``fail`` rule
trips, for the error message).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from lake.contracts.model import CompletenessRule, Contract, DatasetRule, RowCountRule, Severity
from lake.quality.rules import FAILED_RULES, CompiledRule, failed_rules_column

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


def flag_quarantined(frame: DataFrame, rules: Sequence[CompiledRule]) -> DataFrame:
    """Add ``_quarantined``: whether any quarantine-severity rule fails (no per-row list of names)."""
    failed = [r.failed for r in rules if r.severity == "quarantine"]
    quarantined = F.lit(False)
    for outcome in failed:
        quarantined = quarantined | outcome
    return frame.withColumn(QUARANTINED, quarantined)


def validate(frame: DataFrame, rules: Sequence[CompiledRule]) -> DataFrame:
    """Add ``_failed_rules`` (names) and ``_quarantined`` to each row: for inspection and small frames;
    the clean job builds the names only for rejected rows (see ``flag_quarantined``)."""
    return flag_quarantined(frame, rules).withColumn(FAILED_RULES, failed_rules_column(rules))


def _metric_columns(rules: Sequence[CompiledRule], columns: Sequence[str]) -> list[Column]:
    """Row count, quarantined rows, failures per rule, nulls per column among passing rows."""
    passing = ~F.col(QUARANTINED)
    aggregates = [
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col(QUARANTINED).cast("long")).alias("quarantined"),
    ]
    aggregates += [F.sum(r.failed.cast("long")).alias(f"r{i}") for i, r in enumerate(rules)]
    aggregates += [
        F.sum((passing & F.col(c).isNull()).cast("long")).alias(f"n{i}") for i, c in enumerate(columns)
    ]
    return aggregates


def _report(
    row: Mapping[str, Any], rules: Sequence[CompiledRule], columns: Sequence[str]
) -> ValidationReport:
    return ValidationReport(
        rows=int(row["rows"]),
        quarantined=int(row["quarantined"] or 0),
        failures={r.name: int(row[f"r{i}"] or 0) for i, r in enumerate(rules)},
        severities={r.name: r.severity for r in rules},
        null_counts={c: int(row[f"n{i}"] or 0) for i, c in enumerate(columns)},
    )


def measure(validated: DataFrame, rules: Sequence[CompiledRule], columns: Sequence[str]) -> ValidationReport:
    """Counts, per-rule failures and null counts of the passing rows, in one aggregation."""
    row = validated.agg(*_metric_columns(rules, columns)).first()
    assert row is not None  # an aggregation without grouping always yields one row
    return _report(row.asDict(), rules, columns)


@dataclass(frozen=True)
class ObservedRules:
    """Rule measurements riding along with whatever action runs the frame (Spark ``observe``)."""

    observation: Observation
    rules: tuple[CompiledRule, ...]
    columns: tuple[str, ...]

    def report(self) -> ValidationReport:
        """The measurements; call after the action (it blocks until the action has finished)."""
        return _report(self.observation.get, self.rules, self.columns)


def observe_rules(
    flagged: DataFrame, rules: Sequence[CompiledRule], columns: Sequence[str], name: str
) -> tuple[DataFrame, ObservedRules]:
    """``flagged`` (with ``_quarantined``) measured by the next action on the returned frame."""
    observation = Observation(name)
    observed = flagged.observe(observation, *_metric_columns(rules, columns))
    return observed, ObservedRules(observation, tuple(rules), tuple(columns))


def raise_on_failures(
    report: ValidationReport,
    flagged: DataFrame,
    rules: Sequence[CompiledRule],
    table: str,
    context: Sequence[str],
) -> None:
    """Stop the run when a ``fail`` row rule tripped, naming the rule, the count and sample rows."""
    tripped = report.failing("fail")
    if not tripped:
        return
    lines = [f"{table}: {len(tripped)} fail-severity rule(s) tripped; nothing was committed."]
    outcomes = {r.name: r.failed for r in rules}
    for name, count in sorted(tripped.items()):
        sample = flagged.where(outcomes[name]).select(*context).limit(3).collect()
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
