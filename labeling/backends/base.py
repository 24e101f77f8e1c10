"""One interface for every annotation backend: prepare a project, push a batch, pull its annotations.

Both calls are idempotent per batch id, because the campaign repeats them after any crash: ``push``
never creates a task twice, and ``pull`` returns every finished annotation of the batch each time, each
with a key that is stable across calls (the campaign appends only the keys it has not stored yet).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from labeling.spec import CampaignSpec
from labeling.state import Batch


class BackendError(RuntimeError):
    """The backend refused a request; the message says which, never with credentials."""


class BackendUnavailableError(BackendError):
    """The backend cannot be reached (down, restarting, network): retry later, nothing was lost."""


@dataclass(frozen=True)
class Task:
    """One item as a human sees it, with the model's suggestion when there is one."""

    example_id: str
    purpose: str
    data: dict[str, Any]  # the display columns, JSON-safe
    predicted: str | None = None
    score: float | None = None
    model_version: str | None = None
    truth: Any = None  # the known answer; only the simulated backend receives it


@dataclass(frozen=True)
class Annotation:
    example_id: str
    label: str
    annotator_id: str
    key: str  # stable and unique: the same annotation always comes back with the same key
    confidence: float | None = None
    annotated_at: dt.datetime | None = None  # when this version was made (the last edit)
    revision: str | None = None  # changes with every edit, where the backend allows edits
    detail: str | None = None  # JSON of what a label alone does not say (a box, a span) and its provenance


@dataclass(frozen=True)
class Progress:
    annotations: list[Annotation]
    finished_items: int  # items with all their annotations (or skipped)
    total_items: int
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.finished_items >= self.total_items


class Backend(ABC):
    """An annotation backend bound to one campaign."""

    name: str = "backend"
    needs_truth: bool = False
    revisable: bool = (
        False  # annotations can be edited or deleted after a sync; pull returns them as they are
    )

    def __init__(self, spec: CampaignSpec, state: dict[str, Any]) -> None:
        self.spec = spec
        self.state = dict(state)

    @abstractmethod
    def prepare(self) -> dict[str, Any]:
        """Create (or find) the project; returns what to remember about it (ids, URIs)."""

    @abstractmethod
    def push(self, batch: Batch, tasks: list[Task]) -> dict[str, Any]:
        """Send a batch; pushing the same batch again creates nothing new. Returns a receipt."""

    @abstractmethod
    def pull(self, batch: Batch) -> Progress:
        """Every finished annotation of the batch so far."""

    def stop(self, batch: Batch) -> dict[str, Any]:
        """Withdraw the batch's unanswered tasks so nobody works on them after it is closed."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def display_text(task_data: dict[str, Any], spec: CampaignSpec) -> str:
    """The text a human reads: the text column, or ``name: value`` lines of a record."""
    from labeling.content import readable

    columns = spec.content.columns
    if spec.content.kind == "text":
        return str(task_data.get(columns[0], ""))
    return "\n".join(f"{c}: {readable(task_data.get(c))}" for c in columns)
