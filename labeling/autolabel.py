"""Confidence threshold for machine labels, backed by a statistical guarantee rather than a point estimate.

Given a random validation slice of human labels, the model's confidence on each item and whether its
prediction matched the human label, find the lowest confidence threshold whose machine labels are at
least ``target`` accurate.

Candidate thresholds are fixed by the confidences alone (never by correctness): the confidence at which
the top n validation items are covered, for n growing from a start (at least ``min_count``, at least the
top ``start_fraction`` of the slice) to all of them. They are tested in that order - most confident
first - with a one-sided Clopper-Pearson lower bound on the accuracy of the items at or above each, and
testing stops at the first threshold whose bound misses the target (fixed-sequence testing, as in
Angelopoulos et al., "Learn then Test"). Every threshold accepted before the stop is then, jointly,
at least ``target`` accurate with probability ``confidence_level``; no correction for the number of
candidates is needed because the order is set in advance. The last accepted threshold wins.

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


def candidate_thresholds(confidence: NDArray[np.float64], start: int, steps: int) -> list[float]:
    """Descending thresholds covering the top ``start`` ... all validation items, in about ``steps`` steps."""
    ordered = np.sort(np.asarray(confidence, dtype=np.float64))[::-1]
    n = len(ordered)
    if n < start or n == 0:
        return []
    counts = np.unique(np.linspace(start, n, num=steps).round().astype(int))
    return sorted({float(ordered[c - 1]) for c in counts}, reverse=True)


def calibrate_threshold(
    confidence: NDArray[np.float64],
    correct: NDArray[np.bool_],
    target: float,
    confidence_level: float = 0.95,
    min_count: int = 30,
    start_fraction: float = 0.1,
    steps: int = 50,
) -> Calibration:
    """The lowest confidence threshold reached by fixed-sequence testing (see the module doc)."""
    conf = np.asarray(confidence, dtype=np.float64)
    hits = np.asarray(correct, dtype=bool)
    if conf.shape != hits.shape:
        raise ValueError("confidence and correct must have the same length")
    alpha = 1.0 - confidence_level
    n = len(conf)
    overall = float(hits.mean()) if n else None
    # below this many items even a perfect record cannot prove the target: no test starts there
    start = max(min_count, min_count_for(target, alpha), int(np.ceil(start_fraction * n)))
    candidates = candidate_thresholds(conf, start, steps)
    tested: list[tuple[float, int, int, float]] = []
    for threshold in candidates:  # most confident first: coverage grows, accuracy (usually) falls
        above = conf >= threshold
        total, good = int(above.sum()), int(hits[above].sum())
        tested.append((threshold, total, good, accuracy_lower_bound(good, total, alpha)))
        if tested[-1][3] < target:
            break
    accepted = [t for t in tested if t[3] >= target]
    if not accepted:
        first = tested[0] if tested else None
        return Calibration(
            None,
            target,
            confidence_level,
            n,
            overall,
            first[1] if first else 0,
            first[2] if first else 0,
            first[2] / first[1] if first else None,
            first[3] if first else None,
            len(tested),
        )
    threshold, total, good, bound = accepted[-1]
    return Calibration(
        threshold, target, confidence_level, n, overall, total, good, good / total, bound, len(tested)
    )
