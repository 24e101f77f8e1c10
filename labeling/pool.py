"""The unlabelled pool in Spark: scored where it lives, never collected.

The fitted model is broadcast once and applied per Arrow batch in ``mapInPandas``; the scores are the
same functions the in-memory selector uses (``labeling.strategies``). Selection takes the top rows with
``orderBy(...).limit(k)``, which Spark runs as a per-partition top-k (TakeOrderedAndProject): only k rows
reach the driver, so a ten-million-row pool costs a scan, not a collect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from labeling.models import FittedModel
from labeling.spec import CampaignSpec
from labeling.store import MACHINE
from labeling.strategies import UNCERTAINTY, UNCERTAINTY_COLUMNS
from lake.storage import Storage
from lake.table import Table, Zone

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

RANDOM_KEY = "__random"
PREDICTED = "predicted"
CONFIDENCE = "confidence"
_UNIT = float(2**63)


def source_table(storage: Storage, source: str) -> Table:
    zone, _, name = source.partition("/")
    return Table(storage, zone, name)  # type: ignore[arg-type,unused-ignore]


def source_zone(source: str) -> Zone:
    return source.partition("/")[0]  # type: ignore[return-value]


def read_source(spark: SparkSession, storage: Storage, spec: CampaignSpec) -> DataFrame:
    """The source at the campaign's pinned version, restricted to the pool filter, id as string."""
    from pyspark.sql import functions as F

    frame = source_table(storage, spec.source).read(spark, spec.source_version)
    if spec.pool_filter:
        frame = frame.filter(F.expr(spec.pool_filter))
    return frame.withColumn(spec.id_column, F.col(spec.id_column).cast("string"))


def with_random_key(frame: DataFrame, id_column: str, seed: int, salt: int) -> DataFrame:
    """A uniform [0, 1) key per item from a hash of (seed, salt, id): random, yet the same on every re-run."""
    from pyspark.sql import functions as F

    hashed = F.xxhash64(F.lit(seed), F.lit(salt), F.col(id_column))
    return frame.withColumn(RANDOM_KEY, hashed.bitwiseAND(F.lit(0x7FFFFFFFFFFFFFFF)) / F.lit(_UNIT))


def pool_frame(
    spark: SparkSession,
    storage: Storage,
    spec: CampaignSpec,
    labels: Table,
    salt: int,
    exclude: Sequence[str] = (),
) -> DataFrame:
    """Unlabelled items (id, features, random key): the source minus every labelled or in-flight id."""
    from pyspark.sql import functions as F

    source = read_source(spark, storage, spec)
    frame = source.select(F.col(spec.id_column), *feature_columns(source, spec.feature_columns))
    if labels.exists():
        done = labels.read(spark).select(F.col("example_id").alias(spec.id_column)).distinct()
        frame = frame.join(done, spec.id_column, "left_anti")
    if exclude:
        frame = frame.join(
            F.broadcast(ids_frame(spark, spec.id_column, exclude)), spec.id_column, "left_anti"
        )
    return with_random_key(frame, spec.id_column, spec.seed, salt)


def feature_columns(frame: DataFrame, names: Sequence[str]) -> list[Column]:
    """Feature columns as doubles; vector columns (arrays, e.g. an assembled ``features``) as double arrays."""
    from pyspark.sql import functions as F

    types = dict(frame.dtypes)
    return [
        F.col(c).cast("array<double>" if types[c].startswith("array") else "double").alias(c) for c in names
    ]


def feature_matrix(frame: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The model's input: scalar columns as one column each, vector columns expanded in place."""
    blocks = []
    for name in names:
        values = frame[name].to_numpy()
        first = next((v for v in values if isinstance(v, (list, tuple, np.ndarray))), None)
        if first is not None:  # a missing vector becomes NaNs (the model imputes them)
            width = len(first)
            blocks.append(
                np.vstack([np.full(width, np.nan) if v is None else np.asarray(v, float) for v in values])
            )
        else:
            blocks.append(values.astype(np.float64).reshape(-1, 1))
    return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))


def ids_frame(spark: SparkSession, id_column: str, ids: Sequence[str]) -> DataFrame:
    return spark.createDataFrame([(i,) for i in ids], f"`{id_column}` string")


def score_frame(frame: pd.DataFrame, model: FittedModel, id_column: str) -> pd.DataFrame:
    """Predicted label, confidence and every uncertainty score for one pandas batch (also used in memory)."""
    probs = model.predict_proba(feature_matrix(frame, model.feature_columns))
    scored = {
        id_column: frame[id_column].to_numpy(),
        PREDICTED: probs.argmax(axis=1).astype(np.int32),
        CONFIDENCE: probs.max(axis=1),
    }
    for name, column in UNCERTAINTY_COLUMNS.items():
        scored[column] = UNCERTAINTY[name](probs)
    if RANDOM_KEY in frame:
        scored[RANDOM_KEY] = frame[RANDOM_KEY].to_numpy()
    return pd.DataFrame(scored)


