"""Report sections of the labelling measurements: active learning, auto-labelling, pool scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from bench.markdown import (
    COLORS,
    STRATEGY_COLORS,
    labels_needed,
    load_note,
    mem,
    pct,
    save,
    secs,
    table,
    times,
)


def active_section(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    summary = result["summary"]
    names = list(summary)
    columns = min(4, len(names))  # seven sets: two rows of plots
    grid_rows = -(-len(names) // columns)
    fig, grid = plt.subplots(grid_rows, columns, figsize=(5.2 * columns, 4.2 * grid_rows), squeeze=False)
    axes = list(grid.ravel())
    for spare in axes[len(names) :]:
        spare.set_visible(False)
    rows, headline_parts = [], []
    for ax, name in zip(axes, names, strict=False):
        d = summary[name]
        for label, curve in d["curves"].items():
            strategy = label.removeprefix("skactiveml_")
            color = STRATEGY_COLORS.get(strategy, "black")
            style = "--" if curve["tool"] == "skactiveml" else "-"
            mean, std = curve["mean"], curve["std"]
            ax.plot(curve["labels"], mean, style, color=color, label=label, linewidth=1.4)
            if curve["tool"] == "lakeprep":
                ax.fill_between(
                    curve["labels"],
                    [m - s for m, s in zip(mean, std, strict=True)],
                    [m + s for m, s in zip(mean, std, strict=True)],
                    color=color,
                    alpha=0.12,
                )
            reach = curve["reach"]
            rows.append(
                [
                    name,
                    label,
                    f"{mean[-1]:.3f} ± {std[-1]:.3f}",
                    labels_needed(reach["0.95"]),
                    labels_needed(reach["0.98"]),
                    secs(curve["median_seconds"]),
                ]
            )
        full = d["full_accuracy_mean"]
        ax.axhline(full, color="black", linewidth=0.8, linestyle=":", label=f"all labels ({full:.3f})")
        ax.set_title(f"{name} ({d['seeds']} seeds; band = ±1 std)")
        ax.set_xlabel("labels")
        ax.set_ylabel("test accuracy")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        reached = [
            (label, c["reach"]["0.98"]["median_labels"])
            for label, c in d["curves"].items()
            if c["tool"] == "lakeprep"
            and label != "random"
            and c["reach"]["0.98"]["median_labels"] is not None
        ]
        best = min(reached, key=lambda p: p[1]) if reached else None
        random_needed = d["curves"]["random"]["reach"]["0.98"]["median_labels"]
        random_text = (
            f"random {random_needed:.0f}" if random_needed is not None else "random not within budget"
        )
        best_text = f"{best[0]} {best[1]:.0f}" if best else "no strategy within budget"
        headline_parts.append(f"{name}: {best_text} vs {random_text}")
    plot = save(fig, folder, "active_learning.png")
    headline = [
        [
            "5. active learning",
            "labels to reach 98% of full-data accuracy (best lakeprep strategy vs random, median over seeds)",
            "; ".join(headline_parts),
        ]
    ]
    text = [
        "## 5. Active learning",
        "",
        "The campaign's own selection code run in memory with known truth (`bench/learning.py`): the default "
        "model (`labeling.models.fit_model`, a calibrated logistic regression), the k-means cold start for the "
        "first batch, then `labeling.strategies.select` on the candidate sets the Spark path builds. Each seed "
        "has one stratified pool/test split (70/30) shared by every strategy and by scikit-activeml's "
        "`UncertaintySampling` (dashed lines), which starts from the same first batch, with an uncalibrated "
        "logistic regression (its usual setup). The flights set is a sample of the flight_delay features.",
        "",
        f"![learning curves]({plot})",
        "",
        "Labels needed to reach 95% and 98% of the accuracy of a model trained on the whole pool (median over "
        "seeds; '-' when fewer than half the seeds got there within the budget):",
        "",
        table(
            ["data set", "strategy", "accuracy at budget", "labels to 95%", "labels to 98%", "time per run"],
            rows,
        ),
        "",
        "Full-data accuracy (the 100% line): "
        + ", ".join(f"{n} {summary[n]['full_accuracy_mean']:.3f}" for n in names)
        + "; always answering the majority class scores "
        + ", ".join(f"{n} {summary[n]['majority_accuracy_mean']:.3f}" for n in names)
        + ". With two classes (breast cancer, flights) least confidence, margin and entropy rank items "
        "identically, so their curves coincide. scikit-activeml's runs are several times faster per run because "
        "its classifier is one plain logistic regression; lakeprep fits a calibrated one (sigmoid, up to 5 "
        "folds) every round, because auto-labelling trusts its probabilities. Times per run also carry the "
        "machine's load (both cores were used, two runs at a time).",
        "",
    ]
    return "\n".join(text), headline


def autolabel_section(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    summary = result["summary"]
    rows = []
    names = list(summary)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        d = summary[name]
        targets = list(d["targets"])
        for target in targets:
            t = d["targets"][target]
            rows.append(
                [
                    name,
                    target,
                    pct(t["machine_share_median"]),
                    pct(t["machine_accuracy_median"])
                    + (
                        f" (min {pct(t['machine_accuracy_min'])})"
                        if t["machine_accuracy_min"] is not None
                        else ""
                    ),
                    f"{t['seeds_meeting_target']}/{t['seeds_with_machine_labels']}",
                    "-"
                    if t.get("worst_label_accuracy_median") is None
                    else f"{pct(t['worst_label_accuracy_median'])} (min {pct(t['worst_label_accuracy_min'])}; "
                    f"{t['seeds_every_label_meeting_target']}/{t['seeds_with_machine_labels']} seeds)",
                    "-"
                    if t.get("worst_class_wrong_share_max") is None
                    else f"{pct(t['worst_class_wrong_share_max'])} "
                    f"({t['seeds_every_class_within']}/{t['seeds_with_machine_labels']} seeds within)",
                    f"{t['cost_median']:.2f} of {t['cost_all_human']:.2f} ({pct(t['cost_ratio_median'])})",
                ]
            )
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(targets))]
        axes[0].bar(xs, [d["targets"][t]["machine_share_median"] * 100 for t in targets], width, label=name)
        accs = [d["targets"][t]["machine_accuracy_median"] for t in targets]
        axes[1].bar(xs, [a * 100 if a is not None else 0 for a in accs], width, label=name)
    targets = list(summary[names[0]]["targets"])
    for ax in axes:
        ax.set_xticks(range(len(targets)), [f"target {t}" for t in targets])
        ax.legend(fontsize=8, ncol=len(names), loc="upper center")
    axes[0].set_ylabel("% of items labelled by machine")
    axes[0].set_title("Share labelled by machine")
    axes[0].set_ylim(0, 110)
    axes[1].set_ylabel("% correct (against the truth)")
    axes[1].set_ylim(80, 104)
    for j, t in enumerate(targets):
        axes[1].hlines(float(t) * 100, j - 0.45, j + 0.45, colors="black", linestyles=":")
    axes[1].set_title("Measured accuracy of machine labels (dotted: target)")
    plot = save(fig, folder, "autolabel.png")
    best = summary[names[0]]["targets"].get("0.95")
    headline = [
        [
            "6. auto-labelling",
            "at target 0.95: share by machine, machine-label accuracy, cost vs all-human",
            "; ".join(
                f"{n}: {pct(summary[n]['targets']['0.95']['machine_share_median'])}, {pct(summary[n]['targets']['0.95']['machine_accuracy_median'])}, {pct(summary[n]['targets']['0.95']['cost_ratio_median'])}"
                for n in names
            )
            if best
            else "-",
        ]
    ]
    plan = ", ".join(
        f"{n}: {summary[n]['items']:,} items, {summary[n]['human_training']} training + {summary[n]['human_validation']} validation labels"
        for n in names
    )
    text = [
        "## 6. Auto-labelling",
        "",
        "A simulated campaign per data set and seed: humans label a random validation slice and a training set "
        "chosen by the default (hybrid) strategy; `labeling.autolabel.calibrate_per_label` picks a confidence "
        "threshold per predicted label for each target (fixed-sequence testing, Clopper-Pearson bound at 95% "
        "confidence), raised until no class can lose more than 1 - target of its items to wrong machine labels; "
        "every remaining item whose label is proven at its confidence is labelled by the machine, the rest by humans "
        f"(cost per human label {result['runs'][0]['outcomes'][0]['cost_all_human'] / result['runs'][0]['items']:.2f}). {plan}.",
        "",
        table(
            [
                "data set",
                "target",
                "labelled by machine",
                "machine-label accuracy (median over seeds)",
                "seeds meeting the target / with machine labels",
                "worst label: accuracy of the machine labels saying it (seeds where every label met the target)",
                "largest share of a class given a wrong machine label (max over seeds)",
                "cost vs labelling all by hand",
            ],
            rows,
        ),
        "",
        f"![auto-labelling]({plot})",
        "",
        "A target the validation slice cannot prove gets no machine labels (0%, full human cost): that is the "
        "guarantee working, not a failure. Proving 98% at 95% confidence needs at least 149 correct validation "
        "items above the threshold, so small validation slices (breast cancer) cannot get there. The guarantee is "
        "per class: every class needs about 59 validation items (95% at 95% confidence), so sets with many or "
        "rare classes need a large validation slice before anything is labelled by machine.",
        "",
    ]
    return "\n".join(text), headline


def pool_section(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    summary = result["summary"]
    sizes = list(summary)
    rows = [
        [
            f"{summary[s]['rows']:,}",
            secs(summary[s]["tiers"]["plain_scan"]["seconds"]),
            secs(summary[s]["tiers"]["lakeprep_score_select"]["seconds"]),
            f"**{times(summary[s]['ratio'])}**",
            f"{summary[s]['rows_per_second']:,.0f}",
            mem(summary[s]["tiers"]["plain_scan"]["peak_rss_mb"]),
            mem(summary[s]["tiers"]["lakeprep_score_select"]["peak_rss_mb"]),
            str(summary[s]["tiers"]["lakeprep_score_select"]["repeats"]),
        ]
        for s in sizes
    ]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = range(len(sizes))
    ax.bar(
        [x - 0.2 for x in xs],
        [summary[s]["tiers"]["plain_scan"]["seconds"] for s in sizes],
        0.4,
        label="plain scan + top 1,000",
        color=COLORS["plain"],
    )
    ax.bar(
        [x + 0.2 for x in xs],
        [summary[s]["tiers"]["lakeprep_score_select"]["seconds"] for s in sizes],
        0.4,
        label="lakeprep score + select 1,000",
        color=COLORS["lakeprep"],
    )
    ax.set_xticks(list(xs), [f"{summary[s]['rows']:,} rows" for s in sizes])
    ax.set_ylabel("seconds (median)")
    ax.set_title("Pool scoring in Spark")
    ax.legend(fontsize=8)
    plot = save(fig, folder, "pool_scoring.png")
    headline = [
        [
            "7. pool scoring",
            "score + select 1,000 / plain scan",
            " / ".join(f"{times(summary[s]['ratio'])} @{s}" for s in sizes),
        ]
    ]
    text = [
        "## 7. Pool scoring in Spark",
        "",
        "`labeling.pool.score_pool` (the campaign model broadcast once, `mapInPandas` per Arrow batch, every "
        f"uncertainty score) then `top_rows` by margin ({result['select']:,} items) against a plain scan of the "
        "same columns taking the top 1,000 by a raw column (the same TakeOrderedAndProject plan without a model). "
        "The pool is synthetic: an id and eight numeric features. " + load_note(result["runs"]),
        "",
        table(
            [
                "pool rows",
                "plain scan",
                "lakeprep",
                "ratio",
                "rows/s scored",
                "peak plain",
                "peak lakeprep",
                "repeats",
            ],
            rows,
        ),
        "",
        f"![pool scoring]({plot})",
        "",
        "The difference is the round trip of every row through Arrow to a Python worker, the model's "
        "predict_proba and every uncertainty score, and back; the plain scan never leaves the JVM. Only the "
        "selected rows reach the driver either way, so peak memory grows far slower than the pool: "
        + ", ".join(
            f"{mem(summary[s]['tiers']['lakeprep_score_select']['peak_rss_mb'])} at {summary[s]['rows']:,} rows"
            for s in sizes
        )
        + ".",
        "",
    ]
    return "\n".join(text), headline
