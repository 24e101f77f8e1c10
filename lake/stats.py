"""Delta per-file statistics (numRecords, minValues, maxValues, nullCount) from Parquet footers.

Only footers are read, never data pages, so this costs one small read per file. Values follow the
Delta protocol's JSON encoding, and are written so that no reader misreads them:

- delta-rs' pyarrow dataset turns every column's min/max into a fragment guarantee and treats a
  missing one as ``col >= null``, which prunes the file. So each file either has a bound for every
  column a reader expects one for (all but binaries and nested fields; an all-null column
  needs only its ``nullCount``), or no ``minValues``/``maxValues`` at all (readers then read it).
  ``nullCount`` is written for every column, since a bound without it hides null rows.
- Strings longer than 32 characters are truncated as Delta's own writer does: the prefix is the
  min, the prefix followed by a tie-breaker (U+007F or U+10FFFF) the max, both in code points (UTF-8
  byte order, the order every reader compares strings in), so a bound never splits a character.
- A float column holding NaN has no bound every engine agrees on (NaN sorts last in DataFusion,
  polars and Spark, and compares false in pyarrow): such a file gets no min/max. Parquet writers
  other than parquet-mr (Spark's) leave NaN out of footer bounds, so their floats are not trusted.
- ±inf are written as the JSON strings ``"Infinity"``/``"-Infinity"`` (a bare token breaks the log
  for every reader); a zero min is written as -0.0 and a zero max as +0.0, as the Parquet spec says,
  because DataFusion prunes with a total order (-0.0 < +0.0).
- The data files themselves hold no negative zero: Spark's Parquet reader (parquet-mr) drops a
  row group whose footer says max = -0.0 for ``d = 0.0`` and ``d >= 0.0``, although the rows
  compare equal. So every float written through the table layer has its zeros unsigned
  (``unsigned_zeros`` for Spark frames, ``unsigned_zeros_arrow`` for Arrow tables): -0.0 = 0.0 in
  SQL and in IEEE comparison, so no query answer changes.
- Timestamps have millisecond precision (the min rounded down, the max up), decimals are exact
  JSON numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

STRING_PREFIX = 32  # characters kept in string statistics, as Delta's writer does
_ASCII_MAX = "\x7f"
_UTF8_MAX = "\U0010ffff"


def unsigned_zeros(frame: DataFrame) -> DataFrame:
    """``frame`` with -0.0 replaced by +0.0 in its top-level float columns (NaN, inf, null kept)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    floats = {f.name for f in frame.schema.fields if isinstance(f.dataType, (DoubleType, FloatType))}
    if not floats:
        return frame

    def column(name: str) -> Column:
        quoted = F.col("`" + name.replace("`", "``") + "`")
        if name not in floats:
            return quoted
        field = frame.schema[name]
        zero = F.lit(0.0).cast(field.dataType)
        return F.when(quoted == 0, zero).otherwise(quoted).alias(name, metadata=field.metadata)

    return frame.select(*[column(name) for name in frame.columns])


def unsigned_zeros_arrow(table: pa.Table) -> pa.Table:
    """``table`` with -0.0 replaced by +0.0 in its top-level float columns (NaN, inf, null kept)."""
    for index, field in enumerate(table.schema):
        if pa.types.is_floating(field.type):
            column = table.column(index)
            zero = pa.scalar(0.0, field.type)
            table = table.set_column(index, field, pc.if_else(pc.equal(column, zero), zero, column))
    return table


class _UnboundedError(Exception):
    """A column has values but no bound that every reader reads correctly."""


def truncate_min(value: str) -> str:
    """A lower bound of every string starting with ``value``'s prefix."""
    return value[:STRING_PREFIX]


def truncate_max(value: str) -> str:
    """An upper bound of ``value`` no longer than the prefix plus one tie-breaker where possible.

    The prefix is extended past U+10FFFF characters (nothing sorts after them); the next character
    is then replaced by a larger one, so the bound is strictly greater than anything with that
    prefix. A string of nothing but U+10FFFF past the prefix is its own bound."""
    if len(value) <= STRING_PREFIX:
        return value
    end = STRING_PREFIX
    while end < len(value) and value[end] == _UTF8_MAX:
        end += 1
    if end == len(value):
        return value
    return value[:end] + (_ASCII_MAX if value[end] < _ASCII_MAX else _UTF8_MAX)


def _json_float(value: float, is_max: bool) -> str:
    if math.isnan(value):
        raise _UnboundedError
    if math.isinf(value):
        return json.dumps("Infinity" if value > 0 else "-Infinity")
    if value == 0.0:
        return "0.0" if is_max else "-0.0"
    return json.dumps(value)


