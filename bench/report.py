"""Write bench/results/report.md and its PNG plots from the JSON results of a run.

The report leads with one table of headline ratios, then one section per measurement: a table, a
plot, and what the numbers mean (including where lakeprep is slower, and why).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {
    "lakeprep": "#1f6feb",
    "plain": "#8b949e",
    "pandera": "#d29922",
    "great_expectations": "#cf222e",
    "handwritten": "#8b949e",
}
STRATEGY_COLORS = {
    "random": "#6e7781",
    "least_confidence": "#0969da",
    "margin": "#1a7f37",
    "entropy": "#8250df",
    "k_center": "#bf3989",
    "hybrid": "#cf222e",
}


def _load(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _s(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    return f"{seconds:.3f} s" if seconds < 1 else f"{seconds:.1f} s"


def _x(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}x"


def _mb(value: float | None) -> str:
    return (
        "-"
        if value is None or math.isnan(value)
        else f"{value / 1024:.2f} GB"
        if value >= 1024
        else f"{value:.0f} MB"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _save(fig: Any, folder: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(folder / name, dpi=110)
    plt.close(fig)
    return name


def _failed(result: dict[str, Any] | None, title: str) -> str | None:
    if result is None:
        return f"## {title}\n\nNot run in this run.\n"
    if "error" in result:
        return f"## {title}\n\n**Failed:** `{result['error']}`\n"
    return None


def ratio_of(summary: dict[str, Any], first: str, last: str, tier: str) -> float:
    """How a tier's median time changed from the first rule count to the last."""
    return summary[last]["tiers"][tier]["seconds"] / summary[first]["tiers"][tier]["seconds"]


def _change(factor: float) -> str:
    return f"{(factor - 1) * 100:+.0f}%"


