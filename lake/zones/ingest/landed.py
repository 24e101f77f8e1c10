"""Ingest, what landed: the landed file, what a probe of its first bytes found, and what became of it.

The types every part of the stage shares (the plan decides on them, the readers and the run pass them
on); no I/O here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from lake.contracts.model import Format
from lake.storage import LANDING, Storage

# File name endings -> the format they are read as (the longest ending wins: ``.json.gz`` over ``.gz``).
SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json.gz": "json",
    ".jsonl.gz": "json",
    ".parquet": "parquet",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".bmp": "image",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
}


class DriftError(ValueError):
    """Landed files break the contract's schema-drift policy; the message names file and columns."""


# What became of a landed file, as the ledger records it.
Status = Literal["ingested", "held_back", "unreadable", "empty"]


@dataclass(frozen=True)
class LandedFile:
    uri: str
    relative: str  # below the landing root, e.g. "flights/2013-01.csv"; stable across lake moves
    format: Format
    size: int
    mtime_ms: int
    checksum: str | None = None  # SHA-256 of the bytes (the ETag on S3); None when it cannot be read

    @property
    def app_id(self) -> str:
        """Delta app-transaction id that marks this file as ingested (exactly once)."""
        return f"ingest:{self.relative}"

    @property
    def content_app_id(self) -> str:
        """App transaction whose version identifies the content ingested under this name."""
        return f"ingest-content:{self.relative}"

    @property
    def content_version(self) -> int:
        """The content's identity (size and checksum) as a 60-bit app-transaction version."""
        digest = hashlib.sha256(f"{self.size}:{self.checksum}".encode()).hexdigest()
        return int(digest[:15], 16)


@dataclass(frozen=True)
class Probe:
    """What the driver learned from a file's first bytes: its columns, or why it cannot be ingested."""

    file: LandedFile
    columns: tuple[str, ...] | None = None  # CSV header / Parquet fields; None for JSON lines
    types: tuple[str, ...] | None = None  # Parquet only
    error: str | None = None  # unreadable
    empty: bool = False  # no bytes, or nothing but blank lines
    held_back: str | None = None  # readable, but a policy keeps it out (e.g. a header that does not decode)
    header: str | None = None  # the CSV header line as text


@dataclass
class DriftReport:
    warnings: list[str] = field(default_factory=list)
    new_columns: dict[str, list[str]] = field(default_factory=dict)  # file -> columns kept in _extra
    missing_columns: dict[str, list[str]] = field(default_factory=dict)  # file -> columns filled with null
    held_back: dict[str, str] = field(default_factory=dict)  # file -> the policy that stopped it, and a hint


@dataclass(frozen=True)
class Outcome:
    """What one run decided about one landed file."""

    file: LandedFile
    status: Status
    reason: str | None = None
    rows: int = 0

    def line(self) -> str:
        return f"{self.file.relative}: {self.reason or self.status}"


@dataclass(frozen=True)
class LedgerEntry:
    """A landed file's latest row in the ledger: what a run decided about which content, under which
    contract (its fingerprint)."""

    file: str
    size: int
    checksum: str | None
    status: str
    reason: str | None
    contract: str
    run_id: str


def landing_uri(storage: Storage, dataset: str) -> str:
    return storage.uri(LANDING, dataset)


def file_format(name: str) -> Format | None:
    lowered = name.lower()
    for suffix, fmt in sorted(SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if lowered.endswith(suffix):
            return fmt
    return None


@dataclass(frozen=True)
class BlockCount:
    """The counts of one split of a landed file (one row of the read's single aggregation)."""

    source_file: str
    block: int | None  # the split's byte offset in the file
    rows: int
    rejected: int  # malformed or undecodable records, bound for quarantine
    undecodable: int
    with_extra: int  # records with columns (JSON keys) the contract does not name
    first: int | None  # the split's first record position (None for Parquet: its records have none)
