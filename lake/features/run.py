"""Featurize, the run: read the cleaned inputs at the planned versions, build examples (``build``),
fit or reuse the ml pipeline (``pipeline``), commit the features table with its lineage and metrics.
Also a rebuild of a recorded version and the transform of new data with a saved pipeline (apply).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lake.contracts import ContractError
from lake.features import pipeline as ml
from lake.features.build import EXCLUDED, SPLIT, examples
from lake.features.lineage import feature_lineage
from lake.features.plan import UP_TO_DATE, plan_features, recorded_versions
from lake.features.spec import (
    FEATURES_DIR,
    FeatureSpec,
    feature_spec_names,
    load_feature_spec,
    recorded_spec,
    save_spec,
)
from lake.paths import contracts_dir
from lake.publish import Publication, Target, publish
from lake.quality.metrics import Metric, backfill_metrics
from lake.runtime import JobRun
from lake.spark import persist_on_disk
from lake.table import Table, TableError, WriteMode, arrow_schema_of
from lake.tags import (
    Applied,
    AppTransaction,
    CommitTags,
    ContractRef,
    FeatureTags,
    InputRef,
    RowCounts,
    TableVersion,
)

log = logging.getLogger("lakeprep.featurize")


@dataclass(frozen=True)
class FeatureResult:
    """What one feature set's build did (``skipped`` says why when it did nothing)."""

    spec: str
    table: str
    version: int | None
    mode: str | None = None
    skipped: str | None = None
    rows_in: int = 0
    rows_out: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    examples: dict[str, int] = field(default_factory=dict)
    pipeline: str | None = None


def _read_inputs(
    run: JobRun, spec: FeatureSpec, versions: dict[str, int]
) -> tuple[dict[str, DataFrame], list[InputRef]]:
    frames, refs = {}, []
    for dataset in spec.inputs:
        table = Table(run.storage, "cleaned", dataset)
        frames[dataset] = table.read(run.spark, versions[dataset])
        ref = InputRef(table.ref, table.uri, versions[dataset])
        refs.append(ref)
        run.record_input(ref, table.arrow_schema(versions[dataset]))
    return frames, refs


def _current_versions(run: JobRun, spec: FeatureSpec) -> dict[str, int]:
    versions = {}
    for dataset in spec.inputs:
        version = Table(run.storage, "cleaned", dataset).version()
        if version is None:
            raise TableError(
                f"feature set {spec.name} reads cleaned/{dataset}, which does not exist: run clean first"
            )
        versions[dataset] = version
    return versions


def _account(candidates: DataFrame, spec: FeatureSpec) -> tuple[RowCounts, dict[str, int], dict[str, int]]:
    """One aggregation: rows in, per exclusion reason, per split, and positive labels."""
    reasons = list(spec.label.exclude) + [f"no_{j.dataset}" for j in spec.joins if j.how == "inner"]
    row = candidates.agg(
        F.count(F.lit(1)).alias("rows"),
        *[F.sum((F.col(EXCLUDED) == r).cast("long")).alias(f"x{i}") for i, r in enumerate(reasons)],
        *[
            F.sum((F.col(EXCLUDED).isNull() & (F.col(SPLIT) == s)).cast("long")).alias(s)
            for s in ("train", "validation", "test")
        ],
        F.sum(F.when(F.col(EXCLUDED).isNull(), F.col(spec.label.name))).alias("positives"),
    ).first()
    assert row is not None
    excluded = {r: int(row[f"x{i}"] or 0) for i, r in enumerate(reasons)}
    splits = {s: int(row[s] or 0) for s in ("train", "validation", "test")}
    total = int(row["rows"])
    counts = RowCounts(total, sum(splits.values()), 0, sum(excluded.values()))
    return counts, excluded, splits | {"positives": int(row["positives"] or 0)}


