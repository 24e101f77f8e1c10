"""Register the lake's Delta tables in the Glue Data Catalog so Athena, Glue and EMR find them.

Each table is an external table whose ``table_type`` is ``DELTA``: Athena (engine v3) then reads
the Delta log at the location, not a file listing. Columns come from the contract for raw and
cleaned tables (with descriptions and PII flags) and from the Delta log for every other table,
and are checked against the log either way, so the catalog never disagrees with the data.

The storage format is left as Spark's Delta catalog registers it (SequenceFile placeholders): an
engine that does not understand Delta fails on the table instead of reading every Parquet file
under the location, removed files and orphans included.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from lake.columns import (
    CLEANED_METADATA,
    EXTRA,
    INGESTED_AT,
    RAW_METADATA,
    RUN_ID,
    SOURCE_FILE,
    with_metadata,
)
from lake.contracts import Contract
from lake.deploy.config import DeployConfig
from lake.storage import Storage
from lake.table import ZONES, Table, Zone, list_tables

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient

DELTA_PARAMETERS = {
    "table_type": "DELTA",
    "classification": "delta",
    "spark.sql.sources.provider": "delta",
    "EXTERNAL": "TRUE",
}
METADATA_COMMENTS = {
    EXTRA: "landed columns that are not in the contract, kept losslessly",
    SOURCE_FILE: "landed file the row came from",
    INGESTED_AT: "when ingest read the landed file (UTC)",
    RUN_ID: "lakeprep run that wrote the row",
}
COMMENT_LIMIT = 255

Action = Literal["created", "updated", "unchanged"]


class CatalogError(RuntimeError):
    """The catalog entry would not match the Delta table; the message names the table."""


@dataclass(frozen=True)
class RegisteredTable:
    ref: str
    database: str
    name: str
    version: int
    action: Action


def glue_type(dtype: pa.DataType) -> str:
    """Hive type string of an Arrow type (for columns the contract does not describe)."""
    simple = {
        pa.string(): "string",
        pa.large_string(): "string",
        pa.bool_(): "boolean",
        pa.int8(): "tinyint",
        pa.int16(): "smallint",
        pa.int32(): "int",
        pa.int64(): "bigint",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.date32(): "date",
        pa.binary(): "binary",
        pa.large_binary(): "binary",
    }
    if dtype in simple:
        return simple[dtype]
    if pa.types.is_timestamp(dtype):
        return "timestamp"
    if pa.types.is_decimal(dtype):
        return f"decimal({dtype.precision},{dtype.scale})"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return f"array<{glue_type(dtype.value_type)}>"
    if pa.types.is_map(dtype):
        return f"map<{glue_type(dtype.key_type)},{glue_type(dtype.item_type)}>"
    if pa.types.is_struct(dtype):
        return "struct<" + ",".join(f"{f.name}:{glue_type(f.type)}" for f in dtype) + ">"
    raise CatalogError(f"no Glue type for Arrow type {dtype}")


def _column(field: pa.Field, comment: str = "") -> dict[str, Any]:
    if not comment and field.metadata and b"comment" in field.metadata:
        comment = field.metadata[b"comment"].decode()
    return {"Name": field.name, "Type": glue_type(field.type), "Comment": comment[:COMMENT_LIMIT]}


def _schema_columns(schema: pa.Schema, comments: dict[str, str]) -> list[dict[str, Any]]:
    return [_column(f, comments.get(f.name, "")) for f in schema]


def table_columns(
    table: Table, contract: Contract | None, schema: pa.Schema, partition_by: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(columns, partition keys) of a table: the contract's where it governs the zone, else the log's."""
    if contract is not None and table.zone == "cleaned":
        columns = contract.glue_columns() + _schema_columns(CLEANED_METADATA, METADATA_COMMENTS)
        keys = contract.glue_partition_keys()
    elif contract is not None and table.zone == "raw":
        comments = {c.name: f"as landed: {c.description}" for c in contract.columns} | METADATA_COMMENTS
        columns = _schema_columns(with_metadata(contract.text_schema(), RAW_METADATA), comments)
        keys = []
    else:
        fields = [f for f in schema if f.name not in partition_by]
        columns = _schema_columns(pa.schema(fields), METADATA_COMMENTS)
        keys = _schema_columns(pa.schema([schema.field(p) for p in partition_by]), {})
    declared = [c["Name"] for c in columns + keys]
    if sorted(declared) != sorted(schema.names) or [k["Name"] for k in keys] != partition_by:
        raise CatalogError(
            f"{table.ref}: the Delta log has columns {schema.names} partitioned by {partition_by}, the "
            f"contract describes {declared}; re-run the job that writes {table.ref} before registering it"
        )
    return columns, keys


