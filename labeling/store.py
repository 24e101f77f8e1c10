"""Where a campaign lives in the lake: its ``labels/<campaign>`` table and its events in ``labels/campaigns``.

``labels/<campaign>`` holds one row per label: every human annotation and every machine label, each with
its provenance (round, batch, strategy, model version, annotator, confidence, the features version).
Human rows are few (the budget bounds them) and are read on the driver; machine rows can be millions and
are written and read by Spark only. In a span or box campaign each region is a row: its geometry in typed
columns (``span_*``: code point offsets and the text covered; ``box_*``: pixels from the image's top
left, with the image size) and, in ``detail``, everything the backend said of it as JSON (job, task,
region ids: where the label came from). Tables written before these columns existed get them, empty
for the old rows, at their next human append. A human annotation edited or deleted in the backend after a sync gets
a new row (a new version, keyed ``<key>|rev:<revision>``; a deletion has no label), so the history is
kept and the latest version counts.

``labels/campaigns`` is an append-only event log (partitioned by campaign): created, trained, autolabelled,
planned, pushed, closed, finished. Every event has a deterministic key and a re-recorded key replaces the
earlier one on read, so a command re-run after a crash converges on the same state.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lake.storage import Storage
from lake.table import CommitResult, Table

STATE_TABLE = "campaigns"
HUMAN, MACHINE = "human", "machine"

STRUCTURE_FIELDS = [  # the region of a span or box label; empty for a class
    pa.field("span_start", pa.int32()),  # named entities: offsets in code points, end exclusive
    pa.field("span_end", pa.int32()),
    pa.field("span_text", pa.string()),
    pa.field("box_left", pa.float64()),  # bounding boxes: pixels of the original image from its top left
    pa.field("box_top", pa.float64()),
    pa.field("box_width", pa.float64()),
    pa.field("box_height", pa.float64()),
    pa.field("image_width", pa.int32()),
    pa.field("image_height", pa.int32()),
    pa.field("detail", pa.string()),  # JSON: the region as the backend gave it, with its provenance
]

LABELS_SCHEMA = pa.schema(
    [
        pa.field("campaign", pa.string()),
        pa.field("example_id", pa.string()),
        pa.field("label", pa.string()),
        pa.field("label_index", pa.int32()),
        pa.field("source", pa.string()),  # human | machine
        pa.field("annotator_id", pa.string()),  # backend user id, or model:<version> for machine labels
        pa.field(
            "confidence", pa.float64()
        ),  # model confidence (machine) or the backend's, when it gives one
        pa.field("round", pa.int32()),
        pa.field("batch_id", pa.string()),
        pa.field("purpose", pa.string()),  # cold_start | query | validation | review | auto
        pa.field("strategy", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("features_version", pa.int64()),
        pa.field("annotation_key", pa.string()),  # unique per label: what makes sync idempotent
        pa.field("backend", pa.string()),
        pa.field("labelled_at", pa.timestamp("us", tz="UTC")),
        *STRUCTURE_FIELDS,
    ]
)

STATE_SCHEMA = pa.schema(
    [
        pa.field("campaign", pa.string()),
        pa.field("key", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("round", pa.int32()),
        pa.field("batch_id", pa.string()),
        pa.field("payload", pa.string()),  # JSON
        pa.field("run_id", pa.string()),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC")),
        pa.field("seq", pa.int32()),  # order within one recording
    ]
)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Event:
    key: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    round: int | None = None
    batch_id: str | None = None
    run_id: str | None = None
    recorded_at: dt.datetime | None = None


REVISION = "|rev:"  # annotation_key of a later version: <backend key>|rev:<revision>


def annotation_identity(key: str) -> str:
    """The backend's key of the annotation a stored version belongs to."""
    return key.split(REVISION, 1)[0]


def labels_app_id(campaign: str, batch_id: str) -> str:
    """Delta app transaction for a batch's human labels; its version = annotations committed so far."""
    return f"label:{campaign}:{batch_id}"


def autolabel_app_id(campaign: str) -> str:
    """Delta app transaction for machine labels; its version = the last round that wrote them."""
    return f"autolabel:{campaign}"


