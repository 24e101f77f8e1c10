"""Ingest, the run: list landing, probe and read the files the plan picks, commit quarantine then raw in
one publish (a changed file's earlier rows leave raw in the same commit), record each file's outcome
in the ledger, the metrics and lineage. The decisions are ``plan``'s, the DataFrame work is
``transform``'s, the landing folder's reads are ``landing``'s; this module does the I/O between them.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake.columns import RAW_METADATA, SOURCE_FILE, with_metadata
from lake.contracts import Contract
from lake.publish import Publication, Target, publish, quarantine_rows, quarantine_target
from lake.quality.metrics import Metric, backfill_metrics
from lake.runtime import JobFailedError, JobRun
from lake.spark import persist_on_disk
from lake.spark_columns import source_file_column
from lake.storage import join
from lake.table import Table
from lake.tags import AppTransaction, ContractRef, IngestTags, InputRef, RowCounts
from lake.zones.ingest.landed import BlockCount, DriftError, Outcome, landing_uri
from lake.zones.ingest.landing import discover, probe, read_landed
from lake.zones.ingest.ledger import ledger_entries, record_outcomes
from lake.zones.ingest.plan import (
    IngestPlan,
    per_file,
    plan_commit,
    plan_ingest,
    plan_reads,
    transactions,
)
from lake.zones.ingest.transform import (
    BLOCK,
    block_counts,
    quarantine_record,
    rejected,
    with_record_numbers,
    with_run_columns,
    without_record_numbers,
)

log = logging.getLogger("lakeprep.ingest")


@dataclass(frozen=True)
class IngestResult:
    """What one dataset's ingest did: the landed files it found and decided, the rows it committed."""

    dataset: str
    mode: str
    files_landed: int = 0
    files_new: int = 0
    files_changed: int = 0
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    raw_version: int | None = None
    files: dict[str, str] = field(default_factory=dict)  # landed file -> the status this run gave it
    held_back: list[str] = field(default_factory=list)  # "file: why" of each file held back
    unreadable: list[str] = field(default_factory=list)


def ingest_dataset(run: JobRun, contract: Contract) -> IngestResult:
    """Ingest one dataset's landed files as the plan says; every file decided is named in the ledger."""
    storage = run.storage
    raw = Table(storage, "raw", contract.name)
    files, skipped = discover(storage, contract.name, contract)
    for reason in skipped:
        log.warning("skipping landed file %s", reason)
    recorded = raw.app_versions(app for f in files for app in (f.app_id, f.content_app_id))
    plan = plan_ingest(files, recorded, ledger_entries(storage, contract.name), contract, raw.exists())
    for line in plan.still:
        log.warning("%s", line)
    for landed in plan.changed:
        log.warning(
            "%s: content changed since it was ingested: its rows in raw are replaced", landed.relative
        )
    outcomes = list(plan.decided)  # decided by this run, recorded in the ledger
    counts, version = RowCounts(0, 0, 0), None
    if plan.pending:
        counts, version = _ingest_files(run, contract, plan, recorded, outcomes)
    else:
        log.info("%s: %s (%d already ingested)", contract.name, plan.skipped, len(files))
        backfill_metrics(storage, raw)  # a run killed after its commit left them in its tags
    record_outcomes(storage, run.run.run_id, contract, outcomes, version)
    _log_outcomes(outcomes)
    return IngestResult(
        contract.name,
        plan.mode,
        files_landed=len(files),
        files_new=plan.files_new,
        files_changed=len(plan.changed),
        rows_in=counts.rows_in,
        rows_out=counts.rows_out,
        rows_quarantined=counts.rows_quarantined,
        raw_version=version,
        files={o.file.relative: o.status for o in outcomes},
        held_back=[o.line() for o in outcomes if o.status == "held_back"],
        unreadable=[o.line() for o in outcomes if o.status == "unreadable"],
    )


