"""The commit step every zone job shares: stage target and quarantine rows, prove the row accounting
from the written files, then commit quarantine first and the target second.

Quarantine goes first so that a run killed between the two commits never loses a rejected row;
both commits carry app transactions, so the re-run completes the target without duplicating the
quarantine. Accounting is checked against the staged Parquet footers (what will actually be
committed), not against the plan that produced them.

What a run commits is one ``Publication`` (target and quarantine tables, row accounting, lineage
tags, metrics). Rows are staged either as two frames (``publish``) or, when both sides come from one
frame, in one Spark write split by outcome (``stage_split``, then ``commit_staged``): one scan of the
input writes the accepted rows into the target and the rejected rows, moved afterwards, into quarantine.

A run whose Spark driver JVM died commits nothing more: the JVM is checked right before each
commit (the Python driver outlives a killed JVM, and delta-rs commits without it). A staged write
cannot be incomplete yet look valid: ``stage`` returns only after Spark's job commit, which needs the
JVM; a write cut short leaves files no commit ever references, which ``lakeprep vacuum`` removes.
The run's metrics ride in the target commit's tags and are written once per (table, version).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lake.columns import ACCEPTED, OUTCOME, QUARANTINE_SCHEMA, REJECTED, RUN_ID, SOURCE_FILE, STAGE
from lake.quality.metrics import Metric, as_tag, backfill_metrics, record_metrics
from lake.quality.rules import FAILED_RULES
from lake.runtime import JobRun
from lake.spark_columns import quarantine_payload
from lake.storage import join
from lake.table import CommitResult, StagedWrite, Table, WriteMode
from lake.tags import AppTransaction, CommitTags, ContractRef, InputRef, RowCounts, StageTags

log = logging.getLogger(__name__)


class AccountingError(RuntimeError):
    """Rows in != rows out + rows quarantined: nothing is committed."""


@dataclass(frozen=True)
class Target:
    """Where and how one frame is committed."""

    table: Table
    schema: pa.Schema
    mode: WriteMode = "append"
    partition_by: tuple[str, ...] = ()
    replace_where: Mapping[str, str] | None = None
    app_transactions: tuple[AppTransaction, ...] = ()
    description: str | None = None
    remove: tuple[str, ...] = ()  # current files the commit drops (their rows are re-staged or replaced)


@dataclass(frozen=True)
class Publication:
    """What a run commits, and what its commits say about it.

    ``counts`` must balance and match the staged files. ``quarantined_before`` counts rejected rows a
    killed earlier attempt already committed (they are in ``counts`` but not staged again).
    ``output_facets`` (quality, column lineage) describe the target for the run's lineage events.
    ``metrics`` are committed in the target's tags and written to the metrics table for the version
    this run created (none when the commit was skipped as already done: that version's metrics are
    its own run's)."""

    target: Target
    counts: RowCounts
    inputs: tuple[InputRef, ...]
    contract: ContractRef | None
    quarantine: Target | None = None
    stage_tags: StageTags | None = None
    quarantined_before: int = 0
    output_facets: Mapping[str, Any] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()


@dataclass
class Published:
    target: CommitResult | None
    quarantine: CommitResult | None
    rows: RowCounts
    tags: CommitTags


def quarantine_rows(
    validated: DataFrame, stage: str, run_id: str, record: Column, at: dt.datetime
) -> DataFrame:
    """Rejected rows in the quarantine layout: reasons, source file, the record as JSON text."""
    return validated.select(
        F.lit(stage).alias(STAGE),
        F.lit(run_id).alias(RUN_ID),
        F.col(SOURCE_FILE),
        *quarantine_payload(F.col(FAILED_RULES), record, at),
    )


def quarantine_target(
    table: Table, stage: str, mode: WriteMode, app_transactions: Sequence[AppTransaction]
) -> Target:
    replace_where = {STAGE: stage} if mode == "overwrite" else None
    return Target(table, QUARANTINE_SCHEMA, mode, (STAGE,), replace_where, tuple(app_transactions))


def publish(
    run: JobRun, publication: Publication, rows: DataFrame, rejected: DataFrame | None = None
) -> Published:
    """Stage both frames, verify the counts against the staged files, commit quarantine then target
    (``rejected`` leaves out the rows an earlier attempt committed to quarantine)."""
    target, quarantine, counts = publication.target, publication.quarantine, publication.counts
    _check_balanced(target, counts)
    staged_q = None
    if quarantine is not None and rejected is not None:
        expected_q = counts.rows_quarantined - publication.quarantined_before
        staged_q = quarantine.table.stage(rejected, quarantine.partition_by, run.run.run_id, expected_q)
    staged_t = target.table.stage(rows, target.partition_by, run.run.run_id, counts.rows_out)
    return commit_staged(run, publication, staged_t, staged_q)


def stage_split(
    frame: DataFrame, target: Target, quarantine: Target | None, run_id: str, stage: str
) -> tuple[StagedWrite, StagedWrite | None]:
    """Write accepted and rejected rows in one Spark write, then hand each side to its table.

    ``frame`` holds both layouts side by side (the other side's columns NULL) and ``_outcome``; the
    write is partitioned by it, so each file holds one side. The rejected files (the small side) move
    flat into the quarantine table's ``_stage=<stage>`` folder; the accepted files move up out of
    ``_outcome=accepted/`` within their write folder, so no path holds a folder that is not a
    partition of its table (readers such as polars parse them). Each side's statistics cover only its
    own table's columns; readers resolve columns by name and never see the other side's (all-NULL)
    ones. Without ``quarantine`` (committed by an earlier attempt) the rejected files are deleted."""
    table = target.table
    write_id = table.new_write_id(run_id)
    table.write_parquet(frame, write_id, (OUTCOME, *target.partition_by))
    rejected = join(table.uri, write_id, f"{OUTCOME}={REJECTED}")
    staged_q = None
    if quarantine is None:
        table.storage.delete_dir(rejected)
    else:
        folder = f"{write_id}/{STAGE}={stage}"
        quarantine.table.adopt(rejected, folder, flatten=True)
        staged_q = quarantine.table.staged(folder, quarantine.partition_by, quarantine.schema.names)
    table.adopt(join(table.uri, write_id, f"{OUTCOME}={ACCEPTED}"), write_id)
    return table.staged(write_id, target.partition_by, target.schema.names), staged_q


def _check_balanced(target: Target, counts: RowCounts) -> None:
    if not counts.balanced:
        raise AccountingError(
            f"{target.table.ref}: {counts.rows_in} rows in but {counts.rows_out} out + "
            f"{counts.rows_quarantined} quarantined + {counts.rows_excluded} excluded"
        )


def commit_staged(
    run: JobRun, publication: Publication, staged: StagedWrite, staged_quarantine: StagedWrite | None = None
) -> Published:
    """Check the counts against the staged files, then commit quarantine first and the target second
    (quarantine only when rejected rows were staged)."""
    target, quarantine, counts = publication.target, publication.quarantine, publication.counts
    quarantined_before, metrics = publication.quarantined_before, publication.metrics
    _check_balanced(target, counts)
    staged_t, staged_q = staged, staged_quarantine
    written_q = staged_q.rows if staged_q else 0
    if staged_t.rows != counts.rows_out or written_q + quarantined_before != counts.rows_quarantined:
        raise AccountingError(
            f"{target.table.ref}: measured {counts.rows_out} out / {counts.rows_quarantined} quarantined, "
            f"but the staged files hold {staged_t.rows} / {written_q} (+{quarantined_before} committed before); "
            "nothing was committed"
        )
    tags = run.run.tags(
        inputs=publication.inputs,
        rows=counts,
        contract=publication.contract,
        stage=publication.stage_tags,
        metrics=as_tag(metrics) if metrics else None,
    )
    written = tags.as_dict()
    result_q = None
    if quarantine is not None and staged_q is not None:
        run.require_spark(quarantine.table.ref)
        result_q = quarantine.table.commit(
            staged_q,
            schema=quarantine.schema,
            mode=quarantine.mode,
            tags=written,
            partition_by=quarantine.partition_by,
            replace_where=quarantine.replace_where,
            app_transactions=quarantine.app_transactions,
        )
        run.record_output(
            quarantine.table.ref,
            quarantine.table.uri,
            result_q.version,
            quarantine.schema,
            rows=result_q.rows,
        )
    run.require_spark(target.table.ref)
    result_t = target.table.commit(
        staged_t,
        schema=target.schema,
        mode=target.mode,
        tags=written,
        partition_by=target.partition_by,
        replace_where=target.replace_where,
        app_transactions=target.app_transactions,
        description=target.description,
        remove=target.remove,
    )
    if not result_t.skipped:
        result_t = replace(result_t, version=_own_version(target.table, result_t.version, run.run.run_id))
    if metrics and not result_t.skipped:
        record_metrics(run.storage, target.table.ref, result_t.version, run.run.run_id, run.job, metrics)
    backfill_metrics(run.storage, target.table)
    run.record_output(
        target.table.ref,
        target.table.uri,
        result_t.version,
        target.schema,
        rows=result_t.rows,
        **publication.output_facets,
    )
    log.info(
        "%s v%s: %d in, %d out, %d quarantined",
        target.table.ref,
        result_t.version,
        counts.rows_in,
        counts.rows_out,
        counts.rows_quarantined,
    )
    return Published(result_t, result_q, counts, tags)


def _own_version(table: Table, reported: int, run_id: str) -> int:
    """The version this run's commit created: the table's newest version may already be a concurrent
    run's commit, so look for the newest one carrying this run's id."""
    for record in table.history(10):
        if record.version <= reported and record.lineage.run.run_id == run_id:
            return record.version
    return reported
