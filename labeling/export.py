"""The campaign's output: one label per item (human consensus first, else the machine label), the
training set (pinned features joined with those labels, with provenance), and an accuracy check
against a known label column for simulated campaigns.

A span or box campaign exports, per item people answered, the list of regions most of its annotators
agree on (``labeling.regions``; empty when they agree there is none): spans as code point offsets with
the text they cover (``start``/``end``/``text``, the form token classifiers are trained from), boxes as
COCO's ``bbox`` = ``[x, y, width, height]`` in pixels of the original image with its ``area`` and the
image size beside them. Each region keeps its label, its index in the label set and its votes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from labeling import pool
from labeling.regions import item_consensus
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


REGION_SOURCE = {  # what says where a region label came from, as PROVENANCE after its ``label_index``
    name: PROVENANCE.field(name).type for name in PROVENANCE.names[PROVENANCE.names.index("label_source") :]
}
SPAN_REGION = pa.struct(
    [
        pa.field("label", pa.string()),
        pa.field("label_index", pa.int32()),
        pa.field("start", pa.int32()),  # code points, end exclusive
        pa.field("end", pa.int32()),
        pa.field("text", pa.string()),
        pa.field("votes", pa.int32()),  # annotators who drew it
    ]
)
BOX_REGION = pa.struct(
    [
        pa.field("label", pa.string()),
        pa.field("label_index", pa.int32()),
        pa.field("bbox", pa.list_(pa.float64())),  # COCO: [x, y, width, height], pixels from the top left
        pa.field("area", pa.float64()),
        pa.field("votes", pa.int32()),
    ]
)


def label_schema(spec: CampaignSpec) -> pa.Schema:
    """The label and provenance columns a training set gets: one class, or a span or box campaign's
    regions (boxes with the size of the image they are drawn on)."""
    if not spec.structured:
        return PROVENANCE
    if spec.task_type == "named_entity":
        regions = [pa.field("regions", pa.list_(SPAN_REGION))]
    else:
        regions = [
            pa.field("regions", pa.list_(BOX_REGION)),
            pa.field("image_width", pa.int32()),
            pa.field("image_height", pa.int32()),
        ]
    return pa.schema([*regions, *(pa.field(n, t) for n, t in REGION_SOURCE.items())])


def region_labels(spark: SparkSession, spec: CampaignSpec, store: CampaignStore) -> DataFrame:
    """A span or box campaign's labels: per human-answered item its consensus regions (see the module
    docstring), with the annotators' agreement as confidence and the provenance of its first answer."""
    from pyspark.sql.pandas.types import from_arrow_schema

    human = store.human_labels()
    rows = sorted(human.to_pylist(), key=lambda r: (r["round"], r["labelled_at"], r["annotation_key"]))
    first: dict[str, dict[str, Any]] = {}
    texts: dict[tuple[Any, ...], str] = {}
    for row in rows:
        first.setdefault(row["example_id"], row)
        texts.setdefault(
            (row["example_id"], row["label"], row["span_start"], row["span_end"]), row["span_text"]
        )
        if row["image_width"] is not None and first[row["example_id"]]["image_width"] is None:
            first[row["example_id"]] = first[row["example_id"]] | {
                "image_width": row["image_width"],
                "image_height": row["image_height"],
            }
    out = []
    for item in item_consensus(human):
        origin = first[item.example_id]
        regions: list[dict[str, Any]] = []
        for r in item.regions:
            common = {"label": r.label, "label_index": spec.label_index(r.label), "votes": r.votes}
            if spec.task_type == "named_entity":
                start, end = (int(g) for g in r.geometry)
                regions.append(
                    common
                    | {"start": start, "end": end, "text": texts[(item.example_id, r.label, start, end)]}
                )
            else:
                bbox = [round(g, 3) for g in r.geometry]
                regions.append(common | {"bbox": bbox, "area": round(bbox[2] * bbox[3], 3)})
        out.append(
            {
                "example_id": item.example_id,
                "regions": regions,
                "image_width": origin["image_width"],
                "image_height": origin["image_height"],
                "label_source": HUMAN,
                "label_confidence": item.agreement,
                "label_annotators": item.annotators,
                "label_round": origin["round"],
                "label_strategy": origin["strategy"],
                "label_model_version": origin["model_version"],
                "label_campaign": spec.name,
                "label_features_version": spec.source_version,
            }
        )
    schema = pa.schema([pa.field("example_id", pa.string()), *label_schema(spec)])
    data = pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in out], schema=schema)
    return spark.createDataFrame(data.to_pylist(), from_arrow_schema(schema))


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

    provenance = label_schema(spec)
    base = pool.source_table(storage, spec.source).arrow_schema(spec.source_version)
    clash = set(provenance.names) & set(base.names)
    renamed = [f.with_name(f"source_{f.name}") if f.name in clash else f for f in base]
    features = pool.read_source(spark, storage, spec).select(
        *[F.col(f.name).alias(r.name) for f, r in zip(base, renamed, strict=True)]
    )
    key = spec.id_column
    training = features.join(labels.withColumnRenamed("example_id", key), key).select(
        *[f.name for f in renamed], *provenance.names
    )
    schema = pa.schema([*(f.with_type(pa.string()) if f.name == key else f for f in renamed), *provenance])
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