def _log_outcomes(outcomes: list[Outcome]) -> None:
    """A line per file decided, except plainly ingested files when there are many (one line for them)."""
    plain = [o for o in outcomes if o.status == "ingested" and o.reason is None]
    shown = outcomes
    if len(plain) > 20:  # an image folder: thousands of files, one line
        log.info("ingested %d files (%s ... %s)", len(plain), plain[0].file.relative, plain[-1].file.relative)
        shown = [o for o in outcomes if o.status != "ingested" or o.reason is not None]
    for outcome in shown:
        level = logging.INFO if outcome.status == "ingested" else logging.WARNING
        log.log(level, "%s: %s", outcome.status.replace("_", " "), outcome.line())


def _ingest_files(
    run: JobRun,
    contract: Contract,
    plan: IngestPlan,
    recorded: dict[str, int | None],
    outcomes: list[Outcome],
) -> tuple[RowCounts, int | None]:
    """Probe, read and commit the pending files; append each file's outcome. The counts and the raw
    version committed (None when nothing was)."""
    storage, spark = run.storage, run.spark
    raw = Table(storage, "raw", contract.name)
    quarantine = Table(storage, "quarantine", contract.name)
    with ThreadPoolExecutor(max_workers=16) as pool:
        probes = list(pool.map(lambda f: probe(storage, f, contract), plan.pending))
    reads = plan_reads(probes, contract)
    for warning in reads.drift.warnings:
        log.warning("%s", warning)
    outcomes += reads.outcomes
    if not reads.readable:
        return RowCounts(0, 0, 0), None

    moment = dt.datetime.now(dt.timezone.utc)
    frame = persist_on_disk(
        with_run_columns(read_landed(spark, reads.readable, contract), moment, run.run.run_id)
    )
    try:
        blocks = [
            BlockCount(
                r[SOURCE_FILE],
                r[BLOCK],
                int(r["rows"] or 0),
                int(r["rejected"] or 0),
                int(r["undecodable"] or 0),
                int(r["with_extra"] or 0),
                r["first"],
            )
            for r in block_counts(frame).collect()
        ]
        counted = per_file(blocks)
        kept, left_out = plan_commit(reads.readable, counted, contract)
        outcomes += left_out
        if not kept:
            return RowCounts(0, 0, 0), None
        for landed_file in kept:
            if counted[landed_file.uri].undecodable:
                log.warning(
                    "%s: %d record(s) not valid %s, quarantined with their bytes (base64)%s",
                    landed_file.relative,
                    counted[landed_file.uri].undecodable,
                    contract.source.encoding,
                    "; declare source.encoding if the file has another"
                    if contract.source.encoding == "UTF-8"
                    else "",
                )
        uris = [f.uri for f in kept]
        frame_kept = frame.where(F.col(SOURCE_FILE).isin(uris)) if len(kept) < len(reads.readable) else frame
        rows_in = sum(counted[u].rows for u in uris)
        rejected_total = sum(counted[u].rejected for u in uris)
        counts = RowCounts(rows_in, rows_in - rejected_total, rejected_total)

        # One app transaction per file (exactly once) and one for its content (a changed file is new).
        txns: dict[str, tuple[AppTransaction, AppTransaction]] = {
            f.uri: transactions(f, recorded) for f in kept
        }
        # Files whose rejected rows a killed earlier attempt already committed to quarantine.
        # (One log read for all: only a file with a recorded transaction is checked further.)
        seen = quarantine.app_versions(app for u in uris for app, _ in txns[u])
        done = [
            u
            for u in uris
            if any(seen[app] is not None for app, _ in txns[u]) and quarantine.has_committed(txns[u])
        ]
        before = sum(counted[u].rejected for u in done)
        bad = frame_kept.where(rejected() & ~F.col(SOURCE_FILE).isin(done))
        numbered = (
            with_record_numbers(bad, blocks)
            if any(counted[u].undecodable for u in uris)
            else without_record_numbers(bad)
        )
        rejected_rows = quarantine_rows(
            numbered, "ingest", run.run.run_id, quarantine_record(contract.source.encoding), moment
        )
        raw_columns = [c.name for c in contract.columns] + RAW_METADATA.names
        rows = frame_kept.where(~rejected()).select(*raw_columns)
        # A changed file's earlier rows leave raw in the same commit: the raw files holding them are
        # rewritten without them (their other rows are staged again, unchanged).
        replaced_files = [f for f in plan.changed if f in kept]
        carried, rewritten = _rows_to_keep(spark, raw, [f.uri for f in replaced_files])
        carried_rows = carried.count() if carried is not None else 0
        if carried is not None:
            rows = rows.unionByName(carried.select(*raw_columns))
        metrics = [
            Metric("rows_in", None, counts.rows_in),
            Metric("rows_out", None, counts.rows_out),
            Metric("rows_quarantined", None, counts.rows_quarantined),
            Metric("files_ingested", None, len(kept)),
            Metric("files_replaced", None, len(replaced_files)),
            Metric("files_unreadable", None, sum(o.status == "unreadable" for o in outcomes)),
            Metric("files_held_back", None, sum(o.status == "held_back" for o in outcomes)),
        ]
        publication = Publication(
            target=Target(
                raw,
                with_metadata(contract.text_schema(), RAW_METADATA),
                "append",
                app_transactions=tuple(t for u in uris for t in txns[u]),
                description=f"raw {contract.name}: landed text, {contract.description}",
                remove=tuple(rewritten),
            ),
            quarantine=quarantine_target(
                quarantine, "ingest", "append", [t for u in uris if u not in done for t in txns[u]]
            ),
            counts=RowCounts(
                counts.rows_in + carried_rows, counts.rows_out + carried_rows, counts.rows_quarantined
            ),
            inputs=(
                InputRef(f"landing/{contract.name}", landing_uri(storage, contract.name), None, len(kept)),
            ),
            contract=ContractRef(contract.name, contract.fingerprint),
            stage_tags=IngestTags(
                source_files=tuple(f.relative for f in kept)[:10_000],
                replaced_files=tuple(f.relative for f in replaced_files),
                rows_rewritten=carried_rows,
                not_ingested=tuple(o.line() for o in outcomes if o.status != "ingested"),
                drift=tuple(reads.drift.warnings),
            ),
            quarantined_before=before,
            metrics=tuple(metrics),
        )
        published = publish(run, publication, rows, rejected_rows)
    finally:
        frame.unpersist()
    version = published.target.version if published.target else None
    for landed_file in kept:
        note = "replaced its earlier rows" if landed_file in plan.changed else None
        outcomes.append(Outcome(landed_file, "ingested", note, counted[landed_file.uri].rows))
    return counts, version


