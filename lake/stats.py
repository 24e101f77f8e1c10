"""Delta per-file statistics (numRecords, minValues, maxValues, nullCount) from Parquet footers.

Only footers are read, never data pages, so this costs one small read per file. Values follow the
Delta protocol's JSON encoding; a column whose statistics are incomplete or not safely
representable is left out (readers then simply do not skip on it), never guessed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq

# Delta truncates string statistics; leaving long strings out is always correct.
_MAX_STRING_STAT = 32


def _encode(value: Any, is_max: bool) -> Any | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return None  # Delta keeps no min/max for booleans
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return None  # avoid float rounding that could make skipping wrong
    if isinstance(value, str):
        return value if len(value) <= _MAX_STRING_STAT else None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        if is_max and value.microsecond % 1000:
            # Delta timestamps stats have millisecond precision: round the max up so it stays an upper bound.
            value = value + dt.timedelta(microseconds=1000 - value.microsecond % 1000)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return None  # bytes and other types: no safe Delta encoding


def file_stats(metadata: pq.FileMetaData) -> str:
    """The ``stats`` JSON string of a Delta add action for one Parquet file."""
    stats: dict[str, Any] = {
        "numRecords": metadata.num_rows,
        "minValues": {},
        "maxValues": {},
        "nullCount": {},
    }
    schema = metadata.schema
    for index in range(metadata.num_columns):
        column = schema.column(index)
        path = column.path
        if "." in path:  # nested (map/list/struct) leaves: Delta stats cover top-level primitives only
            continue
        mins: list[Any] = []
        maxs: list[Any] = []
        nulls = 0
        complete = metadata.num_row_groups > 0
        for group in range(metadata.num_row_groups):
            chunk = metadata.row_group(group).column(index)
            st = chunk.statistics
            if st is None or not st.has_null_count:
                complete = False
                break
            nulls += st.null_count
            if st.has_min_max:
                mins.append(st.min)
                maxs.append(st.max)
            elif st.null_count != chunk.num_values:
                complete = False  # values present but no bounds recorded
        if metadata.num_rows == 0:
            stats["nullCount"][path] = 0
            continue
        if not complete:
            continue
        stats["nullCount"][path] = nulls
        if mins:
            lo = _encode(min(mins), is_max=False)
            hi = _encode(max(maxs), is_max=True)
            if lo is not None and hi is not None:
                stats["minValues"][path] = lo
                stats["maxValues"][path] = hi
    return json.dumps(stats, separators=(",", ":"))
