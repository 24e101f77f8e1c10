"""Measurement 6: auto-labelling at target accuracies 0.90 / 0.95 / 0.98, against the known truth.

A simulated campaign per (data set, seed): humans label a random validation slice and a training set
chosen by the campaign's default strategy (hybrid); the thresholds for each target come from
``labeling.autolabel.calibrate_per_label`` on the validation slice, as in a campaign: one per predicted
label (fixed-sequence testing with a Clopper-Pearson bound at 95% confidence), raised until no class
can lose more than ``1 - target`` of its items to wrong machine labels. Every remaining item whose
predicted label is proven at its confidence is labelled by the machine, the rest by humans. Reported:
the share labelled by machine, the accuracy of the machine labels against the truth, overall and per
label (the worst label: did every label meet the target?), the largest share of a class that got a
wrong machine label (within 1 - target?), and the total cost against labelling everything by hand
(annotators simulated without noise).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench.learning import active_loop, flights_sample, load_dataset
from labeling.autolabel import calibrate_per_label
from labeling.spec import Budget

# data set -> (batch, human training labels, human validation labels) in the full run
# (every class needs about 59 validation items to be vouched for at 95% / 95%: ten digits need ~700)
PLAN: dict[str, tuple[int, int, int]] = {
    "digits": (20, 300, 700),
    "breast_cancer": (5, 60, 150),
    "penguins": (5, 40, 200),
    "fishing": (10, 150, 400),
    "flights": (50, 500, 1000),
}
FLIGHTS_ITEMS = 20_000
COST_PER_LABEL = Budget(max_items=1).cost_per_label


def run_one(task: dict[str, Any]) -> dict[str, Any]:
    dataset = load_dataset(task["dataset"], Path(task["flights_lake"]))
    seed = task["seed"]
    rng = np.random.default_rng(seed)
    items = rng.permutation(len(dataset.y))
    if dataset.name == "flights":
        items = items[:FLIGHTS_ITEMS]
    batch, train, validation = PLAN[dataset.name]
    train = max(batch * 2, int(train * task["scale"]) // batch * batch)
    checked, pool = np.sort(items[:validation]), np.sort(items[validation:])
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
            val_probs.argmax(axis=1), dataset.y[checked], val_probs.max(axis=1), dataset.classes, target
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
                "thresholds": {str(k): v for k, v in calibration.thresholds.items()},
                "machine_share": float(machine.sum() / len(items)),
                "machine_labels": int(machine.sum()),
                "machine_accuracy": float(np.mean(right[machine])) if machine.any() else None,
                "machine_accuracy_by_class": by_class,
                "machine_accuracy_by_label": by_label,
                # what the guarantee covers: each label's accuracy, each class's share of wrong machine labels
                "worst_label_accuracy": min((a for a in by_label.values() if a is not None), default=None),
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
        "items": len(items),
        "human_training": len(loop.labelled),
        "human_validation": len(checked),
        "model_accuracy_validation": float(correct.mean()),
        "outcomes": outcomes,
    }


def summarise(runs: list[dict[str, Any]], targets: tuple[float, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in dict.fromkeys(r["dataset"] for r in runs):
        mine = [r for r in runs if r["dataset"] == name]
        rows = {}
        for index, target in enumerate(targets):
            picked = [r["outcomes"][index] for r in mine]
            accs = [p["machine_accuracy"] for p in picked if p["machine_accuracy"] is not None]
            worst = [p["worst_label_accuracy"] for p in picked if p["worst_label_accuracy"] is not None]
            lost = [p["worst_class_wrong_share"] for p in picked if p["worst_class_wrong_share"] is not None]
            rows[str(target)] = {
                "machine_share_median": float(np.median([p["machine_share"] for p in picked])),
                "machine_accuracy_median": float(np.median(accs)) if accs else None,
                "machine_accuracy_min": float(np.min(accs)) if accs else None,
                "seeds_meeting_target": sum(1 for a in accs if a >= target),
                "worst_label_accuracy_median": float(np.median(worst)) if worst else None,
                "worst_label_accuracy_min": float(np.min(worst)) if worst else None,
                "seeds_every_label_meeting_target": sum(1 for a in worst if a >= target),
                "worst_class_wrong_share_max": float(np.max(lost)) if lost else None,
                "seeds_every_class_within": sum(1 for w in lost if w <= 1 - target),
                "seeds_with_machine_labels": len(accs),
                "cost_ratio_median": float(np.median([p["cost_ratio"] for p in picked])),
                "cost_median": float(np.median([p["cost"] for p in picked])),
                "cost_all_human": picked[0]["cost_all_human"],
                "dataset_accuracy_median": float(np.median([p["dataset_accuracy"] for p in picked])),
            }
        out[name] = {
            "items": mine[0]["items"],
            "human_training": mine[0]["human_training"],
            "human_validation": mine[0]["human_validation"],
            "model_accuracy_validation_median": float(
                np.median([r["model_accuracy_validation"] for r in mine])
            ),
            "seeds": len(mine),
            "targets": rows,
        }
    return out


def run(
    seeds: int, scale: float, targets: tuple[float, ...], flights_lake: Path, workers: int = 2
) -> dict[str, Any]:
    tasks = [
        {"dataset": d, "seed": s, "scale": scale, "targets": list(targets), "flights_lake": str(flights_lake)}
        for d in PLAN
        for s in range(seeds)
    ]
    flights_sample(flights_lake)  # made once, before the workers read it
    with ProcessPoolExecutor(workers) as executor:
        runs = list(executor.map(run_one, tasks))
    return {"summary": summarise(runs, targets), "runs": runs}
