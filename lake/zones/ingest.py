"""Landing -> raw: find landed files, check them against the contract, read them as text.

Raw is a lossless copy of what landed: contract columns as text, unknown columns in ``_extra``,
and broken records (bad CSV lines, broken JSON) kept verbatim for quarantine. Typing happens in
``clean``. The contract decides the columns (no inference); only tiny per-file probes run on the
driver (a CSV header line, a Parquet footer) to detect drift and unreadable files up front.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lake.contracts.model import CONTENT_FIELDS, Contract, Format
from lake.storage import Storage
from lake.table import Table
from lake.zones.common import CORRUPT, EXTRA, SOURCE_FILE, source_file_column

log = logging.getLogger(__name__)

_SUFFIXES: dict[str, Format] = {
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
LANDING = "landing"
BOM = "\ufeff".encode()  # a UTF-8 byte order mark: not part of the first column name or value


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


def landing_uri(storage: Storage, dataset: str) -> str:
    return storage.uri(LANDING, dataset)


def file_format(name: str) -> Format | None:
    lowered = name.lower()
    for suffix, fmt in sorted(_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if lowered.endswith(suffix):
            return fmt
    return None


def discover(storage: Storage, dataset: str, contract: Contract) -> tuple[list[LandedFile], list[str]]:
    """Landed files of a dataset in a format the contract accepts, with their content checksums, and the
    names skipped (with why)."""
    base = landing_uri(storage, dataset)
    landing_root = storage.fs_path(storage.uri(LANDING))
    found, skipped = [], []
    for info in storage.list_files(base):
        relative = info.path[len(landing_root) :].lstrip("/")
        fmt = file_format(info.base_name)
        if fmt not in contract.source.formats and "binary" in contract.source.formats:
            fmt = "binary"  # a binary dataset takes any file
        if fmt is None:
            skipped.append(f"{relative}: not a CSV, JSON lines, Parquet, image or text file name")
            continue
        if fmt not in contract.source.formats:
            skipped.append(
                f"{relative}: {fmt} is not an accepted format of {contract.name} ({contract.source.formats})"
            )
            continue
        mtime = int(info.mtime_ns // 1_000_000) if info.mtime_ns else 0
        found.append(LandedFile(storage.to_uri(info.path), relative, fmt, int(info.size or 0), mtime))
    sums = _etags(storage, base) if storage.is_s3 else None
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(
            pool.map(
                lambda f: replace(
                    f, checksum=sums.get(storage.fs_path(f.uri)) if sums is not None else _sha256(storage, f)
                ),
                found,
            )
        )
    return sorted(found, key=lambda f: f.relative), skipped


def _sha256(storage: Storage, landed: LandedFile) -> str | None:
    """The file's bytes hashed as they stream by (a local read; never held in memory)."""
    digest = hashlib.sha256()
    try:
        with storage.filesystem.open_input_stream(storage.fs_path(landed.uri), compression=None) as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _etags(storage: Storage, base: str) -> dict[str, str]:
    """S3 ETags of the objects below ``base`` from the listing (no download): a new upload of different
    bytes always has a new ETag, so it identifies the content as a checksum would."""
    import boto3

    bucket, _, prefix = storage.fs_path(base).partition("/")
    options = storage.delta_options  # endpoint and region as every other client of the lake uses them
    client = boto3.client(
        "s3", endpoint_url=options.get("AWS_ENDPOINT_URL"), region_name=options["AWS_REGION"]
    )
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            found[f"{bucket}/{item['Key']}"] = "etag:" + item["ETag"].strip('"')
    return found


def probe(storage: Storage, landed: LandedFile, contract: Contract) -> Probe:
    """Read only what is needed to check a file: the header line, or the Parquet footer."""
    path = storage.fs_path(landed.uri)
    if landed.checksum is None:
        return Probe(landed, error="cannot be read (no checksum)")
    if landed.format in ("image", "binary"):  # read whole in Spark; nothing to check up front
        return Probe(landed, empty=landed.size == 0)
    try:
        if landed.format == "parquet":
            if landed.size == 0:
                return Probe(landed, empty=True)
            schema = pq.read_schema(path, filesystem=storage.filesystem)
            return Probe(landed, tuple(schema.names), tuple(str(t) for t in schema.types))
        first, blank = _first_line(storage, path)
        if blank:
            return Probe(landed, empty=True)
        if landed.format in ("json", "text") or not contract.source.csv_header:
            return Probe(landed)
        encoding = contract.source.encoding
        try:
            line = first.decode(encoding)
        except UnicodeDecodeError as exc:
            return Probe(
                landed,
                held_back=f"the header line is not valid {encoding} (byte {first[exc.start]:#04x} at offset "
                f"{exc.start}); declare source.encoding",
            )
        header = _split_header(line, contract)
        if not header:
            return Probe(landed, held_back="the first line is blank, not a CSV header")
        return Probe(landed, header, header=line)
    except (OSError, ValueError) as exc:
        return Probe(landed, error=f"{type(exc).__name__}: {exc}")