class CampaignStore:
    """The two tables of one campaign, with the reads and writes the campaign logic needs."""

    def __init__(self, storage: Storage, campaign: str) -> None:
        self.storage = storage
        self.campaign = campaign
        self.labels = Table(storage, "labels", campaign)
        self.state = Table(storage, "labels", STATE_TABLE)

    @staticmethod
    def campaign_names(storage: Storage) -> list[str]:
        state = Table(storage, "labels", STATE_TABLE)
        if not state.exists():
            return []
        names = state.snapshot().to_pyarrow_table(columns=["campaign"])["campaign"]
        return sorted(set(names.to_pylist()))

    # ------------------------------------------------------------------------------------- events
    def events(self) -> list[Event]:
        """The campaign's events in recording order, the last recording of each key winning."""
        if not self.state.exists():
            return []
        rows = (
            self.state.snapshot()
            .to_pyarrow_table(filters=[("campaign", "=", self.campaign)])
            .sort_by([("recorded_at", "ascending"), ("seq", "ascending")])
            .to_pylist()
        )
        latest: dict[str, Event] = {}
        for row in rows:
            latest.pop(row["key"], None)  # re-insert so order follows the latest recording
            latest[row["key"]] = Event(
                key=row["key"],
                kind=row["kind"],
                payload=json.loads(row["payload"]),
                round=row["round"],
                batch_id=row["batch_id"],
                run_id=row["run_id"],
                recorded_at=row["recorded_at"],
            )
        return list(latest.values())

    def record(self, events: Sequence[Event], tags: Mapping[str, Any]) -> CommitResult:
        now = utc_now()
        data = pa.Table.from_pylist(
            [
                {
                    "campaign": self.campaign,
                    "key": e.key,
                    "kind": e.kind,
                    "round": e.round,
                    "batch_id": e.batch_id,
                    "payload": json.dumps(e.payload, sort_keys=True, default=str),
                    "run_id": e.run_id,
                    "recorded_at": now,
                    "seq": seq,
                }
                for seq, e in enumerate(events)
            ],
            schema=STATE_SCHEMA,
        )
        return self.state.append_arrow(data, tags=tags, partition_by=["campaign"])

    # ------------------------------------------------------------------------------------- labels
    def label_history(self) -> pa.Table:
        """Every version of every human annotation, edits and deletions included (bounded by the budget,
        so small enough for the driver), oldest first."""
        if not self.labels.exists():
            return LABELS_SCHEMA.empty_table()
        data = self.labels.snapshot().to_pyarrow_table(filters=[("source", "=", HUMAN)])
        for f in LABELS_SCHEMA:  # a table from before the structure columns
            if f.name not in data.column_names:
                data = data.append_column(f, pa.nulls(data.num_rows, f.type))
        data = data.select(LABELS_SCHEMA.names).cast(LABELS_SCHEMA)
        return data.sort_by([("labelled_at", "ascending"), ("annotation_key", "ascending")])

    def human_labels(self) -> pa.Table:
        """The current human labels: the latest version of each annotation, deleted ones left out."""
        history = self.label_history()
        if history.num_rows == 0:
            return history
        latest: dict[str, int] = {}
        for row, key in enumerate(history["annotation_key"].to_pylist()):
            latest[annotation_identity(key)] = row
        current = history.take(sorted(latest.values()))
        return current.filter(pc.is_valid(current["label"]))

    def annotation_keys(self, batch_id: str) -> set[str]:
        human = self.label_history()
        return set(human.filter(pc.equal(human["batch_id"], batch_id))["annotation_key"].to_pylist())

    def labels_committed(self, batch_id: str) -> int | None:
        return self.labels.app_version(labels_app_id(self.campaign, batch_id))

    def append_human(
        self, rows: Iterable[Mapping[str, Any]], batch_id: str, committed: int, tags: Mapping[str, Any]
    ) -> CommitResult:
        """Append a batch's new annotations; ``committed`` (total so far) becomes the app transaction."""
        data = pa.Table.from_pylist([dict(r) for r in rows], schema=LABELS_SCHEMA)
        self.evolve()
        return self.labels.append_arrow(
            data, tags=tags, app_transactions=[(labels_app_id(self.campaign, batch_id), committed)]
        )

    def evolve(self) -> None:
        """Add the columns of ``LABELS_SCHEMA`` a table written by an earlier lakeprep lacks (empty for
        its rows), so new rows carry them; one metadata commit, none when nothing is missing."""
        if not self.labels.exists():
            return
        from deltalake import Schema

        present = set(self.labels.arrow_schema().names)
        missing = [f for f in LABELS_SCHEMA if f.name not in present]
        if missing:
            self.labels.snapshot().alter.add_columns(list(Schema.from_arrow(pa.schema(missing)).fields))

    def autolabelled_round(self) -> int | None:
        return self.labels.app_version(autolabel_app_id(self.campaign))
