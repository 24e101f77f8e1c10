"""Threshold calibration: the machine labels it admits reach the target, with the promised confidence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from labeling.autolabel import accuracy_lower_bound, calibrate_threshold, min_count_for


def calibrated_sample(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Confidences uniform on [0.5, 1] and P(correct | c) = c: above a threshold t the true accuracy
    is exactly (1 + t) / 2, so a 90% target needs t >= 0.8."""
    confidence = rng.uniform(0.5, 1.0, size=n)
    return confidence, rng.random(n) < confidence


@pytest.mark.parametrize(("correct", "total", "alpha"), [(95, 100, 0.05), (200, 200, 0.01), (7, 40, 0.1)])
def test_lower_bound_is_clopper_pearson(correct: int, total: int, alpha: float) -> None:
    expected = binomtest(correct, total, alternative="greater").proportion_ci(1 - alpha, method="exact").low
    assert accuracy_lower_bound(correct, total, alpha) == pytest.approx(expected)
    assert accuracy_lower_bound(0, total, alpha) == 0.0


def test_min_count_for_a_perfect_record() -> None:
    # 0.95**58 > 0.05 >= 0.95**59: 59 correct labels out of 59 are the fewest that prove 95%
    assert min_count_for(0.95, 0.05) == 59
    assert accuracy_lower_bound(59, 59, 0.05) >= 0.95 > accuracy_lower_bound(58, 58, 0.05)


def test_threshold_reaches_the_target_on_fresh_data() -> None:
    rng = np.random.default_rng(1)
    confidence, correct = calibrated_sample(3000, rng)
    result = calibrate_threshold(confidence, correct, target=0.9, confidence_level=0.95)
    assert result.threshold is not None
    assert result.lower_bound is not None
    assert result.lower_bound >= 0.9
    assert result.n_above == int((confidence >= result.threshold).sum())
    fresh_confidence, fresh_correct = calibrated_sample(200_000, rng)
    machine = fresh_confidence >= result.threshold
    assert fresh_correct[machine].mean() >= 0.9
    # not needlessly strict either: t = 0.8 (40% of items) is the best possible; it gets most of that
    assert machine.mean() >= 0.25


def test_the_guarantee_holds_across_repeated_campaigns() -> None:
    """Over many independent validation slices, a threshold below 0.8 (true accuracy < 90%) is chosen
    at most alpha of the time."""
    rng = np.random.default_rng(2)
    too_low = chosen = 0
    for _ in range(300):
        confidence, correct = calibrated_sample(1000, rng)
        result = calibrate_threshold(confidence, correct, target=0.9, confidence_level=0.95)
        if result.threshold is not None:
            chosen += 1
            too_low += result.threshold < 0.8
    assert chosen > 200, "the calibration finds a threshold in most runs"
    assert too_low / 300 <= 0.05


def test_no_threshold_when_the_model_is_not_good_enough() -> None:
    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.5, 1.0, size=1000)
    correct = rng.random(1000) < 0.8  # 80% right whatever the confidence
    result = calibrate_threshold(confidence, correct, target=0.95)
    assert result.threshold is None
    assert result.validation_accuracy == pytest.approx(correct.mean())
    assert result.lower_bound is not None
    assert result.lower_bound < 0.95


def test_too_few_validation_labels_to_prove_anything() -> None:
    confidence = np.full(40, 0.99)
    result = calibrate_threshold(confidence, np.ones(40, dtype=bool), target=0.95)
    assert result.threshold is None
    assert result.candidates == 0
    assert result.n_validation == 40


def test_a_perfect_model_gets_the_lowest_threshold() -> None:
    confidence = np.linspace(0.5, 1.0, 500, dtype=np.float64)
    result = calibrate_threshold(confidence, np.ones(500, dtype=bool), target=0.95)
    assert result.threshold == pytest.approx(0.5)
    assert result.n_above == 500
    assert result.accuracy_above == 1.0


def test_every_class_keeps_the_target_on_an_imbalanced_set() -> None:
    """92% / 8% classes, the minority hard to tell apart: a pooled threshold meets 95% overall while
    half the minority items it labels get the majority's label; per-class calibration keeps each
    label's accuracy and each class's share of wrong machine labels within the target on fresh data."""
    from sklearn.datasets import make_classification

    from labeling.autolabel import calibrate_per_label
    from labeling.models import fit_model
    from labeling.spec import ModelSpec

    x, y = make_classification(
        n_samples=20_000, n_features=8, n_informative=4, weights=[0.92, 0.08], class_sep=1.2, random_state=2
    )
    train, val, fresh = slice(0, 800), slice(800, 2800), slice(2800, None)
    model = fit_model(
        ModelSpec(), x[train], y[train], n_labels=2, feature_columns=tuple("abcdefgh"), version="t"
    )
    probs, fresh_probs = model.predict_proba(x[val]), model.predict_proba(x[fresh])
    predicted, truth = fresh_probs.argmax(axis=1), y[fresh]

    pooled = calibrate_threshold(probs.max(axis=1), probs.argmax(axis=1) == y[val], 0.95)
    assert pooled.threshold is not None
    machine = fresh_probs.max(axis=1) >= pooled.threshold
    assert (predicted[machine] == truth[machine]).mean() >= 0.95  # the overall target holds ...
    minority = truth == 1
    assert (machine & minority & (predicted != 1)).sum() / minority.sum() > 0.3  # ... the minority's does not

    result = calibrate_per_label(probs.argmax(axis=1), y[val], probs.max(axis=1), 2, 0.95)
    assert result.thresholds, "the majority label is still machine-labelled"
    machine = np.zeros(len(truth), dtype=bool)
    for label, threshold in result.thresholds.items():
        machine |= (predicted == label) & (fresh_probs.max(axis=1) >= threshold)
    for label in result.thresholds:
        said = machine & (predicted == label)
        assert (truth[said] == label).mean() >= 0.95
    for cls in (0, 1):
        wrong = machine & (truth == cls) & (predicted != cls)
        assert wrong.sum() / (truth == cls).sum() <= 0.05
        measured = result.classes[cls]
        assert measured.n_validation == int((y[val] == cls).sum())
        assert measured.wrong_share_upper_bound <= 0.05
    assert result.lower_bound is not None
    assert result.lower_bound >= 0.95


def test_a_class_too_rare_to_vouch_for_stops_machine_labels() -> None:
    """30 validation items of a class cannot show that few of its items get a wrong label: nothing is
    machine-labelled, however right the other label looks."""
    from labeling.autolabel import calibrate_per_label

    truth = np.array([0] * 300 + [1] * 30)
    predicted = np.zeros(330, dtype=np.int64)
    predicted[300:] = 1
    result = calibrate_per_label(predicted, truth, np.full(330, 0.99), 2, 0.95)
    assert result.labels[0].threshold is not None
    assert result.thresholds == {}
    assert result.classes[1].n_validation == 30
    assert result.classes[1].wrong_share_upper_bound > 0.05
