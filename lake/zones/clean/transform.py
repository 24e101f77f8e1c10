"""Raw -> cleaned: normalise text, cast to contract types, flag duplicates and rule failures, treat PII.

Every function here is DataFrame -> DataFrame (or builds column expressions) so a five-row test
covers it. Casting never throws, on Spark 3.5 (non-ANSI) or 4.x (ANSI): a value that does not fit
its type becomes a ``type__<column>`` rule failure with the original text kept for quarantine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lake.columns import ACCEPTED, INGESTED_AT, OUTCOME, REJECTED, RUN_ID, SOURCE_FILE
from lake.contracts.implicit_rules import DUPLICATE_KEY, not_null_rule, type_rule
from lake.contracts.model import Column as ContractColumn
from lake.contracts.model import Contract, ReferenceRule, Severity, UniqueRule
from lake.quality.rules import (
    CompiledRule,
    ReferenceLookup,
    compile_rule,
    failed_rules_column,
    helper_column,
    with_reference_flags,
    with_unique_flags,
)
from lake.quality.validate import QUARANTINED
from lake.spark_columns import quarantine_payload

TEXT_PREFIX = "__text_"
SALT = "__pii_salt"


def _q(name: str) -> str:
    return f"`{name}`"


def normalize_text(frame: DataFrame, contract: Contract) -> DataFrame:
    """Trim / case-fold each contract column and turn the contract's null tokens into NULL.

    The landed text stays available as ``__text_<column>`` for quarantine records."""
    tokens = [t.strip() for t in contract.source.null_values]
    columns = []
    for col in contract.columns:
        value = F.col(col.name)
        if col.normalize != "none":
            value = F.trim(value)
        if col.normalize == "upper":
            value = F.upper(value)
        elif col.normalize == "lower":
            value = F.lower(value)
        compare = F.trim(F.col(col.name))
        value = F.when(F.col(col.name).isNull() | compare.isin(tokens), F.lit(None).cast("string")).otherwise(
            value
        )
        columns.append(value.alias(col.name))
    passthrough = [c for c in frame.columns if c not in {col.name for col in contract.columns}]
    texts = [F.col(col.name).alias(TEXT_PREFIX + col.name) for col in contract.columns]
    return frame.select(*columns, *texts, *[F.col(_q(c)) for c in passthrough])


def cast_expression(column: ContractColumn) -> Column:
    """Text -> the contract type, NULL when the text does not fit (never an error, in any ANSI mode)."""
    name = _q(column.name)
    logical = column.logical
    if logical.name == "string":
        return F.col(column.name)
    if logical.is_integral:
        # "517" and "517.0" are both the integer 517; "517.5" is not an integer.
        exact = F.expr(f"try_cast({name} AS BIGINT)")
        as_decimal = F.expr(f"try_cast({name} AS DECIMAL(38, 9))")
        integral = F.when(
            as_decimal == F.floor(as_decimal),
            F.expr(f"try_cast(try_cast({name} AS DECIMAL(38, 9)) AS BIGINT)"),
        )
        wide = F.coalesce(exact, integral)
        return wide if logical.name == "long" else _narrow(wide)
    if logical.is_temporal and column.format:
        parsed = F.expr(f"try_to_timestamp({name}, '{column.format}')")
        return parsed.cast("date") if logical.name == "date" else parsed
    return F.expr(f"try_cast({name} AS {logical.spark_ddl})")


def _narrow(wide: Column) -> Column:
    """BIGINT -> INT, NULL when out of range (``try_cast`` semantics without an SQL string)."""
    return F.when((wide >= -(2**31)) & (wide <= 2**31 - 1), wide.cast("int"))


def cast_to_contract(frame: DataFrame, contract: Contract) -> DataFrame:
    """Typed contract columns; ``type__<column>`` is true where text existed but did not cast."""
    typed = [cast_expression(col).alias(col.name) for col in contract.columns]
    failures = [
        (F.col(col.name).isNotNull() & cast_expression(col).isNull()).alias(type_rule(col.name))
        for col in contract.columns
        if col.logical.name != "string"
    ]
    rest = [F.col(_q(c)) for c in frame.columns if c not in {col.name for col in contract.columns}]
    return frame.select(*typed, *failures, *rest)


def key_rule(contract: Contract) -> UniqueRule | None:
    if not contract.keys:
        return None
    return UniqueRule(name=DUPLICATE_KEY, check="unique", columns=list(contract.keys), severity="quarantine")


def dedupe_order(contract: Contract) -> list[str]:
    """First occurrence wins: earliest ingestion, then file, then the row's own values (deterministic)."""
    return [INGESTED_AT, SOURCE_FILE, *[TEXT_PREFIX + c.name for c in contract.columns]]


def implicit_rules(contract: Contract) -> list[CompiledRule]:
    """The checks every contract implies: types, nullability, key uniqueness."""
    type_severity: Severity = "fail" if contract.drift.type_changes == "fail" else "quarantine"
    rules = [
        CompiledRule(
            type_rule(c.name), type_severity, F.col(type_rule(c.name)), f"{c.name} does not cast to {c.type}"
        )
        for c in contract.columns
        if c.logical.name != "string"
    ]
    rules += [
        CompiledRule(not_null_rule(c.name), "quarantine", F.col(c.name).isNull(), f"{c.name} is required")
        for c in contract.columns
        if not c.nullable
    ]
    key = key_rule(contract)
    if key is not None:
        rules.append(
            CompiledRule(
                key.name, key.severity, F.col(helper_column(key.name)), f"duplicate of key {contract.keys}"
            )
        )
    return rules