def _first_line(storage: Storage, path: str, limit: int = 1 << 20) -> tuple[bytes, bool]:
    """The first line's bytes (decompressed, without a UTF-8 byte order mark or line end), and whether
    the file holds nothing but blank lines."""
    data = b""
    ended = False
    with storage.filesystem.open_input_stream(path, compression="detect") as stream:
        while not (ended or (b"\n" in data.lstrip() and data.strip()) or len(data) >= limit):
            chunk = stream.read(1 << 16)
            ended = not chunk
            data += chunk
    data = data.removeprefix(BOM)
    return data.split(b"\n", 1)[0].rstrip(b"\r"), ended and not data.strip()


def _split_header(line: str, contract: Contract) -> tuple[str, ...]:
    import csv

    rows = list(
        csv.reader(
            [line.rstrip("\r\n")],
            delimiter=contract.source.csv_delimiter,
            quotechar=contract.source.csv_quote,
        )
    )
    return tuple(name.strip() for name in rows[0]) if rows and any(rows[0]) else ()


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


# ------------------------------------------------------------------------------------ reading
def read_landed(spark: SparkSession, probes: Sequence[Probe], contract: Contract) -> DataFrame:
    """All readable probed files as one frame: contract columns as text, ``_extra``, ``_corrupt_record``
    (the verbatim line when the record is malformed) and ``_source_file``."""
    groups: dict[tuple[Format, tuple[str, ...] | None, tuple[str, ...] | None], list[str]] = defaultdict(list)
    for item in probes:
        if item.error is None:
            groups[(item.file.format, item.columns, item.types)].append(item.file.uri)
    frames = []
    for (fmt, columns, _types), uris in sorted(groups.items(), key=lambda kv: kv[1][0]):
        if fmt == "csv":
            frames.append(_read_csv(spark, uris, columns, contract))
        elif fmt == "json":
            frames.append(_read_json_lines(spark, uris, contract))
        elif fmt in CONTENT_FIELDS:
            from lake.zones.ingest_content import read_content  # it builds on this module's layout

            wanted = set(uris)
            frames.append(
                read_content(spark, fmt, [p.file for p in probes if p.file.uri in wanted], contract)
            )
        else:
            frames.append(_read_parquet(spark, uris, columns or (), contract))
    if not frames:
        return spark.createDataFrame([], landed_schema(contract))
    return functools.reduce(lambda a, b: a.unionByName(b), frames)


def landed_schema(contract: Contract) -> T.StructType:
    fields = [T.StructField(c.name, T.StringType()) for c in contract.columns]
    fields += [
        T.StructField(EXTRA, T.MapType(T.StringType(), T.StringType())),
        T.StructField(CORRUPT, T.StringType()),
        T.StructField(SOURCE_FILE, T.StringType()),
        T.StructField(UNDECODABLE, _UNDECODABLE_TYPE),
        T.StructField(POSITION, T.LongType()),
        T.StructField(BLOCK, T.LongType()),
        T.StructField(REJECT_REASON, T.StringType()),
    ]
    return T.StructType(fields)


# A record whose bytes do not decode in the contract's encoding keeps them, base64-encoded: the whole
# record (a JSON line, a malformed CSV record) or each CSV field.
UNDECODABLE = "_undecodable"
_UNDECODABLE_TYPE = T.StructType(
    [T.StructField("base64", T.StringType()), T.StructField("fields_base64", T.ArrayType(T.StringType()))]
)
# Where a record sits: ``POSITION`` increases record by record within a file's ``BLOCK`` (the byte
# offset of the split that read it), so the record number is its rank among the file's records.
POSITION = "_position"
BLOCK = "_block"
# The rule a record in ``_corrupt_record`` broke when it is not ``malformed_record`` (e.g. an image
# that does not decode); NULL for records read from CSV, JSON lines or Parquet.
REJECT_REASON = "_reject_reason"
# Read CSV bytes one-to-one as characters: delimiters, quotes and line ends are ASCII in every
# supported encoding, so records split the same, and each field's exact bytes can be decoded in SQL.
_BYTES_AS_TEXT = "ISO-8859-1"


