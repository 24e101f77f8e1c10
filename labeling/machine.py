"""Machine labels: every pool item whose predicted label is proven at its confidence, written once per round.

Each label has its own threshold (``autolabel.calibrate_per_label``); a label without one is never
assigned by the model. The labels table gets the rows through Spark (the pool is never collected), under
the Delta app transaction ``autolabel:<campaign>`` = round, so a round redone after a crash counts the
rows it wrote instead of writing them twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labeling import pool
from labeling.autolabel import LabelCalibrations
from labeling.models import FittedModel
from labeling.spec import CampaignSpec
from labeling.store import LABELS_SCHEMA, MACHINE, CampaignStore, autolabel_app_id

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def proven(thresholds: dict[int, float]) -> Column:
    """True for a scored item whose predicted label has a threshold and whose confidence reaches it."""
    from pyspark.sql import functions as F

    condition = F.lit(False)
    for index, threshold in sorted(thresholds.items()):
        condition = condition | ((F.col(pool.PREDICTED) == index) & (F.col(pool.CONFIDENCE) >= threshold))
    return condition


def write_machine_labels(
    spark: SparkSession,
    store: CampaignStore,
    spec: CampaignSpec,
    scored: DataFrame,
    model: FittedModel,
    calibration: LabelCalibrations,
    number: int,
    tags: dict[str, Any],
    run_id: str,
) -> dict[str, Any]:
    """Write the round's machine labels (unless written before an interruption); the ``autolabelled``
    event's payload: rows, and per label its rows, threshold and what the validation slice measured."""
    from pyspark.sql import functions as F

    thresholds = calibration.thresholds
    written = store.autolabelled_round()
    if written is None or written < number:
        frame = pool.machine_labels(
            scored.filter(proven(thresholds)), spec, model.version, min(thresholds.values()), number
        )
        store.labels.write(
            frame,
            schema=LABELS_SCHEMA,
            mode="append",
            tags=tags,
            run_id=run_id,
            app_transactions=[(autolabel_app_id(spec.name), number)],
        )
    labels = store.labels.read(spark)
    mine = labels.filter((F.col("source") == MACHINE) & (F.col("round") == number))
    rows = {
        int(r["label_index"]): int(r["rows"])
        for r in mine.groupBy("label_index").count().withColumnRenamed("count", "rows").collect()
    }
    per_label = {}
    for index, label in enumerate(spec.labels):
        measured = calibration.labels.get(index)
        per_label[label] = {
            "rows": rows.get(index, 0),
            "threshold": thresholds.get(index),
            "n_validation": measured.n_validation if measured else 0,
            "n_above": measured.n_above if measured and index in thresholds else 0,
            "correct_above": measured.correct_above if measured and index in thresholds else 0,
            "accuracy_above": measured.accuracy_above if measured and index in thresholds else None,
            "lower_bound": measured.lower_bound if measured and index in thresholds else None,
        }
    return {
        "rows": sum(rows.values()),
        "threshold": calibration.threshold,
        "model_version": model.version,
        "accuracy_above": calibration.accuracy_above,
        "lower_bound": calibration.lower_bound,
        "n_above": calibration.n_above,
        "correct_above": calibration.correct_above,
        "labels": per_label,
    }
