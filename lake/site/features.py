"""Feature sets: split sizes and exclusions from the commit tags, drift between the last two versions.

Drift is the existing PSI / KS of ``lake.features.drift``, which needs Spark, so it is computed only
when asked for (``lakeprep site --drift``) and kept in the site's state: a pair of versions is never
compared twice. Without it the page says how to get it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from lake.site.model import Drift, FeatureSetView
from lake.storage import Storage
from lake.table import Table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def feature_set(table: Table, version: int, tags: Mapping[str, Any]) -> FeatureSetView:
    examples: dict[str, Any] = dict(tags.get("examples") or {})
    positives = examples.pop("positives", None)
    spec = tags.get("spec") or {}
    return FeatureSetView(
        ref=table.ref,
        version=version,
        spec=spec.get("name"),
        spec_hash=spec.get("hash"),
        splits={str(k): int(v) for k, v in examples.items()},
        positives=None if positives is None else int(positives),
        excluded={str(k): int(v) for k, v in (tags.get("excluded") or {}).items()},
        drift_note="only one version so far: drift compares the last two" if version < 1 else "",
    )


def drift_key(ref: str, before: int, after: int) -> str:
    return f"{ref}@{before}->{after}"


def with_drift(
    view: FeatureSetView,
    table: Table,
    storage: Storage,
    cache: dict[str, list[dict[str, Any]]],
    spark: SparkSession | None,
) -> FeatureSetView:
    """``view`` with PSI / KS between its last two versions: from ``cache`` when compared before,
    computed with ``spark`` otherwise (and added to ``cache``); without either, a note on how."""
    if view.version < 1:
        return view
    before, after = view.version - 1, view.version
    key = drift_key(view.ref, before, after)
    thresholds = _thresholds(storage, table, after)
    if key not in cache:
        if spark is None:
            return replace(
                view,
                drift_note=f"run `lakeprep site --drift` (starts Spark) or `lakeprep drift {view.ref} "
                f"--from {before} --to {after}` to compare v{before} and v{after}",
            )
        cache[key] = [asdict(r) for r in compute(table, storage, before, after, spark)]
    found = tuple(Drift(**item) for item in cache[key])
    return replace(
        view,
        drift_versions=(before, after),
        drift=tuple(sorted(found, key=lambda d: d.psi, reverse=True)),
        drift_note="",
        psi_threshold=thresholds[0],
        ks_threshold=thresholds[1],
    )


def _thresholds(storage: Storage, table: Table, version: int) -> tuple[float | None, float | None]:
    from lake.features.spec import recorded_spec

    pipeline = table.commit_tags(version).get("pipeline")
    if not pipeline:
        return None, None
    spec = recorded_spec(storage, pipeline)
    return spec.drift.psi_threshold, spec.drift.ks_threshold


def compute(table: Table, storage: Storage, before: int, after: int, spark: SparkSession) -> Sequence[Any]:
    """PSI / KS of every feature between two versions, with the spec the newer version was built with."""
    from lake.features.drift import compare
    from lake.features.spec import recorded_spec

    tags = table.commit_tags(after)
    if "pipeline" not in tags:
        return []
    spec = recorded_spec(storage, tags["pipeline"])
    return compare(table.read(spark, before), table.read(spark, after), spec)
