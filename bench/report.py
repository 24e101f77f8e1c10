"""Write bench/results/report.md and its PNG plots from the JSON results of a run.

The report leads with one table of headline ratios, then one section per measurement: a table, a
plot, and what the numbers mean (including where lakeprep is slower, and why). The sections live
in ``spark_sections`` and ``learning_sections``; formatting helpers in ``markdown``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import maintenance, site
from bench.learning_sections import active_section, autolabel_section, pool_section
from bench.markdown import failed_section, load, pct, table
from bench.spark_sections import commit_section, featurize_section, validation_sections


def machine_section(run: dict[str, Any]) -> str:
    m = run["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    data = run.get("data", {})
    sizes = ", ".join(f"{k}: {v['generated']['rows']:,} rows" for k, v in data.items())
    real = next(iter(data.values()))["generated"]["real_defect_rates"] if data else {}
    rates = ", ".join(f"{k} {pct(v)}" for k, v in real.items())
    durations = ", ".join(f"{k} {v / 60:.1f} min" for k, v in run.get("measurement_seconds", {}).items())
    return "\n".join(
        [
            "## The run",
            "",
            table(
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


def write(folder: Path) -> str:
    """Write report.md (and the plots) into ``folder`` from its JSON files; returns the summary text."""
    run = load(folder, "run")
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
        ("maintenance", "8. Table maintenance", maintenance.section),
        ("site", "9. The lake's site", site.section),
    ):
        result = load(folder, name)
        failed = failed_section(result, title)
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
    summary_table = table(["measurement", "figure", "result"], headline)
    notes = [
        *(run["plan"].get("notes") or []),
        *(
            f"{name} measured again on {again['started']} at commit {again['lakeprep_commit']} "
            f"(load average {again['load_average_at_start'][0]} at its start)"
            for name, again in run.get("remeasured", {}).items()
        ),
    ]
    document = "\n".join(
        [
            "# lakeprep benchmarks",
            "",
            "Re-run with `make bench` (the full plan: 1M-16M rows, 3 repeats; hours on 2 cores) or "
            "`make bench-quick` (100k-400k rows, one repeat, same report shape, written to "
            "`bench/data/results-quick/`). Results: this file, the JSON beside it (one file per measurement, "
            "every repeat) and the PNG plots.",
            "",
            *(
                [
                    "**This is a quick run.** At 100k-400k rows fixed costs (JVM start, job set-up) and the "
                    "machine's noise dominate: read it for the shape of the report, not for the figures.",
                    "",
                ]
                if run["plan"]["name"] == "quick"
                else []
            ),
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
