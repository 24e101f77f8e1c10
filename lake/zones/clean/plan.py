"""Clean, the plan: what a run does to one dataset, decided from the last cleaned commit's tags, raw's
current version, the contract and the flags, before any data is read. Pure: the raw files added
since a version are asked of ``added_since`` (the table's log).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from lake.tags import CommitTags

NO_RAW = "no raw table"
UP_TO_DATE = "up to date"
NO_NEW_ROWS = "no new raw rows"


@dataclass(frozen=True)
class CleanPlan:
    """``full`` rebuilds from raw's snapshot, ``incremental`` reads only ``files`` (the raw files added
    since ``since``, the raw version the last clean caught up to), ``skip`` says why in ``skipped``."""

    mode: Literal["full", "incremental", "skip"]
    raw_version: int | None
    since: int | None = None
    files: list[str] | None = None
    skipped: str | None = None


def plan_clean(
    last: CommitTags,
    raw_version: int | None,
    fingerprint: str,
    full_refresh: bool,
    added_since: Callable[[int], list[str] | None],
) -> CleanPlan:
    """A changed contract, a rewritten raw table (``added_since`` gives None) or ``full_refresh``
    rebuild; otherwise only what raw gained since the last clean is read."""
    if raw_version is None:
        return CleanPlan("skip", None, skipped=NO_RAW)
    same_contract = last.contract is not None and last.contract.hash == fingerprint
    since = last.clean.raw_version if last.clean is not None else None
    if not same_contract or since is None or full_refresh:
        return CleanPlan("full", raw_version, since)
    if since == raw_version:
        return CleanPlan("skip", raw_version, since, skipped=UP_TO_DATE)
    added = added_since(since)
    if added is None:
        return CleanPlan("full", raw_version, since)
    if not added:  # raw versions with no rows (e.g. a landed file whose every record was quarantined)
        return CleanPlan("skip", raw_version, since, skipped=NO_NEW_ROWS)
    return CleanPlan("incremental", raw_version, since, added)
