"""OpenLineage run events for every job run (filled in by the featurize/lineage work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lake.runtime import RunObserver
    from lake.storage import Storage


def default_observers(storage: Storage) -> list[RunObserver]:
    del storage
    return []
