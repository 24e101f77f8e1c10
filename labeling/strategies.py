"""Active-learning selection: which unlabelled items are worth a human's time.

Uncertainty scores are plain functions of the class probabilities, so the Spark scorer and the
in-memory selector compute exactly the same numbers. Diversity (k-center greedy) and the hybrid run
on the driver over a bounded candidate set that Spark picked (top uncertain or a random sample):
the pool itself is never collected. The default, ``hybrid``, is margin sampling made batch-aware
(uncertain items, one per k-means cluster); ``bench/active.py`` compares it with random on every set.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances

from labeling.spec import ColdStart, StrategyName

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.int64]

# Column names the Spark scorer writes; each is "higher = more worth labelling".
UNCERTAINTY_COLUMNS: dict[str, str] = {
    "least_confidence": "u_least_confidence",
    "margin": "u_margin",
    "entropy": "u_entropy",
}
HYBRID_UNCERTAINTY = "margin"  # the hybrid shortlists by margin, then spreads the batch out
# Span and box campaigns: the per-item score is the round model's confidence in the item's region label
# (its classifier learns one label per item, the one most of its regions carry), and the least sure
# items go first - least confidence, 1 - p(top), which is 1 - the lowest region score when an item's
# regions are scored one by one. Margin weighs the two likeliest labels against each other, which asks
# which label an item's regions carry rather than whether the model knows them at all.
REGION_UNCERTAINTY = "least_confidence"


def _probabilities(probs: FloatArray) -> FloatArray:
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError("probabilities must be an (items x classes) array with at least two classes")
    return array


def least_confidence(probs: FloatArray) -> FloatArray:
    """1 - p(top class): how far the model is from being sure."""
    return 1.0 - _probabilities(probs).max(axis=1)


def margin_uncertainty(probs: FloatArray) -> FloatArray:
    """1 - (p1 - p2): items the model nearly assigns to a second class."""
    ordered = np.sort(_probabilities(probs), axis=1)
    return 1.0 - (ordered[:, -1] - ordered[:, -2])


def entropy(probs: FloatArray) -> FloatArray:
    """Shannon entropy of the predicted distribution (natural log)."""
    array = _probabilities(probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(array > 0, array * np.log(array), 0.0)
    return np.asarray(-terms.sum(axis=1), dtype=np.float64)


UNCERTAINTY: dict[str, Callable[[FloatArray], FloatArray]] = {
    "least_confidence": least_confidence,
    "margin": margin_uncertainty,
    "entropy": entropy,
}


def top_k(scores: FloatArray, k: int, tie_break: FloatArray | None = None) -> IndexArray:
    """Indices of the ``k`` highest scores; ties go to the higher ``tie_break`` then the lower index."""
    scores = np.asarray(scores, dtype=np.float64)
    k = min(k, len(scores))
    secondary = np.zeros(len(scores)) if tie_break is None else np.asarray(tie_break, dtype=np.float64)
    order = np.lexsort((np.arange(len(scores)), -secondary, -scores))
    return np.asarray(order[:k], dtype=np.int64)


def random_choice(n: int, k: int, seed: int) -> IndexArray:
    return np.asarray(np.random.default_rng(seed).permutation(n)[: min(k, n)], dtype=np.int64)


def k_center_greedy(
    candidates: FloatArray, k: int, labelled: FloatArray | None = None, seed: int = 0
) -> IndexArray:
    """Greedy core-set (Sener & Savarese): repeatedly take the candidate farthest from everything chosen
    or already labelled, so the batch covers the feature space instead of clustering in one corner."""
    points = np.asarray(candidates, dtype=np.float64)
    n = len(points)
    k = min(k, n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if labelled is not None and len(labelled):
        nearest = pairwise_distances(points, np.asarray(labelled, dtype=np.float64)).min(axis=1)
        chosen: list[int] = []
    else:  # nothing labelled yet: start from a seeded random point
        first = int(np.random.default_rng(seed).integers(n))
        chosen = [first]
        nearest = pairwise_distances(points, points[[first]]).ravel()
    while len(chosen) < k:
        nearest_masked = nearest.copy()
        nearest_masked[chosen] = -np.inf
        pick = int(np.argmax(nearest_masked))
        chosen.append(pick)
        nearest = np.minimum(nearest, pairwise_distances(points, points[[pick]]).ravel())
    return np.asarray(chosen, dtype=np.int64)


def hybrid(
    probs: FloatArray,
    embeddings: FloatArray,
    k: int,
    shortlist: int,
    labelled: FloatArray | None = None,
    seed: int = 0,
    measure: str = HYBRID_UNCERTAINTY,
) -> IndexArray:
    """The ``shortlist`` most uncertain items (by ``measure``: margin, or for region campaigns
    ``REGION_UNCERTAINTY``), grouped into ``k`` clusters by k-means weighted by
    uncertainty; the most uncertain item of each cluster (Zhdanov, "Diverse mini-batch active learning").

    The batch stays among the items the model is unsure about but is not ``k`` near-copies of one
    confusion. The earlier hybrid spread the shortlist by k-center, which takes the farthest points
    first - the shortlist's outliers - and learnt slower than random on a 5-class set; the clusters'
    most uncertain members follow where the uncertain items are dense. ``labelled`` is accepted for the
    common signature and not needed."""
    uncertainty = UNCERTAINTY[measure](probs)
    short = top_k(uncertainty, max(k, shortlist))
    if len(short) <= k:
        return short
    points = np.asarray(embeddings, dtype=np.float64)[short]
    weights = uncertainty[short] + 1e-9  # every item counts, the unsure ones more
    groups = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(points, sample_weight=weights)
    chosen = []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        chosen.append(int(members[np.argmax(uncertainty[short][members])]))
    if len(chosen) < k:  # fewer distinct clusters than k (duplicate points): fill by uncertainty
        rest = [i for i in range(len(short)) if i not in set(chosen)]
        chosen.extend(rest[: k - len(chosen)])
    return np.asarray(short[np.asarray(chosen, dtype=np.int64)], dtype=np.int64)


def select(
    strategy: StrategyName,
    k: int,
    *,
    probs: FloatArray | None = None,
    embeddings: FloatArray | None = None,
    labelled: FloatArray | None = None,
    shortlist: int | None = None,
    seed: int = 0,
    measure: str = HYBRID_UNCERTAINTY,
) -> IndexArray:
    """In-memory selection of ``k`` items among candidates (the reference the Spark path must match);
    ``measure`` is the hybrid's uncertainty (``uncertainty_measure``)."""
    if strategy == "random":
        n = len(probs) if probs is not None else len(embeddings) if embeddings is not None else 0
        return random_choice(n, k, seed)
    if strategy in UNCERTAINTY:
        if probs is None:
            raise ValueError(f"{strategy} needs class probabilities")
        return top_k(UNCERTAINTY[strategy](probs), k)
    if embeddings is None:
        raise ValueError(f"{strategy} needs embeddings")
    if strategy == "k_center":
        return k_center_greedy(embeddings, k, labelled, seed)
    if probs is None:
        raise ValueError("hybrid needs class probabilities")
    return hybrid(probs, embeddings, k, shortlist or 10 * k, labelled, seed, measure)


