"""Choosing a batch from the scored pool: a random validation share, then the strategy's picks.

Validation items are drawn uniformly from what is still unlabelled (the population the next machine
labels come from) and go out without a pre-annotation, so the humans who grade the model are not
anchored by it. Uncertainty and random picks are a Spark top-k; k-center and the hybrid pull a bounded
shortlist (``candidate_factor`` x batch) to the driver and spread the batch out there. The hybrid
shortlists span and box campaigns by least confidence (``strategies.uncertainty_measure``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labeling import pool, strategies
from labeling.models import FittedModel
from labeling.spec import CampaignSpec
from labeling.state import PlannedItem
from labeling.training import LabelledSet, features_matrix
from lake.storage import Storage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def standardised(features: NDArray[np.float64]) -> NDArray[np.float64]:
    """Impute and scale so distances weigh every feature alike (before any model exists)."""
    if len(features) == 0:
        return features
    scaler = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler())
    return np.asarray(scaler.fit_transform(features), dtype=np.float64)


def select_batch(
    spark: SparkSession,
    storage: Storage,
    spec: CampaignSpec,
    remaining: DataFrame,
    model: FittedModel | None,
    labelled: LabelledSet,
    size: int,
    number: int,
    validation_items: int,
) -> list[PlannedItem]:
    """``size`` items: ``validation_items`` drawn at random (the planner sets how many), then the
    strategy's picks (the cold start's while there is no model)."""
    from pyspark.sql import functions as F

    key = spec.id_column
    validation = pool.top_rows(remaining, pool.RANDOM_KEY, validation_items, key)
    chosen = [PlannedItem(str(r[key]), "validation") for r in validation]
    rest = remaining
    if chosen:
        rest = remaining.filter(~F.col(key).isin([i.example_id for i in chosen]))
    wanted = size - len(chosen)
    seed = spec.seed * 1000 + number
    if model is None:  # cold start: no model yet, spread the first batch over the feature space
        candidates = pool.top_rows(rest, pool.RANDOM_KEY, spec.candidate_factor * wanted, key)
        ids = [str(r[key]) for r in candidates]
        embedded = standardised(features_matrix(spark, storage, spec, ids))
        picked = strategies.cold_start(spec.cold_start, embedded, wanted, seed)
        return chosen + [PlannedItem(ids[i], "cold_start") for i in picked]
    if spec.strategy == "random":
        rows = pool.top_rows(rest, pool.RANDOM_KEY, wanted, key)
    elif spec.strategy in strategies.UNCERTAINTY_COLUMNS:
        rows = pool.top_rows(rest, strategies.UNCERTAINTY_COLUMNS[spec.strategy], wanted, key)
    else:
        measure = strategies.uncertainty_measure(spec.structured)
        by = pool.RANDOM_KEY if spec.strategy == "k_center" else strategies.UNCERTAINTY_COLUMNS[measure]
        candidates = pool.top_rows(rest, by, spec.candidate_factor * wanted, key)
        features = features_matrix(spark, storage, spec, [str(r[key]) for r in candidates])
        picked = strategies.select(
            spec.strategy,
            wanted,
            probs=model.predict_proba(features),
            embeddings=model.embed(features),
            labelled=model.embed(labelled.features) if len(labelled.features) else None,
            shortlist=len(candidates),
            seed=seed,
            measure=measure,
        )
        rows = [candidates[i] for i in picked]
    return chosen + [
        PlannedItem(str(r[key]), "query", spec.labels[int(r[pool.PREDICTED])], float(r[pool.CONFIDENCE]))
        for r in rows
    ]
