"""Measurement 6: auto-labelling against the known truth, at target accuracies 0.90 / 0.95 / 0.98 (the
campaign's default confidence level, 0.95) and at target 0.95 with lower confidence levels (the spec's
``confidence_level``).

A simulated campaign per (data set, seed, confidence level): humans label a random validation slice and a
training set chosen by the campaign's default strategy (hybrid); the thresholds for each target come from
``labeling.autolabel.calibrate_per_label`` on the validation slice, as in a campaign: one per predicted
label (fixed-sequence testing with a one-sided Clopper-Pearson bound), raised until no class can lose more
than ``1 - target`` of its items to wrong machine labels. Every remaining item whose predicted label is
proven at its confidence is labelled by the machine, the rest by humans. Reported: the share labelled by
machine, the accuracy of the machine labels against the truth, overall, per true class (the worst class)
and per predicted label (the worst label), the largest share of a class that got a wrong machine label
(within 1 - target?), and the total cost against labelling everything by hand (annotators simulated
without noise).

The validation slice is sized as the planner sizes it (``labeling.planner.slice_size``): every class
must be able to show ``min_count_for(target, 1 - confidence)`` error-free items (59 at 95% / 95%), so a
lower confidence level needs a smaller slice. Random items are drawn in the order of the seed's
permutation, at most a batch at a time, and after each draw the planner re-sizes the slice from the
label counts it holds (its rarest class sets the size), until every class has its items or the slice
reaches the set's budget for validation (``PLAN``). The most the machine can ever label is then
``(items - validation - training) / items`` (the ``ceiling`` reported), whatever the model.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.learning import Dataset, active_loop, flights_sample, load_dataset, unavailable
from labeling.autolabel import calibrate_per_label, validation_per_label
from labeling.planner import slice_size
from labeling.spec import Budget, CampaignSpec

# data set -> (batch, human training labels, most human validation labels at 95% confidence) in the full
# run. Every class needs 59 error-free validation items to be vouched for at 95% / 95%: ten digits ~600-750
# depending on the draw (the rarest digit is 9.7% of the set), a set whose rarest class is a twentieth of
# it 59 x 20 = 1,180. The third figure is the budget's ceiling on the slice, not its size.
PLAN: dict[str, tuple[int, int, int]] = {
    "digits_images": (20, 200, 900),
    "fortunes_tfidf": (50, 400, 1300),
    "fortunes_embeddings": (50, 400, 1300),
    "breast_cancer": (5, 60, 200),
    "penguins": (5, 40, 200),
    "olive": (10, 100, 300),
    "glass": (5, 40, 100),
    "fishing": (10, 150, 600),
    "flights": (50, 500, 1000),
}
TARGETS_AT_LOWER_CONFIDENCE = 0.95
FLIGHTS_ITEMS = 20_000
COST_PER_LABEL = Budget(max_items=1).cost_per_label
MIN_VALIDATION = CampaignSpec.model_fields["min_validation"].default
DEFAULT_CONFIDENCE = CampaignSpec.model_fields["confidence_level"].default


def per_class(level: float) -> int:
    """Validation items each class must show at confidence ``level`` (target 0.95, as a campaign's spec
    sizes it: ``labeling.autolabel.validation_per_label``)."""
    return validation_per_label(TARGETS_AT_LOWER_CONFIDENCE, level, MIN_VALIDATION)


def validation_ceiling(at_default: int, confidence: float) -> int:
    """The most validation labels at ``confidence``: the 95%-confidence ceiling scaled by the items each
    class must show."""
    return int(np.ceil(at_default * per_class(confidence) / per_class(DEFAULT_CONFIDENCE)))


def split(dataset: Dataset, seed: int, level: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The items of a (data set, seed) and their random validation slice at confidence ``level``: the
    first items of the seed's random order, as many as the planner asks for given the labels drawn."""
    items = np.random.default_rng(seed).permutation(len(dataset.y))
    if dataset.name == "flights":
        items = items[:FLIGHTS_ITEMS]
    batch, _, most = PLAN[dataset.name]
    ceiling, taken = validation_ceiling(most, level), 0
    while True:
        counts = np.bincount(dataset.y[items[:taken]], minlength=dataset.classes).tolist() if taken else []
        wanted = min(ceiling, slice_size(per_class(level), dataset.classes, counts))
        if wanted <= taken:
            return items, np.sort(items[:taken])
        taken = min(wanted, taken + batch) if taken else wanted