# ------------------------------------------------------------------------------------ sections
def machine_section(run: dict[str, Any]) -> str:
    m = run["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    data = run.get("data", {})
    sizes = ", ".join(f"{k}: {v['generated']['rows']:,} rows" for k, v in data.items())
    real = next(iter(data.values()))["generated"]["real_defect_rates"] if data else {}
    rates = ", ".join(f"{k} {_pct(v)}" for k, v in real.items())
    durations = ", ".join(f"{k} {v / 60:.1f} min" for k, v in run.get("measurement_seconds", {}).items())
    return "\n".join(
        [
            "## The run",
            "",
            _table(
                ["", ""],
                [
                    [
                        "plan",
                        f"`{run['plan']['name']}` (`python -m bench.run{' --quick' if run['plan']['name'] == 'quick' else ''}`)",
                    ],
                    ["started", run["started"]],
                    ["lakeprep commit", m["lakeprep_commit"]],
                    ["CPU", f"{m['cpu']}, {m['cores']} cores"],
                    ["memory", f"{m['memory_gb']} GB"],
                    ["OS", m["os"]],
                    ["Python / Java", f"{m['python']} / {m['java']}"],
                    [
                        "Spark",
                        f"pyspark {m['packages']['pyspark']}, {m['spark_master']}, driver memory {m['spark_driver_memory']}",
                    ],
                    ["packages", packages],
                    [
                        "load average (1 min) at start / end",
                        f"{m['load_average_at_start'][0]} / {run.get('load_average_at_end', ['-'])[0]}",
                    ],
                    ["data", sizes],
                    ["real defect rates kept (share of NA)", rates],
                    [
                        "time",
                        f"data {run.get('data_seconds', 0) / 60:.1f} min; {durations}; total {run.get('total_seconds', 0) / 60:.1f} min",
                    ],
                ],
            ),
            "",
            "Every ratio compares workloads measured in this run, interleaved repeat by repeat in alternating order; "
            "figures are medians over the repeats shown. Each Spark workload runs in a fresh process "
            "(`local[2]`, the project's `spark-defaults.conf`); its time is its measured section (session start-up "
            "excluded) and its peak memory is the peak of the summed RSS of the whole process tree (Python driver, "
            "JVM, Python workers) sampled every 50 ms with psutil. The machine is shared: a load average above the "
            "core count means other work ran at the same time, which slows both sides of a ratio but adds noise.",
            "",
        ]
    )


def validation_sections(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    summary = result["summary"]
    counts = list(summary)
    rows_1, rows_2, headline = [], [], []
    for n in counts:
        t = summary[n]["tiers"]
        rows_1.append(
            [
                n,
                _s(t["spark_cast_write"]["seconds"]),
                _s(t["lakeprep_clean"]["seconds"]),
                f"**{_x(summary[n]['overhead_clean_vs_plain'])}**",
                _mb(t["spark_cast_write"]["peak_rss_mb"]),
                _mb(t["lakeprep_clean"]["peak_rss_mb"]),
                str(t["lakeprep_clean"]["repeats"]),
            ]
        )
        for tier, label in (
            ("lakeprep_validate", "lakeprep"),
            ("pandera", "pandera (pyspark)"),
            ("great_expectations", "Great Expectations (Spark)"),
        ):
            vs = (
                1.0
                if tier == "lakeprep_validate"
                else summary[n][
                    "pandera_vs_lakeprep_validate" if tier == "pandera" else "ge_vs_lakeprep_validate"
                ]
            )
            rows_2.append(
                [
                    n,
                    label,
                    _s(t[tier]["seconds"]),
                    _x(vs),
                    _mb(t[tier]["peak_rss_mb"]),
                    str(t[tier]["repeats"]),
                ]
            )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.35
    xs = range(len(counts))
    plain = [summary[n]["tiers"]["spark_cast_write"]["seconds"] for n in counts]
    clean = [summary[n]["tiers"]["lakeprep_clean"]["seconds"] for n in counts]
    axes[0].bar(
        [x - width / 2 for x in xs],
        plain,
        width,
        label="plain Spark: read, cast, write",
        color=COLORS["plain"],
    )
    bars = axes[0].bar(
        [x + width / 2 for x in xs],
        clean,
        width,
        label="lakeprep clean: validate, quarantine, metrics, commit",
        color=COLORS["lakeprep"],
    )
    for bar, n in zip(bars, counts, strict=True):
        axes[0].annotate(
            _x(summary[n]["overhead_clean_vs_plain"]),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    axes[0].set_xticks(list(xs), [f"{n} rules" for n in counts])
    axes[0].set_ylabel("seconds (median)")
    axes[0].set_title(f"Validation overhead, {result['rows']:,} rows")
    axes[0].legend(fontsize=8)
    width = 0.27
    for offset, (tier, label, color) in zip(
        (-width, 0, width),
        (
            ("lakeprep_validate", "lakeprep validate+measure", COLORS["lakeprep"]),
            ("pandera", "pandera pyspark", COLORS["pandera"]),
            ("great_expectations", "Great Expectations Spark", COLORS["great_expectations"]),
        ),
        strict=True,
    ):
        axes[1].bar(
            [x + offset for x in xs],
            [summary[n]["tiers"][tier]["seconds"] for n in counts],
            width,
            label=label,
            color=color,
        )
    axes[1].set_xticks(list(xs), [f"{n} rules" for n in counts])
    axes[1].set_ylabel("seconds (median)")
    axes[1].set_title("Same rules, same typed frame")
    axes[1].legend(fontsize=8)
    plot = _save(fig, folder, "validation.png")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for offset, (tier, label, color) in zip(
        (-width, 0, width),
        (
            ("lakeprep_validate", "lakeprep", COLORS["lakeprep"]),
            ("pandera", "pandera", COLORS["pandera"]),
            ("great_expectations", "Great Expectations", COLORS["great_expectations"]),
        ),
        strict=True,
    ):
        ax.bar(
            [x + offset for x in xs],
            [summary[n]["tiers"][tier]["peak_rss_mb"] / 1024 for n in counts],
            width,
            label=label,
            color=color,
        )
    ax.set_xticks(list(xs), [f"{n} rules" for n in counts])
    ax.set_ylabel("peak RSS of the process tree (GB)")
    ax.set_title("Peak memory, driver + JVM")
    ax.legend(fontsize=8)
    memory_plot = _save(fig, folder, "validation_memory.png")
    reports = result["reports_failing_rows"]
    first, last = counts[0], counts[-1]
    headline.append(
        [
            "1. validation overhead",
            f"lakeprep clean / plain read-cast-write, {result['rows']:,} rows",
            " / ".join(_x(summary[n]["overhead_clean_vs_plain"]) for n in counts)
            + f" ({', '.join(counts)} rules)",
        ]
    )
    headline.append(
        [
            "2. peers",
            f"pandera / lakeprep, GE / lakeprep (same rules, {last} rules)",
            f"{_x(summary[last]['pandera_vs_lakeprep_validate'])}, {_x(summary[last]['ge_vs_lakeprep_validate'])}",
        ]
    )
    ge_counts: dict[str, int] = next(
        (
            r["detail"].get("unexpected_counts")
            for r in result["runs"]
            if r["tier"] == "great_expectations" and r["rules"] == int(last)
        ),
        {},
    )
    lp_counts: dict[str, int] = next(
        (
            r["detail"].get("rule_failures")
            for r in result["runs"]
            if r["tier"] == "lakeprep_validate" and r["rules"] == int(last)
        ),
        {},
    )
    differing = [n for n, c in lp_counts.items() if ge_counts.get(n) != c]
    agree = (
        "yes, rule by rule"
        if ge_counts and lp_counts and not differing
        else f"no, on {', '.join(differing)}"
        if ge_counts and lp_counts
        else "not compared"
    )
    growth_clean = ratio_of(summary, first, last, "lakeprep_clean")
    growth_plain = ratio_of(summary, first, last, "spark_cast_write")
    text = [
        f"## 1. Validation overhead ({result['rows']:,} rows)",
        "",
        "Plain Spark reads the raw text, casts to the contract types and writes Parquet. lakeprep runs the real "
        "`clean` job code (`jobs.clean.clean_dataset`) with a contract of N rules: normalise, cast with type "
        "checks, evaluate every rule in one projection, measure counts and nulls in one aggregation, write the "
        "rejected rows with their reasons to quarantine, hash the PII column, stage and commit both Delta tables, "
        "append metrics and lineage. The rules (range, allowed values, regex, not null, mixed over the flights "
        f"columns) are in `bench/rulesets.py`; {first} rules are a subset of {last}.",
        "",
        _table(
            ["rules", "plain Spark", "lakeprep clean", "ratio", "peak plain", "peak lakeprep", "repeats"],
            rows_1,
        ),
        "",
        f"![validation]({plot})",
        "",
        "What the overhead buys: the validated frame is persisted and read twice (once to measure, once to "
        "write), the rejected rows are written as a second table, every file's footer is read for Delta "
        "statistics, and the accounting (rows in = out + quarantined) is checked before the commit. All rules "
        f"are one projection: from {first} to {last} rules lakeprep's time changed by {_change(growth_clean)} "
        f"(the plain job's by {_change(growth_plain)}, with no rules at all: that is this machine's noise).",
        "",
        f"## 2. Peers on the same rules and data ({result['rows']:,} rows)",
        "",
        "Like for like: each tool gets the same typed frame (the plain cast) and the same N rules, and produces "
        "its per-rule outcome. lakeprep here is `validate` + `measure` (every row flagged with the names of the "
        "rules it fails, per-rule counts in one aggregation). pandera uses its pyspark backend with "
        "`PANDERA_CACHE_DATAFRAME=True`; Great Expectations 1.x its Spark engine, result format SUMMARY.",
        "",
        _table(["rules", "tool", "time", "vs lakeprep", "peak memory", "repeats"], rows_2),
        "",
        f"![peak memory]({memory_plot})",
        "",
        _table(
            ["tool", "reports failing rows?"],
            [[k, str(v)] for k, v in reports.items() if k != "spark_cast_write"],
        ),
        "",
        f"Do the per-rule failure counts of Great Expectations and lakeprep agree ({last} rules)? {agree}. "
        "pandera's pyspark backend reports which checks failed, not how many rows.",
        "",
    ]
    return "\n".join(text), headline


def featurize_section(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    summary = result["summary"]
    sizes = summary["sizes"]
    rows = [
        [
            s,
            _s(v["tiers"]["handwritten_featurize"]["seconds"]),
            _s(v["tiers"]["lakeprep_featurize"]["seconds"]),
            f"**{_x(v['ratio'])}**",
            _mb(v["tiers"]["handwritten_featurize"]["peak_rss_mb"]),
            _mb(v["tiers"]["lakeprep_featurize"]["peak_rss_mb"]),
            str(v["tiers"]["lakeprep_featurize"]["repeats"]),
        ]
        for s, v in sizes.items()
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    xs = [v["rows"] for v in sizes.values()]
    for tier, label, color in (
        ("lakeprep_featurize", "lakeprep featurize", COLORS["lakeprep"]),
        ("handwritten_featurize", "hand-written Spark", COLORS["handwritten"]),
    ):
        axes[0].loglog(
            xs,
            [v["tiers"][tier]["seconds"] for v in sizes.values()],
            "o-",
            color=color,
            label=f"{label} (slope {summary['slope_' + tier]:.2f})",
        )
        axes[1].loglog(
            xs,
            [v["tiers"][tier]["peak_rss_mb"] for v in sizes.values()],
            "o-",
            color=color,
            label=f"{label} (slope {summary['memory_slope_' + tier]:.2f})",
        )
    axes[0].set_title("featurize time vs rows (log-log)")
    axes[0].set_xlabel("flights rows")
    axes[0].set_ylabel("seconds (median)")
    axes[1].set_title("peak memory vs rows (log-log)")
    axes[1].set_xlabel("flights rows")
    axes[1].set_ylabel("peak RSS (MB)")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    plot = _save(fig, folder, "featurize_scaling.png")
    eq = summary["equivalence"]
    last = list(sizes)[-1]
    headline = [
        [
            "3. featurize",
            "lakeprep / hand-written Spark; log-log slope",
            " / ".join(f"{_x(v['ratio'])} @{s}" for s, v in sizes.items())
            + f"; slope {summary['slope_lakeprep_featurize']:.2f} vs {summary['slope_handwritten_featurize']:.2f}",
        ]
    ]
    text = [
        "## 3. featurize vs a hand-written Spark job",
        "",
        "`jobs/featurize.py` builds the `flight_delay` feature set (3 joins, 6 derivations, 3 leak-free window "
        "aggregates, label with exclusions, hash split, pyspark.ml pipeline: imputers, string indexer, one-hot, "
        "bucketizer, scaler, assembler; fitted on the training split, saved, committed to Delta with lineage). "
        "The hand-written job (`bench/features.py`) computes the same features with one SQL statement, one "
        "aggregation for the training statistics and column expressions, and writes Parquet.",
        "",
        _table(
            ["rows", "hand-written", "lakeprep", "ratio", "peak hand-written", "peak lakeprep", "repeats"],
            rows,
        ),
        "",
        f"Log-log slope of time against rows: lakeprep {summary['slope_lakeprep_featurize']:.2f}, hand-written "
        f"{summary['slope_handwritten_featurize']:.2f} (1.0 = linear).",
        "",
        f"![featurize scaling]({plot})",
        "",
        f"Same features? At {next(iter(sizes))} the two outputs were joined on `example_id`: {eq['matched']:,} of "
        f"{eq['examples_lakeprep']:,} examples matched, vectors of length {eq['vector_length'][0]} vs "
        f"{eq['vector_length'][1]}, largest absolute difference {eq['max_abs_difference']}, same label "
        f"{_pct(eq['same_label'])}, same split {_pct(eq['same_split'])}.",
        "",
        f"At {last} featurize takes {_x(sizes[last]['ratio'])} the hand-written time. What featurize does on "
        "top: it persists the candidates, counts every exclusion reason and split, fits a pyspark.ml pipeline "
        "(one pass per estimator family: imputers, indexer, scaler) and saves it, reduces each joined table to "
        "one row per key deterministically, stages, reads the footers and commits to Delta with lineage and "
        "metrics. What it does better: window aggregates are computed on per-day pre-aggregates (one row per "
        "group and day) instead of sorting every flight into a RANGE window, which is what the straightforward "
        "hand-written SQL does.",
        "",
    ]
    return "\n".join(text), headline


def commit_section(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    s = result["summary"]
    latency = s["latency"]
    files = [int(n) for n in latency]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].bar(
        ["plain Parquet write", "lakeprep stage", "lakeprep commit"],
        [s["parquet_seconds"], s["stage_seconds"], s["commit_seconds"]],
        color=[COLORS["plain"], COLORS["lakeprep"], "#0a3069"],
    )
    axes[0].set_ylabel("seconds (median)")
    axes[0].set_title(f"{s['rows']:,} rows: Delta path {_x(s['ratio'])} plain Parquet")
    axes[1].loglog(
        files,
        [latency[str(n)]["commit_seconds"] for n in files],
        "o-",
        color=COLORS["lakeprep"],
        label="commit (delta-rs, driver)",
    )
    axes[1].loglog(
        files,
        [latency[str(n)]["stage_seconds"] - latency[str(n)]["parquet_seconds"] for n in files],
        "s--",
        color="#0a3069",
        label="stage minus plain write (footer reads)",
    )
    axes[1].set_xlabel("files in the commit")
    axes[1].set_ylabel("seconds (median)")
    axes[1].set_title("Commit latency vs number of files")
    axes[1].legend(fontsize=8)
    axes[1].grid(True, which="both", alpha=0.3)
    plot = _save(fig, folder, "commit.png")
    rows = [
        [
            str(n),
            _s(latency[str(n)]["parquet_seconds"]),
            _s(latency[str(n)]["stage_seconds"]),
            _s(latency[str(n)]["commit_seconds"]),
        ]
        for n in files
    ]
    headline = [
        [
            "4. Delta commit path",
            f"stage+commit / plain Parquet ({s['rows']:,} rows); commit at {files[0]} / {files[-1]} files",
            f"{_x(s['ratio'])}; {_s(latency[str(files[0])]['commit_seconds'])} / {_s(latency[str(files[-1])]['commit_seconds'])}",
        ]
    ]
    text = [
        "## 4. The Delta commit path vs a plain Parquet write",
        "",
        f"The same cached frame ({s['rows']:,} cleaned flights) written as plain Parquet and through "
        "`Table.stage` (Spark writes Parquet into a fresh folder; the driver reads every footer for Delta "
        "statistics) + `Table.commit` (one delta-rs transaction with lineage tags).",
        "",
        _table(
            ["", "median"],
            [
                ["plain Parquet write", _s(s["parquet_seconds"])],
                ["lakeprep stage", _s(s["stage_seconds"])],
                ["lakeprep commit", _s(s["commit_seconds"])],
                ["ratio (stage + commit) / plain", f"**{_x(s['ratio'])}**"],
            ],
        ),
        "",
        f"Commit latency against the number of files (the same {200_000:,} rows repartitioned, appended to an existing table):",
        "",
        _table(["files", "plain Parquet write", "lakeprep stage", "lakeprep commit"], rows),
        "",
        f"![commit]({plot})",
        "",
        "The commit itself is a small driver-side step; the cost that grows with the file count is the stage's "
        "footer reads (one small read per file, done in parallel threads) and, on the Spark side, writing many "
        "small files at all.",
        "",
    ]
    return "\n".join(text), headline


def active_section(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    summary = result["summary"]
    names = list(summary)
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.2))
    rows, headline_parts = [], []
    for ax, name in zip(axes, names, strict=True):
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
                    _labels(reach["0.95"]),
                    _labels(reach["0.98"]),
                    _s(curve["median_seconds"]),
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
    plot = _save(fig, folder, "active_learning.png")
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
        _table(
            ["data set", "strategy", "accuracy at budget", "labels to 95%", "labels to 98%", "time per run"],
            rows,
        ),
        "",
        "Full-data accuracy (the 100% line): "
        + ", ".join(f"{n} {summary[n]['full_accuracy_mean']:.3f}" for n in names)
        + "; always answering the majority class scores "
        + ", ".join(f"{n} {summary[n]['majority_accuracy_mean']:.3f}" for n in names)
        + ". Where the full-data model is barely better than the majority answer (the flight-delay label with a "
        "linear model), 95-98% of it is reached within the first batches by every strategy and the curves say "
        "little. With two classes (breast cancer, flights) least confidence, margin and entropy rank items "
        "identically, so their curves coincide.",
        "",
    ]
    return "\n".join(text), headline


def _labels(reach: dict[str, Any]) -> str:
    median = reach["median_labels"]
    return (
        f"{median:.0f} ({reach['seeds_reached']}/{reach['seeds']})"
        if median is not None
        else f"- ({reach['seeds_reached']}/{reach['seeds']})"
    )


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
                    _pct(t["machine_share_median"]),
                    _pct(t["machine_accuracy_median"])
                    + (
                        f" (min {_pct(t['machine_accuracy_min'])})"
                        if t["machine_accuracy_min"] is not None
                        else ""
                    ),
                    f"{t['seeds_meeting_target']}/{t['seeds_with_machine_labels']}",
                    f"{t['cost_median']:.2f} of {t['cost_all_human']:.2f} ({_pct(t['cost_ratio_median'])})",
                ]
            )
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(targets))]
        axes[0].bar(xs, [d["targets"][t]["machine_share_median"] * 100 for t in targets], width, label=name)
        accs = [d["targets"][t]["machine_accuracy_median"] for t in targets]
        axes[1].bar(xs, [a * 100 if a is not None else 0 for a in accs], width, label=name)
    targets = list(summary[names[0]]["targets"])
    for ax in axes:
        ax.set_xticks(range(len(targets)), [f"target {t}" for t in targets])
        ax.legend(fontsize=8)
    axes[0].set_ylabel("% of items labelled by machine")
    axes[0].set_title("Share labelled by machine")
    axes[1].set_ylabel("% correct (against the truth)")
    axes[1].set_ylim(80, 100.5)
    for j, t in enumerate(targets):
        axes[1].hlines(float(t) * 100, j - 0.45, j + 0.45, colors="black", linestyles=":")
    axes[1].set_title("Measured accuracy of machine labels (dotted: target)")
    plot = _save(fig, folder, "autolabel.png")
    best = summary[names[0]]["targets"].get("0.95")
    headline = [
        [
            "6. auto-labelling",
            "at target 0.95: share by machine, machine-label accuracy, cost vs all-human",
            "; ".join(
                f"{n}: {_pct(summary[n]['targets']['0.95']['machine_share_median'])}, {_pct(summary[n]['targets']['0.95']['machine_accuracy_median'])}, {_pct(summary[n]['targets']['0.95']['cost_ratio_median'])}"
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
        "chosen by the default (hybrid) strategy; `labeling.autolabel.calibrate_threshold` picks the confidence "
        "threshold for each target (fixed-sequence testing, Clopper-Pearson bound at 95% confidence); every "
        "remaining item at or above it is labelled by the machine and the rest by humans "
        f"(cost per human label {result['runs'][0]['outcomes'][0]['cost_all_human'] / result['runs'][0]['items']:.2f}). {plan}.",
        "",
        _table(
            [
                "data set",
                "target",
                "labelled by machine",
                "machine-label accuracy (median over seeds)",
                "seeds meeting target",
                "cost vs labelling all by hand",
            ],
            rows,
        ),
        "",
        f"![auto-labelling]({plot})",
        "",
        "A target the validation slice cannot prove gets no machine labels (0%, full human cost): that is the "
        "guarantee working, not a failure. Proving 98% at 95% confidence needs at least 149 correct validation "
        "items above the threshold, so small validation slices (breast cancer) cannot get there.",
        "",
    ]
    return "\n".join(text), headline


def pool_section(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    summary = result["summary"]
    sizes = list(summary)
    rows = [
        [
            f"{summary[s]['rows']:,}",
            _s(summary[s]["tiers"]["plain_scan"]["seconds"]),
            _s(summary[s]["tiers"]["lakeprep_score_select"]["seconds"]),
            f"**{_x(summary[s]['ratio'])}**",
            f"{summary[s]['rows_per_second']:,.0f}",
            _mb(summary[s]["tiers"]["plain_scan"]["peak_rss_mb"]),
            _mb(summary[s]["tiers"]["lakeprep_score_select"]["peak_rss_mb"]),
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
    plot = _save(fig, folder, "pool_scoring.png")
    headline = [
        [
            "7. pool scoring",
            "score + select 1,000 / plain scan",
            " / ".join(f"{_x(summary[s]['ratio'])} @{s}" for s in sizes),
        ]
    ]
    text = [
        "## 7. Pool scoring in Spark",
        "",
        "`labeling.pool.score_pool` (the campaign model broadcast once, `mapInPandas` per Arrow batch, every "
        f"uncertainty score) then `top_rows` by margin ({result['select']:,} items) against a plain scan of the "
        "same columns taking the top 1,000 by a raw column (the same TakeOrderedAndProject plan without a model). "
        "The pool is synthetic: an id and eight numeric features.",
        "",
        _table(
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
        "The difference is the round trip of every row through Arrow to a Python worker and back; only the "
        "selected rows reach the driver either way, so memory stays flat with the pool size.",
        "",
    ]
    return "\n".join(text), headline


def write(folder: Path) -> str:
    """Write report.md (and the plots) into ``folder`` from its JSON files; returns the summary text."""
    run = _load(folder, "run")
    if run is None:
        raise SystemExit(f"no results in {folder}: run python -m bench.run first")
    sections, headline = [], []
    for name, title, builder in (
        ("validation", "1. Validation overhead and 2. peers", validation_sections),
        ("featurize", "3. featurize", featurize_section),
        ("commit", "4. The Delta commit path", commit_section),
        ("active_learning", "5. Active learning", active_section),
        ("autolabel", "6. Auto-labelling", autolabel_section),
        ("pool_scoring", "7. Pool scoring in Spark", pool_section),
    ):
        result = _load(folder, name)
        failed = _failed(result, title)
        if failed or result is None:
            sections.append(failed or "")
            headline.append([title, "not measured in this run", failed.splitlines()[2] if failed else "-"])
            continue
        try:
            text, lines = builder(result, folder)
        except (KeyError, TypeError, ValueError) as exc:  # results of an older shape: say so, keep the rest
            text, lines = f"## {title}\n\nCould not render: `{type(exc).__name__}: {exc}`.\n", []
        sections.append(text)
        headline += lines
    summary_table = _table(["measurement", "figure", "result"], headline)
    notes = run["plan"].get("notes") or []
    document = "\n".join(
        [
            "# lakeprep benchmarks",
            "",
            "Re-run with `make bench` (full, about an hour here) or `make bench-quick` (a few minutes, same report "
            "shape at smaller sizes). Results: this file, the JSON beside it (one file per measurement, every "
            "repeat), and the PNG plots.",
            "",
            "## At a glance",
            "",
            "Ratios above 1.00x mean lakeprep takes longer than the thing it is compared with.",
            "",
            summary_table,
            "",
            *(["Notes on this run:", "", *[f"- {n}" for n in notes], ""] if notes else []),
            machine_section(run),
            *sections,
        ]
    )
    (folder / "report.md").write_text(document)
    return (
        "lakeprep benchmarks - "
        + run["plan"]["name"]
        + " run\n\n"
        + summary_table
        + f"\n\nReport: {folder / 'report.md'}"
    )
