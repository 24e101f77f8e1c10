"""The plain data the site's pages are built from: gathered once from the lake, rendered without lookups.

Every value here is already safe to show: PII columns marked ``drop`` are left out, hashed ones stay
hashed, parameters are redacted. Templates escape every string, so a landed ``<script>`` is text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VersionPoint:
    """One commit of a table as the charts and the versions list show it."""

    version: int
    timestamp_ms: int
    operation: str
    job: str | None
    run_id: str | None
    rows_in: int | None
    rows_out: int | None
    quarantined: int | None
    excluded: int | None
    inputs: tuple[str, ...]  # "zone/name@version"
    rule_failures: dict[str, int] = field(default_factory=dict)
    failed_dataset_rules: tuple[str, ...] = ()
    anomalies: tuple[str, ...] = ()
    contract_hash: str | None = None
    git_sha: str | None = None
    rules_checked: bool = False  # the commit's job evaluated the contract's rules (clean does, ingest not)

    @property
    def quarantine_share(self) -> float | None:
        if not self.rows_in:
            return None
        return (self.quarantined or 0) / self.rows_in


@dataclass(frozen=True)
class TableSummary:
    """One row of the index: where a table stands now."""

    ref: str
    zone: str
    name: str
    version: int
    rows: int
    files: int
    last_commit_ms: int
    last_job: str | None
    last_run: str | None
    quarantine_share: float | None
    anomalies: int
    failed_dataset_rules: tuple[str, ...]

    @property
    def page(self) -> str:
        return table_page(self.ref)

    @property
    def status(self) -> str:
        """ok / warn / bad at a glance: failed dataset rules and anomalies warn, heavy quarantine is bad."""
        if self.quarantine_share is not None and self.quarantine_share > 0.05:
            return "bad"
        if self.failed_dataset_rules or self.anomalies or (self.quarantine_share or 0) > 0:
            return "warn"
        return "ok"


@dataclass(frozen=True)
class ColumnView:
    name: str
    type: str
    nullable: bool
    description: str
    pii: str  # none / keep / hash (drop columns never get here)
    null_rate: float | None = None


@dataclass(frozen=True)
class RuleView:
    name: str
    check: str
    target: str  # the column(s) or expression the rule reads
    severity: str
    description: str


@dataclass(frozen=True)
class ContractView:
    name: str
    description: str
    owner: str | None
    fingerprint: str
    keys: tuple[str, ...]
    partition_by: tuple[str, ...]
    columns: tuple[ColumnView, ...]
    rules: tuple[RuleView, ...]
    dataset_rules: tuple[RuleView, ...]
    dropped_columns: int  # `pii: drop` columns: counted, never named with values


@dataclass(frozen=True)
class QuarantinedRecord:
    stage: str
    run_id: str
    source_file: str | None
    reasons: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]  # (column, value as text); PII hashed, dropped columns absent
    withheld: str | None = None  # why the record text is not shown (e.g. a raw line with PII in it)
    quarantined_at: str = ""


@dataclass(frozen=True)
class Drift:
    feature: str
    kind: str
    psi: float
    ks: float | None
    drifted: bool


@dataclass(frozen=True)
class FeatureSetView:
    ref: str
    version: int
    spec: str | None
    spec_hash: str | None
    splits: dict[str, int]
    positives: int | None
    excluded: dict[str, int]
    drift_versions: tuple[int, int] | None = None
    drift: tuple[Drift, ...] = ()
    drift_note: str = ""
    psi_threshold: float | None = None
    ks_threshold: float | None = None


@dataclass(frozen=True)
class TablePage:
    summary: TableSummary
    contract: ContractView | None
    schema: tuple[ColumnView, ...]  # the Delta schema, when no contract describes the table
    versions: tuple[VersionPoint, ...]  # oldest first
    null_rates_run: str | None
    quarantine: tuple[QuarantinedRecord, ...]
    quarantine_total: int
    feature_set: FeatureSetView | None = None
    contract_changed: bool = False  # the newest commit was built with another contract than schemas/ holds


@dataclass(frozen=True)
class LineageNode:
    key: str  # "zone/name@version" or "file:<path>"
    label: str
    kind: str  # raw / cleaned / features / ... / landed
    depth: int
    page: str | None = None
    detail: str = ""  # job, run and its OpenLineage state
    run_id: str | None = None


@dataclass(frozen=True)
class LineageGraph:
    root: str  # the table ref
    version: int
    nodes: tuple[LineageNode, ...]
    edges: tuple[tuple[str, str], ...]  # (input, output)
    landed_files: tuple[str, ...]
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # run id -> OpenLineage states

    @property
    def page(self) -> str:
        return lineage_page(self.root)


@dataclass(frozen=True)
class ClassAccuracy:
    label: str
    machine_items: int
    human_items: int
    checked: int  # items with both a machine and a human label
    agreeing: int

    @property
    def accuracy(self) -> float | None:
        return self.agreeing / self.checked if self.checked else None


@dataclass(frozen=True)
class CampaignView:
    name: str
    source: str
    source_version: int | None
    backend: str
    target_accuracy: float | None
    pool_size: int
    human_items: int
    human_annotations: int
    machine_items: int
    rounds: int
    finished: str | None
    currency: str
    cost_per_label: float
    spent: float  # human annotations so far x cost per label
    machine_value: float  # what the machine labels would have cost by hand (the saving so far)
    measured_accuracy: tuple[tuple[int, float | None, float | None], ...]  # (round, accuracy, lower bound)
    per_class: tuple[ClassAccuracy, ...]

    @property
    def coverage(self) -> float:
        return (self.human_items + self.machine_items) / self.pool_size if self.pool_size else 0.0


def slug(ref: str) -> str:
    """A file name for a table ref (``cleaned/flights`` -> ``cleaned-flights``)."""
    return ref.replace("/", "-")


def table_page(ref: str) -> str:
    return f"tables/{slug(ref)}.html"


def lineage_page(ref: str) -> str:
    return f"lineage/{slug(ref)}.html"