def _metrics(
    spec: FeatureSpec, counts: RowCounts, excluded: dict[str, int], balance: dict[str, int]
) -> list[Metric]:
    labelled = balance["train"] + balance["validation"] + balance["test"]
    return [
        Metric("rows_in", None, counts.rows_in),
        Metric("rows_out", None, counts.rows_out),
        *[Metric("rows_excluded", reason, n) for reason, n in excluded.items()],
        *[Metric("split_rows", s, balance[s]) for s in ("train", "validation", "test")],
        Metric("label_rate", spec.label.name, balance["positives"] / labelled if labelled else 0.0),
    ]


def build(
    run: JobRun,
    spec: FeatureSpec,
    target: Table,
    versions: dict[str, int],
    *,
    mode: str,
    pipeline_uri: str | None,
    base_files: list[str] | None = None,
    where: str | None = None,
    keep_unlabelled: bool = False,
    rebuilt_from: TableVersion | None = None,
    applied: Applied | None = None,
) -> FeatureResult:
    """Featurize and commit. ``pipeline_uri`` given: transform with it (no refit); else fit a new
    pipeline on the training split and save it beside ``target``."""
    frames, refs = _read_inputs(run, spec, versions)
    base_table = Table(run.storage, "cleaned", spec.base)
    base = (
        base_table.read(run.spark, versions[spec.base], files=base_files)
        if base_files is not None
        else frames[spec.base]
    )
    if where:
        base = base.where(F.expr(where))
    others = {d: f for d, f in frames.items() if d != spec.base}
    candidates = persist_on_disk(examples(base, others, frames[spec.base], spec))
    try:
        counts, excluded, balance = _account(candidates, spec)
        rows = candidates if keep_unlabelled else candidates.where(F.col(EXCLUDED).isNull())
        if keep_unlabelled:
            counts = RowCounts(counts.rows_in, counts.rows_in)
        inputs = persist_on_disk(ml.model_inputs(rows, spec))
        try:
            if pipeline_uri is None:
                model = ml.fit(spec, inputs)
                pipeline_uri = f"{target.uri}/_pipelines/{run.run.run_id}"
                ml.save(model, pipeline_uri)
                save_spec(run.storage, pipeline_uri, spec)
            else:
                model = ml.load(pipeline_uri)
            out = ml.transform(model, spec, inputs)
            current = target.version()
            sequence = 0 if current is None else current + 1
            write_mode: WriteMode = "append" if mode == "incremental" else "overwrite"
            publication = Publication(
                Target(
                    target,
                    arrow_schema_of(out.schema),
                    write_mode,
                    (SPLIT,),
                    app_transactions=(AppTransaction(f"featurize:{target.name}", sequence),),
                    description=spec.description,
                ),
                counts=counts,
                inputs=tuple(refs),
                contract=ContractRef(spec.name, spec.fingerprint),
                stage_tags=FeatureTags(
                    mode=mode,
                    spec=ContractRef(spec.name, spec.fingerprint),
                    pipeline=pipeline_uri,
                    excluded=excluded,
                    examples=balance,
                    rebuilt_from=rebuilt_from,
                    applied=applied,
                ),
                output_facets={
                    "column_lineage": feature_lineage(
                        spec, {d: Table(run.storage, "cleaned", d).uri for d in spec.inputs}
                    )
                },
                metrics=tuple(_metrics(spec, counts, excluded, balance)),
            )
            published = publish(run, publication, out)
        finally:
            inputs.unpersist()
    finally:
        candidates.unpersist()
    version = published.target.version if published.target else None
    return FeatureResult(
        spec.name,
        target.ref,
        version,
        mode,
        rows_in=counts.rows_in,
        rows_out=counts.rows_out,
        excluded=excluded,
        examples=balance,
        pipeline=pipeline_uri,
    )