def _rows_to_keep(spark: SparkSession, raw: Table, replaced: list[str]) -> tuple[DataFrame | None, list[str]]:
    """The raw files holding rows of the ``replaced`` landed files, and those files' other rows."""
    if not replaced or not raw.exists():
        return None, []
    paths = [join(raw.uri, f) for f in raw.files()]
    located = (
        spark.read.parquet(*paths)
        .where(F.col(SOURCE_FILE).isin(replaced))
        .select(source_file_column().alias("path"))
        .distinct()
        .collect()
    )
    base = raw.uri.rstrip("/") + "/"
    rewritten = sorted(row["path"][len(base) :] for row in located if row["path"].startswith(base))
    if not rewritten:
        return None, []
    return raw.read(spark, files=rewritten).where(~F.col(SOURCE_FILE).isin(replaced)), rewritten


def ingest_all(run: JobRun) -> list[IngestResult]:
    """Every ``--dataset`` (default: every contract). Files held back or unreadable fail the run after
    the others are ingested, each named once."""
    contracts, names = run.contracts()
    results = [ingest_dataset(run, contracts[name]) for name in names]
    run.summary["datasets"] = [asdict(r) for r in results]
    held_back = [line for r in results for line in r.held_back]
    unreadable = [line for r in results for line in r.unreadable]
    if held_back or unreadable:
        parts = [("held back", held_back), ("unreadable", unreadable)]
        message = "landed file(s) not ingested (the others were; each is named once):" + "".join(
            f"\n {title}:\n  " + "\n  ".join(lines) for title, lines in parts if lines
        )
        raise (DriftError if held_back else JobFailedError)(message)
    return results
