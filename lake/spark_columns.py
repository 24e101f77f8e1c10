"""Spark expressions for lakeprep's columns (``lake.columns``), shared by the zones and the publish
step: the landed file's name, fixed timestamps and what a quarantined row carries."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

from lake.columns import QUARANTINED_AT, REASONS, RECORD


def quarantine_payload(
    reasons: Column, record: Column, at: dt.datetime, where: Column | None = None
) -> list[Column]:
    """What a quarantined row carries beside its stage, run and source file; only where ``where`` holds
    (NULL elsewhere) when given."""
    values = {REASONS: reasons, RECORD: record, QUARANTINED_AT: timestamp_literal(at)}
    return [(v if where is None else F.when(where, v)).alias(name) for name, v in values.items()]


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
