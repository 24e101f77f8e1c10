"""Ingest, the plan: which landed files a run reads and what becomes of the others, decided from the
raw table's app transactions (what content of each file name raw holds), the landing-files ledger
(what an earlier run already named), the contract and the listing. Pure: the listing, the probes and
the read's counts are handed in; nothing here reads a file or a table.

Three decisions, in the order a run meets them:

- :func:`plan_ingest`, before any file is opened: new, changed (re-delivered with other content:
  re-ingested or held back, as ``source.on_changed_file`` says) or already in raw; full (no raw table
  yet), incremental or up to date.
- :func:`plan_reads`, after the probes of the first bytes: unreadable, empty, held back by the drift
  policy, or read.
- :func:`plan_commit`, after the read's counts: a header-only file is empty, JSON keys that break a
  ``fail`` drift policy hold the file back; the rest is committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from lake.columns import EXTRA
from lake.contracts.model import Contract, Format
from lake.tags import AppTransaction
from lake.zones.ingest.landed import (
    BlockCount,
    DriftReport,
    LandedFile,
    LedgerEntry,
    Outcome,
    Probe,
    file_format,
)

NO_NEW_FILES = "no new landed files"
CHANGED_REJECTED = (
    "its content changed since it was ingested; raw keeps the earlier rows (source.on_changed_file: reject)"
)
FileState = Literal["new", "unchanged", "changed"]


def choose_format(relative: str, name: str, contract: Contract) -> tuple[Format | None, str | None]:
    """The format a listed file is read as, or None and why it is skipped (its name says no format
    the contract accepts; a binary dataset takes any file)."""
    fmt = file_format(name)
    if fmt not in contract.source.formats and "binary" in contract.source.formats:
        fmt = "binary"
    if fmt is None:
        return None, f"{relative}: not a CSV, JSON lines, Parquet, image or text file name"
    if fmt not in contract.source.formats:
        return (
            None,
            f"{relative}: {fmt} is not an accepted format of {contract.name} ({contract.source.formats})",
        )
    return fmt, None


def file_state(landed: LandedFile, recorded: Mapping[str, int | None]) -> FileState:
    """new, unchanged (this content is in raw) or changed (raw holds an earlier content of the name),
    from the versions raw recorded for the file's app transactions.

    Files ingested before content identities were recorded count as unchanged while their
    modification time is the one recorded."""
    version = recorded[landed.app_id]
    if version is None:
        return "new"
    content = recorded[landed.content_app_id]
    if content == landed.content_version or (content is None and version == landed.mtime_ms):
        return "unchanged"
    return "changed"


def still_known(entry: LedgerEntry | None, landed: LandedFile, contract: Contract) -> bool:
    """Whether the ledger already holds this file back (or found it unreadable or empty) with the same
    content under the same contract: it is reported, not retried."""
    return (
        entry is not None
        and entry.status != "ingested"
        and entry.size == landed.size
        and entry.checksum == landed.checksum
        and entry.contract == contract.fingerprint
    )


@dataclass(frozen=True)
class IngestPlan:
    """``full`` (no raw table yet) and ``incremental`` read ``pending``; ``skip`` reads nothing and
    says why in ``skipped``. Every landed file not pending is in raw already, ``decided`` or ``still``."""

    mode: Literal["full", "incremental", "skip"]
    pending: tuple[LandedFile, ...] = ()  # to probe and read: new files and changed ones re-ingested
    changed: tuple[LandedFile, ...] = ()  # of ``pending``: their earlier rows in raw are replaced
    decided: tuple[Outcome, ...] = ()  # settled unread: a changed file under on_changed_file: reject
    still: tuple[str, ...] = ()  # named by an earlier run, content and contract unchanged: warned only
    skipped: str | None = None

    @property
    def files_new(self) -> int:
        return len(self.pending) - len(self.changed)


def plan_ingest(
    files: Sequence[LandedFile],
    recorded: Mapping[str, int | None],
    ledger: Mapping[str, LedgerEntry],
    contract: Contract,
    raw_exists: bool,
) -> IngestPlan:
    """Decide each landed file from raw's app transactions (``recorded``: app id -> version, both of
    each file's ids) and its latest ledger row (``ledger``: by relative name)."""
    pending: list[LandedFile] = []
    changed: list[LandedFile] = []
    decided: list[Outcome] = []
    still: list[str] = []
    for landed in files:
        state = file_state(landed, recorded)
        if state == "unchanged":
            continue
        entry = ledger.get(landed.relative)
        if entry is not None and still_known(entry, landed, contract):
            still.append(
                f"{landed.relative}: still {entry.status.replace('_', ' ')} since run {entry.run_id}: {entry.reason}"
            )
            continue
        if state == "changed":
            if contract.source.on_changed_file == "reject":
                decided.append(Outcome(landed, "held_back", CHANGED_REJECTED))
                continue
            changed.append(landed)
        pending.append(landed)
    mode: Literal["full", "incremental", "skip"] = (
        "skip" if not pending else "incremental" if raw_exists else "full"
    )
    return IngestPlan(
        mode,
        tuple(pending),
        tuple(changed),
        tuple(decided),
        tuple(still),
        NO_NEW_FILES if not pending else None,
    )


