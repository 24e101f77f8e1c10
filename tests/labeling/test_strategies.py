"""Each selection strategy on small arrays whose right answer is known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from labeling import strategies

# rows: confident, nearly tied, 3-way spread, moderately sure, flat over three classes
PROBS = np.array(
    [
        [0.98, 0.01, 0.01],
        [0.48, 0.47, 0.05],
        [0.50, 0.30, 0.20],
        [0.70, 0.20, 0.10],
        [0.34, 0.33, 0.33],
    ]
)


def test_least_confidence_ranks_by_top_probability() -> None:
    np.testing.assert_allclose(strategies.least_confidence(PROBS), [0.02, 0.52, 0.50, 0.30, 0.66])
    assert list(strategies.select("least_confidence", 2, probs=PROBS)) == [4, 1]


def test_margin_prefers_the_near_tie() -> None:
    np.testing.assert_allclose(strategies.margin_uncertainty(PROBS), [0.03, 0.99, 0.80, 0.50, 0.99])
    # rows 1 and 4 tie at 0.99: the lower index wins
    assert list(strategies.select("margin", 3, probs=PROBS)) == [1, 4, 2]


def test_entropy_prefers_the_flat_distribution() -> None:
    uniform = np.full((1, 3), 1 / 3)
    assert strategies.entropy(uniform)[0] == pytest.approx(np.log(3))
    assert strategies.entropy(np.array([[1.0, 0.0, 0.0]]))[0] == 0.0
    assert list(strategies.select("entropy", 1, probs=PROBS)) == [4]


def test_random_is_seeded_and_without_repeats() -> None:
    first = strategies.select("random", 3, probs=PROBS, seed=11)
    again = strategies.select("random", 3, probs=PROBS, seed=11)
    assert list(first) == list(again)
    assert len(set(first.tolist())) == 3
    assert set(first.tolist()) <= set(range(len(PROBS)))


def test_k_center_greedy_takes_the_farthest_points_first() -> None:
    line = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [20.0]])
    # with 0 already labelled: 20 is farthest; then 10 (distance 10 to both 0 and 20)
    picked = strategies.k_center_greedy(line, 2, labelled=np.array([[0.0]]))
    assert list(picked) == [5, 3]
    # nothing labelled: a seeded first point, then always the point farthest from those chosen
    values = line.ravel().tolist()
    first, second, third = strategies.k_center_greedy(line, 3, labelled=None, seed=4).tolist()
    assert second == max(range(6), key=lambda i: abs(values[i] - values[first]))
    gap = [min(abs(values[i] - values[first]), abs(values[i] - values[second])) for i in range(6)]
    assert third == gap.index(max(gap))


def test_hybrid_spreads_the_batch_among_the_uncertain() -> None:
    # six uncertain items in two tight clusters, plus two confident outliers far away
    probs = np.array([[0.5, 0.5]] * 6 + [[0.99, 0.01]] * 2)
    embeddings = np.array(
        [[0, 0], [0, 0.1], [0.1, 0], [5, 5], [5, 5.1], [5.1, 5], [100, 100], [-100, -100]], float
    )
    picked = strategies.select("hybrid", 2, probs=probs, embeddings=embeddings, shortlist=6, seed=0)
    assert set(picked.tolist()) <= set(range(6)), "only uncertain items"
    clusters = {0 if i < 3 else 1 for i in picked}
    assert clusters == {0, 1}, "one from each cluster, not two neighbours"
    # k-center alone would go for the confident outliers
    far = strategies.select("k_center", 2, embeddings=embeddings, labelled=np.array([[0.0, 0.0]]))
    assert set(far.tolist()) == {6, 7}


def test_cold_start_stratified_is_proportional_to_clusters() -> None:
    rng = np.random.default_rng(0)
    big = rng.normal(0, 0.1, size=(80, 2))
    small = rng.normal(10, 0.1, size=(20, 2))
    points = np.vstack([big, small])
    picked = strategies.cold_start("stratified", points, 10, seed=0)
    assert len(set(picked.tolist())) == 10
    from_small = sum(1 for i in picked if i >= 80)
    assert from_small == 2, "20% of the pool, 20% of the batch"
    # a larger batch gets more strata; every pick is still distinct and the shares still hold
    many = strategies.cold_start("stratified", points, 50, seed=0)
    assert len(set(many.tolist())) == 50
    assert abs(sum(1 for i in many if i >= 80) - 10) <= 1, "proportional up to rounding per stratum"


def test_cold_start_diverse_reaches_both_clusters() -> None:
    points = np.vstack([np.zeros((50, 2)), np.full((2, 2), 9.0)])
    picked = strategies.cold_start("diverse", points, 2, seed=3)
    assert {i >= 50 for i in picked} == {True, False}


@pytest.mark.parametrize(
    ("sizes", "k", "expected"),
    [([80, 20], 10, [8, 2]), ([1, 1, 1], 2, [1, 1, 0]), ([5, 0, 5], 3, [2, 0, 1]), ([2, 30], 31, [2, 29])],
)
def test_proportional_quota(sizes: list[int], k: int, expected: list[int]) -> None:
    quota = strategies.proportional_quota(np.array(sizes), k)
    assert quota == expected
    assert sum(quota) == min(k, sum(sizes))


def test_top_k_breaks_ties_deterministically() -> None:
    scores = np.array([0.5, 0.9, 0.9, 0.1])
    assert list(strategies.top_k(scores, 2)) == [1, 2]
    assert list(strategies.top_k(scores, 2, tie_break=np.array([0, 0.1, 0.7, 0]))) == [2, 1]
