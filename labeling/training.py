"""Each round's model: the human labels so far (one consensus label per item), their features, the fit,
and the threshold calibration on the held-out validation slice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from numpy.typing import NDArray

from labeling import pool, quality
from labeling.autolabel import LabelCalibrations, calibrate_per_label
from labeling.models import FittedModel, NotEnoughLabelsError, fit_model, model_version
from labeling.spec import CampaignSpec
from labeling.store import CampaignStore
from lake.storage import Storage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class LabelledSet:
    """Human-labelled items with one consensus label each, and their features (same order)."""

    items: pd.DataFrame
    features: NDArray[np.float64]

    @property
    def validation(self) -> NDArray[np.bool_]:
        """The random validation slice: held out of training, used to grade the model and set the threshold."""
        if self.items.empty:
            return np.zeros(0, dtype=bool)
        return np.asarray(self.items["purpose"] == "validation", dtype=bool)

    @property
    def labels(self) -> NDArray[np.int64]:
        return self.items["label_index"].to_numpy(dtype=np.int64)


def features_matrix(
    spark: SparkSession, storage: Storage, spec: CampaignSpec, ids: list[str]
) -> NDArray[np.float64]:
    """Feature rows for ``ids``, in that order."""
    by_id = pool.features_for(spark, storage, spec, ids)
    if not ids:
        return np.zeros((0, len(spec.feature_columns)))
    return np.vstack([by_id[i] for i in ids])


def load_labelled(
    spark: SparkSession, storage: Storage, spec: CampaignSpec, store: CampaignStore
) -> LabelledSet:
    """Consensus labels of every human-labelled item (CROWDLAB when asked and items have several
    annotations: it needs out-of-sample model probabilities, fitted here on the majority labels)."""
    human = store.human_labels()
    human = human.filter(pc.is_valid(human["label_index"]))  # a span or box answer marking nothing: no class
    items = quality.consensus(human, "majority")
    if items.empty:
        return LabelledSet(items, np.zeros((0, len(spec.feature_columns))))
    by_id = pool.features_for(spark, storage, spec, items["example_id"].tolist())
    items = items[items["example_id"].isin(list(by_id))].reset_index(drop=True)
    features = np.vstack([by_id[i] for i in items["example_id"]])
    if spec.consensus == "cleanlab" and (items["n_annotations"] > 1).any():
        labels = items["label_index"].to_numpy(dtype=np.int64)
        probs = quality.out_of_sample_probs(spec.model, features, labels, len(spec.labels), spec.seed)
        if probs is not None:
            crowd = quality.consensus(human, "cleanlab", dict(zip(items["example_id"], probs, strict=True)))
            items = crowd.set_index("example_id").loc[items["example_id"]].reset_index()
    return LabelledSet(items, features)


def fit_round_model(spec: CampaignSpec, labelled: LabelledSet, number: int) -> FittedModel | None:
    """The model trained on every non-validation human label, or None before two classes are known."""
    train = ~labelled.validation
    if not train.any():
        return None
    ids = labelled.items["example_id"][train].tolist()
    y = labelled.labels[train]
    version = model_version(spec.model, number, ids, y.tolist(), spec.seed)
    try:
        return fit_model(
            spec.model,
            labelled.features[train],
            y,
            n_labels=len(spec.labels),
            feature_columns=spec.feature_columns,
            version=version,
            seed=spec.seed,
        )
    except NotEnoughLabelsError:
        return None


def calibrate(
    spec: CampaignSpec, model: FittedModel | None, labelled: LabelledSet
) -> LabelCalibrations | None:
    """Grade the model on the validation slice and find each label's autolabel threshold (see ``autolabel``)."""
    validation = labelled.validation
    if model is None or not validation.any():
        return None
    probs = model.predict_proba(labelled.features[validation])
    predicted = probs.argmax(axis=1)
    return calibrate_per_label(
        predicted,
        labelled.labels[validation],
        probs.max(axis=1),
        len(spec.labels),
        spec.target_accuracy,
        spec.confidence_level,
        spec.min_validation,
    )
