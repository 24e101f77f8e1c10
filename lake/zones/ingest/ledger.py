"""Ingest, the landing-files ledger (``metrics/landing_files``): one row each time a landed file's fate
is decided (ingested, held back, unreadable, empty), so a file that cannot be ingested is named once,
not again on every run, until its content or the contract changes. Exactly-once ingestion itself
rests on the raw table's app transactions, not on this log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from lake.contracts import Contract
from lake.storage import Storage
from lake.table import Table
from lake.zones.ingest.landed import LedgerEntry, Outcome

LEDGER = "landing_files"
LEDGER_SCHEMA = pa.schema(
    [
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("file", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("checksum", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("contract", pa.string(), nullable=False),  # fingerprint of the contract that decided
        pa.field("raw_version", pa.int64()),
    ]
)


def ledger_table(storage: Storage) -> Table:
    return Table(storage, "metrics", LEDGER)


def ledger_entries(storage: Storage, dataset: str) -> dict[str, LedgerEntry]:
    """The latest ledger row of each landed file of ``dataset`` (a small table, read on the driver)."""
    ledger = ledger_table(storage)
    if not ledger.exists():
        return {}
    rows = ledger.to_arrow().filter(pc.equal(pc.field("dataset"), dataset)).sort_by("recorded_at")
    fields = LedgerEntry.__dataclass_fields__
    return {row["file"]: LedgerEntry(**{k: row[k] for k in fields}) for row in rows.to_pylist()}


def record_outcomes(
    storage: Storage,
    run_id: str,
    contract: Contract,
    outcomes: Sequence[Outcome],
    raw_version: int | None,
) -> None:
    if not outcomes:
        return
    now = dt.datetime.now(dt.timezone.utc)
    data = pa.Table.from_pylist(
        [
            {
                "recorded_at": now,
                "run_id": run_id,
                "dataset": contract.name,
                "file": o.file.relative,
                "size": o.file.size,
                "checksum": o.file.checksum,
                "status": o.status,
                "reason": o.reason,
                "contract": contract.fingerprint,
                "raw_version": raw_version if o.status == "ingested" else None,
            }
            for o in outcomes
        ],
        schema=LEDGER_SCHEMA,
    )
    ledger_table(storage).append_arrow(
        data, tags={"job": "ingest", "run_id": run_id, "dataset": contract.name}
    )