def _shape(
    contract: Contract,
    values: dict[str, Column],
    extra: Column,
    corrupt: Column,
    undecodable: Column | None = None,
    positioned: bool = True,
    reason: Column | None = None,
) -> list[Column]:
    """Project one file group onto the landed layout (same columns, same order for every group)."""
    out = [values.get(c.landed_name, F.lit(None).cast("string")).alias(c.name) for c in contract.columns]
    return [
        *out,
        extra.alias(EXTRA),
        corrupt.alias(CORRUPT),
        source_file_column().alias(SOURCE_FILE),
        (undecodable if undecodable is not None else F.lit(None).cast(_UNDECODABLE_TYPE)).alias(UNDECODABLE),
        (F.monotonically_increasing_id() if positioned else F.lit(None).cast("long")).alias(POSITION),
        F.col("_metadata.file_block_start").alias(BLOCK),
        (reason if reason is not None else F.lit(None).cast("string")).alias(REJECT_REASON),
    ]


def _extra_map(extras: dict[str, Column]) -> Column:
    if not extras:
        return F.lit(None).cast("map<string,string>")
    return F.create_map(*[item for name, value in sorted(extras.items()) for item in (F.lit(name), value)])


def _valid_utf8(data: Column) -> Column:
    """Whether binary is well-formed UTF-8 (Spark 4 has a function; Spark 3.5's ``decode`` replaces
    what does not decode, so the bytes no longer round-trip)."""
    if hasattr(F, "is_valid_utf8"):
        return F.is_valid_utf8(data.cast("string"))
    return F.encode(F.decode(data, "UTF-8"), "UTF-8") == data


def decoded(data: Column, encoding: str) -> tuple[Column, Column]:
    """Bytes as text in the contract's encoding, and whether they decode (NULL bytes decode to NULL)."""
    if encoding == "ISO-8859-1":  # every byte is a character
        return F.decode(data, encoding), F.lit(True)
    valid = _valid_utf8(data)
    if encoding == "US-ASCII":
        valid = valid & ~data.cast("string").rlike("[^\\x00-\\x7F]")
    return F.when(valid, data.cast("string")), data.isNull() | valid


def _read_csv(
    spark: SparkSession, uris: list[str], header: tuple[str, ...] | None, contract: Contract
) -> DataFrame:
    names = list(header) if header is not None else [c.landed_name for c in contract.columns]
    # Positional placeholder names: header text can hold spaces, dots or duplicates.
    schema = T.StructType([T.StructField(f"c{i}", T.StringType()) for i in range(len(names))])
    schema = schema.add(CORRUPT, T.StringType())
    source = contract.source
    frame = (
        spark.read.schema(schema)
        .option("header", source.csv_header)
        .option("sep", source.csv_delimiter)
        .option("quote", source.csv_quote)
        .option("encoding", _BYTES_AS_TEXT)
        # RFC 4180: a quoted field may hold line breaks (read as \n) and doubled quotes.
        .option("multiLine", True)
        .option("escape", source.csv_quote)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        # Keep text exactly as landed: no null token, no whitespace trimming (clean does that).
        .option("nullValue", None)
        .option("ignoreLeadingWhiteSpace", False)
        .option("ignoreTrailingWhiteSpace", False)
        .csv(uris)
    )
    fields = [F.encode(F.col(f"c{i}"), _BYTES_AS_TEXT) for i in range(len(names))]
    pairs = [decoded(b, source.encoding) for b in fields]
    texts, valid = [text for text, _ in pairs], [ok for _, ok in pairs]
    record = F.encode(F.col(CORRUPT), _BYTES_AS_TEXT)
    corrupt, corrupt_valid = decoded(record, source.encoding)
    if not source.csv_header and texts:  # with a header the mark is on the header line, skipped here
        texts[0] = F.regexp_replace(texts[0], "^\ufeff", "")
    broken = F.col(CORRUPT).isNotNull()
    undecodable = F.when(
        ~functools.reduce(lambda a, b: a & b, [corrupt_valid, *valid]),
        F.struct(
            F.when(broken, F.base64(record)).alias("base64"),
            F.when(~broken, F.array(*[F.base64(b) for b in fields])).alias("fields_base64"),
        ),
    )
    expected = {c.landed_name for c in contract.columns}
    values = {name: texts[i] for i, name in enumerate(names) if name in expected}
    extras = {name: texts[i] for i, name in enumerate(names) if name not in expected}
    return frame.select(*_shape(contract, values, _extra_map(extras), corrupt, undecodable))


