"""Clean, the run: read raw at the planned version, validate and transform, commit cleaned and
quarantine (quarantine first), record metrics and lineage. The decisions are ``plan``'s, the
DataFrame work is ``transform``'s; this module does the I/O between them.
"""

from __future__ import annotations

import datetime as dt
import graphlib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from lake.columns import CLEANED_METADATA, with_metadata
from lake.contracts import Contract, ReferenceRule
from lake.publish import Publication, Target, commit_staged, quarantine_target, stage_split
from lake.quality.metrics import Metric, backfill_metrics, find_anomalies, history, report_metrics
from lake.quality.rules import ReferenceLookup
from lake.quality.validate import (
    ContractViolationError,
    check_dataset_rules,
    flag_quarantined,
    observe_rules,
    raise_on_failures,
)
from lake.runtime import JobRun
from lake.secrets import pii_salt
from lake.table import Table, TableError, WriteMode
from lake.tags import AppTransaction, CleanTags, CommitTags, ContractRef, InputRef, RowCounts, RuleFailure
from lake.zones.clean.plan import NO_NEW_ROWS, NO_RAW, UP_TO_DATE, plan_clean
from lake.zones.clean.transform import (
    all_rules,
    cast_to_contract,
    column_lineage,
    columns_for_context,
    flag_rows,
    needs_salt,
    normalize_text,
    reference_probe,
    split_by_outcome,
    with_salt,
)

log = logging.getLogger("lakeprep.clean")


@dataclass(frozen=True)
class CleanResult:
    """What one dataset's clean did (``skipped`` says why when it did nothing)."""

    dataset: str
    skipped: str | None = None
    mode: str | None = None
    raw_version: int | None = None
    cleaned_version: int | None = None
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    anomalies: tuple[str, ...] = ()


