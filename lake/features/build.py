"""The per-row part of a feature set: joins, label, derivations, window aggregates, id and split.

Everything here is plain Spark SQL (no fitting, no Python UDFs) and deterministic for the same
input versions, which is what makes a training set rebuildable.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lake.features.spec import FeatureSpec, Join, WindowFeature

EXAMPLE_ID = "example_id"
SPLIT = "split"
EXCLUDED = "__excluded"  # why a row has no usable label (NULL when it has one)
_DAY = "__day"


def _right_side(frame: DataFrame, join: Join) -> DataFrame:
    """The joined table reduced to one row per join key (deterministically), so a join can never
    multiply examples even when the key is not the joined table's own key."""
    keys = list(join.keys.values())
    window = Window.partitionBy(*keys).orderBy(*[F.col(c).asc_nulls_last() for c in join.columns])
    ranked = frame.select(*keys, *join.columns).withColumn("__rank", F.row_number().over(window))
    return ranked.where(F.col("__rank") == 1).select(
        *[F.col(k).alias(f"__key_{join.prefix}{i}") for i, k in enumerate(keys)],
        *[F.col(c).alias(f"{join.prefix}{c}") for c in join.columns],
        F.lit(True).alias(f"__matched_{join.prefix}"),
    )


def join_inputs(base: DataFrame, others: Mapping[str, DataFrame], spec: FeatureSpec) -> DataFrame:
    """Left-join each configured table. An ``inner`` join does not drop rows here: unmatched rows
    get an exclusion reason (``no_<dataset>``), so they are counted like any other exclusion."""
    frame = base
    for join in spec.joins:
        right = _right_side(others[join.dataset], join)
        condition = [frame[b] == right[f"__key_{join.prefix}{i}"] for i, b in enumerate(join.keys)]
        frame = frame.join(right, condition, "left").drop(
            *[f"__key_{join.prefix}{i}" for i in range(len(join.keys))]
        )
    return frame


def with_label(frame: DataFrame, spec: FeatureSpec) -> DataFrame:
    """The label column and ``__excluded``: the first matching exclusion reason, else NULL."""
    reasons: list[tuple[str, Column]] = [
        (name, F.expr(condition)) for name, condition in spec.label.exclude.items()
    ]
    reasons += [
        (f"no_{j.dataset}", F.col(f"__matched_{j.prefix}").isNull()) for j in spec.joins if j.how == "inner"
    ]
    excluded: Column = F.lit(None).cast("string")
    for name, condition in reversed(reasons):
        excluded = F.when(F.coalesce(condition, F.lit(False)), F.lit(name)).otherwise(excluded)
    frame = frame.withColumn(EXCLUDED, excluded)
    label = F.expr(spec.label.expr).cast("int")
    return frame.withColumn(spec.label.name, F.when(F.col(EXCLUDED).isNull(), label))


def with_derived(frame: DataFrame, spec: FeatureSpec) -> DataFrame:
    """SQL derivations in order, so a later one may use an earlier one."""
    for derived in spec.derived:
        frame = frame.withColumn(derived.name, F.expr(derived.sql()))
    return frame


def _daily(history: DataFrame, window: WindowFeature) -> DataFrame:
    value = F.col(window.value).cast("double")
    return history.groupBy(
        *window.partition_by, F.datediff(F.expr(window.date), F.lit("1970-01-01")).alias(_DAY)
    ).agg(
        F.sum(value).alias("s"),
        F.count(value).alias("n"),
        F.sum(value * value).alias("q"),
        F.min(value).alias("lo"),
        F.max(value).alias("hi"),
    )


def window_values(history: DataFrame, window: WindowFeature) -> DataFrame:
    """Per group and day: the aggregate over the ``days`` days before it (never the day itself)."""
    over = Window.partitionBy(*window.partition_by).orderBy(_DAY).rangeBetween(-window.days, -1)
    daily = _daily(history, window)
    s, n, q = F.sum("s").over(over), F.sum("n").over(over), F.sum("q").over(over)
    values = {
        "avg": s / n,
        "sum": s,
        "count": F.coalesce(n, F.lit(0)).cast("double"),
        "min": F.min("lo").over(over),
        "max": F.max("hi").over(over),
        "stddev": F.sqrt(F.greatest((q - s * s / n) / (n - 1), F.lit(0.0))),
    }
    return daily.select(*window.partition_by, _DAY, values[window.agg].cast("double").alias(window.name))


def with_windows(frame: DataFrame, history: DataFrame, spec: FeatureSpec) -> DataFrame:
    """Join each window aggregate on (group, day). ``history`` is the whole base table at the read
    version, so an incremental batch still sees the days before it."""
    for window in spec.windows:
        values = window_values(history, window)
        day = F.datediff(F.expr(window.date), F.lit("1970-01-01"))
        frame = frame.withColumn(_DAY, day).join(values, [*window.partition_by, _DAY], "left").drop(_DAY)
    return frame


def with_example_id(frame: DataFrame, spec: FeatureSpec) -> DataFrame:
    """A readable, stable id from the base table's identifying columns."""
    return frame.withColumn(EXAMPLE_ID, F.concat_ws("|", *[F.col(c).cast("string") for c in spec.id]))


def with_split(frame: DataFrame, spec: FeatureSpec) -> DataFrame:
    """train / validation / test from a hash of the id: an example always lands in the same split."""
    bucket = F.pmod(F.xxhash64(F.lit(spec.split.salt), F.col(EXAMPLE_ID)), F.lit(1_000_000)) / 1_000_000.0
    train, validation = spec.split.train, spec.split.train + spec.split.validation
    return frame.withColumn(
        SPLIT, F.when(bucket < train, "train").when(bucket < validation, "validation").otherwise("test")
    )


def examples(
    base: DataFrame, others: Mapping[str, DataFrame], history: DataFrame, spec: FeatureSpec
) -> DataFrame:
    """Every base row as a candidate example: joined, labelled (or with a reason it is excluded),
    derived, windowed, with its id and split. Nothing is filtered here."""
    frame = join_inputs(base, others, spec)
    frame = with_derived(frame, spec)
    frame = with_label(frame, spec)
    frame = with_windows(frame, history, spec)
    return with_split(with_example_id(frame, spec), spec)
