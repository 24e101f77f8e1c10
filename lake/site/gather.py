"""Read what the pages show from the lake: Delta logs, the metrics table, contracts and quarantine.

Only Delta metadata and small tables reach this process: commit tags (history), add actions (rows and
files), the metrics table and a few quarantined records. No Spark, no scan of zone data.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lake.columns import QUARANTINE_SCHEMA, QUARANTINED_AT, REASONS, RECORD, RUN_ID, SOURCE_FILE, STAGE
from lake.contracts import Contract
from lake.lineage import redact
from lake.quality.metrics import metrics_table
from lake.site.model import (
    ColumnView,
    ContractView,
    QuarantinedRecord,
    RuleView,
    TableSummary,
    VersionPoint,
)
from lake.storage import Storage
from lake.table import CommitRecord, Table
from lake.tags import CommitTags

SAMPLE_SIZE = 20


# ------------------------------------------------------------------------------------ versions
def version_point(record: CommitRecord) -> VersionPoint:
    """One commit's tags as the pages use them (tags written by lakeprep; foreign commits are bare)."""
    tags = record.lineage
    rows, clean = tags.rows, tags.clean
    return VersionPoint(
        version=record.version,
        timestamp_ms=record.timestamp_ms,
        operation=record.operation,
        job=tags.run.job,
        run_id=tags.run.run_id,
        rows_in=rows.rows_in if rows else None,
        rows_out=rows.rows_out if rows else None,
        quarantined=rows.rows_quarantined if rows else None,
        excluded=rows.rows_excluded or None if rows else None,
        inputs=tuple(str(i) for i in tags.inputs),
        rule_failures={n: f.rows for n, f in clean.rule_failures.items()} if clean else {},
        failed_dataset_rules=tuple(sorted(n for n, ok in clean.dataset_rules.items() if not ok))
        if clean
        else (),
        anomalies=clean.anomalies if clean else (),
        contract_hash=tags.contract.hash if tags.contract else None,
        git_sha=tags.run.git_sha,
        rules_checked=tags.rules_checked,
    )


def versions(table: Table, current: int, cached: Sequence[VersionPoint] = ()) -> list[VersionPoint]:
    """Every commit of ``table`` up to ``current``, oldest first. Commits already in ``cached`` are not
    read again: only the newer ones, plus the newest cached one to check the table is the same (a
    table deleted and rebuilt has other commit times, and is read again whole)."""
    known = [p for p in cached if p.version <= current]
    if known and known[-1].version - known[0].version == len(known) - 1:
        newest = known[-1]
        recent = table.history(current - newest.version + 1)
        same = next((r for r in recent if r.version == newest.version), None)
        if same is not None and same.timestamp_ms == newest.timestamp_ms:
            fresh = sorted((version_point(r) for r in recent if r.version > newest.version), key=_version)
            return known + fresh
    return sorted((version_point(r) for r in table.history()), key=_version)


def _version(point: VersionPoint) -> int:
    return point.version


def summary(table: Table, current: int, points: Sequence[VersionPoint]) -> TableSummary:
    snapshot = table.snapshot(current)
    actions = pa.table(snapshot.get_add_actions(flatten=True))
    counts = actions.column("num_records").to_pylist() if actions.num_rows else []
    rows = (
        int(sum(c or 0 for c in counts)) if all(c is not None for c in counts) else table.row_count(current)
    )
    last = points[-1]
    with_rows = next((p for p in reversed(points) if p.rows_in is not None), None)
    return TableSummary(
        ref=table.ref,
        zone=table.zone,
        name=table.name,
        version=current,
        rows=rows,
        files=actions.num_rows,
        last_commit_ms=last.timestamp_ms,
        last_job=last.job,
        last_run=last.run_id,
        quarantine_share=with_rows.quarantine_share if with_rows else None,
        anomalies=len(with_rows.anomalies) if with_rows else 0,
        failed_dataset_rules=with_rows.failed_dataset_rules if with_rows else (),
    )


# ------------------------------------------------------------------------------------- metrics
class Metrics:
    """The metrics table: one column read up front (rows per table, for the pages' cache keys), the
    null rates of a table read only when its page is rendered."""

    def __init__(self, storage: Storage) -> None:
        store = metrics_table(storage)
        version = store.version()
        self.dataset = None if version is None else store.snapshot(version).to_pyarrow_dataset()
        self._counts: dict[str, int] = {}
        self._null_rates: pa.Table | None = None
        self._lock = threading.Lock()
        if self.dataset is not None:
            tables = self.dataset.to_table(columns=["table"])
            grouped = tables.group_by("table").aggregate([("table", "count")])
            self._counts = dict(
                zip(grouped["table"].to_pylist(), grouped["table_count"].to_pylist(), strict=True)
            )

    def rows(self, ref: str) -> int:
        """How many metric rows the table has: part of a page's cache key (metrics land after a commit)."""
        return int(self._counts.get(ref, 0))

    def null_rates(self, ref: str) -> tuple[str | None, dict[str, float]]:
        """The latest run's null rate per column, and that run."""
        if self.dataset is None or not self.rows(ref):
            return None, {}
        with self._lock:  # every null rate of the lake, read once on the first page that needs one
            if self._null_rates is None:
                self._null_rates = self.dataset.to_table(
                    columns=["recorded_at", "table", "run_id", "subject", "value"],
                    filter=ds.field("metric") == "null_rate",
                )
        everything = self._null_rates
        rates = everything.filter(pc.equal(everything["table"], ref)).sort_by([("recorded_at", "ascending")])
        if not rates.num_rows:
            return None, {}
        run = rates["run_id"][-1].as_py()
        latest = rates.filter(pc.equal(rates["run_id"], run))
        return run, {
            str(s): float(v)
            for s, v in zip(latest["subject"].to_pylist(), latest["value"].to_pylist(), strict=True)
            if v is not None
        }


