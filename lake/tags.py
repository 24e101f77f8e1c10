"""The lineage tags of a commit, typed: the one module that knows their layout in the Delta log.

Every lakeprep commit carries a JSON object under ``commitInfo.lakeprep``: who wrote it (the run),
what it read (inputs at exact versions), where the rows went, the contract it followed and what its
stage adds (clean: the raw version and rule outcomes; featurize: the spec, pipeline and splits;
ingest: the landed files). ``CommitTags.as_dict`` writes that object and ``CommitTags.read`` reads
it back, including tags written before this module existed and commits of foreign writers (bare).
Keys this version does not know are kept as written in ``other``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

LINEAGE_KEY = "lakeprep"  # the commitInfo key holding the tags
_SECRET_NAME = re.compile(
    r"(?i)(secret|password|passwd|token|credential|api[_-]?key|access[_-]?key|salt|session)"
)
_SECRET_VALUE = re.compile(r"(AKIA|ASIA)[0-9A-Z]{16}|://[^/\s:@]+:[^/\s@]+@")
REDACTED = "***"


def redact(params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the values of anything that looks secret, by name or by shape (AWS keys, URL passwords)."""
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if _SECRET_NAME.search(key):
            clean[key] = REDACTED
        elif isinstance(value, dict):
            clean[key] = redact(value)
        elif isinstance(value, str) and _SECRET_VALUE.search(value):
            clean[key] = REDACTED
        else:
            clean[key] = value
    return clean


class AppTransaction(NamedTuple):
    """A Delta app transaction (``txn``): a commit carrying one already recorded adds nothing."""

    app_id: str
    version: int


class ContractRef(NamedTuple):
    """The contract (or feature spec) a commit followed: its name and fingerprint."""

    name: str
    hash: str


@dataclass(frozen=True)
class InputRef:
    """An input table read at an exact version (``files`` when only some landed files were read)."""

    table: str
    uri: str
    version: int | None
    files: int | None = None

    def __str__(self) -> str:
        """``table@version`` (the table alone when no version was pinned)."""
        return self.table if self.version is None else f"{self.table}@{self.version}"


@dataclass(frozen=True)
class RowCounts:
    """Where every input row of a run went. ``rows_excluded`` are rows a spec leaves out on
    purpose (e.g. flights without an arrival have no label), counted so nothing is silent."""

    rows_in: int
    rows_out: int
    rows_quarantined: int = 0
    rows_excluded: int = 0

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.rows_out + self.rows_quarantined + self.rows_excluded

    def as_tag(self) -> dict[str, int]:
        tag = {"in": self.rows_in, "out": self.rows_out, "quarantined": self.rows_quarantined}
        if self.rows_excluded:
            tag["excluded"] = self.rows_excluded
        return tag

    @classmethod
    def from_tag(cls, tag: Mapping[str, Any]) -> RowCounts:
        return cls(
            int(tag.get("in", 0)),
            int(tag.get("out", 0)),
            int(tag.get("quarantined") or 0),
            int(tag.get("excluded") or 0),
        )


@dataclass(frozen=True)
class RunStamp:
    """Which run wrote a commit, with which code (all None on a foreign writer's commit)."""

    job: str | None = None
    run_id: str | None = None
    lakeprep_version: str | None = None
    git_sha: str | None = None
    runtime: str | None = None
    started_at: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleFailure:
    rows: int
    severity: str | None = None


@dataclass(frozen=True)
class CleanTags:
    """What a clean commit adds: the raw version it caught up to and every rule's outcome."""

    raw_version: int
    mode: str  # "incremental" or "full"
    rule_failures: Mapping[str, RuleFailure] = field(default_factory=dict)
    dataset_rules: Mapping[str, bool] = field(default_factory=dict)
    anomalies: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableVersion:
    table: str
    version: int


@dataclass(frozen=True)
class Applied:
    pipeline: str
    where: str | None = None


@dataclass(frozen=True)
class FeatureTags:
    """What a featurize commit adds: the spec, the fitted pipeline and where the examples went."""

    mode: str  # "full", "incremental", "rebuild" or "apply"
    spec: ContractRef
    pipeline: str
    excluded: Mapping[str, int] = field(default_factory=dict)  # rows per exclusion reason
    examples: Mapping[str, int] = field(default_factory=dict)  # rows per split, and "positives"
    rebuilt_from: TableVersion | None = None
    applied: Applied | None = None


