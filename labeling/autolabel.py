"""Confidence threshold for machine labels, backed by a statistical guarantee rather than a point estimate.

Given a random validation slice of human labels, the model's confidence on each item and whether its
prediction matched the human label, find the lowest confidence threshold whose machine labels are at
least ``target`` accurate. For each candidate threshold t (a grid fixed by the confidences alone, never
by correctness) the one-sided Clopper-Pearson lower bound on the accuracy of items with confidence >= t
is computed at level alpha / (number of candidates) (Bonferroni). A threshold is accepted only when that
lower bound reaches the target, so the probability that *any* accepted threshold is in truth below the
target is at most alpha = 1 - confidence_level. The lowest accepted threshold (largest coverage) wins.

Accuracy is measured against human labels: annotator noise caps what can be shown (with 3% noise a
perfect model measures about 97%).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import beta


@dataclass(frozen=True)
class Calibration:
    threshold: float | None  # None: no candidate reached the target with the required confidence
    target: float
    confidence_level: float
    n_validation: int
    validation_accuracy: float | None  # the model's accuracy on all validation items
    n_above: int  # validation items at or above the threshold
    correct_above: int
    accuracy_above: float | None  # measured accuracy of machine labels on the validation slice
    lower_bound: float | None  # its Clopper-Pearson lower bound at the Bonferroni-corrected level
    candidates: int

    @property
    def coverage(self) -> float:
        """Share of validation items the threshold would have labelled by machine."""
        return self.n_above / self.n_validation if self.n_validation else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def accuracy_lower_bound(correct: int, total: int, alpha: float) -> float:
    """One-sided Clopper-Pearson lower bound: P(true accuracy < bound) <= alpha."""
    if total <= 0 or correct <= 0:
        return 0.0
    return float(beta.ppf(alpha, correct, total - correct + 1))


def min_count_for(target: float, alpha: float) -> int:
    """The fewest items that could ever prove ``target``: all correct gives a bound of alpha**(1/n)."""
    return int(np.floor(np.log(alpha) / np.log(target))) + 1


def candidate_thresholds(confidence: NDArray[np.float64], min_count: int, max_candidates: int) -> list[float]:
    """Thresholds at geometrically spaced coverages, from ``min_count`` items up to all of them."""
    ordered = np.sort(np.asarray(confidence, dtype=np.float64))[::-1]
    n = len(ordered)
    if n < min_count:
        return []
    counts = np.unique(np.geomspace(min_count, n, num=max_candidates).round().astype(int))
    thresholds = sorted({float(ordered[c - 1]) for c in counts}, reverse=True)
    return thresholds[:max_candidates]


def calibrate_threshold(
    confidence: NDArray[np.float64],
    correct: NDArray[np.bool_],
    target: float,
    confidence_level: float = 0.95,
    min_count: int = 30,
    max_candidates: int = 5,
) -> Calibration:
    """The lowest confidence threshold whose accuracy lower bound reaches ``target`` (see module doc)."""
    conf = np.asarray(confidence, dtype=np.float64)
    hits = np.asarray(correct, dtype=bool)
    if conf.shape != hits.shape:
        raise ValueError("confidence and correct must have the same length")
    alpha = 1.0 - confidence_level
    n = len(conf)
    overall = float(hits.mean()) if n else None
    # Below this many items even a perfect record cannot prove the target: no point testing there.
    floor = max(min_count, min_count_for(target, alpha / max_candidates))
    candidates = candidate_thresholds(conf, floor, max_candidates)
    if not candidates:
        return Calibration(None, target, confidence_level, n, overall, 0, 0, None, None, 0)
    level = alpha / len(candidates)
    best: tuple[float, int, int, float] | None = None
    for threshold in candidates:  # descending: coverage grows as we go
        above = conf >= threshold
        total, good = int(above.sum()), int(hits[above].sum())
        bound = accuracy_lower_bound(good, total, level)
        if bound >= target:
            best = (threshold, total, good, bound)
    if best is None:
        top = candidates[0]
        above = conf >= top
        total, good = int(above.sum()), int(hits[above].sum())
        return Calibration(
            None,
            target,
            confidence_level,
            n,
            overall,
            total,
            good,
            good / total if total else None,
            accuracy_lower_bound(good, total, level),
            len(candidates),
        )
    threshold, total, good, bound = best
    return Calibration(
        threshold, target, confidence_level, n, overall, total, good, good / total, bound, len(candidates)
    )
