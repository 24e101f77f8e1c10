"""Report sections of the Spark measurements: validation and peers, featurize, the commit path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from bench.markdown import (
    COLORS,
    change,
    load_note,
    mem,
    pct,
    ratio_of,
    save,
    secs,
    table,
    times,
)

PEER_TIERS = ("lakeprep_validate", "pandera", "great_expectations")


def _peer_bars(
    ax: Any,
    summary: dict[str, Any],
    counts: list[str],
    metric: str,
    scale: float,
    labels: tuple[str, str, str],
) -> None:
    """Grouped bars of one metric for lakeprep and its peers, one group per rule count."""
    width = 0.27
    xs = range(len(counts))
    for offset, tier, label in zip((-width, 0, width), PEER_TIERS, labels, strict=True):
        values = [summary[n]["tiers"][tier][metric] * scale for n in counts]
        ax.bar(
            [x + offset for x in xs], values, width, label=label, color=COLORS[tier.removesuffix("_validate")]
        )
    ax.set_xticks(list(xs), [f"{n} rules" for n in counts])


def validation_sections(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    summary = result["summary"]
    counts = list(summary)
    rows_1, rows_2, headline = [], [], []
    for n in counts:
        t = summary[n]["tiers"]
        rows_1.append(
            [
                n,
                secs(t["spark_cast_write"]["seconds"]),
                secs(t["lakeprep_clean"]["seconds"]),
                f"**{times(summary[n]['overhead_clean_vs_plain'])}**",
                mem(t["spark_cast_write"]["peak_rss_mb"]),
                mem(t["lakeprep_clean"]["peak_rss_mb"]),
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
                    secs(t[tier]["seconds"]),
                    times(vs),
                    mem(t[tier]["peak_rss_mb"]),
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
            times(summary[n]["overhead_clean_vs_plain"]),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    axes[0].set_xticks(list(xs), [f"{n} rules" for n in counts])
    axes[0].set_ylabel("seconds (median)")
    axes[0].set_title(f"Validation overhead, {result['rows']:,} rows")
    axes[0].set_ylim(0, axes[0].get_ylim()[1] * 1.3)  # room for the legend above the bars
    axes[0].legend(fontsize=8, loc="upper center", ncol=1)
    _peer_bars(
        axes[1],
        summary,
        counts,
        "seconds",
        1.0,
        ("lakeprep validate+measure", "pandera pyspark", "Great Expectations Spark"),
    )
    axes[1].set_ylabel("seconds (median)")
    axes[1].set_title("Same rules, same typed frame")
    axes[1].legend(fontsize=8)
    plot = save(fig, folder, "validation.png")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    _peer_bars(ax, summary, counts, "peak_rss_mb", 1 / 1024, ("lakeprep", "pandera", "Great Expectations"))
    ax.set_ylabel("peak RSS of the process tree (GB)")
    ax.set_title("Peak memory, driver + JVM")
    ax.legend(fontsize=8)
    memory_plot = save(fig, folder, "validation_memory.png")
    reports = result["reports_failing_rows"]
    first, last = counts[0], counts[-1]
    headline.append(
        [
            "1. validation overhead",
            f"lakeprep clean / plain read-cast-write, {result['rows']:,} rows",
            " / ".join(times(summary[n]["overhead_clean_vs_plain"]) for n in counts)
            + f" ({', '.join(counts)} rules)",
        ]
    )
    headline.append(
        [
            "2. peers",
            f"pandera / lakeprep, GE / lakeprep (same rules, {last} rules)",
            f"{times(summary[last]['pandera_vs_lakeprep_validate'])}, {times(summary[last]['ge_vs_lakeprep_validate'])}",
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
        "`clean` job code (`lake.zones.clean.run.clean_dataset`) with a contract of N rules: normalise, cast with type "
        "checks, evaluate every rule in one projection, measure counts and nulls in one aggregation, write the "
        "rejected rows with their reasons to quarantine, hash the PII column, stage and commit both Delta tables, "
        "append metrics and lineage. The rules (range, allowed values, regex, not null, mixed over the flights "
        f"columns) are in `bench/rulesets.py`; {first} rules are a subset of {last}. {load_note(result['runs'])}",
        "",
        table(
            ["rules", "plain Spark", "lakeprep clean", "ratio", "peak plain", "peak lakeprep", "repeats"],
            rows_1,
        ),
        "",
        f"![validation]({plot})",
        "",
        "Why lakeprep is slower, and what it buys: the plain job makes one pass; clean persists the validated "
        "frame (on local disk) with the landed text of every column kept beside the typed value, so a "
        "rejected row can be quarantined exactly as it arrived, then reads it three times: to measure "
        "(counts, per-rule failures, nulls), to write the quarantine table (the row as JSON with its reasons) "
        "and to write the cleaned table (PII hashed). Then it reads every written file's footer for Delta "
        "statistics, checks rows in = out + quarantined against them, commits two Delta tables, appends "
        "metrics and lineage. The persisted, doubled-width frame is also why its peak memory is higher. "
        f"Rules themselves are one projection: from {first} to {last} rules lakeprep's time changed by "
        f"{change(growth_clean)}, the plain job's (which has no rules) by {change(growth_plain)}; more rules "
        "also mean more rejected rows to serialise and write.",
        "",
        f"## 2. Peers on the same rules and data ({result['rows']:,} rows)",
        "",
        "Like for like: each tool gets the same typed frame (the plain cast) and the same N rules, and produces "
        "its per-rule outcome. lakeprep here is `validate` + `measure` (every row flagged with the names of the "
        "rules it fails, per-rule counts in one aggregation). pandera uses its pyspark backend with "
        "`PANDERA_CACHE_DATAFRAME=True`; Great Expectations 1.x its Spark engine, result format SUMMARY.",
        "",
        table(["rules", "tool", "time", "vs lakeprep", "peak memory", "repeats"], rows_2),
        "",
        f"![peak memory]({memory_plot})",
        "",
        table(
            ["tool", "reports failing rows?"],
            [[k, str(v)] for k, v in reports.items() if k != "spark_cast_write"],
        ),
        "",
        f"Do the per-rule failure counts of Great Expectations and lakeprep agree ({last} rules)? {agree}. "
        "pandera's pyspark backend reports which checks failed, not how many rows.",
        "",
    ]
    return "\n".join(text), headline


def _difference(value: float | None) -> str:
    """A vector difference readably: ``-`` when the vectors could not be compared (different lengths)."""
    return "-" if value is None else f"{value:.1e}"


def featurize_section(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    summary = result["summary"]
    sizes = summary["sizes"]
    rows = [
        [
            s,
            secs(v["tiers"]["handwritten_featurize"]["seconds"]),
            secs(v["tiers"]["lakeprep_featurize"]["seconds"]),
            f"**{times(v['ratio'])}**",
            mem(v["tiers"]["handwritten_featurize"]["peak_rss_mb"]),
            mem(v["tiers"]["lakeprep_featurize"]["peak_rss_mb"]),
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
    plot = save(fig, folder, "featurize_scaling.png")
    eq = summary["equivalence"]
    last = list(sizes)[-1]
    headline = [
        [
            "3. featurize",
            "lakeprep / hand-written Spark; log-log slope",
            " / ".join(f"{times(v['ratio'])} @{s}" for s, v in sizes.items())
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
        "aggregation for the training statistics and column expressions, and writes Parquet. "
        + load_note(result["runs"]),
        "",
        table(
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
        f"{eq['vector_length'][1]}, largest absolute difference {_difference(eq['max_abs_difference'])}, same label "
        f"{pct(eq['same_label'])}, same split {pct(eq['same_split'])}.",
        "",
        f"At {last} featurize takes {times(sizes[last]['ratio'])} the hand-written time. What featurize does on "
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
    axes[0].set_title(f"{s['rows']:,} rows: Delta path {times(s['ratio'])} plain Parquet")
    for key, style, color, label in (
        ("parquet_seconds", "s--", COLORS["plain"], "plain Parquet write of the same files"),
        ("stage_seconds", "^-", COLORS["lakeprep"], "lakeprep stage (Spark write + footer reads)"),
        ("commit_seconds", "o-", "#0a3069", "lakeprep commit (delta-rs, on the driver)"),
    ):
        axes[1].loglog(files, [latency[str(n)][key] for n in files], style, color=color, label=label)
    axes[1].set_xlabel("files in the commit")
    axes[1].set_ylabel("seconds (median)")
    axes[1].set_title("Commit latency vs number of files")
    axes[1].legend(fontsize=8)
    axes[1].grid(True, which="both", alpha=0.3)
    plot = save(fig, folder, "commit.png")
    rows = [
        [
            str(n),
            secs(latency[str(n)]["parquet_seconds"]),
            secs(latency[str(n)]["stage_seconds"]),
            secs(latency[str(n)]["commit_seconds"]),
        ]
        for n in files
    ]
    headline = [
        [
            "4. Delta commit path",
            f"stage+commit / plain Parquet ({s['rows']:,} rows); commit at {files[0]} / {files[-1]} files",
            f"{times(s['ratio'])}; {secs(latency[str(files[0])]['commit_seconds'])} / {secs(latency[str(files[-1])]['commit_seconds'])}",
        ]
    ]
    text = [
        "## 4. The Delta commit path vs a plain Parquet write",
        "",
        f"The same cached frame ({s['rows']:,} cleaned flights) written as plain Parquet and through "
        "`Table.stage` (Spark writes Parquet into a fresh folder; the driver reads every footer for Delta "
        "statistics) + `Table.commit` (one delta-rs transaction with lineage tags).",
        "",
        table(
            ["", "median"],
            [
                ["plain Parquet write", secs(s["parquet_seconds"])],
                ["lakeprep stage", secs(s["stage_seconds"])],
                ["lakeprep commit", secs(s["commit_seconds"])],
                ["ratio (stage + commit) / plain", f"**{times(s['ratio'])}**"],
            ],
        ),
        "",
        f"Commit latency against the number of files (the same {200_000:,} rows repartitioned, appended to an existing table):",
        "",
        table(["files", "plain Parquet write", "lakeprep stage", "lakeprep commit"], rows),
        "",
        f"![commit]({plot})",
        "",
        f"The commit is a driver-side step: {secs(latency[str(files[0])]['commit_seconds'])} for {files[0]} files, "
        f"{secs(latency[str(files[-1])]['commit_seconds'])} for {files[-1]:,} (one add action with statistics per "
        "file). Staging costs "
        + " / ".join(
            times(latency[str(n)]["stage_seconds"] / latency[str(n)]["parquet_seconds"]) for n in files
        )
        + f" the plain write of the same files ({', '.join(str(n) for n in files)} files): reading the footers "
        "is small next to writing the files, and what grows with the file count is Spark writing many small "
        "files at all.",
        "",
    ]
    return "\n".join(text), headline