def _read_json_lines(spark: SparkSession, uris: list[str], contract: Contract) -> DataFrame:
    """JSON lines read as bytes, decoded in the contract's encoding and parsed to a string map: any
    key set fits, broken lines survive."""
    data = spark.read.text(uris).select(F.col("value").cast("binary").alias("data"), F.col("_metadata"))
    text, valid = decoded(F.col("data"), contract.source.encoding)
    lines = data.select(
        F.regexp_replace(text, "^\ufeff", "").alias("value"), valid.alias("valid"), "data", "_metadata"
    )
    # Blank lines are not records (a line that does not decode is one).
    lines = lines.where(~F.col("valid") | (F.trim(F.col("value")) != ""))
    parsed = lines.select(
        F.col("value"),
        F.col("valid"),
        F.col("data"),
        F.from_json(F.col("value"), "map<string,string>").alias("m"),
        F.col("_metadata"),
    )
    expected = [c.landed_name for c in contract.columns]
    values = {name: F.col("m").getItem(name) for name in expected}
    extra = F.map_filter(F.col("m"), lambda k, _v: ~k.isin(expected))
    return parsed.select(
        *_shape(
            contract,
            values,
            F.when(F.size(extra) > 0, extra),
            F.when(F.col("valid") & F.col("m").isNull(), F.col("value")),
            F.when(
                ~F.col("valid"),
                F.struct(
                    F.base64(F.col("data")).alias("base64"),
                    F.lit(None).cast("array<string>").alias("fields_base64"),
                ),
            ),
        )
    )


def _read_parquet(
    spark: SparkSession, uris: list[str], columns: tuple[str, ...], contract: Contract
) -> DataFrame:
    frame = spark.read.parquet(*uris)
    expected = {c.landed_name for c in contract.columns}
    values = {n: F.col(f"`{n}`").cast("string") for n in columns if n in expected}
    extras = {n: F.col(f"`{n}`").cast("string") for n in columns if n not in expected}
    return frame.select(
        *_shape(contract, values, _extra_map(extras), F.lit(None).cast("string"), positioned=False)
    )


# ------------------------------------------------------------------------------------ ledger
# One row each time a landed file's fate is decided (ingested, held back, unreadable, empty): a file
# that cannot be ingested is named once, not again on every run, until its content or the contract
# changes. Exactly-once ingestion itself rests on the raw table's app transactions, not on this log.
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


@dataclass(frozen=True)
class Outcome:
    """What one run decided about one landed file."""

    file: LandedFile
    status: Status
    reason: str | None = None
    rows: int = 0

    def line(self) -> str:
        return f"{self.file.relative}: {self.reason or self.status}"


def ledger_table(storage: Storage) -> Table:
    return Table(storage, "metrics", LEDGER)


def ledger_entries(storage: Storage, dataset: str) -> dict[str, dict[str, Any]]:
    """The latest ledger row of each landed file of ``dataset`` (a small table, read on the driver)."""
    ledger = ledger_table(storage)
    if not ledger.exists():
        return {}
    rows = ledger.to_arrow().filter(pc.equal(pc.field("dataset"), dataset)).sort_by("recorded_at")
    return {row["file"]: row for row in rows.to_pylist()}


def still_known(entry: dict[str, Any] | None, landed: LandedFile, contract: Contract) -> bool:
    """Whether the ledger already holds this file back (or found it unreadable or empty) with the same
    content under the same contract: it is reported, not retried."""
    return (
        entry is not None
        and entry["status"] != "ingested"
        and entry["size"] == landed.size
        and entry["checksum"] == landed.checksum
        and entry["contract"] == contract.fingerprint
    )


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
