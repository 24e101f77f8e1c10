"""lakeprep's own columns: the metadata every raw and cleaned row carries and the quarantine's layout.

Names and Arrow schemas only (no Spark), below every stage: the zones and the publish step write
these columns, the catalog, the site and the tests read them.
"""

from __future__ import annotations

import pyarrow as pa

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


def with_metadata(schema: pa.Schema, metadata: pa.Schema) -> pa.Schema:
    return pa.schema([*schema, *metadata])