def table_names(config: DeployConfig, tables: list[Table]) -> dict[str, tuple[str, str]]:
    """``zone/dataset`` -> (database, table); zones sharing a database get ``<zone>_`` prefixes."""
    shared = Counter(config.database(zone) for zone in ZONES)
    names = {}
    for table in tables:
        database = config.database(table.zone)
        name = table.name if shared[database] == 1 else f"{table.zone}_{table.name}"
        names[table.ref] = (database, name.lower())
    return names


def table_input(name: str, table: Table, contract: Contract | None) -> tuple[dict[str, Any], int]:
    snapshot = table.snapshot()
    version = snapshot.version()
    metadata = snapshot.metadata()
    schema = table.arrow_schema()
    columns, keys = table_columns(table, contract, schema, list(metadata.partition_columns))
    parameters = {**DELTA_PARAMETERS, "lakeprep.zone": table.zone, "lakeprep.delta_version": str(version)}
    if contract is not None and table.zone in {"raw", "cleaned"}:
        parameters["lakeprep.contract"] = f"{contract.name}@{contract.fingerprint}"
    description = (
        metadata.description or (contract.description if contract else "") or f"lakeprep {table.ref}"
    )
    return (
        {
            "Name": name,
            "Description": description,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": parameters,
            "PartitionKeys": keys,
            "StorageDescriptor": {
                "Columns": columns,
                "Location": table.uri,
                "InputFormat": "org.apache.hadoop.mapred.SequenceFileInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveSequenceFileOutputFormat",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                    "Parameters": {"serialization.format": "1", "path": table.uri},
                },
            },
        },
        version,
    )


def _unchanged(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    descriptor, target = existing.get("StorageDescriptor", {}), wanted["StorageDescriptor"]
    return (
        existing.get("Description") == wanted["Description"]
        and existing.get("Parameters") == wanted["Parameters"]
        and existing.get("PartitionKeys", []) == wanted["PartitionKeys"]
        and descriptor.get("Columns") == target["Columns"]
        and descriptor.get("Location") == target["Location"]
    )


def ensure_database(glue: GlueClient, config: DeployConfig, storage: Storage, zone: str) -> str:
    database = config.database(zone)
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(
            DatabaseInput={
                "Name": database,
                "Description": f"lakeprep {zone} zone ({config.environment})",
                "LocationUri": storage.uri(zone),
            }
        )
    return database


def register_tables(
    glue: GlueClient,
    config: DeployConfig,
    storage: Storage,
    contracts: dict[str, Contract],
    zones: tuple[Zone, ...] = ZONES,
) -> list[RegisteredTable]:
    """Create or update one catalog table per Delta table of ``zones`` (idempotent)."""
    tables = list_tables(storage, zones)
    names = table_names(config, tables)
    registered = []
    for zone in sorted({t.zone for t in tables}):
        ensure_database(glue, config, storage, zone)
    for table in tables:
        database, name = names[table.ref]
        wanted, version = table_input(name, table, contracts.get(table.name))
        try:
            existing: dict[str, Any] | None = dict(glue.get_table(DatabaseName=database, Name=name)["Table"])
        except glue.exceptions.EntityNotFoundException:
            existing = None
        action: Action
        if existing is None:
            glue.create_table(DatabaseName=database, TableInput=wanted)  # type: ignore[arg-type]
            action = "created"
        elif _unchanged(existing, wanted):
            action = "unchanged"
        else:
            glue.update_table(DatabaseName=database, TableInput=wanted)  # type: ignore[arg-type]
            action = "updated"
        registered.append(RegisteredTable(table.ref, database, name, version, action))
    return registered
