"""Ingest landed files (CSV, JSON lines, Parquet; images, any binary file, text documents) into the raw
zone, each file's content exactly once.

Raw keeps the landed text losslessly, plus `_source_file`, `_ingested_at`, `_run_id` and unknown
columns in `_extra`. A content dataset (source.formats image, binary or text) gets one row per
file: its URI, path, size, SHA-256 and content type, width and height for images, or the document's
text. Broken records, images that do not decode and text that does not decode go to the quarantine
table with their file. A file re-delivered with new content replaces its earlier rows in raw (or is held back
under `source.on_changed_file: reject`). A file that drifts from the contract or cannot be read is
held back while the others are ingested; the run names it once (in `metrics/landing_files`) and
fails; later runs only warn until the file or the contract changes. Empty files are recorded, not errors.

    spark-submit jobs/ingest.py --lake .lake [--dataset flights,weather]
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from lake.contracts import Contract
from lake.lineage import InputRef, RowCounts
from lake.publish import Target, publish, quarantine_rows, quarantine_target
from lake.quality.metrics import Metric, backfill_metrics
from lake.quality.rules import FAILED_RULES
from lake.runtime import JobFailedError, JobRun
from lake.spark import persist_on_disk
from lake.storage import join
from lake.table import Table
from lake.tags import AppTransaction, ContractRef, IngestTags
from lake.zones.common import (
    CORRUPT,
    EXTRA,
    INGESTED_AT,
    RAW_METADATA,
    RUN_ID,
    SOURCE_FILE,
    source_file_column,
    timestamp_literal,
    with_metadata,
)
from lake.zones.ingest import (
    BLOCK,
    POSITION,
    REJECT_REASON,
    UNDECODABLE,
    DriftError,
    LandedFile,
    Outcome,
    check_drift,
    discover,
    landing_uri,
    ledger_entries,
    probe,
    read_landed,
    record_outcomes,
    still_known,
)

log = logging.getLogger("lakeprep.ingest")

OPTIONS = {"dataset": "comma-separated datasets to ingest (default: every contract)"}
MALFORMED = "malformed_record"
UNDECODABLE_RECORD = "undecodable_record"


def ingest_dataset(run: JobRun, contract: Contract) -> dict[str, Any]:
    storage = run.storage
    raw = Table(storage, "raw", contract.name)
    files, skipped = discover(storage, contract.name, contract)
    for reason in skipped:
        log.warning("skipping landed file %s", reason)
    recorded = raw.app_versions(app for f in files for app in (f.app_id, f.content_app_id))
    ledger = ledger_entries(storage, contract.name)
    outcomes: list[Outcome] = []  # decided by this run, recorded in the ledger
    pending: list[LandedFile] = []
    changed: list[LandedFile] = []
    for landed in files:
        state = _state(landed, recorded)
        if state == "unchanged":
            continue
        entry = ledger.get(landed.relative)
        if entry is not None and still_known(entry, landed, contract):
            log.warning(
                "%s: still %s since run %s: %s",
                landed.relative,
                entry["status"].replace("_", " "),
                entry["run_id"],
                entry["reason"],
            )
            continue
        if state == "changed":
            if contract.source.on_changed_file == "reject":
                outcomes.append(Outcome(landed, "held_back", CHANGED_REJECTED))
                continue
            changed.append(landed)
        pending.append(landed)
    for landed in changed:
        log.warning(
            "%s: content changed since it was ingested: its rows in raw are replaced", landed.relative
        )
    summary: dict[str, Any] = {
        "dataset": contract.name,
        "files_landed": len(files),
        "files_new": len(pending) - len(changed),
        "files_changed": len(changed),
    }
    counts, version = RowCounts(0, 0, 0), None
    if pending:
        counts, version = _ingest_files(run, contract, pending, changed, recorded, outcomes)
    else:
        log.info("%s: no new landed files (%d already ingested)", contract.name, len(files))
        backfill_metrics(storage, raw)  # a run killed after its commit left them in its tags
    record_outcomes(storage, run.run.run_id, contract, outcomes, version)
    plain = [o for o in outcomes if o.status == "ingested" and o.reason is None]
    shown = outcomes
    if len(plain) > 20:  # an image folder: thousands of files, one line
        log.info("ingested %d files (%s ... %s)", len(plain), plain[0].file.relative, plain[-1].file.relative)
        shown = [o for o in outcomes if o.status != "ingested" or o.reason is not None]
    for outcome in shown:
        level = logging.INFO if outcome.status == "ingested" else logging.WARNING
        log.log(level, "%s: %s", outcome.status.replace("_", " "), outcome.line())
    return summary | {
        "rows_in": counts.rows_in,
        "rows_out": counts.rows_out,
        "rows_quarantined": counts.rows_quarantined,
        "raw_version": version,
        "files": {o.file.relative: o.status for o in outcomes},
        "held_back": [o.line() for o in outcomes if o.status == "held_back"],
        "unreadable": [o.line() for o in outcomes if o.status == "unreadable"],
    }


CHANGED_REJECTED = (
    "its content changed since it was ingested; raw keeps the earlier rows (source.on_changed_file: reject)"
)


def _state(landed: LandedFile, recorded: dict[str, int | None]) -> str:
    """new, unchanged (this content is in raw) or changed (raw holds an earlier content of the name).

    Files ingested before content identities were recorded count as unchanged while their
    modification time is the one recorded."""
    version = recorded[landed.app_id]
    if version is None:
        return "new"
    content = recorded[landed.content_app_id]
    if content == landed.content_version or (content is None and version == landed.mtime_ms):
        return "unchanged"
    return "changed"


def _ingest_files(
    run: JobRun,
    contract: Contract,
    pending: list[LandedFile],
    changed: list[LandedFile],
    recorded: dict[str, int | None],
    outcomes: list[Outcome],
) -> tuple[RowCounts, int | None]:
    """Probe, read and commit the pending files; append each file's outcome. The counts and the raw
    version committed (None when nothing was)."""
    storage, spark = run.storage, run.spark
    raw = Table(storage, "raw", contract.name)
    quarantine = Table(storage, "quarantine", contract.name)
    with ThreadPoolExecutor(max_workers=16) as pool:
        probes = list(pool.map(lambda f: probe(storage, f, contract), pending))
    for item in probes:
        if item.error:
            outcomes.append(Outcome(item.file, "unreadable", item.error))
        elif item.empty:
            outcomes.append(Outcome(item.file, "empty", "no bytes or only blank lines"))
        elif item.held_back:
            outcomes.append(Outcome(item.file, "held_back", item.held_back))
    candidates = [p for p in probes if p.error is None and not p.empty and p.held_back is None]
    drift = check_drift(candidates, contract)
    for warning in drift.warnings:
        log.warning("%s", warning)
    outcomes += [
        Outcome(p.file, "held_back", drift.held_back[p.file.relative])
        for p in candidates
        if p.file.relative in drift.held_back
    ]
    readable = [p for p in candidates if p.file.relative not in drift.held_back]
    if not readable:
        return RowCounts(0, 0, 0), None

    moment = dt.datetime.now(dt.timezone.utc)
    landed = read_landed(spark, readable, contract)
    malformed = F.col(CORRUPT).isNotNull()
    undecodable = F.col(UNDECODABLE).isNotNull()
    rejected_row = malformed | undecodable
    frame = landed.select(
        "*",
        timestamp_literal(moment).alias(INGESTED_AT),
        F.lit(run.run.run_id).alias(RUN_ID),
        F.filter(
            F.array(
                F.when(malformed, F.coalesce(F.col(REJECT_REASON), F.lit(MALFORMED))),
                F.when(undecodable, F.lit(UNDECODABLE_RECORD)),
            ),
            lambda reason: reason.isNotNull(),
        ).alias(FAILED_RULES),
    )
    frame = persist_on_disk(frame)
    try:
        # One aggregation: row, rejected, undecodable and unknown-column counts per file split.
        per_block = (
            frame.groupBy(SOURCE_FILE, BLOCK)
            .agg(
                F.count(F.lit(1)).alias("rows"),
                F.sum(rejected_row.cast("long")).alias("rejected"),
                F.sum(undecodable.cast("long")).alias("undecodable"),
                F.sum(F.col(EXTRA).isNotNull().cast("long")).alias("with_extra"),
                F.min(POSITION).alias("first"),
            )
            .collect()
        )
        per_file = _per_file(per_block)
        kept = []
        for item in readable:
            found = per_file.get(item.file.uri)
            if found is None:
                outcomes.append(Outcome(item.file, "empty", "no records (a header only)"))
            elif contract.drift.new_columns == "fail" and found["with_extra"]:
                # CSV and Parquet headers were checked up front; JSON keys are only known row by row.
                reason = f"{found['with_extra']} record(s) with keys not in contract {contract.name} (drift.new_columns: fail)"
                outcomes.append(Outcome(item.file, "held_back", reason))
            else:
                kept.append(item.file)
        if not kept:
            return RowCounts(0, 0, 0), None
        for landed_file in kept:
            if per_file[landed_file.uri]["undecodable"]:
                log.warning(
                    "%s: %d record(s) not valid %s, quarantined with their bytes (base64)%s",
                    landed_file.relative,
                    per_file[landed_file.uri]["undecodable"],
                    contract.source.encoding,
                    "; declare source.encoding if the file has another"
                    if contract.source.encoding == "UTF-8"
                    else "",
                )
        uris = [f.uri for f in kept]
        frame_kept = frame.where(F.col(SOURCE_FILE).isin(uris)) if len(kept) < len(readable) else frame
        rows_in = sum(per_file[u]["rows"] for u in uris)
        rejected_total = sum(per_file[u]["rejected"] for u in uris)
        counts = RowCounts(rows_in, rows_in - rejected_total, rejected_total)

        # One app transaction per file (exactly once) and one for its content (a changed file is new).
        txns = {f.uri: _transactions(f, recorded) for f in kept}
        # Files whose rejected rows a killed earlier attempt already committed to quarantine.
        # (One log read for all: only a file with a recorded transaction is checked further.)
        seen = quarantine.app_versions(app for u in uris for app, _ in txns[u])
        done = [
            u
            for u in uris
            if any(seen[app] is not None for app, _ in txns[u]) and quarantine.has_committed(txns[u])
        ]
        before = sum(per_file[u]["rejected"] for u in done)
        bad = frame_kept.where(rejected_row & ~F.col(SOURCE_FILE).isin(done))
        numbered = (
            _with_record_numbers(spark, bad, per_block)
            if any(per_file[u]["undecodable"] for u in uris)
            else bad.withColumn("_record_number", F.lit(None).cast("long"))
        )
        rejected = quarantine_rows(
            numbered,
            "ingest",
            run.run.run_id,
            F.when(
                undecodable,
                F.to_json(
                    F.struct(
                        F.col("_record_number").alias("record"),
                        F.lit(contract.source.encoding).alias("encoding"),
                        F.col(f"{UNDECODABLE}.base64").alias("base64"),
                        F.col(f"{UNDECODABLE}.fields_base64").alias("fields_base64"),
                    )
                ),
            ).otherwise(F.col(CORRUPT)),
            moment,
        )
        raw_columns = [c.name for c in contract.columns] + RAW_METADATA.names
        rows = frame_kept.where(~rejected_row).select(*raw_columns)
        # A changed file's earlier rows leave raw in the same commit: the raw files holding them are
        # rewritten without them (their other rows are staged again, unchanged).
        replaced = [f.uri for f in changed if f in kept]
        carried, rewritten = _rows_to_keep(spark, raw, replaced)
        carried_rows = carried.count() if carried is not None else 0
        if carried is not None:
            rows = rows.unionByName(carried.select(*raw_columns))
        metrics = [
            Metric("rows_in", None, counts.rows_in),
            Metric("rows_out", None, counts.rows_out),
            Metric("rows_quarantined", None, counts.rows_quarantined),
            Metric("files_ingested", None, len(kept)),
            Metric("files_replaced", None, len(replaced)),
            Metric("files_unreadable", None, sum(o.status == "unreadable" for o in outcomes)),
            Metric("files_held_back", None, sum(o.status == "held_back" for o in outcomes)),
        ]
        published = publish(
            run,
            target=Target(
                raw,
                with_metadata(contract.text_schema(), RAW_METADATA),
                "append",
                app_transactions=tuple(t for u in uris for t in txns[u]),
                description=f"raw {contract.name}: landed text, {contract.description}",
                remove=tuple(rewritten),
            ),
            rows=rows,
            quarantine=quarantine_target(
                quarantine, "ingest", "append", [t for u in uris if u not in done for t in txns[u]]
            ),
            rejected=rejected,
            counts=RowCounts(
                counts.rows_in + carried_rows, counts.rows_out + carried_rows, counts.rows_quarantined
            ),
            inputs=[
                InputRef(f"landing/{contract.name}", landing_uri(storage, contract.name), None, len(kept))
            ],
            contract=ContractRef(contract.name, contract.fingerprint),
            stage_tags=IngestTags(
                source_files=tuple(f.relative for f in kept)[:10_000],
                replaced_files=tuple(f.relative for f in changed if f in kept),
                rows_rewritten=carried_rows,
                not_ingested=tuple(o.line() for o in outcomes if o.status != "ingested"),
                drift=tuple(drift.warnings),
            ),
            quarantined_before=before,
            metrics=metrics,
        )
    finally:
        frame.unpersist()
    version = published.target.version if published.target else None
    for landed_file in kept:
        found = per_file[landed_file.uri]
        note = "replaced its earlier rows" if landed_file in changed else None
        outcomes.append(Outcome(landed_file, "ingested", note, found["rows"]))
    return counts, version


def _transactions(
    landed: LandedFile, recorded: dict[str, int | None]
) -> tuple[AppTransaction, AppTransaction]:
    """The file's app transaction (its modification time, or one past the version recorded for an
    earlier content, so it always moves forward) and its content identity."""
    earlier = recorded[landed.app_id]
    version = max(landed.mtime_ms, -1 if earlier is None else earlier + 1)
    content = AppTransaction(landed.content_app_id, landed.content_version)
    return AppTransaction(landed.app_id, version), content


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


def _per_file(per_block: list[Row]) -> dict[str, dict[str, int]]:
    """Per-split counts summed per landed file."""
    totals: dict[str, dict[str, int]] = {}
    for row in per_block:
        into = totals.setdefault(
            row[SOURCE_FILE], dict.fromkeys(("rows", "rejected", "undecodable", "with_extra"), 0)
        )
        for key in into:
            into[key] += int(row[key] or 0)
    return totals


def _with_record_numbers(spark: SparkSession, rows: DataFrame, per_block: list[Row]) -> DataFrame:
    """``_record_number``: each row's 1-based rank among its file's records (in file order), from the
    row's position within its split and the record counts of the file's earlier splits."""
    bases: list[tuple[str, int, int]] = []
    seen: dict[str, int] = {}
    for row in sorted(per_block, key=lambda r: (r[SOURCE_FILE], r[BLOCK] or 0)):
        if row["first"] is None:  # Parquet: records have no position
            continue
        before = seen.get(row[SOURCE_FILE], 0)
        bases.append((row[SOURCE_FILE], row[BLOCK], before - row["first"] + 1))
        seen[row[SOURCE_FILE]] = before + row["rows"]
    schema = f"{SOURCE_FILE} string, {BLOCK} long, _base long"
    base = F.broadcast(spark.createDataFrame(bases, schema))
    numbered = rows.join(base, [SOURCE_FILE, BLOCK], "left")
    return numbered.withColumn("_record_number", F.col(POSITION) + F.col("_base"))


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    with JobRun("ingest", argv, OPTIONS, __doc__ or "") as run:
        contracts, names = run.contracts()
        results = [ingest_dataset(run, contracts[name]) for name in names]
        run.summary["datasets"] = results
        held_back = [line for r in results for line in r["held_back"]]
        unreadable = [line for r in results for line in r["unreadable"]]
        if held_back or unreadable:
            parts = [("held back", held_back), ("unreadable", unreadable)]
            message = "landed file(s) not ingested (the others were; each is named once):" + "".join(
                f"\n {title}:\n  " + "\n  ".join(lines) for title, lines in parts if lines
            )
            raise (DriftError if held_back else JobFailedError)(message)
        return results


if __name__ == "__main__":
    main()
