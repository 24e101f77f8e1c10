"""Column lineage of a feature set: which cleaned columns each feature comes from, where known."""

from __future__ import annotations

import re
from collections.abc import Mapping

from lake.documents import IDENTIFIER
from lake.features.spec import FeatureSpec

Source = tuple[str, str, str, str]  # (table uri, column, OpenLineage type, subtype)
_IDENT = re.compile(IDENTIFIER)


def _sources(
    spec: FeatureSpec, column: str, uris: Mapping[str, str], seen: frozenset[str] = frozenset()
) -> list[Source]:
    if column in seen:
        return []
    seen = seen | {column}
    for join in spec.joins:
        if column.startswith(join.prefix) and column[len(join.prefix) :] in join.columns:
            return [(uris[join.dataset], column[len(join.prefix) :], "DIRECT", "IDENTITY")]
    for derived in spec.derived:
        if derived.name == column:
            text = derived.log1p or derived.of or derived.expr or ""
            names = list(derived.ratio) if derived.ratio else _IDENT.findall(text)
            found = [s for name in names for s in _sources(spec, name, uris, seen)]
            return [(uri, field, "DIRECT", "TRANSFORMATION") for uri, field, _, _ in found]
    for window in spec.windows:
        if window.name == column:
            return [(uris[spec.base], window.value, "DIRECT", "AGGREGATION")] + [
                (uris[spec.base], key, "INDIRECT", "GROUP_BY") for key in window.partition_by
            ]
    if _IDENT.fullmatch(column):
        return [(uris[spec.base], column, "DIRECT", "IDENTITY")]
    return []


def feature_lineage(spec: FeatureSpec, uris: Mapping[str, str]) -> dict[str, list[Source]]:
    """Feature output -> its source columns. Expressions are scanned for column names; names that
    are SQL functions or keywords simply resolve to nothing in the base table's lineage sense."""
    lineage = {feature.output: _sources(spec, feature.column, uris) for feature in spec.features}
    label_inputs = sorted(
        set(_IDENT.findall(spec.label.expr))
        - {"CASE", "WHEN", "THEN", "ELSE", "END", "AND", "OR", "NOT", "NULL", "IS"}
    )
    lineage[spec.label.name] = [(uris[spec.base], name, "DIRECT", "TRANSFORMATION") for name in label_inputs]
    return {k: v for k, v in lineage.items() if v}