def _json_timestamp(value: dt.datetime, is_max: bool) -> str:
    aware = value.tzinfo is not None
    if aware:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if is_max and value.microsecond % 1000:
        try:
            value += dt.timedelta(microseconds=1000 - value.microsecond % 1000)
        except OverflowError:  # 9999-12-31T23:59:59.999xxx: no larger millisecond exists
            raise _UnboundedError from None
    return json.dumps(value.isoformat(timespec="milliseconds") + ("Z" if aware else ""))


def _json_value(value: Any, is_max: bool) -> str:
    """The JSON text of a bound; raises _UnboundedError when no safe one exists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value, is_max)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _UnboundedError
        return format(value, "f")
    if isinstance(value, str):
        return json.dumps(truncate_max(value) if is_max else truncate_min(value), ensure_ascii=False)
    if isinstance(value, dt.datetime):
        return _json_timestamp(value, is_max)
    if isinstance(value, dt.date):
        return json.dumps(value.isoformat())
    raise _UnboundedError


def _has_bounds(column: pq.ColumnSchema) -> bool:
    """Whether Delta readers expect min/max for this column (not binaries or nested fields)."""
    physical = column.physical_type
    logical = column.logical_type.type
    if logical in ("TIME", "INTERVAL", "UUID", "FLOAT16"):
        return False
    if physical == "BYTE_ARRAY":
        return logical in ("STRING", "ENUM", "JSON")
    if physical == "FIXED_LEN_BYTE_ARRAY":
        return logical == "DECIMAL"
    return True


@dataclass(frozen=True)
class _Footer:
    """One column's footer statistics over all row groups."""

    nulls: int | None  # None when a row group has no null count
    bounds: tuple[Any, Any] | None  # None when some non-null value has no trustworthy bound


def _footer(metadata: pq.FileMetaData, index: int, floats_trusted: bool) -> _Footer:
    nulls = 0
    lows: list[Any] = []
    highs: list[Any] = []
    complete = True
    for group in range(metadata.num_row_groups):
        chunk = metadata.row_group(group).column(index)
        stats = chunk.statistics
        if stats is None or not stats.has_null_count:
            return _Footer(None, None)
        nulls += stats.null_count
        if stats.has_min_max:
            lows.append(stats.min)
            highs.append(stats.max)
        elif stats.null_count != chunk.num_values:
            complete = False
    floats = [v for v in lows + highs if isinstance(v, float)]
    if floats and (not floats_trusted or any(math.isnan(v) for v in floats)):
        complete = False
    return _Footer(nulls, (min(lows), max(highs)) if lows and complete else None)


def file_stats(metadata: pq.FileMetaData, columns: Collection[str] | None = None) -> str:
    """The ``stats`` JSON string of a Delta add action for one Parquet file; only of ``columns`` (the
    table's) when the file holds more (a split write's other side)."""
    rows = metadata.num_rows
    # parquet-mr orders NaN last (Double.compare), so a NaN shows as the footer max; other writers
    # leave NaN out of the bounds, as the Parquet spec says, and their float bounds cannot be trusted.
    floats_trusted = (metadata.created_by or "").startswith("parquet-mr")
    null_count: dict[str, str] = {}
    lows: dict[str, str] = {}
    highs: dict[str, str] = {}
    bounded = True  # every column that needs bounds has them
    schema = metadata.schema
    for index in range(metadata.num_columns):
        column = schema.column(index)
        path = column.path
        if "." in path:  # nested (map/list/struct) leaves: Delta stats cover top-level primitives only
            continue
        if columns is not None and path not in columns:
            continue
        footer = _footer(metadata, index, floats_trusted)
        if footer.nulls is not None:
            null_count[path] = str(footer.nulls)
        if not _has_bounds(column) or footer.nulls == rows:  # all null: the null count says it all
            continue
        try:
            if footer.nulls is None or footer.bounds is None:
                raise _UnboundedError
            lows[path] = _json_value(footer.bounds[0], is_max=False)
            highs[path] = _json_value(footer.bounds[1], is_max=True)
        except _UnboundedError:
            bounded = False
    parts = [f'"numRecords":{rows}']
    if bounded:
        parts += [f'"minValues":{_object(lows)}', f'"maxValues":{_object(highs)}']
    parts.append(f'"nullCount":{_object(null_count)}')
    return "{" + ",".join(parts) + "}"


def _object(members: dict[str, str]) -> str:
    """A JSON object from already encoded member values (decimals must stay exact numbers)."""
    return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{v}" for k, v in members.items()) + "}"