# ------------------------------------------------------------------------------------ contracts
def _rule_target(rule: Any) -> str:
    if getattr(rule, "expr", None):
        return str(rule.expr)
    if getattr(rule, "columns", None):
        return ", ".join(rule.columns)
    return str(getattr(rule, "column", ""))


def _rule(rule: Any) -> RuleView:
    return RuleView(rule.name, rule.check, _rule_target(rule), rule.severity, rule.description)


def contract_view(contract: Contract, null_rates: dict[str, float]) -> ContractView:
    """The contract as documentation; `pii: drop` columns are counted, never listed."""
    shown = [c for c in contract.columns if c.pii != "drop"]
    return ContractView(
        name=contract.name,
        description=contract.description,
        owner=contract.owner,
        fingerprint=contract.fingerprint,
        keys=tuple(contract.keys),
        partition_by=tuple(contract.partition_by),
        columns=tuple(
            ColumnView(c.name, c.type, c.nullable, c.description, c.pii, null_rates.get(c.name))
            for c in shown
        ),
        rules=tuple(_rule(r) for r in contract.rules),
        dataset_rules=tuple(_rule(r) for r in contract.dataset_rules),
        dropped_columns=len(contract.columns) - len(shown),
    )


def schema_view(
    table: Table, version: int, null_rates: dict[str, float], hidden: Iterable[str]
) -> list[ColumnView]:
    """The Delta schema's columns (descriptions from field comments), without ``hidden`` ones."""
    skip = set(hidden)
    out = []
    for f in table.arrow_schema(version):
        if f.name in skip:
            continue
        comment = (f.metadata or {}).get(b"comment", b"").decode()
        out.append(ColumnView(f.name, str(f.type), f.nullable, comment, "none", null_rates.get(f.name)))
    return out


# ----------------------------------------------------------------------------------- quarantine
def quarantined(
    table: Table, version: int, contract: Contract | None, limit: int = SAMPLE_SIZE
) -> tuple[list[QuarantinedRecord], int]:
    """A PII-safe sample of the newest quarantined records (read from the newest files only) and the
    total. Records of the clean stage are JSON with PII already hashed; only contract columns that are
    not dropped are shown. A verbatim landed line (ingest stage) is shown only when the contract has
    no PII column, since a broken line cannot be hashed column by column."""
    snapshot = table.snapshot(version)
    actions = pa.table(snapshot.get_add_actions(flatten=True))
    if not actions.num_rows:
        return [], 0
    total = int(sum(c or 0 for c in actions.column("num_records").to_pylist()))
    newest = actions.sort_by([("modification_time", "descending")]).to_pylist()[:4]
    dataset = snapshot.to_pyarrow_dataset()
    fragments = {urllib.parse.unquote(f.path): f for f in dataset.get_fragments()}
    columns = QUARANTINE_SCHEMA.names
    rows: list[dict[str, Any]] = []
    for action in newest:
        if len(rows) >= limit:
            break
        path = urllib.parse.unquote(action["path"])
        fragment = next((f for p, f in fragments.items() if p.endswith(path)), None)
        if fragment is None:
            continue
        # partition columns (the stage) live in the add action, not in the file
        partition = {k[len("partition.") :]: v for k, v in action.items() if k.startswith("partition.")}
        physical = [c for c in columns if c in fragment.physical_schema.names]
        for row in fragment.head(limit - len(rows), columns=physical).to_pylist():
            rows.append({**partition, **row})
    return [_record(row, contract) for row in rows], total


def _record(row: dict[str, Any], contract: Contract | None) -> QuarantinedRecord:
    text = row.get(RECORD)
    fields: list[tuple[str, str]] = []
    withheld = None
    allowed = {c.name for c in contract.columns if c.pii != "drop"} if contract else None
    has_pii = bool(contract and any(c.pii in {"hash", "drop"} for c in contract.columns))
    parsed: Any = None
    if text:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    if isinstance(parsed, dict) and (row.get(STAGE) != "ingest" or not has_pii):
        for key, value in parsed.items():
            if allowed is not None and key not in allowed:
                continue
            fields.append((str(key), "" if value is None else str(value)))
    elif text and not has_pii:
        fields.append(("record", str(text)))
    elif text:
        withheld = "landed text withheld: the contract has PII columns and a broken line cannot be hashed"
    at = row.get(QUARANTINED_AT)
    return QuarantinedRecord(
        stage=str(row.get(STAGE, "")),
        run_id=str(row.get(RUN_ID, "")),
        source_file=row.get(SOURCE_FILE),
        reasons=tuple(row.get(REASONS) or ()),
        fields=tuple(fields),
        withheld=withheld,
        quarantined_at=at.isoformat(timespec="seconds") if at is not None else "",
    )


def safe_params(tags: dict[str, Any]) -> dict[str, Any]:
    """Run parameters, redacted again on the way out (they were redacted when recorded)."""
    return redact(CommitTags.read(tags).run.params)
