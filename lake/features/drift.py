"""Per-feature drift between two versions of a features table: PSI and KS, computed in Spark.

Only histograms reach the driver (feature x bin counts), never rows. Numeric features are binned
on a grid of both versions' percentiles (approxQuantile): PSI uses the reference version's
``bins`` quantile bins, KS the maximum ECDF gap over the whole grid (a close lower bound of the
exact statistic). Categorical features (indexes, buckets, one-hot) compare category shares.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lake.features.spec import FeatureSpec

_GRID = [i / 100 for i in range(1, 100)]
_EPSILON = 1e-4


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    psi: float
    ks: float | None
    drifted: bool


def _numeric_and_categorical(spec: FeatureSpec) -> tuple[list[str], list[str]]:
    numeric = [f.output for f in spec.features if f.kind == "numeric" and not f.buckets]
    categorical = [f.output for f in spec.features if f.kind == "categorical" or f.buckets]
    return numeric, categorical


def _category(spec: FeatureSpec, name: str) -> Column:
    feature = next(f for f in spec.features if f.output == name)
    if feature.kind == "categorical" and feature.encode == "onehot":
        return F.array_position(F.col(name), 1.0).cast("string")  # 0: the dropped / unseen category
    return F.col(name).cast("string")


def _numeric_counts(frame: DataFrame, grids: dict[str, list[float]]) -> dict[str, dict[int, int]]:
    if not grids:
        return {}
    pairs = F.array(
        *[F.struct(F.lit(n).alias("feature"), F.col(n).cast("double").alias("value")) for n in grids]
    )
    lookup = F.create_map(*[x for n, g in grids.items() for x in (F.lit(n), F.array(*[F.lit(v) for v in g]))])
    long = (
        frame.select(F.explode(pairs).alias("kv"))
        .select("kv.*")
        .where(F.col("value").isNotNull() & ~F.isnan("value"))
    )
    binned = long.withColumn(
        "bin", F.size(F.filter(F.element_at(lookup, F.col("feature")), lambda g: g < F.col("value")))
    )
    counts: dict[str, dict[int, int]] = defaultdict(dict)
    for row in binned.groupBy("feature", "bin").count().collect():  # feature x bin rows only
        counts[row["feature"]][int(row["bin"])] = int(row["count"])
    return counts


def _categorical_counts(
    frame: DataFrame, spec: FeatureSpec, names: Sequence[str]
) -> dict[str, dict[str, int]]:
    if not names:
        return {}
    pairs = F.array(*[F.struct(F.lit(n).alias("feature"), _category(spec, n).alias("value")) for n in names])
    long = frame.select(F.explode(pairs).alias("kv")).select("kv.*")
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for row in long.groupBy("feature", "value").count().collect():  # feature x category rows only
        counts[row["feature"]][str(row["value"])] = int(row["count"])
    return counts


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two count vectors over the same bins."""
    total_e, total_a = sum(expected) or 1, sum(actual) or 1
    value = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe, pa = max(e / total_e, _EPSILON), max(a / total_a, _EPSILON)
        value += (pa - pe) * math.log(pa / pe)
    return value


def _ks(fine_a: Sequence[int], fine_b: Sequence[int]) -> float:
    total_a, total_b = sum(fine_a) or 1, sum(fine_b) or 1
    gap, ca, cb = 0.0, 0, 0
    for a, b in zip(fine_a, fine_b, strict=True):
        ca, cb = ca + a, cb + b
        gap = max(gap, abs(ca / total_a - cb / total_b))
    return gap


def compare(reference: DataFrame, current: DataFrame, spec: FeatureSpec) -> list[FeatureDrift]:
    numeric, categorical = _numeric_and_categorical(spec)
    bins = spec.drift.bins
    quantiles_a = reference.approxQuantile(numeric, _GRID, 0.001) if numeric else []
    quantiles_b = current.approxQuantile(numeric, _GRID, 0.001) if numeric else []
    grids = {
        n: sorted(set(qa) | set(qb)) for n, qa, qb in zip(numeric, quantiles_a, quantiles_b, strict=True)
    }
    counts_a, counts_b = _numeric_counts(reference, grids), _numeric_counts(current, grids)
    results = []
    for name, reference_quantiles in zip(numeric, quantiles_a, strict=True):
        grid = grids[name]
        fine_a = [counts_a.get(name, {}).get(i, 0) for i in range(len(grid) + 1)]
        fine_b = [counts_b.get(name, {}).get(i, 0) for i in range(len(grid) + 1)]
        # The reference's quantile edges are grid points, so each fine bin falls in one coarse bin.
        edges = sorted({reference_quantiles[round(100 * k / bins) - 1] for k in range(1, bins)})
        coarse = [sum(1 for e in edges if i and e <= grid[i - 1]) for i in range(len(grid) + 1)]
        coarse_a, coarse_b = [0] * (len(edges) + 1), [0] * (len(edges) + 1)
        for i, c in enumerate(coarse):
            coarse_a[c] += fine_a[i]
            coarse_b[c] += fine_b[i]
        value, ks = psi(coarse_a, coarse_b), _ks(fine_a, fine_b)
        drifted = value > spec.drift.psi_threshold or ks > spec.drift.ks_threshold
        results.append(FeatureDrift(name, "numeric", value, ks, drifted))
    cats_a = _categorical_counts(reference, spec, categorical)
    cats_b = _categorical_counts(current, spec, categorical)
    for name in categorical:
        keys = sorted(set(cats_a.get(name, {})) | set(cats_b.get(name, {})))
        value = psi(
            [cats_a.get(name, {}).get(k, 0) for k in keys], [cats_b.get(name, {}).get(k, 0) for k in keys]
        )
        results.append(FeatureDrift(name, "categorical", value, None, value > spec.drift.psi_threshold))
    return results


def chart(results: Sequence[FeatureDrift], spec: FeatureSpec, title: str, path: Path) -> Path:
    """PSI (and KS) per feature as a PNG, thresholds drawn in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(results, key=lambda r: r.psi, reverse=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, max(3.0, 0.35 * len(ordered) + 1)), sharey=True)
    names = [r.feature for r in ordered]
    colours = ["#c0392b" if r.drifted else "#2e86c1" for r in ordered]
    left.barh(names, [r.psi for r in ordered], color=colours)
    left.axvline(spec.drift.psi_threshold, color="black", linestyle="--", linewidth=1)
    left.set_xlabel(f"PSI (threshold {spec.drift.psi_threshold})")
    left.invert_yaxis()
    right.barh(names, [r.ks or 0.0 for r in ordered], color=colours)
    right.axvline(spec.drift.ks_threshold, color="black", linestyle="--", linewidth=1)
    right.set_xlabel(f"KS, numeric features (threshold {spec.drift.ks_threshold})")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
