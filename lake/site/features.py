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
from lake.tags import CommitTags

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def feature_set(table: Table, version: int, tags: Mapping[str, Any]) -> FeatureSetView:
    recorded = CommitTags.read(tags).features
    examples = dict(recorded.examples) if recorded is not None else {}
    positives = examples.pop("positives", None)
    return FeatureSetView(
        ref=table.ref,
        version=version,
        spec=recorded.spec.name if recorded is not None else None,
        spec_hash=recorded.spec.hash if recorded is not None else None,
        splits=examples,
        positives=positives,
        excluded=dict(recorded.excluded) if recorded is not None else {},
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
    from lake.features.spec import version_spec

    spec = version_spec(table, version)
    if spec is None:
        return None, None
    return spec.drift.psi_threshold, spec.drift.ks_threshold


def compute(table: Table, storage: Storage, before: int, after: int, spark: SparkSession) -> Sequence[Any]:
    """PSI / KS of every feature between two versions, with the spec the newer version was built with."""
    from lake.features.drift import compare
    from lake.features.spec import version_spec

    spec = version_spec(table, after)
    if spec is None:
        return []
    return compare(table.read(spark, before), table.read(spark, after), spec)
