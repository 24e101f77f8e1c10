"""lake.stats: Delta statistics from Parquet footers, checked by what delta-rs reads back from the log.

The end-to-end check (every reader, every operator, Spark-written files) is tests/test_data_skipping.py;
these tests pin the encoder's rules on files pyarrow writes, without Spark.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, Schema
from deltalake.transaction import AddAction, create_table_with_add_actions

from lake.stats import STRING_PREFIX, file_stats, truncate_max, truncate_min

UTF8_MAX = "\U0010ffff"
ALPHABET = ["a", "b", "\x00", "\x7e", "\x7f", "\x80", "é", "\uffff", "😀", "𠮷", UTF8_MAX]


def utf8(value: str) -> bytes:
    return value.encode("utf-8")


def test_truncated_bounds_enclose_every_string_with_the_prefix() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        value = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 2 * STRING_PREFIX + 5)))
        low, high = truncate_min(value), truncate_max(value)
        # UTF-8 byte order is the order every reader compares strings in.
        assert utf8(low) <= utf8(value) <= utf8(high), repr(value)
        assert value.startswith(low)
        assert len(low) <= STRING_PREFIX
        assert high == value or len(high) <= len(value)


def test_truncation_keeps_whole_code_points() -> None:
    value = "a" * (STRING_PREFIX - 1) + "😀" + "z" * 5
    assert truncate_min(value) == "a" * (STRING_PREFIX - 1) + "😀"
    assert truncate_max(value) == "a" * (STRING_PREFIX - 1) + "😀\x7f"
    assert truncate_max("é" * 40) == "é" * STRING_PREFIX + UTF8_MAX
    assert (
        truncate_max("a" * STRING_PREFIX + UTF8_MAX * 3 + "b") == "a" * STRING_PREFIX + UTF8_MAX * 3 + "\x7f"
    )
    assert truncate_max(UTF8_MAX * 40) == UTF8_MAX * 40  # nothing sorts after it: the value bounds itself


def actions(tmp_path: Path, data: pa.Table) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write ``data`` as one file, commit it with our stats, return (stats JSON, what delta-rs read)."""
    pq.write_table(data, tmp_path / "part-0.parquet", store_decimal_as_integer=True)
    stats = file_stats(pq.read_metadata(tmp_path / "part-0.parquet"))
    add = AddAction("part-0.parquet", (tmp_path / "part-0.parquet").stat().st_size, {}, 0, True, stats)
    create_table_with_add_actions(str(tmp_path), Schema.from_arrow(data.schema), [add], mode="error")
    read = pa.table(DeltaTable(str(tmp_path)).get_add_actions(flatten=True)).to_pylist()[0]
    return json.loads(stats), read


def test_stats_read_back_exactly_by_delta_rs(tmp_path: Path) -> None:
    utc = dt.timezone.utc
    data = pa.table(
        {
            "s": ["b" * 40, "𠮷" * 33, None],
            "amount": pa.array([Decimal("-0.001"), Decimal("12345678.905"), None], pa.decimal128(12, 3)),
            "at": pa.array(
                [
                    dt.datetime(1969, 12, 31, 23, 59, 59, 999999, utc),
                    dt.datetime(1900, 1, 1, 0, 0, 0, 1, utc),
                    None,
                ],
                pa.timestamp("us", "UTC"),
            ),
            "day": pa.array([dt.date(1969, 12, 31), dt.date(2013, 11, 3), None]),
            "flag": [True, False, None],
            "nothing": pa.array([None, None, None], pa.string()),
        }
    )
    stats, read = actions(tmp_path, data)
    assert stats["nullCount"] == {"s": 1, "amount": 1, "at": 1, "day": 1, "flag": 1, "nothing": 3}
    assert read["min.s"] == "b" * STRING_PREFIX
    assert read["max.s"] == "𠮷" * STRING_PREFIX + UTF8_MAX  # not garbled by \\u escapes
    assert read["min.amount"] == Decimal("-0.001")
    assert read["max.amount"] == Decimal("12345678.905")
    # Milliseconds: the min rounded down, the max up, before 1970 too.
    assert stats["minValues"]["at"] == "1900-01-01T00:00:00.000Z"
    assert stats["maxValues"]["at"] == "1970-01-01T00:00:00.000Z"
    assert stats["minValues"]["day"] == "1969-12-31"
    assert (read["min.flag"], read["max.flag"]) == (False, True)
    assert "nothing" not in stats["minValues"]  # all null: nullCount == numRecords says it all


def test_untrusted_float_bounds_leave_the_file_without_min_max(tmp_path: Path) -> None:
    """Writers other than parquet-mr leave NaN out of footer bounds: a NaN may hide behind them, and a
    column without a bound makes delta-rs' pyarrow dataset prune the file, so no file bounds at all."""
    stats, read = actions(tmp_path, pa.table({"x": [float("nan"), 1.0], "s": ["a", "b"]}))
    assert "minValues" not in stats
    assert "maxValues" not in stats
    assert stats["nullCount"] == {"x": 0, "s": 0}
    assert read["num_records"] == 2


@pytest.mark.parametrize("rows", [0, 1])
def test_numbers_are_plain_json(tmp_path: Path, rows: int) -> None:
    stats, _ = actions(tmp_path, pa.table({"n": pa.array([7] * rows, pa.int32())}))
    assert stats["numRecords"] == rows
    if rows:
        assert (stats["minValues"]["n"], stats["maxValues"]["n"]) == (7, 7)