def clean_dataset(
    run: JobRun,
    contract: Contract,
    contracts: dict[str, Contract],
    full_refresh: bool,
    salt: str | None = None,
) -> CleanResult:
    """``salt``: the PII salt, resolved once by ``clean_all`` (else here, when the contract hashes)."""
    storage, spark = run.storage, run.spark
    raw = Table(storage, "raw", contract.name)
    cleaned = Table(storage, "cleaned", contract.name)
    quarantine = Table(storage, "quarantine", contract.name)
    last = cleaned.history(1)[0].lineage if cleaned.exists() else CommitTags()
    plan = plan_clean(
        last, raw.version() if raw.exists() else None, contract.fingerprint, full_refresh, raw.added_since
    )
    if plan.skipped == NO_RAW:
        log.warning("%s: no raw table yet (run ingest first); skipped", contract.name)
        return CleanResult(contract.name, skipped=plan.skipped)
    if plan.skipped == UP_TO_DATE:
        log.info("%s: cleaned is up to date with raw v%s", contract.name, plan.raw_version)
        backfill_metrics(storage, cleaned)  # a run killed after its commit left them in the tags
        return CleanResult(contract.name, skipped=plan.skipped, cleaned_version=cleaned.version())
    if plan.skipped == NO_NEW_ROWS:
        log.info("%s: no new raw rows since raw v%s", contract.name, plan.since)
        return CleanResult(contract.name, skipped=plan.skipped, cleaned_version=cleaned.version())
    raw_version, added = plan.raw_version, plan.files
    assert raw_version is not None
    incremental = plan.mode == "incremental"
    frame = raw.read(spark, version=raw_version, files=added)
    inputs = [InputRef(raw.ref, raw.uri, raw_version, len(added) if added is not None else None)]
    run.record_input(inputs[0], raw.arrow_schema(raw_version))

    references: dict[str, ReferenceLookup] = {}
    for rule in contract.rules:
        if isinstance(rule, ReferenceRule):
            ref_table = Table(storage, "cleaned", rule.dataset)
            if not ref_table.exists():
                raise TableError(
                    f"{contract.name}: rule {rule.name!r} references {ref_table.ref}; clean {rule.dataset} first"
                )
            ref_version = ref_table.version()
            references[rule.name] = ReferenceLookup(
                ref_table.read(spark, ref_version).select(rule.ref_column),
                reference_probe(contract, rule, contracts.get(rule.dataset)),
            )
            ref = InputRef(ref_table.ref, ref_table.uri, ref_version)
            inputs.append(ref)
            run.record_input(ref, ref_table.arrow_schema(ref_version))

    typed = cast_to_contract(normalize_text(frame, contract), contract)
    if needs_salt(contract):
        typed = with_salt(typed, salt if salt is not None else pii_salt(run.args.get("pii-salt-secret")))
    existing = cleaned.read(spark) if incremental and contract.keys else None
    if existing is not None:
        existing = existing.select(*contract.keys)
    rules = all_rules(contract)
    flagged = flag_quarantined(flag_rows(typed, contract, references, existing), rules)
    columns = [c.name for c in contract.published_columns]
    observed, measured = observe_rules(flagged, rules, columns, f"clean:{contract.name}:{run.run.run_id}")

    # Both commits carry the same app transaction: the cleaned version this run will create.
    current = cleaned.version()
    app = AppTransaction(f"clean:{contract.name}", 0 if current is None else current + 1)
    quarantine_done = quarantine.has_committed([app])
    mode: WriteMode = "append" if incremental else "overwrite"
    target = Target(
        cleaned,
        with_metadata(contract.arrow_schema(), CLEANED_METADATA),
        mode,
        tuple(contract.partition_by),
        app_transactions=(app,),
        description=contract.description,
    )
    rejects = None if quarantine_done else quarantine_target(quarantine, "clean", mode, [app])
    # One scan: the write of both outcomes also measures every rule (Spark observe).
    split = split_by_outcome(observed, contract, rules, run.run.run_id, dt.datetime.now(dt.timezone.utc))
    staged, staged_rejects = stage_split(split, target, rejects, run.run.run_id, "clean")
    try:
        report = measured.report()
        raise_on_failures(report, flagged, rules, cleaned.ref, columns_for_context(contract))
        outcomes = check_dataset_rules(contract, report)
        broken = [o.message for o in outcomes if not o.passed and o.severity == "fail"]
        if broken:
            raise ContractViolationError(
                f"{cleaned.ref}: dataset rule(s) failed, nothing was committed:\n  " + "\n  ".join(broken)
            )
        for outcome in outcomes:
            if not outcome.passed:
                log.warning("%s: dataset rule %s: %s", cleaned.ref, outcome.name, outcome.message)
        metrics = report_metrics(report)
        anomalies = find_anomalies(history(storage, cleaned.ref), metrics, cleaned.ref, contract.anomalies)
        for anomaly in anomalies:
            log.warning("anomaly: %s", anomaly.message)
        metrics += [Metric("anomaly", a.subject or a.metric, a.value) for a in anomalies]
        metrics += [Metric("dataset_rule_passed", o.name, float(o.passed)) for o in outcomes]
        publication = Publication(
            target,
            quarantine=rejects,
            counts=RowCounts(report.rows, report.rows_out, report.quarantined),
            inputs=tuple(inputs),
            contract=ContractRef(contract.name, contract.fingerprint),
            stage_tags=CleanTags(
                raw_version=raw_version,
                mode=plan.mode,
                rule_failures={
                    n: RuleFailure(c, report.severities[n]) for n, c in report.failures.items() if c
                },
                dataset_rules={o.name: o.passed for o in outcomes},
                anomalies=tuple(a.message for a in anomalies),
            ),
            quarantined_before=report.quarantined if quarantine_done else 0,
            output_facets={"quality": report.as_dict(), "column_lineage": column_lineage(contract, raw.uri)},
            metrics=tuple(metrics),
        )
        published = commit_staged(run, publication, staged, staged_rejects)
    except Exception:
        cleaned.discard(staged)  # never committed: remove the files now rather than leave orphans
        quarantine.discard(staged_rejects)
        raise
    version = published.target.version if published.target else None
    return CleanResult(
        contract.name,
        mode=plan.mode,
        raw_version=raw_version,
        cleaned_version=version,
        rows_in=report.rows,
        rows_out=report.rows_out,
        rows_quarantined=report.quarantined,
        anomalies=tuple(a.message for a in anomalies),
    )


def dependency_order(names: Sequence[str], contracts: dict[str, Contract]) -> list[str]:
    """Referenced datasets are cleaned before the datasets whose rules look them up."""
    graph = {
        name: {
            r.dataset for r in contracts[name].rules if isinstance(r, ReferenceRule) and r.dataset in names
        }
        for name in names
    }
    return list(graphlib.TopologicalSorter(graph).static_order())


def clean_all(run: JobRun) -> list[CleanResult]:
    """Every ``--dataset`` (default: every contract), referenced datasets first."""
    contracts, names = run.contracts()
    full_refresh = run.args.flag("full-refresh")
    # A missing salt is known before any work: not after the datasets cleaned ahead of the one that hashes.
    hashing = any(needs_salt(contracts[n]) for n in names)
    salt = pii_salt(run.args.get("pii-salt-secret")) if hashing else None
    results = [
        clean_dataset(run, contracts[n], contracts, full_refresh, salt)
        for n in dependency_order(names, contracts)
    ]
    run.summary["datasets"] = [asdict(r) for r in results]
    return results