def featurize(run: JobRun, spec: FeatureSpec, full_refresh: bool) -> FeatureResult:
    target = Table(run.storage, "features", spec.name)
    versions = _current_versions(run, spec)
    last = target.history(1)[0].lineage if target.exists() else CommitTags()
    base = Table(run.storage, "cleaned", spec.base)
    plan = plan_features(last, spec.fingerprint, spec.base, versions, full_refresh, base.added_since)
    if plan.skipped == UP_TO_DATE:
        log.info("%s is up to date with %s", target.ref, versions)
        backfill_metrics(run.storage, target)  # a run killed after its commit left them in the tags
        return FeatureResult(spec.name, target.ref, target.version(), skipped=plan.skipped)
    if plan.mode == "incremental":
        return build(
            run,
            spec,
            target,
            versions,
            mode="incremental",
            pipeline_uri=plan.pipeline,
            base_files=plan.base_files,
        )
    return build(run, spec, target, versions, mode="full", pipeline_uri=None)


def rebuild(run: JobRun, spec_name: str, version: int, output: str | None) -> FeatureResult:
    """Rebuild features version ``version`` from what its commit recorded: input versions and spec."""
    source = Table(run.storage, "features", spec_name)
    tags = CommitTags.read(source.commit_tags(version))
    recorded = tags.features
    if recorded is None:
        raise TableError(f"{source.ref} v{version} was not written by featurize; nothing to rebuild from")
    spec = recorded_spec(run.storage, recorded.pipeline)
    target = Table(run.storage, "features", output or f"{spec_name}__v{version}")
    # A full build is refitted from the data (the spec and inputs are enough); an incremental
    # version was transformed by its recorded pipeline, so that pipeline is reused.
    pipeline_uri = None if recorded.mode == "full" else recorded.pipeline
    return build(
        run,
        spec,
        target,
        recorded_versions(tags),
        mode="rebuild",
        pipeline_uri=pipeline_uri,
        rebuilt_from=TableVersion(source.ref, version),
    )


def apply(
    run: JobRun, spec_name: str, output: str, where: str | None, pipeline_uri: str | None
) -> FeatureResult:
    """Transform current inputs with a saved pipeline (the training-time transforms, never refitted)."""
    source = Table(run.storage, "features", spec_name)
    if pipeline_uri is None:
        if not source.exists():
            raise TableError(f"no {source.ref} yet: train it first, or pass --pipeline")
        last = source.history(1)[0].lineage.features
        if last is None:
            raise TableError(f"{source.ref} was not written by featurize: pass --pipeline")
        pipeline_uri = last.pipeline
    spec = recorded_spec(run.storage, pipeline_uri)
    target = Table(run.storage, "features", output)
    return build(
        run,
        spec,
        target,
        _current_versions(run, spec),
        mode="apply",
        pipeline_uri=pipeline_uri,
        where=where,
        keep_unlabelled=True,
        applied=Applied(pipeline_uri, where),
    )


def featurize_all(run: JobRun) -> list[FeatureResult]:
    """Every ``--spec`` (default: every spec), or one rebuild / apply."""
    folder = contracts_dir(run.args.get("contracts"))
    names = run.args.list("spec") or feature_spec_names(Path(folder))
    if not names:
        raise ContractError(f"no feature specs in {Path(folder) / FEATURES_DIR}")
    rebuild_version = run.args.integer("rebuild-version")
    output = run.args.get("output")
    if rebuild_version is not None or run.args.flag("apply"):
        if len(names) != 1:
            raise SystemExit("--rebuild-version / --apply work on one --spec at a time")
        if rebuild_version is not None:
            results = [rebuild(run, names[0], rebuild_version, output)]
        else:
            if not output:
                raise SystemExit("--apply needs --output <table name>")
            results = [apply(run, names[0], output, run.args.get("where"), run.args.get("pipeline"))]
    else:
        full_refresh = run.args.flag("full-refresh")
        results = [featurize(run, load_feature_spec(Path(folder), name), full_refresh) for name in names]
    run.summary["features"] = [asdict(r) for r in results]
    return results
