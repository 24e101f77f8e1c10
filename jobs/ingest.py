"""Ingest landed files (CSV, JSON lines, Parquet) into the raw zone, each file exactly once.

Raw keeps the landed text losslessly, plus `_source_file`, `_ingested_at`, `_run_id` and unknown
columns in `_extra`. Broken records go to the quarantine table with their file; an unreadable
file is named in an error while the other files are still ingested.

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
from lake.quality.metrics import Metric, append_metrics
from lake.quality.rules import FAILED_RULES
from lake.runtime import JobFailedError, JobRun
from lake.spark import persist_on_disk
from lake.table import Table
from lake.zones.common import (
    CORRUPT,
    EXTRA,
    INGESTED_AT,
    RAW_METADATA,
    RUN_ID,
    SOURCE_FILE,
    timestamp_literal,
    with_metadata,
)
from lake.zones.ingest import (
    BLOCK,
    POSITION,
    UNDECODABLE,
    DriftError,
    check_drift,
    discover,
    landing_uri,
    probe,
    read_landed,
)

log = logging.getLogger("lakeprep.ingest")

OPTIONS = {"dataset": "comma-separated datasets to ingest (default: every contract)"}
MALFORMED = "malformed_record"
UNDECODABLE_RECORD = "undecodable_record"


def ingest_dataset(run: JobRun, contract: Contract) -> dict[str, Any]:
    storage, spark = run.storage, run.spark
    raw = Table(storage, "raw", contract.name)
    quarantine = Table(storage, "quarantine", contract.name)
    files, skipped = discover(storage, contract.name, contract)
    for reason in skipped:
        log.warning("skipping landed file %s", reason)
    ingested = raw.app_versions(f.app_id for f in files)
    pending = [f for f in files if ingested[f.app_id] is None]
    summary: dict[str, Any] = {
        "dataset": contract.name,
        "files_landed": len(files),
        "files_new": len(pending),
    }
    if not pending:
        log.info("%s: no new landed files (%d already ingested)", contract.name, len(files))
        return summary | {"rows_in": 0, "rows_out": 0, "rows_quarantined": 0, "unreadable": []}

    with ThreadPoolExecutor(max_workers=16) as pool:
        probes = list(pool.map(lambda f: probe(storage, f, contract), pending))
    unreadable = [f"{p.file.relative}: {p.error}" for p in probes if p.error]
    readable = [p for p in probes if p.error is None]
    drift = check_drift(readable, contract)
    for warning in drift.warnings:
        log.warning("%s", warning)

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
            F.array(F.when(malformed, F.lit(MALFORMED)), F.when(undecodable, F.lit(UNDECODABLE_RECORD))),
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
        if contract.drift.new_columns == "fail":
            # CSV and Parquet headers were checked up front; JSON keys are only known row by row.
            drifting = sorted(
                p.file.relative
                for p in readable
                if p.file.uri in per_file and per_file[p.file.uri]["with_extra"]
            )
            if drifting:
                raise DriftError(
                    f"{contract.name}: records with keys not in the contract in {drifting} (drift.new_columns: fail)"
                )
        rows_in = sum(r["rows"] for r in per_file.values())
        rejected_total = sum(r["rejected"] for r in per_file.values())
        counts = RowCounts(rows_in, rows_in - rejected_total, rejected_total)

        # Files whose rejected rows a killed earlier attempt already committed to quarantine.
        txns = tuple((p.file.app_id, p.file.mtime_ms) for p in readable)
        in_quarantine = quarantine.app_versions(p.file.app_id for p in readable)
        done = {p.file.uri: p.file.app_id for p in readable if in_quarantine[p.file.app_id] is not None}
        before = sum(per_file[uri]["rejected"] for uri in done if uri in per_file)
        names = {p.file.uri: p.file.relative for p in readable}
        for uri, counts_of_file in per_file.items():
            if counts_of_file["undecodable"]:
                log.warning(
                    "%s: %d record(s) not valid %s, quarantined with their bytes (base64)%s",
                    names.get(uri, uri),
                    counts_of_file["undecodable"],
                    contract.source.encoding,
                    ""
                    if contract.source.encoding != "UTF-8"
                    else "; declare source.encoding if it has another",
                )
        bad = frame.where(rejected_row & ~F.col(SOURCE_FILE).isin(list(done)))
        rejected = quarantine_rows(
            _with_record_numbers(spark, bad, per_block),
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
        published = publish(
            run,
            target=Target(
                raw,
                with_metadata(contract.text_schema(), RAW_METADATA),
                "append",
                app_transactions=txns,
                description=f"raw {contract.name}: landed text, {contract.description}",
            ),
            rows=frame.where(~rejected_row).select(*raw_columns),
            quarantine=quarantine_target(
                quarantine, "ingest", "append", [t for t in txns if t[0] not in done.values()]
            ),
            rejected=rejected,
            counts=counts,
            inputs=[
                InputRef(f"landing/{contract.name}", landing_uri(storage, contract.name), None, len(readable))
            ],
            contract=(contract.name, contract.fingerprint),
            extra_tags={
                "source_files": [p.file.relative for p in readable][:10_000],
                "unreadable_files": unreadable,
                "drift": drift.warnings,
            },
            quarantined_before=before,
        )
    finally:
        frame.unpersist()
    version = published.target.version if published.target else None
    append_metrics(
        storage,
        run.run,
        raw.ref,
        version,
        [
            Metric("rows_in", None, counts.rows_in),
            Metric("rows_out", None, counts.rows_out),
            Metric("rows_quarantined", None, counts.rows_quarantined),
            Metric("files_ingested", None, len(readable)),
            Metric("files_unreadable", None, len(unreadable)),
        ],
    )
    return summary | {
        "rows_in": counts.rows_in,
        "rows_out": counts.rows_out,
        "rows_quarantined": counts.rows_quarantined,
        "raw_version": version,
        "unreadable": unreadable,
    }


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
        problems = [f for r in results for f in r["unreadable"]]
        if problems:
            raise JobFailedError(
                "unreadable landed file(s), not ingested (the others were):\n  " + "\n  ".join(problems)
            )
        return results


if __name__ == "__main__":
    main()
