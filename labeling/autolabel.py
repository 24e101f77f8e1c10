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

Per class (``calibrate_per_label``): a pooled guarantee lets a rare class be mostly mislabelled while
the overall figure holds (the many right answers of the common class hide it). Two guarantees, each at
``confidence_level``:

* per predicted label: each label gets its own threshold, tested as above on the validation items the
  model assigns that label, so the machine labels saying ``c`` are at least ``target`` accurate. A label
  the slice cannot vouch for gets no threshold and no machine labels;
* per true class: at most ``1 - target`` of each class's items get a wrong machine label (a minority
  class swallowed by the majority's label breaks this while the majority label's accuracy holds). A
  confidence floor over all labels is lowered, most confident first, while a one-sided Clopper-Pearson
  upper bound on every class's share of wrongly machine-labelled validation items stays within
  ``1 - target`` (an intersection-union test: all classes must pass, no correction needed). A class with
  fewer validation items than ``min_count_for`` cannot pass, and then nothing is machine-labelled.

Accuracy is measured against human labels: annotator noise caps what can be shown (with 3% noise a
perfect model measures about 97%).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
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


@dataclass(frozen=True)
class ClassErrors:
    """One true class on the validation slice: its items, how many would get a machine label, how many
    a wrong one, and the upper bound on the share of the class that gets a wrong machine label."""

    n_validation: int
    machine: int
    wrong: int
    wrong_share_upper_bound: float

    @property
    def machine_accuracy(self) -> float | None:
        return (self.machine - self.wrong) / self.machine if self.machine else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "machine_accuracy": self.machine_accuracy}


@dataclass(frozen=True)
class LabelCalibrations:
    """One ``Calibration`` per predicted label (index -> calibration on the items predicted as it)."""

    target: float
    confidence_level: float
    n_validation: int
    validation_accuracy: float | None
    labels: dict[int, Calibration]  # per predicted label, at its final threshold
    floor: float | None  # the confidence every machine label needs so that no class loses > 1 - target
    classes: dict[int, ClassErrors]  # per true class, at the final thresholds

    @property
    def thresholds(self) -> dict[int, float]:
        """Label index -> threshold, for the labels proven to reach the target (only these are machine-labelled)."""
        if self.floor is None:
            return {}
        return {i: max(c.threshold, self.floor) for i, c in self.labels.items() if c.threshold is not None}

    @property
    def threshold(self) -> float | None:
        """The lowest per-label threshold (a summary for display; machine labels use ``thresholds``)."""
        return min(self.thresholds.values(), default=None)

    @property
    def n_above(self) -> int:
        return sum(self.labels[i].n_above for i in self.thresholds)

    @property
    def correct_above(self) -> int:
        return sum(self.labels[i].correct_above for i in self.thresholds)

    @property
    def accuracy_above(self) -> float | None:
        return self.correct_above / self.n_above if self.n_above else None

    @property
    def lower_bound(self) -> float | None:
        """The weakest proven label's bound: every machine label is at least this accurate."""
        bounds = [self.labels[i].lower_bound for i in self.thresholds]
        return min((b for b in bounds if b is not None), default=None)

    def as_dict(self) -> dict[str, Any]:
        """Pooled figures under the keys a single calibration has, and each label's under ``labels``."""
        return {
            "threshold": self.threshold,
            "target": self.target,
            "confidence_level": self.confidence_level,
            "n_validation": self.n_validation,
            "validation_accuracy": self.validation_accuracy,
            "n_above": self.n_above,
            "correct_above": self.correct_above,
            "accuracy_above": self.accuracy_above,
            "lower_bound": self.lower_bound,
            "floor": self.floor,
            "labels": {str(i): c.as_dict() for i, c in sorted(self.labels.items())},
            "classes": {str(i): c.as_dict() for i, c in sorted(self.classes.items())},
        }


def error_upper_bound(errors: int, total: int, alpha: float) -> float:
    """One-sided Clopper-Pearson upper bound on an error share: P(true share > bound) <= alpha."""
    if total <= 0:
        return 1.0
    return 1.0 - accuracy_lower_bound(total - errors, total, alpha)


def accuracy_lower_bound(correct: int, total: int, alpha: float) -> float:
    """One-sided Clopper-Pearson lower bound: P(true accuracy < bound) <= alpha."""
    if total <= 0 or correct <= 0:
        return 0.0
    return float(beta.ppf(alpha, correct, total - correct + 1))


def min_count_for(target: float, alpha: float) -> int:
    """The fewest items that could ever prove ``target``: all correct gives a bound of alpha**(1/n)."""
    return int(np.floor(np.log(alpha) / np.log(target))) + 1


def validation_per_label(target: float, confidence_level: float, min_validation: int) -> int:
    """Validation items every label must show (59 at 95% / 95%, and at least ``min_validation``): with
    fewer in one true class ``calibrate_per_label`` can prove nothing, so nothing is labelled by machine."""
    return max(min_validation, min_count_for(target, 1.0 - confidence_level))


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


def calibrate_per_label(
    predicted: NDArray[np.int64],
    truth: NDArray[np.int64],
    confidence: NDArray[np.float64],
    n_labels: int,
    target: float,
    confidence_level: float = 0.95,
    min_count: int = 30,
) -> LabelCalibrations:
    """A threshold per predicted label, then the confidence floor that keeps every class's wrongly
    machine-labelled share within ``1 - target`` (see the module doc)."""
    pred = np.asarray(predicted, dtype=np.int64)
    true = np.asarray(truth, dtype=np.int64)
    conf = np.asarray(confidence, dtype=np.float64)
    if not pred.shape == true.shape == conf.shape:
        raise ValueError("predicted, truth and confidence must have the same length")
    hits = pred == true
    alpha = 1.0 - confidence_level
    labels = {
        i: calibrate_threshold(conf[pred == i], hits[pred == i], target, confidence_level, min_count)
        for i in range(n_labels)
    }
    per_label = np.array(
        [np.inf if labels[i].threshold is None else labels[i].threshold for i in range(n_labels)]
    )
    eligible = conf >= per_label[pred] if len(pred) else np.zeros(0, dtype=bool)

    def classes(floor: float) -> dict[int, ClassErrors]:
        machine = eligible & (conf >= floor)
        out = {}
        for c in range(n_labels):
            mine = true == c
            n, k = int(mine.sum()), int((mine & machine & ~hits).sum())
            out[c] = ClassErrors(n, int((mine & machine).sum()), k, error_upper_bound(k, n, alpha))
        return out

    floor = None
    for candidate in sorted(set(conf[eligible].tolist()), reverse=True):  # most confident first
        if any(c.wrong_share_upper_bound > 1.0 - target for c in classes(candidate).values()):
            break
        floor = candidate
    if floor is not None:  # each label's figures at its final threshold (the floor may raise it)
        for i, label in labels.items():
            if label.threshold is not None and floor > label.threshold:
                above = (pred == i) & (conf >= floor)
                total, good = int(above.sum()), int(hits[above].sum())
                labels[i] = replace(
                    label,
                    threshold=floor,
                    n_above=total,
                    correct_above=good,
                    accuracy_above=good / total if total else None,
                    lower_bound=accuracy_lower_bound(good, total, alpha),
                )
    overall = float(hits.mean()) if len(hits) else None
    final = classes(np.inf if floor is None else floor)
    return LabelCalibrations(target, confidence_level, len(hits), overall, labels, floor, final)
