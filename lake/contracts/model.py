"""Dataset contracts: one declarative file per dataset drives reading, validation and the catalog.

A contract is data (YAML or JSON under ``schemas/``). This module is its only typed model: the
Spark read schema, the Arrow/Delta schema, the row and dataset rules and the Glue columns all
come from here, so there is no second copy of what a dataset looks like.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pyarrow as pa
from pydantic import BaseModel, Field, PrivateAttr, field_validator, model_validator

from lake.contracts import implicit_rules
from lake.contracts.types import PARTITIONABLE, LogicalType, logical_type
from lake.documents import IDENTIFIER_PATTERN, StrictModel

if TYPE_CHECKING:
    import deltalake
    from pyspark.sql.types import StructType

Severity = Literal["warn", "quarantine", "fail"]
PiiAction = Literal["none", "keep", "hash", "drop"]


def repeated(names: list[str]) -> list[str]:
    """The names that occur more than once (sorted), for "duplicate ..." errors."""
    return sorted({n for n in names if names.count(n) > 1})


def fingerprint_of(model: BaseModel) -> str:
    """Stable short hash of a model's content (canonical JSON), recorded on the commits it governs."""
    canonical = json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class Column(StrictModel):
    name: str = Field(pattern=IDENTIFIER_PATTERN)
    type: str
    nullable: bool = True
    description: str = ""
    pii: PiiAction = "none"
    source_name: str | None = Field(default=None, description="Column name in landed files, if different")
    normalize: Literal["none", "trim", "upper", "lower"] = "trim"
    format: str | None = Field(default=None, description="Spark datetime pattern for date/timestamp text")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return logical_type(value).name

    @model_validator(mode="after")
    def _pii_hash_is_text(self) -> Column:
        if self.pii == "hash" and self.logical.name != "string":
            raise ValueError(
                f"column {self.name!r}: pii 'hash' turns values into hex digests, so its type must be string"
            )
        return self

    @property
    def logical(self) -> LogicalType:
        return logical_type(self.type)

    @property
    def landed_name(self) -> str:
        return self.source_name or self.name


# Python codec name -> the name Spark and Java use.
_ENCODINGS = {"utf-8": "UTF-8", "ascii": "US-ASCII", "latin-1": "ISO-8859-1", "iso8859-1": "ISO-8859-1"}


# Content formats land one raw row per file: ``image`` (PNG, JPEG, GIF, BMP: decoded to check them and
# measure them), ``binary`` (any file; images among them are measured, not checked) and ``text`` (a
# whole file is one document). A content contract's columns are chosen from what ingest knows about
# such a file; a corpus of one document per JSON-lines record is an ordinary ``json`` contract.
Format = Literal["csv", "json", "parquet", "image", "binary", "text"]
TABULAR_FORMATS = ("csv", "json", "parquet")
FILE_FIELDS = ("uri", "path", "size", "sha256", "content_type", "width", "height", "channels")
TEXT_FIELDS = ("uri", "path", "size", "sha256", "text")
CONTENT_FIELDS: dict[str, tuple[str, ...]] = {
    "image": FILE_FIELDS,
    "binary": FILE_FIELDS,
    "text": TEXT_FIELDS,
}