def transactions(
    landed: LandedFile, recorded: Mapping[str, int | None]
) -> tuple[AppTransaction, AppTransaction]:
    """The file's app transaction (its modification time, or one past the version recorded for an
    earlier content, so it always moves forward) and its content identity."""
    earlier = recorded[landed.app_id]
    version = max(landed.mtime_ms, -1 if earlier is None else earlier + 1)
    content = AppTransaction(landed.content_app_id, landed.content_version)
    return AppTransaction(landed.app_id, version), content


# ------------------------------------------------------------------------------- after the probes
@dataclass(frozen=True)
class ReadPlan:
    """The probed files to read, the others' outcomes, and the drift found in the readable ones."""

    readable: tuple[Probe, ...]
    outcomes: tuple[Outcome, ...]
    drift: DriftReport


def plan_reads(probes: Sequence[Probe], contract: Contract) -> ReadPlan:
    """Unreadable, empty and held-back files are decided; the rest face the drift policy."""
    outcomes: list[Outcome] = []
    for item in probes:
        if item.error:
            outcomes.append(Outcome(item.file, "unreadable", item.error))
        elif item.empty:
            outcomes.append(Outcome(item.file, "empty", "no bytes or only blank lines"))
        elif item.held_back:
            outcomes.append(Outcome(item.file, "held_back", item.held_back))
    candidates = [p for p in probes if p.error is None and not p.empty and p.held_back is None]
    drift = check_drift(candidates, contract)
    outcomes += [
        Outcome(p.file, "held_back", drift.held_back[p.file.relative])
        for p in candidates
        if p.file.relative in drift.held_back
    ]
    readable = tuple(p for p in candidates if p.file.relative not in drift.held_back)
    return ReadPlan(readable, tuple(outcomes), drift)


_FAMILIES = {
    "int": ("int", "uint"),
    "long": ("int", "uint"),
    "float": ("float", "double", "halffloat", "int"),
    "double": ("float", "double", "halffloat", "int", "decimal"),
    "string": ("string", "large_string"),
    "boolean": ("bool",),
    "date": ("date",),
    "timestamp": ("timestamp",),
}


