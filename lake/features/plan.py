"""Featurize, the plan: what a run does to one feature set, decided from the last features commit's
tags, the cleaned inputs' current versions, the spec and the flags, before any data is read. Pure:
the base table's files added since a version are asked of ``added_since`` (its log).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from lake.tags import CommitTags

UP_TO_DATE = "up to date"


@dataclass(frozen=True)
class FeaturePlan:
    """``full`` refits and rebuilds; ``incremental`` featurizes only ``base_files`` (the base rows
    added since the last build) with the recorded ``pipeline``, no refit; ``skip`` says why."""

    mode: Literal["full", "incremental", "skip"]
    pipeline: str | None = None
    base_files: list[str] | None = None
    skipped: str | None = None


def recorded_versions(tags: CommitTags) -> dict[str, int]:
    """The cleaned input versions a features commit was built from, by dataset."""
    return {name: v for name, v in tags.input_versions("cleaned").items() if v is not None}


def plan_features(
    last: CommitTags,
    fingerprint: str,
    base: str,
    versions: Mapping[str, int],
    full_refresh: bool,
    added_since: Callable[[int], list[str] | None],
) -> FeaturePlan:
    """Incremental only when the spec is unchanged, only the ``base`` table grew (no rewrite) and a
    pipeline was recorded; otherwise a full build."""
    built = last.features
    same_spec = built is not None and built.spec.hash == fingerprint
    recorded = recorded_versions(last)
    if same_spec and recorded == versions and not full_refresh:
        return FeaturePlan("skip", skipped=UP_TO_DATE)
    if built is not None and same_spec and not full_refresh and base in recorded and built.pipeline:
        others_unchanged = all(recorded.get(d) == v for d, v in versions.items() if d != base)
        added = added_since(recorded[base]) if others_unchanged else None
        if added is not None:
            return FeaturePlan("incremental", built.pipeline, added)
    return FeaturePlan("full")