def score_pool(frame: DataFrame, model: FittedModel, id_column: str) -> DataFrame:
    """Score every pool row on the executors with the broadcast model (``mapInPandas``)."""
    spark = frame.sparkSession
    broadcast = spark.sparkContext.broadcast(model)
    uncertainty = ", ".join(f"{c} double" for c in UNCERTAINTY_COLUMNS.values())
    schema = f"`{id_column}` string, {PREDICTED} int, {CONFIDENCE} double, {uncertainty}"
    if RANDOM_KEY in frame.columns:
        schema += f", {RANDOM_KEY} double"

    def score(batches: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        fitted = broadcast.value
        for batch in batches:
            yield score_frame(batch, fitted, id_column)

    return frame.mapInPandas(score, schema)


def machine_labels(
    scored: DataFrame, spec: CampaignSpec, version: str, threshold: float, number: int
) -> DataFrame:
    """Rows of the labels table (``store.LABELS_SCHEMA``) for every scored item at or above the threshold."""
    from pyspark.sql import functions as F

    names = F.array(*[F.lit(label) for label in spec.labels])
    return scored.filter(F.col(CONFIDENCE) >= threshold).select(
        F.lit(spec.name).alias("campaign"),
        F.col(spec.id_column).alias("example_id"),
        F.element_at(names, F.col(PREDICTED) + 1).alias("label"),
        F.col(PREDICTED).cast("int").alias("label_index"),
        F.lit(MACHINE).alias("source"),
        F.lit(f"model:{version}").alias("annotator_id"),
        F.col(CONFIDENCE).alias("confidence"),
        F.lit(number).cast("int").alias("round"),
        F.lit(f"auto-r{number:03d}").alias("batch_id"),
        F.lit("auto").alias("purpose"),
        F.lit("autolabel").alias("strategy"),
        F.lit(version).alias("model_version"),
        F.lit(spec.source_version).cast("long").alias("features_version"),
        F.concat(F.lit(f"machine:{spec.name}:r{number}:"), F.col(spec.id_column)).alias("annotation_key"),
        F.lit("model").alias("backend"),
        F.current_timestamp().alias("labelled_at"),
    )


def top_rows(frame: DataFrame, column: str, k: int, id_column: str) -> list[dict[str, Any]]:
    """The k rows with the highest ``column`` (ties: random key, then id), as plain dicts."""
    from pyspark.sql import functions as F

    if k <= 0:
        return []
    order = [F.col(column).desc()]
    if column != RANDOM_KEY and RANDOM_KEY in frame.columns:
        order.append(F.col(RANDOM_KEY).desc())
    order.append(F.col(id_column).asc())
    return [row.asDict() for row in frame.orderBy(*order).limit(k).collect()]


def rows_for(
    spark: SparkSession, storage: Storage, spec: CampaignSpec, ids: Sequence[str], columns: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Chosen items' columns from the pinned source (a broadcast join: only those rows are read back),
    JSON-safe (numbers, strings, ISO dates), keyed by id."""
    from pyspark.sql import functions as F

    if not ids:
        return {}
    wanted = list(dict.fromkeys([spec.id_column, *columns]))
    frame = (
        read_source(spark, storage, spec)
        .join(F.broadcast(ids_frame(spark, spec.id_column, ids)), spec.id_column)
        .select(*wanted)
    )
    return json_rows(frame, spec.id_column)


def json_rows(frame: DataFrame, key: str) -> dict[str, dict[str, Any]]:
    """A few rows (already bounded) as JSON-safe dicts (numbers, strings, ISO dates), keyed by ``key``."""
    records = json.loads(_pandas(frame).to_json(orient="records", date_format="iso"))
    return {str(r[key]): r for r in records}


def features_for(
    spark: SparkSession, storage: Storage, spec: CampaignSpec, ids: Sequence[str]
) -> dict[str, np.ndarray]:
    """Feature vectors of the given (labelled or candidate) items, keyed by id."""
    from pyspark.sql import functions as F

    if not ids:
        return {}
    source = read_source(spark, storage, spec)
    selected = source.join(F.broadcast(ids_frame(spark, spec.id_column, ids)), spec.id_column).select(
        F.col(spec.id_column), *feature_columns(source, spec.feature_columns)
    )
    frame = _pandas(selected)
    values = feature_matrix(frame, spec.feature_columns)
    return {str(i): values[n] for n, i in enumerate(frame[spec.id_column])}


def _pandas(frame: DataFrame) -> pd.DataFrame:
    """A small (already bounded) Spark result on the driver."""
    return cast(pd.DataFrame, frame.toPandas())