def validation_class_counts(dataset: Dataset, seed: int, level: float) -> list[int]:
    """Validation items per true class: one below ``min_count_for`` blocks every machine label."""
    _, checked = split(dataset, seed, level)
    return np.bincount(dataset.y[checked], minlength=dataset.classes).tolist()


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    dataset = load_dataset(task["dataset"], Path(task["flights_lake"]))
    seed, level = task["seed"], task["confidence"]
    items, checked = split(dataset, seed, level)
    pool = np.sort(items[len(checked) :])
    batch, train, _ = PLAN[dataset.name]
    train = max(batch * 2, int(train * task["scale"]) // batch * batch)
    loop = active_loop(dataset, pool, "hybrid", batch, train, seed)
    assert loop.model is not None
    val_probs = loop.model.predict_proba(dataset.x[checked])
    correct = val_probs.argmax(axis=1) == dataset.y[checked]
    rest = np.setdiff1d(pool, loop.labelled)
    probs = loop.model.predict_proba(dataset.x[rest])
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    truth = dataset.y[rest]
    outcomes = []
    for target in task["targets"]:
        calibration = calibrate_per_label(
            val_probs.argmax(axis=1),
            dataset.y[checked],
            val_probs.max(axis=1),
            dataset.classes,
            target,
            level,
            MIN_VALIDATION,
        )
        machine = np.zeros(len(rest), bool)
        for label, threshold in calibration.thresholds.items():
            machine |= (predicted == label) & (confidence >= threshold)
        human_items = len(items) - int(machine.sum())
        right = predicted == truth
        by_class = {
            str(c): float(right[machine & (truth == c)].mean()) if (machine & (truth == c)).any() else None
            for c in range(dataset.classes)
        }
        by_label = {
            str(c): float(right[machine & (predicted == c)].mean())
            if (machine & (predicted == c)).any()
            else None
            for c in range(dataset.classes)
        }
        wrong_share = {
            str(c): float((machine & (truth == c) & ~right).sum() / max(1, (truth == c).sum()))
            for c in range(dataset.classes)
        }
        outcomes.append(
            {
                "target": target,
                "confidence_level": level,
                "thresholds": {str(k): v for k, v in calibration.thresholds.items()},
                "machine_share": float(machine.sum() / len(items)),
                "machine_labels": int(machine.sum()),
                "machine_accuracy": float(np.mean(right[machine])) if machine.any() else None,
                "machine_accuracy_by_class": by_class,
                "machine_accuracy_by_label": by_label,
                # what the guarantee covers: each label's accuracy, each class's share of wrong machine labels
                "worst_label_accuracy": min((a for a in by_label.values() if a is not None), default=None),
                "worst_class_accuracy": min((a for a in by_class.values() if a is not None), default=None),
                "wrong_share_by_class": wrong_share,
                "worst_class_wrong_share": max(wrong_share.values()) if machine.any() else None,
                "validation_accuracy_above": calibration.accuracy_above,
                "human_labels": human_items,
                "cost": human_items * COST_PER_LABEL,
                "cost_all_human": len(items) * COST_PER_LABEL,
                "cost_ratio": human_items / len(items),
                "dataset_accuracy": float((human_items + np.sum(right[machine])) / len(items)),
            }
        )
    return {
        "dataset": dataset.name,
        "seed": seed,
        "confidence_level": level,
        "items": len(items),
        "class_counts": np.bincount(dataset.y[items], minlength=dataset.classes).tolist(),
        "validation_class_counts": validation_class_counts(dataset, seed, level),
        "ceiling": (len(items) - len(loop.labelled) - len(checked)) / len(items),
        "human_training": len(loop.labelled),
        "human_validation": len(checked),
        "model_accuracy_validation": float(correct.mean()),
        "outcomes": outcomes,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per data set and (target, confidence level): medians over seeds, the worst seed beside them."""
    out: dict[str, Any] = {}
    for name in dict.fromkeys(r["dataset"] for r in runs):
        mine = [r for r in runs if r["dataset"] == name]
        rows = {}
        for target, confidence in dict.fromkeys(
            (o["target"], o["confidence_level"]) for r in mine for o in r["outcomes"]
        ):
            picked = [
                (r, o)
                for r in mine
                for o in r["outcomes"]
                if (o["target"], o["confidence_level"]) == (target, confidence)
            ]
            outcomes = [o for _, o in picked]

            def values(key: str, among: list[dict[str, Any]] = outcomes) -> list[float]:
                return [o[key] for o in among if o[key] is not None]

            accs, worst_class = values("machine_accuracy"), values("worst_class_accuracy")
            need = validation_per_label(target, confidence, MIN_VALIDATION)
            worst, lost = values("worst_label_accuracy"), values("worst_class_wrong_share")
            rows[f"{target}@{confidence}"] = {
                "target": target,
                "confidence_level": confidence,
                # the slice's size varies by seed now (the planner grows it for the rarest class)
                "human_validation": int(np.median([r["human_validation"] for r, _ in picked])),
                "human_validation_by_seed": [r["human_validation"] for r, _ in picked],
                "ceiling_median": float(np.median([r["ceiling"] for r, _ in picked])),
                # validation items each class must show; seeds whose random slice left a class short
                "per_class_needed": need,
                "seeds_with_a_class_short": sum(
                    1 for r, _ in picked if min(r["validation_class_counts"]) < need
                ),
                "fewest_in_a_class": [min(r["validation_class_counts"]) for r, _ in picked],
                "machine_share_median": float(np.median(values("machine_share"))),
                "machine_share_max": float(np.max(values("machine_share"))),
                "machine_accuracy_median": float(np.median(accs)) if accs else None,
                "machine_accuracy_min": float(np.min(accs)) if accs else None,
                "seeds_meeting_target": sum(1 for a in accs if a >= target),
                "worst_class_accuracy_median": float(np.median(worst_class)) if worst_class else None,
                "worst_class_accuracy_min": float(np.min(worst_class)) if worst_class else None,
                "seeds_every_class_meeting_target": sum(1 for a in worst_class if a >= target),
                "worst_label_accuracy_median": float(np.median(worst)) if worst else None,
                "worst_label_accuracy_min": float(np.min(worst)) if worst else None,
                "seeds_every_label_meeting_target": sum(1 for a in worst if a >= target),
                "worst_class_wrong_share_max": float(np.max(lost)) if lost else None,
                "seeds_every_class_within": sum(1 for w in lost if w <= 1 - target),
                "seeds_with_machine_labels": len(accs),
                "seeds": len(picked),
                "cost_ratio_median": float(np.median(values("cost_ratio"))),
                "cost_median": float(np.median(values("cost"))),
                "cost_all_human": outcomes[0]["cost_all_human"],
                "dataset_accuracy_median": float(np.median(values("dataset_accuracy"))),
            }
        out[name] = {
            "items": mine[0]["items"],
            "class_counts": mine[0]["class_counts"],
            "human_training": mine[0]["human_training"],
            "model_accuracy_validation_median": float(
                np.median([r["model_accuracy_validation"] for r in mine])
            ),
            "seeds": len({r["seed"] for r in mine}),
            "rows": rows,
        }
    return out


def run(
    seeds: int,
    scale: float,
    targets: tuple[float, ...],
    flights_lake: Path,
    workers: int = 2,
    datasets: tuple[str, ...] = tuple(PLAN),
    lower_confidence: tuple[float, ...] = (0.9, 0.8),
) -> dict[str, Any]:
    """Every target at the default confidence level; ``TARGETS_AT_LOWER_CONFIDENCE`` at each lower one."""
    levels = [(DEFAULT_CONFIDENCE, list(targets))] + [
        (c, [TARGETS_AT_LOWER_CONFIDENCE]) for c in lower_confidence
    ]
    skipped = unavailable(datasets)
    datasets = tuple(d for d in datasets if d not in skipped)
    tasks = [
        {
            "dataset": d,
            "seed": s,
            "scale": scale,
            "confidence": c,
            "targets": chosen,
            "flights_lake": str(flights_lake),
        }
        for d in datasets
        for c, chosen in levels
        for s in range(seeds)
    ]
    if "flights" in datasets:
        flights_sample(flights_lake)  # made once, before the workers read it
    with ProcessPoolExecutor(workers) as executor:
        runs = list(executor.map(run_one, tasks))
    return {"summary": summarise(runs), "runs": runs, "skipped": skipped}