class SourceSpec(StrictModel):
    """How landed files of this dataset are read. Raw keeps text as landed; cleaning types it."""

    formats: list[Format] = ["csv", "json", "parquet"]
    csv_header: bool = True
    csv_delimiter: str = ","
    csv_quote: str = '"'
    encoding: str = Field(
        default="UTF-8",
        description="UTF-8, US-ASCII or ISO-8859-1; records that do not decode are quarantined",
    )
    null_values: list[str] = Field(default_factory=lambda: ["", "NA", "NULL", "null"])
    on_changed_file: Literal["reingest", "reject"] = Field(
        default="reingest",
        description="A file re-delivered with new content: replace its rows in raw, or hold it back",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        """Canonical name of a supported encoding: ASCII-compatible, so records split the same in any."""
        try:
            name = codecs.lookup(value).name
        except LookupError:
            name = ""
        if name not in _ENCODINGS:
            raise ValueError(f"unsupported encoding {value!r}; use one of {sorted(_ENCODINGS.values())}")
        return _ENCODINGS[name]

    @field_validator("formats")
    @classmethod
    def _one_kind(cls, value: list[Format]) -> list[Format]:
        """Files and text documents land in differently shaped rows, so a dataset takes one kind."""
        kinds = {CONTENT_FIELDS.get(f, TABULAR_FORMATS) for f in value}
        if len(kinds) > 1:
            raise ValueError(
                f"{value} mixes kinds: take csv/json/parquet records, image/binary files or text documents"
            )
        return value

    @property
    def content_fields(self) -> tuple[str, ...] | None:
        """What a content dataset's columns may be (None for record formats)."""
        return CONTENT_FIELDS.get(self.formats[0]) if self.formats else None


class DriftPolicy(StrictModel):
    """What to do when landed files stop matching the contract."""

    new_columns: Literal["keep", "fail"] = "keep"  # keep: stored losslessly in raw `_extra`, warned
    missing_columns: Literal["fill_null", "fail"] = "fail"
    type_changes: Literal["quarantine", "fail"] = "quarantine"  # values that no longer cast


class AnomalyPolicy(StrictModel):
    history: int = Field(default=5, ge=1, description="Previous runs to compare against")
    row_count_ratio: float = Field(default=0.5, gt=0, description="Flag |rows/median - 1| above this")
    null_rate_delta: float = Field(default=0.2, gt=0, le=1, description="Flag a null-rate jump above this")


class _Rule(StrictModel):
    name: str = Field(pattern=IDENTIFIER_PATTERN)
    severity: Severity = "quarantine"
    description: str = ""


class NotNullRule(_Rule):
    check: Literal["not_null"]
    column: str


class AllowedValuesRule(_Rule):
    check: Literal["allowed_values"]
    column: str
    values: list[str | int | float | bool] = Field(min_length=1)


class RangeRule(_Rule):
    check: Literal["range"]
    column: str
    min: float | str | None = None
    max: float | str | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> RangeRule:
        if self.min is None and self.max is None:
            raise ValueError("a range rule needs min, max or both")
        return self


class RegexRule(_Rule):
    check: Literal["regex"]
    column: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


class ExpressionRule(_Rule):
    """A Spark SQL boolean expression every row must satisfy (NULL passes, as in SQL CHECK)."""

    check: Literal["expression"]
    expr: str
    columns: list[str] = Field(default_factory=list, description="Columns the expression reads")


class UniqueRule(_Rule):
    """The first row of each key (in ingestion order) passes; later ones fail."""

    check: Literal["unique"]
    columns: list[str] = Field(min_length=1)


class ReferenceRule(_Rule):
    """Values must exist in a column of another dataset's cleaned table (NULL passes)."""

    check: Literal["reference"]
    column: str
    dataset: str
    ref_column: str


RowRule = Annotated[
    NotNullRule | AllowedValuesRule | RangeRule | RegexRule | ExpressionRule | UniqueRule | ReferenceRule,
    Field(discriminator="check"),
]


class RowCountRule(_Rule):
    check: Literal["row_count"]
    severity: Literal["warn", "fail"] = "fail"
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class CompletenessRule(_Rule):
    check: Literal["completeness"]
    severity: Literal["warn", "fail"] = "warn"
    column: str
    min_ratio: float = Field(ge=0, le=1)


DatasetRule = Annotated[RowCountRule | CompletenessRule, Field(discriminator="check")]


class Contract(StrictModel):
    name: str = Field(pattern=IDENTIFIER_PATTERN)
    description: str = ""
    owner: str | None = None
    version: int = 1
    source: SourceSpec = Field(default_factory=SourceSpec)
    columns: list[Column] = Field(min_length=1)
    keys: list[str] = Field(default_factory=list)
    partition_by: list[str] = Field(default_factory=list)
    drift: DriftPolicy = Field(default_factory=DriftPolicy)
    rules: list[RowRule] = Field(default_factory=list)
    dataset_rules: list[DatasetRule] = Field(default_factory=list)
    anomalies: AnomalyPolicy = Field(default_factory=AnomalyPolicy)

    _path: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        names = [c.name for c in self.columns]
        duplicates = repeated(names)
        if duplicates:
            raise ValueError(f"duplicate column names: {duplicates}")
        known = set(names)

        def need(where: str, cols: list[str]) -> None:
            missing = [c for c in cols if c not in known]
            if missing:
                raise ValueError(f"{where} names unknown column(s) {missing}; columns are {names}")

        need("keys", self.keys)
        fields = self.source.content_fields
        unknown = [c.landed_name for c in self.columns if fields and c.landed_name not in fields]
        if unknown:
            raise ValueError(
                f"column(s) {unknown} are not known of a landed {'/'.join(self.source.formats)} file; "
                f"use {list(fields or ())} (source_name maps one to another column name)"
            )
        need("partition_by", self.partition_by)
        by_name = {c.name: c for c in self.columns}
        for col in self.partition_by:
            if by_name[col].logical.name not in PARTITIONABLE:
                raise ValueError(
                    f"partition column {col!r} has type {by_name[col].type}; use one of {sorted(PARTITIONABLE)}"
                )
            if by_name[col].pii in {"hash", "drop"}:
                raise ValueError(
                    f"partition column {col!r} is PII ({by_name[col].pii}); partition paths would expose it"
                )
        rule_names: list[str] = []
        for rule in [*self.rules, *self.dataset_rules]:
            rule_names.append(rule.name)
            if rule.name.startswith(implicit_rules.RESERVED):
                raise ValueError(f"rule name {rule.name!r} is reserved for lakeprep's own checks")
            if isinstance(rule, UniqueRule | ExpressionRule):
                need(f"rule {rule.name!r}", rule.columns)
            elif hasattr(rule, "column"):
                need(f"rule {rule.name!r}", [rule.column])
            if isinstance(rule, RangeRule):
                self._check_range(rule, by_name[rule.column])
        if repeated(rule_names):
            raise ValueError(f"duplicate rule names: {repeated(rule_names)}")
        return self

    @staticmethod
    def _check_range(rule: RangeRule, column: Column) -> None:
        for bound in (rule.min, rule.max):
            if bound is None:
                continue
            if column.logical.is_numeric and not isinstance(bound, int | float):
                raise ValueError(
                    f"rule {rule.name!r}: bound {bound!r} must be a number for {column.type} column {column.name!r}"
                )
            if column.logical.is_temporal and not isinstance(bound, str):
                raise ValueError(
                    f"rule {rule.name!r}: bound {bound!r} must be an ISO date/time string for {column.name!r}"
                )

    # ----------------------------------------------------------------------------------- lookups
    @property
    def path(self) -> str | None:
        """The file this contract was loaded from (for error messages)."""
        return self._path

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"contract {self.name!r} has no column {name!r}")

    @property
    def published_columns(self) -> list[Column]:
        """Columns that reach the cleaned zone (PII columns marked `drop` do not)."""
        return [c for c in self.columns if c.pii != "drop"]

    @cached_property
    def fingerprint(self) -> str:
        """Stable hash of the contract's content; recorded on every commit it governs."""
        return fingerprint_of(self)

    # ----------------------------------------------------------------------------------- schemas
    def arrow_schema(self) -> pa.Schema:
        """Typed schema of the published (cleaned) columns, without lakeprep's metadata columns."""
        return pa.schema(
            [
                pa.field(
                    c.name,
                    c.logical.arrow,
                    nullable=c.nullable,
                    metadata={"comment": c.description} if c.description else None,
                )
                for c in self.published_columns
            ]
        )

    def text_schema(self) -> pa.Schema:
        """Landed columns as text: raw keeps values exactly as landed, cleaning types them."""
        return pa.schema([pa.field(c.name, pa.string()) for c in self.columns])

    def delta_schema(self, arrow: pa.Schema | None = None) -> deltalake.Schema:
        from deltalake import Schema

        return Schema.from_arrow(arrow if arrow is not None else self.arrow_schema())

    def spark_schema(self, arrow: pa.Schema | None = None) -> StructType:
        return spark_schema_of(self.delta_schema(arrow))

    def glue_columns(self) -> list[dict[str, Any]]:
        """Columns for the Glue Data Catalog, with descriptions and PII flags as parameters."""
        out = []
        for col in self.published_columns:
            if col.name in self.partition_by:
                continue
            entry: dict[str, Any] = {
                "Name": col.name,
                "Type": col.logical.glue,
                "Comment": col.description[:255],
            }
            if col.pii != "none":
                entry["Parameters"] = {"pii": col.pii}
            out.append(entry)
        return out

    def glue_partition_keys(self) -> list[dict[str, Any]]:
        by_name = {c.name: c for c in self.columns}
        return [
            {"Name": n, "Type": by_name[n].logical.glue, "Comment": by_name[n].description[:255]}
            for n in self.partition_by
        ]


def spark_schema_of(delta_schema: deltalake.Schema) -> StructType:
    """Delta's schema JSON is Spark's StructType JSON, so no second type mapping is needed."""
    from pyspark.sql.types import StructType

    return StructType.fromJson(json.loads(delta_schema.to_json()))
