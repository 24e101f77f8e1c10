"""The metrics table: one row per (table, version, metric[, column|rule]), and anomalies against history.

Metrics are written once per (table, version) after the commit that created that version, which
also carries them in its lineage tags; a run killed in between leaves them in the tags, and the
next run of the job writes the missing rows from there (``backfill_metrics``)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lake.contracts.model import AnomalyPolicy
from lake.quality.validate import ValidationReport
from lake.storage import Storage
from lake.table import Table

METRICS_TABLE = "quality"
METRICS_SCHEMA = pa.schema(
    [
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("job", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),
        pa.field("table_version", pa.int64()),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("subject", pa.string()),  # the column or rule the metric is about
        pa.field("value", pa.float64()),
    ]
)


def metrics_table(storage: Storage) -> Table:
    return Table(storage, "metrics", METRICS_TABLE)


@dataclass(frozen=True)
class Metric:
    metric: str
    subject: str | None
    value: float


def report_metrics(report: ValidationReport, rows_in: int | None = None) -> list[Metric]:
    """Flatten a validation report into metric rows."""
    rows: list[Metric] = [
        Metric("rows_in", None, float(report.rows if rows_in is None else rows_in)),
        Metric("rows_out", None, float(report.rows_out)),
        Metric("rows_quarantined", None, float(report.quarantined)),
    ]
    rows += [Metric("rule_failures", name, float(count)) for name, count in sorted(report.failures.items())]
    rows += [Metric("null_rate", column, report.null_rate(column)) for column in sorted(report.null_counts)]
    return rows


@dataclass(frozen=True)
class Anomaly:
    table: str
    metric: str
    subject: str | None
    value: float
    baseline: float
    message: str


def history(storage: Storage, table: str) -> pa.Table:
    store = metrics_table(storage)
    if not store.exists():
        return METRICS_SCHEMA.empty_table()
    data = store.to_arrow()
    return data.filter(pc.equal(data["table"], table)).sort_by([("recorded_at", "ascending")])


def find_anomalies(
    past: pa.Table,
    current: Sequence[Metric],
    table: str,
    policy: AnomalyPolicy,
    exclude_run: str | None = None,
) -> list[Anomaly]:
    """Compare a run's row count and null rates with the previous ``policy.history`` runs."""
    runs = [r for r in dict.fromkeys(past.column("run_id").to_pylist()) if r != exclude_run]
    recent = set(runs[-policy.history :])
    if not recent:
        return []
    series: dict[tuple[str, str | None], list[float]] = {}
    for row in past.to_pylist():
        if row["run_id"] in recent and row["value"] is not None:
            series.setdefault((row["metric"], row["subject"]), []).append(float(row["value"]))
    found = []
    for metric in current:
        previous = series.get((metric.metric, metric.subject))
        if not previous:
            continue
        if metric.metric == "rows_out":
            baseline = statistics.median(previous)
            if baseline > 0 and abs(metric.value / baseline - 1) > policy.row_count_ratio:
                found.append(
                    Anomaly(
                        table,
                        metric.metric,
                        None,
                        metric.value,
                        baseline,
                        f"{table}: {metric.value:.0f} rows out vs a median of {baseline:.0f} over the last "
                        f"{len(previous)} run(s) (more than {policy.row_count_ratio:.0%} off)",
                    )
                )
        elif metric.metric == "null_rate":
            baseline = statistics.fmean(previous)
            if metric.value - baseline > policy.null_rate_delta:
                found.append(
                    Anomaly(
                        table,
                        metric.metric,
                        metric.subject,
                        metric.value,
                        baseline,
                        f"{table}: null rate of {metric.subject} jumped to {metric.value:.1%} from "
                        f"{baseline:.1%} (threshold +{policy.null_rate_delta:.0%})",
                    )
                )
    return found


def metrics_app_id(table: str, version: int) -> str:
    """The Delta app transaction that marks the metrics of one table version as written."""
    return f"metrics:{table}@{version}"


def as_tag(metrics: Sequence[Metric]) -> list[list[Any]]:
    """Metrics as carried in the commit that produced them (compact, JSON-serialisable)."""
    return [[m.metric, m.subject, m.value] for m in metrics]


def _from_tag(items: Sequence[Sequence[Any]]) -> list[Metric]:
    return [Metric(str(name), subject, float(value)) for name, subject, value in items]


def record_metrics(
    storage: Storage, table: str, version: int, run_id: str, job: str, metrics: Sequence[Metric]
) -> bool:
    """Write the metrics of ``table`` at ``version`` once: keyed by (table, version) with a Delta app
    transaction on the metrics table, so a concurrent or repeated run adds nothing. True if written."""
    now = dt.datetime.now(dt.timezone.utc)
    data = pa.Table.from_pylist(
        [
            {
                "recorded_at": now,
                "run_id": run_id,
                "job": job,
                "table": table,
                "table_version": version,
                "metric": m.metric,
                "subject": m.subject,
                "value": m.value,
            }
            for m in metrics
        ],
        schema=METRICS_SCHEMA,
    )
    result = metrics_table(storage).append_arrow(
        data,
        tags={"job": job, "run_id": run_id, "metrics_for": {"table": table, "version": version}},
        app_transactions=[(metrics_app_id(table, version), version)],
    )
    return not result.skipped


def backfill_metrics(storage: Storage, table: Table, last: int = 20) -> list[int]:
    """Write the metrics a commit carries in its tags when the metrics table lacks them (a run killed
    between its commit and its metrics write); the versions repaired."""
    if not table.exists():
        return []
    carried = [(r.version, r.lineage) for r in table.history(last)]
    carried = [(version, tags) for version, tags in carried if tags.metrics is not None]
    if not carried:
        return []
    store = metrics_table(storage)
    done = store.app_versions(metrics_app_id(table.ref, version) for version, _ in carried)
    repaired = []
    for version, tags in reversed(carried):  # oldest first, as they were committed
        if done[metrics_app_id(table.ref, version)] is not None:
            continue
        metrics = _from_tag(tags.metrics or [])
        job, run_id = tags.run.job or "", tags.run.run_id or ""
        if record_metrics(storage, table.ref, version, run_id, job, metrics):
            repaired.append(version)
    return repaired
