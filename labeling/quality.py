"""Label quality: one consensus label per item, agreement per annotator, items likely mislabelled.

Consensus is a majority vote (cleanlab's, which breaks ties with the model's probabilities when given)
or cleanlab's CROWDLAB, which weighs each annotator by estimated quality together with the model.
Likely mislabelled items come from cleanlab's confident learning on out-of-sample probabilities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from cleanlab.filter import find_label_issues
from cleanlab.multiannotator import get_label_quality_multiannotator, get_majority_vote_label
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from labeling.models import base_estimator
from labeling.spec import Consensus, ModelSpec

CONSENSUS_COLUMNS = [
    "example_id",
    "label_index",
    "n_annotations",
    "agreement",
    "annotators",
    "purpose",
    "round",
    "batch_id",
    "strategy",
    "model_version",
]


def annotation_frame(human: pa.Table) -> pd.DataFrame:
    """Human annotations, one per (item, annotator): an annotator's latest answer replaces an earlier one."""
    frame = human.to_pandas()
    if frame.empty:
        return frame
    frame = frame.sort_values(["labelled_at", "annotation_key"])
    return frame.drop_duplicates(["example_id", "annotator_id"], keep="last").reset_index(drop=True)


def annotation_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Items x annotators, label indices with NaN where an annotator did not label the item."""
    return frame.pivot(index="example_id", columns="annotator_id", values="label_index").astype(float)


def consensus(
    human: pa.Table,
    method: Consensus = "majority",
    pred_probs: dict[str, NDArray[np.float64]] | None = None,
) -> pd.DataFrame:
    """One label per human-labelled item with its agreement and where it came from (first selection)."""
    frame = annotation_frame(human)
    if frame.empty:
        return pd.DataFrame(columns=CONSENSUS_COLUMNS)
    matrix = annotation_matrix(frame)
    counts = matrix.notna().sum(axis=1)
    labels = pd.Series(np.nan, index=matrix.index)
    single = counts == 1
    labels[single] = matrix[single].max(axis=1)  # the only label present
    multi = matrix[~single].dropna(axis=1, how="all")
    if len(multi):
        probs = None
        if pred_probs is not None and all(i in pred_probs for i in multi.index):
            probs = np.vstack([pred_probs[i] for i in multi.index])
        labels[~single] = _multi_consensus(multi, method, probs)
    first = frame.sort_values(["round", "labelled_at"]).drop_duplicates("example_id").set_index("example_id")
    agree = frame.assign(consensus=frame["example_id"].map(labels))
    agreement = (agree["label_index"] == agree["consensus"]).groupby(agree["example_id"]).mean()
    annotators = frame.groupby("example_id")["annotator_id"].agg(lambda a: sorted(set(a)))
    result = pd.DataFrame(
        {
            "label_index": labels.astype(int),
            "n_annotations": counts.astype(int),
            "agreement": agreement.reindex(matrix.index),
            "annotators": annotators.reindex(matrix.index),
            "purpose": first["purpose"].reindex(matrix.index),
            "round": first["round"].reindex(matrix.index),
            "batch_id": first["batch_id"].reindex(matrix.index),
            "strategy": first["strategy"].reindex(matrix.index),
            "model_version": first["model_version"].reindex(matrix.index),
        }
    )
    return result.rename_axis("example_id").reset_index()[CONSENSUS_COLUMNS]


def _multi_consensus(
    matrix: pd.DataFrame, method: Consensus, probs: NDArray[np.float64] | None
) -> NDArray[np.int64]:
    if method == "cleanlab" and probs is not None:
        result = get_label_quality_multiannotator(matrix, probs, verbose=False)
        return np.asarray(result["label_quality"]["consensus_label"], dtype=np.int64)
    return np.asarray(get_majority_vote_label(matrix, pred_probs=probs, verbose=False), dtype=np.int64)


def annotator_agreement(human: pa.Table, items: pd.DataFrame) -> pd.DataFrame:
    """Per annotator: labels given, and how often they match the consensus on items others labelled too."""
    frame = annotation_frame(human)
    if frame.empty:
        return pd.DataFrame(columns=["annotator_id", "labels", "shared", "agreement"])
    merged = frame.merge(
        items[["example_id", "label_index", "n_annotations"]], on="example_id", suffixes=("", "_c")
    )
    shared = merged[merged["n_annotations"] > 1]
    matches = (shared["label_index"] == shared["label_index_c"]).groupby(shared["annotator_id"])
    table = pd.DataFrame(
        {
            "labels": merged.groupby("annotator_id").size(),
            "shared": matches.size(),
            "agreement": matches.mean(),
        }
    ).fillna({"shared": 0})
    return table.astype({"shared": int}).rename_axis("annotator_id").reset_index()


def out_of_sample_probs(
    spec: ModelSpec, features: NDArray[np.float64], labels: NDArray[np.int64], n_labels: int, seed: int
) -> NDArray[np.float64] | None:
    """Cross-validated probabilities (each item scored by a model that never saw it), or None if too few labels."""
    y = np.asarray(labels, dtype=np.int64)
    classes, counts = np.unique(y, return_counts=True)
    folds = int(min(5, counts.min())) if len(classes) >= 2 else 0
    if folds < 2:
        return None
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        clone(base_estimator(spec, seed)),
    )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    known = cross_val_predict(pipeline, features, y, cv=splitter, method="predict_proba")
    full = np.zeros((len(y), n_labels), dtype=np.float64)
    full[:, classes] = known
    return full


def likely_mislabelled(labels: NDArray[np.int64], pred_probs: NDArray[np.float64]) -> NDArray[np.int64]:
    """Indices of items whose label cleanlab finds suspicious, most suspicious first."""
    present = np.unique(labels)
    probs = pred_probs[:, present]
    probs = probs / probs.sum(axis=1, keepdims=True)
    remapped = np.searchsorted(present, labels)
    return np.asarray(
        find_label_issues(remapped, probs, return_indices_ranked_by="self_confidence"), dtype=np.int64
    )