@dataclass(frozen=True)
class IngestTags:
    """What an ingest commit adds: the landed files it took and what it left out, and why."""

    source_files: tuple[str, ...] = ()
    replaced_files: tuple[str, ...] = ()
    rows_rewritten: int = 0
    not_ingested: tuple[str, ...] = ()
    drift: tuple[str, ...] = ()


StageTags = CleanTags | FeatureTags | IngestTags

_RUN_KEYS = ("job", "run_id", "lakeprep_version", "git_sha", "runtime", "started_at", "params")
_CLEAN_KEYS = ("raw_version", "rule_failures", "dataset_rules", "anomalies")
_FEATURE_KEYS = ("spec", "pipeline", "excluded", "examples", "rebuilt_from", "applied")
_INGEST_KEYS = ("source_files", "replaced_files", "rows_rewritten", "not_ingested", "drift")
_KNOWN = {
    *_RUN_KEYS,
    "inputs",
    "rows",
    "contract",
    "metrics",
    "mode",
    *_CLEAN_KEYS,
    *_FEATURE_KEYS,
    *_INGEST_KEYS,
}


@dataclass(frozen=True)
class CommitTags:
    """One commit's lineage tags. ``metrics`` is the metrics tag as ``lake.quality.metrics`` writes it."""

    run: RunStamp = field(default_factory=RunStamp)
    inputs: tuple[InputRef, ...] = ()
    rows: RowCounts | None = None
    contract: ContractRef | None = None
    stage: StageTags | None = None
    metrics: list[Any] | None = None
    other: Mapping[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> CleanTags | None:
        return self.stage if isinstance(self.stage, CleanTags) else None

    @property
    def features(self) -> FeatureTags | None:
        return self.stage if isinstance(self.stage, FeatureTags) else None

    @property
    def ingest(self) -> IngestTags | None:
        return self.stage if isinstance(self.stage, IngestTags) else None

    @property
    def rules_checked(self) -> bool:
        return self.clean is not None

    def input_versions(self, zone: str) -> dict[str, int | None]:
        """The version read of each input table of ``zone``, by table name."""
        prefix = f"{zone}/"
        return {i.table[len(prefix) :]: i.version for i in self.inputs if i.table.startswith(prefix)}

    def rewritten_by(self, run: RunStamp, **notes: Any) -> CommitTags:
        """The tags of a commit that rewrites this version's files without changing its rows (a
        compaction): what the table holds is carried (inputs, contract, the stage's raw version, spec
        and pipeline), so the jobs that read it see the same table and lineage the same inputs; what
        the earlier run measured or took (row counts, rule outcomes, metrics, landed files) is not
        repeated; ``notes`` (e.g. ``optimize=...``) say what the rewrite did."""
        carried_other = {k: v for k, v in self.other.items() if k not in notes}
        return CommitTags(
            run=run,
            inputs=self.inputs,
            contract=self.contract,
            stage=_table_facts(self.stage),
            other={**carried_other, **notes},
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON object committed to the Delta log (fails here, not inside the commit, if it is
        not serialisable). The run's params were redacted when the run started; the rest of what a
        stage adds is redacted here, so secrets never reach commit metadata."""
        tags: dict[str, Any] = {
            **{k: getattr(self.run, k) for k in _RUN_KEYS},
            "params": dict(self.run.params),
            "inputs": [asdict(i) for i in self.inputs],
        }
        if self.rows is not None:
            tags["rows"] = self.rows.as_tag()
        if self.contract is not None:
            tags["contract"] = self.contract._asdict()
        added = _stage_tag(self.stage)
        if self.metrics is not None:
            added["metrics"] = self.metrics
        tags.update(redact({**added, **self.other}))
        json.dumps(tags)
        return tags

    @classmethod
    def read(cls, tags: Mapping[str, Any]) -> CommitTags:
        """Tags as committed by any lakeprep version (or ``{}`` for a foreign commit)."""
        rows, contract, params = tags.get("rows"), tags.get("contract"), tags.get("params")
        return cls(
            run=RunStamp(
                **{k: tags.get(k) for k in _RUN_KEYS if k != "params"},
                params=params if isinstance(params, dict) else {},
            ),
            inputs=tuple(
                InputRef(str(i.get("table")), str(i.get("uri", "")), i.get("version"), i.get("files"))
                for i in tags.get("inputs") or []
            ),
            rows=RowCounts.from_tag(rows) if isinstance(rows, dict) else None,
            contract=ContractRef(contract.get("name", ""), contract.get("hash", ""))
            if isinstance(contract, dict)
            else None,
            stage=_read_stage(tags),
            metrics=tags.get("metrics"),
            other={k: v for k, v in tags.items() if k not in _KNOWN},
        )


def _table_facts(stage: StageTags | None) -> StageTags | None:
    """The part of a stage's tags that describes the table's rows rather than the run that wrote them."""
    if isinstance(stage, CleanTags):
        return replace(stage, rule_failures={}, dataset_rules={}, anomalies=())
    if isinstance(stage, FeatureTags):
        return replace(stage, excluded={}, examples={})
    return None  # ingest: the landed files belong to the run that took them


def _stage_tag(stage: StageTags | None) -> dict[str, Any]:
    if isinstance(stage, CleanTags):
        return {
            "raw_version": stage.raw_version,
            "mode": stage.mode,
            "rule_failures": {n: asdict(f) for n, f in stage.rule_failures.items()},
            "dataset_rules": dict(stage.dataset_rules),
            "anomalies": list(stage.anomalies),
        }
    if isinstance(stage, FeatureTags):
        tag: dict[str, Any] = {
            "mode": stage.mode,
            "spec": stage.spec._asdict(),
            "pipeline": stage.pipeline,
            "excluded": dict(stage.excluded),
            "examples": dict(stage.examples),
        }
        if stage.rebuilt_from is not None:
            tag["rebuilt_from"] = asdict(stage.rebuilt_from)
        if stage.applied is not None:
            tag["applied"] = asdict(stage.applied)
        return tag
    if isinstance(stage, IngestTags):
        return {
            "source_files": list(stage.source_files),
            "replaced_files": list(stage.replaced_files),
            "rows_rewritten": stage.rows_rewritten,
            "not_ingested": list(stage.not_ingested),
            "drift": list(stage.drift),
        }
    return {}


def _read_stage(tags: Mapping[str, Any]) -> StageTags | None:
    """The stage part of ``tags``, recognised by the key only that stage writes."""
    if "pipeline" in tags:
        spec = tags.get("spec") or {}
        rebuilt, applied = tags.get("rebuilt_from"), tags.get("applied")
        return FeatureTags(
            mode=str(tags.get("mode", "")),
            spec=ContractRef(spec.get("name", ""), spec.get("hash", "")),
            pipeline=str(tags["pipeline"]),
            excluded={str(k): int(v) for k, v in (tags.get("excluded") or {}).items()},
            examples={str(k): int(v) for k, v in (tags.get("examples") or {}).items()},
            rebuilt_from=TableVersion(rebuilt["table"], int(rebuilt["version"])) if rebuilt else None,
            applied=Applied(applied["pipeline"], applied.get("where")) if applied else None,
        )
    if "raw_version" in tags or "rule_failures" in tags or "dataset_rules" in tags:
        return CleanTags(
            raw_version=int(tags.get("raw_version", -1)),
            mode=str(tags.get("mode", "")),
            rule_failures={
                str(name): RuleFailure(int(v.get("rows", 0)), v.get("severity"))
                if isinstance(v, dict)
                else RuleFailure(int(v))  # tags written before severities were recorded
                for name, v in (tags.get("rule_failures") or {}).items()
                if isinstance(v, dict | int)  # not a redacted one
            },
            dataset_rules={str(k): bool(v) for k, v in (tags.get("dataset_rules") or {}).items()},
            anomalies=tuple(str(a) for a in tags.get("anomalies") or []),
        )
    if "source_files" in tags:
        return IngestTags(
            source_files=tuple(tags.get("source_files") or ()),
            replaced_files=tuple(tags.get("replaced_files") or ()),
            rows_rewritten=int(tags.get("rows_rewritten") or 0),
            not_ingested=tuple(tags.get("not_ingested") or ()),
            drift=tuple(tags.get("drift") or ()),
        )
    return None
