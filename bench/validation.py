"""Measurements 1 and 2: what validation costs, and how lakeprep compares with pandera and Great
Expectations on the same rules and data.

Tiers, each a fresh process over the same raw/flights table (text, as the raw zone holds it):

* ``spark_cast_write`` - the plain job: read, cast to the contract types (null tokens -> NULL), write Parquet.
* ``lakeprep_clean`` - the real ``lake.zones.clean.run.clean_dataset`` with the synthetic N-rule contract:
  normalise, cast with type checks, validate every rule, measure (counts, rule failures, nulls),
  quarantine rejected rows with their reasons, hash PII, stage and commit both Delta tables, metrics,
  lineage. Its ratio to the plain job is the overhead (measurement 1).
* ``lakeprep_validate`` - just the N rules on the typed frame and the per-rule failure counts
  (``validate`` + ``measure``): the like-for-like unit for the peers.
* ``pandera`` - pandera's pyspark backend on the same typed frame (PANDERA_CACHE_DATAFRAME on, as its
  docs advise for Spark).
* ``great_expectations`` - GE 1.x Spark engine, an ephemeral context, the same rules as
  expectations, result format SUMMARY (counts and a sample of failing values).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench import paths
from bench.timing import timed

OUTPUTS = ("cleaned", "quarantine", "metrics", "_lineage", "_out")


def prepare_lake(size: str) -> Path:
    """A scratch lake with a copy of raw/flights of ``size`` rows (Delta paths are relative)."""
    target = paths.scratch(f"validation_{size}")
    if not (target / "raw" / "flights").exists():
        shutil.rmtree(target, ignore_errors=True)
        (target / "raw").mkdir(parents=True)
        shutil.copytree(paths.lake(size) / "raw" / "flights", target / "raw" / "flights")
    return target


def _reset(lake: Path) -> None:
    for name in OUTPUTS:
        shutil.rmtree(lake / name, ignore_errors=True)


def _typed_frame(spark: Any, lake: Path, contract: Any) -> Any:
    """Raw text read through the table layer and cast plainly (what a hand-written job does)."""
    from pyspark.sql import functions as F

    from lake.storage import Storage
    from lake.table import Table

    raw = Table(Storage.resolve(str(lake)), "raw", "flights").read(spark)
    tokens = list(contract.source.null_values)
    columns = []
    for column in contract.columns:
        text = F.when(F.col(column.name).isin(tokens), F.lit(None)).otherwise(F.col(column.name))
        value = text.try_cast(column.logical.spark_ddl) if column.logical.name != "string" else text
        columns.append(value.alias(column.name))
    return raw.select(*columns)


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


def lakeprep_clean(params: dict[str, Any]) -> dict[str, Any]:
    from jobs.clean import OPTIONS
    from lake.runtime import JobRun
    from lake.zones.clean.run import CleanResult, clean_dataset

    spark, lake, contract = _setup(params)

    def work() -> CleanResult:
        with JobRun("clean", ["--lake", str(lake)], OPTIONS) as run:
            run._spark = spark
            return clean_dataset(run, contract, {contract.name: contract}, True)

    seconds, result = timed(work)
    return {
        "seconds": seconds,
        "rows_in": result.rows_in,
        "rows_quarantined": result.rows_quarantined,
        "reports_failing_rows": "yes: every failing row in quarantine/flights with the names of its rules",
    }


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
        "reports_failing_rows": "yes: each row carries _failed_rules (the quarantine path writes them)",
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


TIERS = ("spark_cast_write", "lakeprep_clean", "lakeprep_validate", "pandera", "great_expectations")
