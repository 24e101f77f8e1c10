"""The campaign's output: one label per item (human consensus first, else the machine label), the
training set (pinned features joined with those labels, with provenance), and an accuracy check
against a known label column for simulated campaigns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from labeling import pool
from labeling.spec import CampaignSpec
from labeling.store import HUMAN, MACHINE, CampaignStore
from lake.storage import Storage
from lake.table import CommitResult, Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PROVENANCE = pa.schema(
    [
        pa.field("label", pa.string()),
        pa.field("label_index", pa.int32()),
        pa.field("label_source", pa.string()),  # human | machine
        pa.field("label_confidence", pa.float64()),  # annotator agreement (human) or model confidence
        pa.field("label_annotators", pa.list_(pa.string())),
        pa.field("label_round", pa.int32()),
        pa.field("label_strategy", pa.string()),
        pa.field("label_model_version", pa.string()),
        pa.field("label_campaign", pa.string()),
        pa.field("label_features_version", pa.int64()),
    ]
)


def _label_names(spec: CampaignSpec) -> Any:
    from pyspark.sql import functions as F

    return F.array(*[F.lit(label) for label in spec.labels])


def final_labels(
    spark: SparkSession, spec: CampaignSpec, store: CampaignStore, items: pd.DataFrame
) -> DataFrame:
    """``items`` (the human consensus, small) unioned in Spark with the machine labels of every other item."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField("example_id", T.StringType()),
            T.StructField("label_index", T.IntegerType()),
            T.StructField("label_source", T.StringType()),
            T.StructField("label_confidence", T.DoubleType()),
            T.StructField("label_annotators", T.ArrayType(T.StringType())),
            T.StructField("label_round", T.IntegerType()),
            T.StructField("label_strategy", T.StringType()),
            T.StructField("label_model_version", T.StringType()),
        ]
    )
    rows = [
        (
            str(r.example_id),
            int(r.label_index),
            HUMAN,
            None if pd.isna(r.agreement) else float(r.agreement),
            list(r.annotators),
            int(r.round),
            str(r.strategy),
            None if pd.isna(r.model_version) else str(r.model_version),
        )
        for r in items.itertuples(index=False)
    ]
    labels = spark.createDataFrame(rows, schema)
    if store.labels.exists():
        machine = (
            store.labels.read(spark)
            .filter(F.col("source") == MACHINE)
            .select(
                "example_id",
                "label_index",
                F.lit(MACHINE).alias("label_source"),
                F.col("confidence").alias("label_confidence"),
                F.array(F.col("annotator_id")).alias("label_annotators"),
                F.col("round").alias("label_round"),
                F.col("strategy").alias("label_strategy"),
                F.col("model_version").alias("label_model_version"),
            )
            .join(F.broadcast(labels.select("example_id")), "example_id", "left_anti")
        )
        labels = labels.unionByName(machine)
    return labels.select(
        F.element_at(_label_names(spec), F.col("label_index") + 1).alias("label"),
        "*",
        F.lit(spec.name).alias("label_campaign"),
        F.lit(spec.source_version).cast("long").alias("label_features_version"),
    )


def export_training_set(
    spark: SparkSession,
    storage: Storage,
    spec: CampaignSpec,
    labels: DataFrame,
    target: Table,
    tags: Mapping[str, Any],
    run_id: str,
) -> CommitResult:
    """Features at the campaign's pinned version joined with ``labels``; a source column whose name a
    provenance column takes (e.g. the features' own ``label``) is kept as ``source_<name>``."""
    from pyspark.sql import functions as F

    base = pool.source_table(storage, spec.source).arrow_schema(spec.source_version)
    clash = set(PROVENANCE.names) & set(base.names)
    renamed = [f.with_name(f"source_{f.name}") if f.name in clash else f for f in base]
    features = pool.read_source(spark, storage, spec).select(
        *[F.col(f.name).alias(r.name) for f, r in zip(base, renamed, strict=True)]
    )
    key = spec.id_column
    training = features.join(labels.withColumnRenamed("example_id", key), key).select(
        *[f.name for f in renamed], *PROVENANCE.names
    )
    schema = pa.schema([*(f.with_type(pa.string()) if f.name == key else f for f in renamed), *PROVENANCE])
    return target.write(training, schema=schema, mode="overwrite", tags=tags, run_id=run_id)


def evaluate(
    spark: SparkSession, storage: Storage, spec: CampaignSpec, labels: DataFrame, truth_column: str
) -> dict[str, Any]:
    """Accuracy of the final labels per source (human, machine) against a known label column."""
    from pyspark.sql import functions as F

    frame = pool.read_source(spark, storage, spec)
    truth = F.col(truth_column)
    if dict(frame.dtypes)[truth_column] not in {"string", "boolean"}:
        truth = F.element_at(_label_names(spec), truth.cast("int") + 1)
    known = frame.select(F.col(spec.id_column).alias("example_id"), truth.alias("truth"))
    summary = (
        labels.join(known, "example_id")
        .groupBy("label_source")
        .agg(
            F.count(F.lit(1)).alias("items"),
            F.avg((F.col("label") == F.col("truth")).cast("double")).alias("accuracy"),
        )
    )
    return {
        r["label_source"]: {"items": int(r["items"]), "accuracy": float(r["accuracy"])}
        for r in summary.collect()
    }
