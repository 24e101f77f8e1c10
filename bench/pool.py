"""Measurement 7: scoring an unlabelled pool in Spark and selecting the 1,000 most uncertain items
(``labeling.pool``: the model broadcast once, ``mapInPandas`` per Arrow batch, a per-partition top-k)
against a plain scan of the same columns that takes the top 1,000 by a raw column.

The pool is synthetic (an id and eight numeric features, written once as Parquet by Spark); the
model is the campaign's default (a calibrated logistic regression, ``labeling.models.fit_model``)
fitted on 2,000 rows of the same distribution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench import paths
from bench.plan import ROWS
from bench.timing import timed

FEATURES = tuple(f"f{i}" for i in range(8))
WEIGHTS = np.array([1.5, -1.0, 0.8, 0.0, 0.3, -0.6, 0.0, 0.2])


def generate_pool(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: write the pool of ``size`` rows once."""
    from pyspark.sql import functions as F

    from bench.spark import session

    spark = session("bench-pool-data")
    folder = Path(params["folder"])
    frame = spark.range(ROWS[params["size"]]).select(
        F.concat(F.lit("item-"), F.col("id").cast("string")).alias("item_id"),
        *[F.randn(seed=i).alias(name) for i, name in enumerate(FEATURES)],
    )
    frame.write.mode("overwrite").parquet(str(folder))
    (folder / "_complete.json").write_text("{}")
    return {"seconds": 0.0}


def ensure_pool(size: str) -> Path:
    from bench.proc import run_workload

    folder = paths.pool(size)
    if not (folder / "_complete.json").exists():
        run_workload("bench.pool:generate_pool", {"size": size, "folder": str(folder)})
    return folder


def _model() -> Any:
    from labeling.models import fit_model
    from labeling.spec import ModelSpec

    rng = np.random.default_rng(7)
    x = rng.normal(size=(2000, len(FEATURES)))
    y = (x @ WEIGHTS + rng.normal(scale=1.0, size=2000) > 0).astype(np.int64)
    return fit_model(ModelSpec(), x, y, n_labels=2, feature_columns=FEATURES, version="bench")


def _setup(params: dict[str, Any]) -> tuple[Any, Any]:
    from bench.spark import session

    spark = session(f"bench-pool-{params['tier']}")
    return spark, spark.read.parquet(str(params["folder"]))


def lakeprep_score_select(params: dict[str, Any]) -> dict[str, Any]:
    from labeling import pool
    from labeling.strategies import UNCERTAINTY_COLUMNS

    _spark, frame = _setup(params)
    model = _model()
    k = int(params["select"])

    def work() -> list[dict[str, Any]]:
        keyed = pool.with_random_key(frame, "item_id", seed=0, salt=1)
        scored = pool.score_pool(keyed, model, "item_id")
        return pool.top_rows(scored, UNCERTAINTY_COLUMNS["margin"], k, "item_id")

    seconds, rows = timed(work)
    return {"seconds": seconds, "selected": len(rows)}


def plain_scan(params: dict[str, Any]) -> dict[str, Any]:
    from labeling import pool

    _spark, frame = _setup(params)
    k = int(params["select"])

    def work() -> list[dict[str, Any]]:
        return pool.top_rows(frame.select("item_id", *FEATURES), "f0", k, "item_id")

    seconds, rows = timed(work)
    return {"seconds": seconds, "selected": len(rows)}


TIERS = ("lakeprep_score_select", "plain_scan")