def all_rules(contract: Contract) -> list[CompiledRule]:
    return implicit_rules(contract) + [compile_rule(rule, contract) for rule in contract.rules]


def flag_rows(
    typed: DataFrame,
    contract: Contract,
    references: Mapping[str, ReferenceLookup] | None = None,
    existing_keys: DataFrame | None = None,
) -> DataFrame:
    """Add the helper columns unique and reference rules read (windows and joins, still one plan).

    ``existing_keys`` (published keys already in the cleaned table) makes an incremental batch
    treat keys seen in earlier batches as duplicates too."""
    unique = [r for r in contract.rules if isinstance(r, UniqueRule)]
    key = key_rule(contract)
    frame = with_unique_flags(typed, [*unique, *([key] if key else [])], dedupe_order(contract))
    if key is not None and existing_keys is not None:
        marker = "__key_exists"
        seen = existing_keys.select(*contract.keys).distinct().withColumn(marker, F.lit(True))
        probes = [published_value(contract.column(k), F.col(k)).alias(f"__probe_{k}") for k in contract.keys]
        frame = frame.select("*", *probes)
        condition = [frame[f"__probe_{k}"].eqNullSafe(seen[k]) for k in contract.keys]
        frame = frame.join(seen, condition, "left").drop(*[seen[k] for k in contract.keys])
        frame = frame.withColumn(
            helper_column(key.name), F.col(helper_column(key.name)) | F.col(marker).isNotNull()
        ).drop(marker, *[f"__probe_{k}" for k in contract.keys])
    refs = [r for r in contract.rules if isinstance(r, ReferenceRule)]
    if refs:
        frame = with_reference_flags(frame, refs, references or {})
    return frame


# ------------------------------------------------------------------------------------------ PII
def with_salt(frame: DataFrame, salt: str | None) -> DataFrame:
    """Attach the PII salt as data (a broadcast one-row frame), so it never appears in plan text."""
    spark = frame.sparkSession
    value = spark.createDataFrame([(salt or "",)], f"{SALT} string")
    return frame.crossJoin(F.broadcast(value))


def published_value(column: ContractColumn, value: Column) -> Column:
    """A column's value as the cleaned zone stores it: hashed when the contract says ``pii: hash``.

    Needs the salt column (``with_salt``) on the frame for hashed columns."""
    if column.pii == "hash":
        return F.when(value.isNotNull(), F.sha2(F.concat(F.col(SALT), F.lit("|"), value.cast("string")), 256))
    return value


def published_columns(contract: Contract) -> list[Column]:
    """The cleaned zone's contract columns, with PII hashed and dropped as the contract says."""
    return [published_value(c, F.col(c.name)).alias(c.name) for c in contract.published_columns]


def quarantine_record(contract: Contract) -> Column:
    """The landed text of a rejected row as JSON, with the same PII treatment as the cleaned zone."""
    fields = [
        published_value(c, F.col(TEXT_PREFIX + c.name)).alias(c.name)
        for c in contract.columns
        if c.pii != "drop"
    ]
    return F.to_json(F.struct(*fields))


def split_by_outcome(
    flagged: DataFrame, contract: Contract, rules: Sequence[CompiledRule], run_id: str, at: dt.datetime
) -> DataFrame:
    """Accepted rows in the cleaned layout and rejected rows in the quarantine layout, in one frame
    tagged ``_outcome`` (each side's columns NULL on the other side's rows), so one write stores both.

    A rejected row's reasons and landed text are computed only for that row (inside the ``when``);
    no row carries a list of rule names or its landed text any further than this projection."""
    accepted = ~F.col(QUARANTINED)
    return flagged.select(
        F.when(accepted, F.lit(ACCEPTED)).otherwise(F.lit(REJECTED)).alias(OUTCOME),
        *[
            F.when(accepted, published_value(c, F.col(c.name))).alias(c.name)
            for c in contract.published_columns
        ],
        F.col(SOURCE_FILE),
        F.when(accepted, F.col(INGESTED_AT)).alias(INGESTED_AT),
        F.lit(run_id).alias(RUN_ID),
        *quarantine_payload(failed_rules_column(rules), quarantine_record(contract), at, where=~accepted),
    )


def needs_salt(contract: Contract) -> bool:
    return any(c.pii == "hash" for c in contract.columns)


def reference_probe(contract: Contract, rule: ReferenceRule, referenced: Contract | None) -> Column:
    """Compare in the referenced table's representation: hash our value if it stores hashes."""
    if referenced is not None and referenced.column(rule.ref_column).pii == "hash":
        return published_value(referenced.column(rule.ref_column), F.col(rule.column))
    return F.col(rule.column)


def columns_for_context(contract: Contract, limit: int = 6) -> Sequence[str]:
    """Columns shown with a failing row in error messages (never PII)."""
    names = [SOURCE_FILE] + [c.name for c in contract.columns if c.pii == "none"]
    return names[:limit]


def column_lineage(contract: Contract, raw_uri: str) -> dict[str, list[tuple[str, str, str, str]]]:
    """Each cleaned column comes from the raw column of the same name: kept (string), cast, or hashed."""
    lineage = {}
    for column in contract.published_columns:
        subtype = "IDENTITY" if column.logical.name == "string" and column.pii == "none" else "TRANSFORMATION"
        lineage[column.name] = [(raw_uri, column.name, "DIRECT", subtype)]
    return lineage
