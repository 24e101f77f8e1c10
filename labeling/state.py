"""A campaign's state, folded from its event log: the state machine every command starts from.

A round is ``trained`` (model fitted, threshold calibrated) -> optionally ``autolabelled`` -> a batch
``planned`` -> ``pushed`` to the backend -> ``closed`` once its annotations are synced. A round that
recorded ``trained`` but neither a batch nor ``finished`` crashed half-way and is redone with the same
number, so every step is safe to repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from labeling.spec import CampaignSpec
from labeling.store import Event

BatchKind = Literal["round", "review"]
Purpose = Literal["cold_start", "query", "validation", "review"]


@dataclass(frozen=True)
class PlannedItem:
    example_id: str
    purpose: str
    predicted: str | None = None  # the model's label, shown to annotators as a pre-annotation
    score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.example_id,
            "purpose": self.purpose,
            "predicted": self.predicted,
            "score": self.score,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedItem:
        return cls(str(data["id"]), str(data["purpose"]), data.get("predicted"), data.get("score"))


@dataclass(frozen=True)
class Batch:
    batch_id: str
    round: int
    kind: BatchKind
    strategy: str
    model_version: str | None
    annotators: int
    items: tuple[PlannedItem, ...]
    receipt: dict[str, Any] | None = None  # what the backend returned on push (job name, task count)
    closed: dict[str, Any] | None = None

    @property
    def pushed(self) -> bool:
        return self.receipt is not None

    @property
    def is_open(self) -> bool:
        return self.closed is None

    @property
    def items_charged(self) -> int:
        """Items the budget counts: all of them, except in a batch closed by hand (only those answered)."""
        if self.closed is not None and self.closed.get("billed_annotations") is not None:
            return int(self.closed["labelled_items"])
        return len(self.items)

    @property
    def annotations_charged(self) -> int:
        """Annotations paid for: ordered ones, except in a batch closed by hand (only those received)."""
        if self.closed is not None and self.closed.get("billed_annotations") is not None:
            return int(self.closed["billed_annotations"])
        return len(self.items) * self.annotators

    @property
    def ids(self) -> list[str]:
        return [item.example_id for item in self.items]

    def item(self, example_id: str) -> PlannedItem | None:
        return next((i for i in self.items if i.example_id == example_id), None)

    def planned_payload(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "strategy": self.strategy,
            "model_version": self.model_version,
            "annotators": self.annotators,
            "items": [i.as_dict() for i in self.items],
        }


@dataclass
class CampaignState:
    spec: CampaignSpec
    backend: dict[str, Any] = field(default_factory=dict)
    trained: dict[int, dict[str, Any]] = field(default_factory=dict)
    autolabelled: dict[int, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    finished: dict[str, Any] | None = None

    @classmethod
    def from_events(cls, events: Sequence[Event]) -> CampaignState:
        created = next((e for e in events if e.kind == "created"), None)
        if created is None:
            raise LookupError("the campaign has no 'created' event")
        state = cls(spec=CampaignSpec.model_validate(created.payload["spec"]))
        for event in events:
            state._apply(event)
        return state

    def _apply(self, event: Event) -> None:
        payload = event.payload
        if event.kind == "backend":
            self.backend = dict(payload)
        elif event.kind == "trained" and event.round is not None:
            self.trained[event.round] = payload
        elif event.kind == "autolabelled" and event.round is not None:
            self.autolabelled[event.round] = payload
        elif event.kind == "planned" and event.batch_id and event.round is not None:
            self.batches[event.batch_id] = Batch(
                batch_id=event.batch_id,
                round=event.round,
                kind=payload["kind"],
                strategy=payload["strategy"],
                model_version=payload.get("model_version"),
                annotators=int(payload["annotators"]),
                items=tuple(PlannedItem.from_dict(i) for i in payload["items"]),
            )
        elif event.kind == "pushed" and event.batch_id in self.batches:
            batch = self.batches[event.batch_id]
            self.batches[event.batch_id] = replace(batch, receipt=payload)
        elif event.kind == "closed" and event.batch_id in self.batches:
            batch = self.batches[event.batch_id]
            self.batches[event.batch_id] = replace(batch, closed=payload)
        elif event.kind == "finished":
            self.finished = payload

    # ------------------------------------------------------------------------------- questions
    @property
    def open_batches(self) -> list[Batch]:
        return [b for b in self.batches.values() if b.is_open]

    def current_round(self) -> tuple[int, bool]:
        """(round number to run, whether it is a crashed round being redone)."""
        last = max(self.trained, default=0)
        if last == 0:
            return 1, False
        done = any(b.round == last and b.kind == "round" for b in self.batches.values())
        if done or (self.finished is not None and self.finished.get("round") == last):
            return last + 1, False
        return last, True

    @property
    def items_sent(self) -> int:
        """Items sent to humans (every batch, reviews included): what the item budget counts."""
        return sum(b.items_charged for b in self.batches.values())

    @property
    def annotations_ordered(self) -> int:
        return sum(b.annotations_charged for b in self.batches.values())

    @property
    def machine_labelled(self) -> int:
        return sum(int(p.get("rows", 0)) for p in self.autolabelled.values())

    @property
    def in_flight(self) -> set[str]:
        return {i for b in self.open_batches for i in b.ids}

    def purposes(self) -> dict[tuple[str, str], str]:
        """(batch, example id) -> purpose, for tagging synced annotations."""
        return {(b.batch_id, i.example_id): i.purpose for b in self.batches.values() for i in b.items}

    def latest_training(self) -> dict[str, Any] | None:
        return self.trained[max(self.trained)] if self.trained else None