def check_drift(probes: Sequence[Probe], contract: Contract) -> DriftReport:
    """Apply the contract's drift policy to each file's columns: warn, or hold the file back under a
    ``fail`` policy (named with the policy and a hint) while the other files are ingested."""
    report = DriftReport()
    expected = [c.landed_name for c in contract.columns]
    for item in probes:
        if item.columns is None or item.error:
            continue
        errors, warnings = [], []
        present = set(item.columns)
        new = [c for c in item.columns if c not in expected]
        missing = [c for c in expected if c not in present]
        name = item.file.relative
        if new:
            if contract.drift.new_columns == "fail":
                errors.append(
                    f"new column(s) {new} not in contract {contract.name} (drift.new_columns: fail)"
                )
            else:
                report.new_columns[name] = new
                warnings.append(f"{name}: new column(s) {new} kept in raw {EXTRA} (drift.new_columns: keep)")
        if missing:
            if contract.drift.missing_columns == "fail":
                errors.append(
                    f"missing column(s) {missing} of contract {contract.name} (drift.missing_columns: fail)"
                )
            else:
                report.missing_columns[name] = missing
                warnings.append(
                    f"{name}: missing column(s) {missing} filled with null (drift.missing_columns: fill_null)"
                )
        if item.types is not None:
            landed_types = dict(zip(item.columns, item.types, strict=True))
            for column in contract.columns:
                actual = landed_types.get(column.landed_name)
                family = _FAMILIES.get(column.logical.name, (column.logical.name.split("(")[0],))
                if actual is None or actual.startswith(family):
                    continue
                message = f"column {column.landed_name} is {actual}, contract says {column.type}"
                if contract.drift.type_changes == "fail":
                    errors.append(message + " (drift.type_changes: fail)")
                else:
                    warnings.append(
                        f"{name}: {message}; values that do not cast are quarantined when cleaned"
                    )
        if errors:
            report.held_back[name] = "; ".join(errors) + _delimiter_hint(item, contract)
            report.new_columns.pop(name, None)
            report.missing_columns.pop(name, None)
        else:
            report.warnings += warnings
    return report


def _delimiter_hint(item: Probe, contract: Contract) -> str:
    """``; looks like ';'-delimited`` when another delimiter splits the header into the contract's names."""
    if item.header is None:
        return ""
    expected = {c.landed_name for c in contract.columns}
    found = len(expected & set(item.columns or ()))
    for sep in (",", ";", "\t", "|"):
        if sep == contract.source.csv_delimiter:
            continue
        names = {n.strip() for n in item.header.split(sep)}
        if len(expected & names) > found:
            return (
                f"; looks like {sep!r}-delimited (source.csv_delimiter is {contract.source.csv_delimiter!r})"
            )
    return ""


# ------------------------------------------------------------------------------- after the read
@dataclass(frozen=True)
class FileCounts:
    """One landed file's records: read, bound for quarantine, undecodable, with unknown keys."""

    rows: int = 0
    rejected: int = 0
    undecodable: int = 0
    with_extra: int = 0


def per_file(blocks: Sequence[BlockCount]) -> dict[str, FileCounts]:
    """The splits' counts summed per landed file (by URI)."""
    totals: dict[str, FileCounts] = {}
    for b in blocks:
        into = totals.get(b.source_file, FileCounts())
        totals[b.source_file] = FileCounts(
            into.rows + b.rows,
            into.rejected + b.rejected,
            into.undecodable + b.undecodable,
            into.with_extra + b.with_extra,
        )
    return totals


def plan_commit(
    readable: Sequence[Probe], counts: Mapping[str, FileCounts], contract: Contract
) -> tuple[list[LandedFile], list[Outcome]]:
    """The read files the commit takes, and the outcomes of the others: no records (a header only),
    or JSON keys the contract does not name under ``drift.new_columns: fail``."""
    kept: list[LandedFile] = []
    outcomes: list[Outcome] = []
    for item in readable:
        found = counts.get(item.file.uri)
        if found is None:
            outcomes.append(Outcome(item.file, "empty", "no records (a header only)"))
        elif contract.drift.new_columns == "fail" and found.with_extra:
            # CSV and Parquet headers were checked up front; JSON keys are only known row by row.
            reason = f"{found.with_extra} record(s) with keys not in contract {contract.name} (drift.new_columns: fail)"
            outcomes.append(Outcome(item.file, "held_back", reason))
        else:
            kept.append(item.file)
    return kept, outcomes
