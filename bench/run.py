"""``python -m bench.run [--quick] [--only NAMES]``: generate the data if needed, run every measurement,
write bench/results/ (JSON per measurement, report.md, PNG plots) and print the summary.

Measurements run one after the other (never two Spark workloads at once on 2 cores); compared
workloads are interleaved repeat by repeat, in alternating order, so drift in the machine's load
hits both sides alike. A measurement that fails is recorded as failed and the run goes on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import active, autolabeling, data, features, maintenance, paths, pool, report, site, validation
from bench.machine import describe
from bench.plan import FULL, PLAN_FIELDS, QUICK, ROWS, Plan, limited
from bench.proc import Measured, run_workload
from bench.timing import loglog_slope, median, ratio

log = logging.getLogger("bench")

MEASUREMENTS = (
    "validation",
    "featurize",
    "commit",
    "active_learning",
    "autolabel",
    "pool_scoring",
    "maintenance",
    "site",
)


def _record(tier: str, measured: Measured, **keys: Any) -> dict[str, Any]:
    return {
        "tier": tier,
        **keys,
        "seconds": measured.seconds,
        "wall_seconds": measured.wall_seconds,
        "peak_rss_mb": measured.peak_rss_mb,
        "load_average": os.getloadavg()[0],
        "detail": measured.detail,
    }


def _rotate(items: tuple[str, ...], by: int) -> tuple[str, ...]:
    by %= len(items)
    return items[by:] + items[:by]


def _medians(runs: list[dict[str, Any]], tier: str, **keys: Any) -> dict[str, float]:
    mine = [r for r in runs if r["tier"] == tier and all(r.get(k) == v for k, v in keys.items())]
    return {
        "seconds": median([r["seconds"] for r in mine]),
        "peak_rss_mb": median([r["peak_rss_mb"] for r in mine]),
        "repeats": len(mine),
    }


def measure_featurize(plan: Plan, earlier: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """featurize and the hand-written job per size; ``earlier`` runs (other sizes) join the summary."""
    runs = list(earlier or [])
    for size in plan.feature_sizes:
        lake = paths.lake(size)
        for repeat in range(plan.feature_repeats[size]):
            for tier in _rotate(features.TIERS, repeat):
                log.info("featurize: %s, %s rows, repeat %d", tier, size, repeat + 1)
                params = {"lake": str(lake), "output": str(paths.scratch(f"handwritten_{size}"))}
                runs.append(
                    _record(tier, run_workload(f"bench.features:{tier}", params), size=size, rows=ROWS[size])
                )
    sizes = sorted({r["size"] for r in runs}, key=ROWS.__getitem__)
    summary: dict[str, Any] = {"sizes": {}}
    for size in sizes:
        tiers = {t: _medians(runs, t, size=size) for t in features.TIERS}
        summary["sizes"][size] = {
            "rows": ROWS[size],
            "tiers": tiers,
            "ratio": ratio(tiers["lakeprep_featurize"]["seconds"], tiers["handwritten_featurize"]["seconds"]),
            "memory_ratio": ratio(
                tiers["lakeprep_featurize"]["peak_rss_mb"], tiers["handwritten_featurize"]["peak_rss_mb"]
            ),
        }
    rows = [ROWS[s] for s in sizes]
    for tier in features.TIERS:
        summary[f"slope_{tier}"] = loglog_slope(
            rows, [summary["sizes"][s]["tiers"][tier]["seconds"] for s in sizes]
        )
        summary[f"memory_slope_{tier}"] = loglog_slope(
            rows, [summary["sizes"][s]["tiers"][tier]["peak_rss_mb"] for s in sizes]
        )
    summary["equivalence"] = features.compare_outputs(
        paths.lake(sizes[0]), paths.scratch(f"handwritten_{sizes[0]}")
    )
    return {"runs": runs, "summary": summary}


def add_feature_size(results: Path, size: str, repeats: int, note: str | None) -> None:
    """Measure one more featurize size and merge it into the last run's results (a size that could not be
    measured in the same sitting, e.g. 16M after the rest): the report marks it with ``note``."""
    data.ensure([size])
    previous = json.loads((results / "featurize.json").read_text())
    plan = replace(FULL, feature_sizes=(size,), feature_repeats={size: repeats})
    earlier = [r for r in previous["runs"] if r["size"] != size]
    result = measure_featurize(plan, earlier)
    result["seconds"] = previous.get("seconds", 0.0)
    _save(results, "featurize", result)
    run_info = json.loads((results / "run.json").read_text())
    if note:
        run_info["plan"]["notes"] = [*run_info["plan"].get("notes", []), note]
    run_info["plan"]["feature_sizes"] = list(result["summary"]["sizes"])
    _save(results, "run", run_info)


def measure_commit(plan: Plan) -> dict[str, Any]:
    lake = paths.lake(plan.commit_size)
    log.info("commit: Delta path vs Parquet, %s rows", plan.commit_size)
    path = run_workload("bench.commit:commit_path", {"lake": str(lake), "repeats": plan.commit_repeats})
    log.info("commit: latency vs files %s", plan.commit_files)
    latency = run_workload(
        "bench.commit:commit_latency",
        {"lake": str(lake), "repeats": plan.commit_repeats, "files": list(plan.commit_files)},
    )
    d = path.detail
    summary = {
        "rows": d["rows"],
        "parquet_seconds": median(d["parquet_seconds"]),
        "delta_seconds": median(d["delta_seconds"]),
        "stage_seconds": median(d["stage_seconds"]),
        "commit_seconds": median(d["commit_seconds"]),
        "ratio": ratio(median(d["delta_seconds"]), median(d["parquet_seconds"])),
        "files_written": d["files"],
        "latency": {
            n: {
                "commit_seconds": median(latency.detail["commit_seconds"][n]),
                "stage_seconds": median(latency.detail["stage_seconds"][n]),
                "parquet_seconds": median(latency.detail["parquet_seconds"][n]),
            }
            for n in latency.detail["commit_seconds"]
        },
    }
    return {"size": plan.commit_size, "path": path.detail, "latency_runs": latency.detail, "summary": summary}


def measure_pool(plan: Plan) -> dict[str, Any]:
    runs = []
    for size in plan.pool_sizes:
        folder = pool.ensure_pool(size)
        for repeat in range(plan.pool_repeats):
            for tier in _rotate(pool.TIERS, repeat):
                log.info("pool scoring: %s, %s rows, repeat %d", tier, size, repeat + 1)
                params = {"folder": str(folder), "select": plan.pool_select, "tier": tier}
                runs.append(
                    _record(tier, run_workload(f"bench.pool:{tier}", params), size=size, rows=ROWS[size])
                )
    summary: dict[str, Any] = {}
    for size in plan.pool_sizes:
        tiers = {t: _medians(runs, t, size=size) for t in pool.TIERS}
        summary[size] = {
            "rows": ROWS[size],
            "tiers": tiers,
            "ratio": ratio(tiers["lakeprep_score_select"]["seconds"], tiers["plain_scan"]["seconds"]),
            "rows_per_second": ROWS[size] / tiers["lakeprep_score_select"]["seconds"],
        }
    return {"select": plan.pool_select, "runs": runs, "summary": summary}


def measure_active(plan: Plan) -> dict[str, Any]:
    log.info("active learning: %d seeds", plan.al_seeds)
    return active.run(plan.al_seeds, plan.al_budget_scale, paths.lake(plan.feature_sizes[0]))


def measure_autolabel(plan: Plan) -> dict[str, Any]:
    log.info("auto-labelling: %d seeds", plan.al_seeds)
    return autolabeling.run(
        plan.al_seeds, plan.al_budget_scale, plan.autolabel_targets, paths.lake(plan.feature_sizes[0])
    )


STEPS: dict[str, Callable[[Plan], dict[str, Any]]] = {
    "validation": validation.measure,
    "featurize": measure_featurize,
    "commit": measure_commit,
    "active_learning": measure_active,
    "autolabel": measure_autolabel,
    "pool_scoring": measure_pool,
    "maintenance": maintenance.measure,
    "site": lambda _plan: site.measure(),
}


def _save(results: Path, name: str, value: Any) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(value, indent=1, default=str))


def _merged(
    latest: dict[str, Any], mine: dict[str, Any], chosen: list[str], notes: list[str]
) -> dict[str, Any]:
    """run.json as it is now on disk plus what this re-measurement changed (its measurements' plan
    fields, ``remeasured`` entries and notes), so two ``--only`` runs never drop each other's record."""
    merged = dict(latest)
    plan = dict(merged.get("plan", {}))
    plan["notes"] = [*plan.get("notes", []), *[n for n in notes if n not in plan.get("notes", [])]]
    for name in chosen:
        plan.update({f: mine["plan"][f] for f in PLAN_FIELDS.get(name, ()) if f in mine["plan"]})
        merged.setdefault("remeasured", {})[name] = mine.get("remeasured", {}).get(name)
    merged["plan"] = plan
    return merged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, one repeat; written to bench/data/results-quick/, never over the full report",
    )
    parser.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(MEASUREMENTS)}")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the JSON results")
    parser.add_argument("--repeats", type=int, default=None, help="cap every repeat count (time-boxed runs)")
    parser.add_argument("--skip-sizes", default="", help="sizes to leave out, e.g. 16M,10M")
    parser.add_argument("--seeds", type=int, default=None, help="active-learning / auto-labelling seeds")
    parser.add_argument(
        "--note", action="append", default=[], help="a note for the report (why a run was limited)"
    )
    parser.add_argument(
        "--add-feature-size", default="", help="measure featurize at one more size, merged into the results"
    )
    args = parser.parse_args(argv)
    results = paths.QUICK_RESULTS if args.quick else paths.RESULTS
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("LAKEPREP_PII_SALT", "bench-salt")
    if args.add_feature_size:
        add_feature_size(
            results, args.add_feature_size, args.repeats or 1, args.note[0] if args.note else None
        )
        args.report_only = True
    if args.report_only:
        print(report.write(results))
        return
    skipped = tuple(x for x in args.skip_sizes.split(",") if x)
    plan = limited(QUICK if args.quick else FULL, args.repeats, skipped, args.seeds)
    plan = replace(plan, notes=[*plan.notes, *args.note])
    chosen = [m for m in MEASUREMENTS if not args.only or m in args.only.split(",")]
    if not args.only:  # a whole run replaces every result, so the report never mixes two runs
        for name in MEASUREMENTS:
            (results / f"{name}.json").unlink(missing_ok=True)
    started = time.perf_counter()
    run_info: dict[str, Any] = {
        "plan": plan.as_dict(),
        "machine": describe(),
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    run_info["data"] = data.ensure(plan.sizes_for(chosen))
    run_info["data_seconds"] = time.perf_counter() - started
    previous = results / "run.json"
    if args.only and previous.exists():  # re-measuring some: keep the run, say what was measured again
        kept = json.loads(previous.read_text())
        kept["plan"]["notes"] = [*kept["plan"].get("notes", []), *args.note]
        for name in chosen:
            kept["plan"].update({f: run_info["plan"][f] for f in PLAN_FIELDS.get(name, ())})
            kept.setdefault("remeasured", {})[name] = {
                "started": run_info["started"],
                "lakeprep_commit": run_info["machine"]["lakeprep_commit"],
                "load_average_at_start": run_info["machine"]["load_average_at_start"],
            }
        run_info = kept
    else:
        _save(results, "run", run_info)
    durations: dict[str, float] = dict(run_info.get("measurement_seconds", {}))
    for name in chosen:
        began = time.perf_counter()
        try:
            result = STEPS[name](plan)
        except Exception as exc:  # a failed measurement is reported, the others still run
            log.exception("%s failed", name)
            result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}
        durations[name] = time.perf_counter() - began
        result["seconds"] = durations[name]
        _save(results, name, result)
    if (
        args.only and previous.exists()
    ):  # another re-measurement may have finished meanwhile: keep its entries
        run_info = _merged(json.loads(previous.read_text()), run_info, chosen, args.note)
        durations = {**run_info.get("measurement_seconds", {}), **{n: durations[n] for n in chosen}}
    run_info["measurement_seconds"] = durations
    run_info["total_seconds"] = run_info.get("data_seconds", 0.0) + sum(durations.values())
    run_info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    _save(results, "run", run_info)
    print(report.write(results))


if __name__ == "__main__":
    main()
