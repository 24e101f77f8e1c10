"""Consensus, annotator agreement and likely-mislabelled items (cleanlab) on hand-made annotations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
from sklearn.datasets import make_classification

from labeling import quality
from labeling.spec import ModelSpec
from labeling.store import LABELS_SCHEMA


def annotation_rows(rows: list[tuple[str, str, int]]) -> pa.Table:
    """(item, annotator, label index) -> a labels-table slice."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    return pa.Table.from_pylist(
        [
            {
                "campaign": "c",
                "example_id": item,
                "label": str(label),
                "label_index": label,
                "source": "human",
                "annotator_id": annotator,
                "round": 1,
                "batch_id": "b001",
                "purpose": "query",
                "strategy": "margin",
                "model_version": "m1",
                "features_version": 0,
                "annotation_key": f"{item}:{annotator}",
                "backend": "simulated",
                "labelled_at": start + dt.timedelta(seconds=n),
            }
            for n, (item, annotator, label) in enumerate(rows)
        ],
        schema=LABELS_SCHEMA,
    )


def test_majority_consensus_and_agreement() -> None:
    human = annotation_rows(
        [
            ("x", "ann-a", 1),
            ("x", "ann-b", 1),
            ("x", "ann-c", 0),
            ("y", "ann-a", 0),
            ("y", "ann-b", 0),
            ("y", "ann-c", 0),
            ("z", "ann-a", 2),  # one annotation: taken as is
        ]
    )
    items = quality.consensus(human).set_index("example_id")
    assert items.loc["x", "label_index"] == 1
    assert items.loc["x", "agreement"] == 2 / 3
    assert items.loc["y", "label_index"] == 0
    assert items.loc["y", "agreement"] == 1.0
    assert items.loc["z", "label_index"] == 2
    assert items.loc["z", "n_annotations"] == 1
    assert items.loc["x", "annotators"] == ["ann-a", "ann-b", "ann-c"]

    agreement = quality.annotator_agreement(human, items.reset_index()).set_index("annotator_id")
    assert agreement.loc["ann-c", "agreement"] == 0.5  # right on y, outvoted on x
    assert agreement.loc["ann-a", "agreement"] == 1.0
    assert agreement.loc["ann-a", "labels"] == 3
    assert agreement.loc["ann-a", "shared"] == 2


def test_an_annotators_second_answer_replaces_the_first() -> None:
    human = annotation_rows([("x", "ann-a", 0), ("x", "ann-a", 1)])
    items = quality.consensus(human)
    assert items["label_index"].tolist() == [1]
    assert items["n_annotations"].tolist() == [1]


def test_single_annotations_need_no_voting() -> None:
    human = annotation_rows([("p", "a", 0), ("q", "b", 1)])
    items = quality.consensus(human, "cleanlab")
    assert dict(zip(items["example_id"], items["label_index"], strict=True)) == {"p": 0, "q": 1}


def test_cleanlab_consensus_weighs_annotators_by_quality() -> None:
    """A reliable annotator and two who often disagree with everyone: CROWDLAB sides with the model and
    the reliable annotator where a plain vote would follow the unreliable pair."""
    rng = np.random.default_rng(0)
    rows = []
    truth = rng.integers(0, 2, size=60)
    for i, label in enumerate(truth):
        item = f"i{i:02d}"
        rows.append((item, "good", int(label)))
        for noisy in ("noisy-1", "noisy-2"):
            answer = int(label) if rng.random() > 0.45 else 1 - int(label)
            rows.append((item, noisy, answer))
    human = annotation_rows(rows)
    probs = {
        f"i{i:02d}": np.array([0.85, 0.15]) if t == 0 else np.array([0.15, 0.85]) for i, t in enumerate(truth)
    }
    crowd = quality.consensus(human, "cleanlab", probs).set_index("example_id")
    vote = quality.consensus(human, "majority").set_index("example_id")
    expected = {f"i{i:02d}": int(t) for i, t in enumerate(truth)}
    crowd_right = sum(crowd.loc[i, "label_index"] == t for i, t in expected.items())
    vote_right = sum(vote.loc[i, "label_index"] == t for i, t in expected.items())
    assert crowd_right == 60
    assert vote_right < 60


def test_likely_mislabelled_finds_flipped_labels() -> None:
    x, y = make_classification(
        n_samples=400, n_features=5, n_informative=3, class_sep=2.5, flip_y=0, random_state=1
    )
    flipped = np.arange(0, 400, 40)  # ten labels made wrong on purpose
    noisy = y.copy()
    noisy[flipped] = 1 - noisy[flipped]
    probs = quality.out_of_sample_probs(ModelSpec(), x, noisy, n_labels=2, seed=0)
    assert probs is not None
    assert probs.shape == (400, 2)
    suspects = quality.likely_mislabelled(noisy, probs)
    found = set(suspects[:15].tolist()) & set(flipped.tolist())
    assert len(found) >= 8
    assert len(suspects) <= 30, "clean labels are mostly left alone"


def test_out_of_sample_probs_need_two_labels_per_class() -> None:
    x = np.random.default_rng(0).normal(size=(5, 2))
    assert quality.out_of_sample_probs(ModelSpec(), x, np.array([0, 0, 0, 0, 1]), n_labels=2, seed=0) is None
