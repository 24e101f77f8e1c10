"""Feature specs: one declarative file per feature set (``schemas/features/<name>.yaml``).

A spec names the cleaned tables and joins, the label and the rows without one, SQL derivations
(log, ratio, date parts, expressions), leak-free window aggregates over previous days, and the
fitted transforms (imputation, indexing / one-hot, bucketing, scaling) that ``pyspark.ml`` runs.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict, Field, model_validator

from lake.contracts import ContractError, parse_document
from lake.contracts.model import fingerprint_of, repeated
from lake.documents import IDENTIFIER_PATTERN, StrictModel, document_names, find_document
from lake.storage import Storage
from lake.tags import CommitTags

if TYPE_CHECKING:
    from lake.table import Table

FEATURES_DIR = "features"  # under the contracts folder


class _Strict(StrictModel):
    # Bucket splits use +/-inf; keep them as JSON Infinity (not null) when a spec is saved.
    model_config = ConfigDict(ser_json_inf_nan="constants")


class Join(_Strict):
    """A left/inner join of another cleaned table; its columns arrive as ``<prefix><column>``."""

    dataset: str
    how: Literal["left", "inner"] = "left"
    keys: dict[str, str] = Field(
        min_length=1, description="base column -> joined column (YAML reads `on` as true)"
    )
    columns: list[str] = Field(min_length=1)
    prefix: str = Field(pattern=r"^[a-z][a-z0-9_]*_$")


class LabelSpec(_Strict):
    name: str = Field(pattern=IDENTIFIER_PATTERN)
    expr: str = Field(description="Spark SQL expression giving 0/1 (or a class index)")
    exclude: dict[str, str] = Field(
        default_factory=dict,
        description="reason -> SQL condition for rows without a defined label; counted, never silent",
    )


class Derived(_Strict):
    """A column computed per row by SQL (no fitting): expressions, log, ratio, date/time parts."""

    name: str = Field(pattern=IDENTIFIER_PATTERN)
    expr: str | None = None
    log1p: str | None = None
    ratio: tuple[str, str] | None = None
    date_part: (
        Literal["year", "month", "dayofmonth", "dayofweek", "dayofyear", "hour", "minute", "weekofyear"]
        | None
    ) = None
    of: str | None = Field(default=None, description="the date/timestamp expression date_part reads")

    @model_validator(mode="after")
    def _one_source(self) -> Derived:
        given = [k for k in ("expr", "log1p", "ratio", "date_part") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"derived column {self.name!r} needs exactly one of expr, log1p, ratio, date_part (got {given})"
            )
        if self.date_part is not None and not self.of:
            raise ValueError(f"derived column {self.name!r}: date_part needs `of`")
        return self

    def sql(self) -> str:
        if self.expr is not None:
            return self.expr
        if self.log1p is not None:
            return f"log1p(CASE WHEN {self.log1p} >= 0 THEN {self.log1p} END)"
        if self.ratio is not None:
            numerator, denominator = self.ratio
            return f"CAST({numerator} AS DOUBLE) / NULLIF(CAST({denominator} AS DOUBLE), 0)"
        return f"{self.date_part}({self.of})"


class WindowFeature(_Strict):
    """An aggregate of a group's rows over the previous ``days`` days, excluding the row's own day,
    so no example sees its own label or anything later (no leakage)."""

    name: str = Field(pattern=IDENTIFIER_PATTERN)
    partition_by: list[str] = Field(min_length=1)
    value: str
    agg: Literal["avg", "sum", "count", "min", "max", "stddev"] = "avg"
    days: int = Field(ge=1, le=366)
    date: str = Field(description="SQL date expression of the row, e.g. make_date(year, month, day)")


class FeatureColumn(_Strict):
    """How one column becomes model input (fitted on the training split only)."""

    column: str
    kind: Literal["numeric", "categorical"] = "numeric"
    impute: Literal["none", "mean", "median", "mode"] = "none"
    scale: bool = False
    encode: Literal["index", "onehot"] = "index"
    buckets: list[float] | None = Field(
        default=None, description="Bucketizer splits; use .inf / -.inf for open ends"
    )

    @model_validator(mode="after")
    def _consistent(self) -> FeatureColumn:
        if self.kind == "categorical" and (self.impute != "none" or self.scale or self.buckets):
            raise ValueError(
                f"categorical feature {self.column!r}: impute/scale/buckets apply to numeric features"
            )
        if self.buckets is not None and (len(self.buckets) < 3 or sorted(self.buckets) != self.buckets):
            raise ValueError(f"feature {self.column!r}: buckets need at least 3 increasing splits")
        if self.buckets is not None and self.scale:
            raise ValueError(f"feature {self.column!r}: a bucket index is not scaled")
        return self

    @property
    def output(self) -> str:
        return f"{self.column}_bucket" if self.buckets else self.column


class SplitSpec(_Strict):
    train: float = Field(gt=0, lt=1)
    validation: float = Field(ge=0, lt=1)
    test: float = Field(ge=0, lt=1)
    salt: str = "lakeprep"

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSpec:
        if not math.isclose(self.train + self.validation + self.test, 1.0):
            raise ValueError("train + validation + test must be 1")
        return self


class DriftSpec(_Strict):
    psi_threshold: float = Field(default=0.2, gt=0)
    ks_threshold: float = Field(default=0.1, gt=0, le=1)
    bins: int = Field(default=10, ge=2, le=100)


class FeatureSpec(_Strict):
    name: str = Field(pattern=IDENTIFIER_PATTERN)
    description: str = ""
    base: str = Field(description="the cleaned dataset with one example per row")
    id: list[str] = Field(min_length=1, description="base columns that identify an example")
    joins: list[Join] = Field(default_factory=list)
    label: LabelSpec
    derived: list[Derived] = Field(default_factory=list)
    windows: list[WindowFeature] = Field(default_factory=list)
    features: list[FeatureColumn] = Field(min_length=1)
    vector: bool = Field(
        default=True, description="also write all features assembled as `features` (array<double>)"
    )
    split: SplitSpec
    drift: DriftSpec = Field(default_factory=DriftSpec)

    @model_validator(mode="after")
    def _unique_outputs(self) -> FeatureSpec:
        outputs = [f.output for f in self.features]
        if repeated(outputs):
            raise ValueError(f"feature outputs repeat: {repeated(outputs)}")
        reserved = {"example_id", "split", self.label.name, "features", "_run_id"}
        clash = sorted(reserved & set(outputs))
        if clash:
            raise ValueError(f"feature outputs {clash} clash with the table's own columns")
        return self

    @property
    def inputs(self) -> list[str]:
        """Cleaned datasets this spec reads (the base first)."""
        return [self.base, *[j.dataset for j in self.joins if j.dataset != self.base]]

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint_of(self)

    @property
    def outputs(self) -> list[str]:
        return [f.output for f in self.features]


def parse_feature_spec(text: str, source: str) -> FeatureSpec:
    return parse_document(text, source, FeatureSpec, "feature spec")


def feature_spec_names(folder: Path) -> list[str]:
    """The feature specs under ``<contracts>/features`` (YAML or JSON), by name."""
    return document_names(folder / FEATURES_DIR)


def load_feature_spec(folder: Path, name: str) -> FeatureSpec:
    """``<contracts>/features/<name>.yaml`` (or .yml/.json)."""
    path = find_document(name, [folder / FEATURES_DIR])
    if path is None:
        known = feature_spec_names(folder)
        raise ContractError(f"no feature spec {name!r} in {folder / FEATURES_DIR} (known: {known})")
    spec = parse_feature_spec(path.read_text(), str(path))
    if spec.name != name:
        raise ContractError(f"{path}: name {spec.name!r} does not match the file name {name!r}")
    return spec


SPEC_FILE = "spec.json"


def save_spec(storage: Storage, pipeline_uri: str, spec: FeatureSpec) -> None:
    """Keep the spec a pipeline was trained with beside it (the spec file may move on later)."""
    storage.write_bytes(f"{pipeline_uri}/{SPEC_FILE}", spec.model_dump_json(indent=2).encode())


def recorded_spec(storage: Storage, pipeline_uri: str) -> FeatureSpec:
    uri = f"{pipeline_uri}/{SPEC_FILE}"
    return parse_feature_spec(storage.read_text(uri), uri)


def version_spec(table: Table, version: int) -> FeatureSpec | None:
    """The spec features ``version`` was built with (None for a version featurize did not write)."""
    recorded = CommitTags.read(table.commit_tags(version)).features
    return None if recorded is None else recorded_spec(table.storage, recorded.pipeline)