def uncertainty_measure(structured: bool) -> str:
    """The hybrid's uncertainty: margin for classes, least confidence for span and box campaigns."""
    return REGION_UNCERTAINTY if structured else HYBRID_UNCERTAINTY


def cold_start(method: ColdStart, embeddings: FloatArray, k: int, seed: int = 0) -> IndexArray:
    """The first batch, before any model exists: k-means strata (picks proportional to their sizes),
    a k-center spread, or random."""
    points = np.asarray(embeddings, dtype=np.float64)
    n = len(points)
    k = min(k, n)
    if method == "random" or k == 0:
        return random_choice(n, k, seed)
    if method == "diverse":
        return k_center_greedy(points, k, None, seed)
    # about five picks per stratum (at most ten strata): fewer, larger strata keep rounding small
    clusters = min(10, max(2, k // 5), n)
    assignment = KMeans(n_clusters=clusters, n_init=4, random_state=seed).fit_predict(points)
    quota = proportional_quota(np.bincount(assignment, minlength=clusters), k)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for cluster, count in enumerate(quota):
        members = np.flatnonzero(assignment == cluster)
        chosen.extend(int(i) for i in rng.permutation(members)[:count])
    return np.asarray(chosen, dtype=np.int64)


def proportional_quota(sizes: NDArray[np.int64], k: int) -> list[int]:
    """Split ``k`` across strata in proportion to their sizes (largest remainder, every quota <= size)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    if total == 0:
        return [0] * len(sizes)
    k = min(k, total)
    exact = sizes * k / total
    quota = np.minimum(np.floor(exact).astype(np.int64), sizes)
    remainder = exact - quota
    for index in np.argsort(-remainder, kind="stable"):
        if quota.sum() >= k:
            break
        if quota[index] < sizes[index]:
            quota[index] += 1
    return [int(q) for q in quota]
