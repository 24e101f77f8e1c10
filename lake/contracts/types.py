"""The one mapping from contract type names to Spark, Arrow and Glue/Hive types."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


@dataclass(frozen=True)
class LogicalType:
    """A contract column type and its spelling in every engine lakeprep talks to."""

    name: str
    spark_ddl: str  # Spark SQL type, usable in CAST and in DDL schema strings
    arrow: pa.DataType
    glue: str  # Hive type string, as the Glue Data Catalog wants it

    @property
    def is_integral(self) -> bool:
        return self.name in {"int", "long"}

    @property
    def is_numeric(self) -> bool:
        return self.is_integral or self.name in {"float", "double"} or self.name.startswith("decimal")

    @property
    def is_temporal(self) -> bool:
        return self.name in {"date", "timestamp"}


_SIMPLE: dict[str, LogicalType] = {
    t.name: t
    for t in [
        LogicalType("string", "string", pa.string(), "string"),
        LogicalType("boolean", "boolean", pa.bool_(), "boolean"),
        LogicalType("int", "int", pa.int32(), "int"),
        LogicalType("long", "bigint", pa.int64(), "bigint"),
        LogicalType("float", "float", pa.float32(), "float"),
        LogicalType("double", "double", pa.float64(), "double"),
        LogicalType("date", "date", pa.date32(), "date"),
        # Delta `timestamp` is UTC-adjusted micros; Spark writes it with TIMESTAMP_MICROS.
        LogicalType("timestamp", "timestamp", pa.timestamp("us", tz="UTC"), "timestamp"),
    ]
}

TYPE_NAMES = (*_SIMPLE, "decimal(p,s)")
PARTITIONABLE = {"string", "int", "long", "date", "boolean"}


def logical_type(name: str) -> LogicalType:
    """Parse a contract type name; raises ValueError listing the accepted names."""
    key = name.strip().lower()
    if key in _SIMPLE:
        return _SIMPLE[key]
    match = _DECIMAL.match(key)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if not 0 < precision <= 38 or scale > precision:
            raise ValueError(
                f"decimal({precision},{scale}) is out of range (precision 1..38, scale <= precision)"
            )
        return LogicalType(
            f"decimal({precision},{scale})",
            f"decimal({precision},{scale})",
            pa.decimal128(precision, scale),
            f"decimal({precision},{scale})",
        )
    raise ValueError(f"unknown type {name!r}; use one of {', '.join(TYPE_NAMES)}")
