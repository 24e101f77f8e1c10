"""Columns and helpers shared by the zones: lakeprep's metadata columns and the quarantine layout."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from pyspark.sql import Column
from pyspark.sql import functions as F

SOURCE_FILE = "_source_file"
INGESTED_AT = "_ingested_at"
RUN_ID = "_run_id"
EXTRA = "_extra"
CORRUPT = "_corrupt_record"

# Raw rows keep where they came from; unknown landed columns are kept losslessly in `_extra`.
RAW_METADATA = pa.schema(
    [
        pa.field(EXTRA, pa.map_(pa.string(), pa.string())),
        pa.field(SOURCE_FILE, pa.string(), nullable=False),
        pa.field(INGESTED_AT, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(RUN_ID, pa.string(), nullable=False),
    ]
)
CLEANED_METADATA = pa.schema(
    [
        pa.field(SOURCE_FILE, pa.string(), nullable=False),
        pa.field(INGESTED_AT, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(RUN_ID, pa.string(), nullable=False),
    ]
)

# One quarantine table per dataset, partitioned by the stage that rejected the row. A record is
# kept as JSON text so rows of any shape (a broken CSV line, a typed row) fit the same table.
STAGE = "_stage"
REASONS = "_reasons"  # the names of the rules the row broke
RECORD = "_record"  # the landed record: JSON of its fields (PII treated as in cleaned) or the verbatim line
QUARANTINED_AT = "_quarantined_at"
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field(STAGE, pa.string(), nullable=False),
        pa.field(RUN_ID, pa.string(), nullable=False),
        pa.field(SOURCE_FILE, pa.string()),
        pa.field(REASONS, pa.list_(pa.string()), nullable=False),
        pa.field(RECORD, pa.string()),
        pa.field(QUARANTINED_AT, pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

# A split write (one scan, both outcomes) puts each row below `_outcome=accepted` or `=rejected`.
OUTCOME = "_outcome"
ACCEPTED = "accepted"
REJECTED = "rejected"


def quarantine_payload(
    reasons: Column, record: Column, at: dt.datetime, where: Column | None = None
) -> list[Column]:
    """What a quarantined row carries beside its stage, run and source file; only where ``where`` holds
    (NULL elsewhere) when given."""
    values = {REASONS: reasons, RECORD: record, QUARANTINED_AT: timestamp_literal(at)}
    return [(v if where is None else F.when(where, v)).alias(name) for name, v in values.items()]


def with_metadata(schema: pa.Schema, metadata: pa.Schema) -> pa.Schema:
    return pa.schema([*schema, *metadata])


def source_file_column() -> Column:
    """The landed file's URI as the driver spells it (Spark reports a percent-encoded URI).

    ``url_decode`` is form decoding, so a literal ``+`` is protected first (URIs keep it as is).
    """
    path = F.col("_metadata.file_path")
    path = F.regexp_replace(path, r"^file:(//)?", "")
    path = F.regexp_replace(path, r"^s3[an]?://", "s3://")
    return F.url_decode(F.regexp_replace(path, r"\+", "%2B"))


def timestamp_literal(moment: dt.datetime) -> Column:
    """A fixed timestamp (not ``current_timestamp()``), so recomputing a partition gives the same rows."""
    if moment.tzinfo is None:
        raise ValueError("timestamp_literal needs an aware datetime")
    return F.lit(moment.astimezone(dt.timezone.utc).isoformat()).cast("timestamp")
