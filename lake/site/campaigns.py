"""Labelling campaigns as the site shows them, read straight from the labels zone's Delta tables.

``labels/campaigns`` is the campaigns' event log (the last recording of a key wins) and
``labels/<campaign>`` holds every human and machine label. The lake package does not import the
labelling package (dependencies point one way), so only the recorded facts are read here: the spec
from the ``created`` event, machine-label rounds from ``autolabelled`` events, and label counts
aggregated by DataFusion inside delta-rs (machine labels can be millions of rows; they never reach
Python one by one).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import QueryBuilder

from lake.site.model import CampaignView, ClassAccuracy
from lake.storage import Storage
from lake.table import Table

STATE_TABLE = "campaigns"  # the event log's name in the labels zone (see labeling/store.py)
HUMAN, MACHINE = "human", "machine"


def _events(state: Table) -> dict[str, list[dict[str, Any]]]:
    """Each campaign's events in recording order, the latest recording of a key replacing earlier ones."""
    rows = (
        state.snapshot()
        .to_pyarrow_table(columns=["campaign", "key", "kind", "round", "payload", "recorded_at", "seq"])
        .sort_by([("recorded_at", "ascending"), ("seq", "ascending")])
        .to_pylist()
    )
    latest: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        events = latest.setdefault(row["campaign"], {})
        events.pop(row["key"], None)
        events[row["key"]] = row
    return {name: list(events.values()) for name, events in latest.items()}


def campaigns(storage: Storage) -> list[CampaignView]:
    state = Table(storage, "labels", STATE_TABLE)
    if not state.exists():
        return []
    out = []
    for name, events in sorted(_events(state).items()):
        created = next((e for e in events if e["kind"] == "created"), None)
        if created is None:
            continue
        out.append(_campaign(storage, name, json.loads(created["payload"])["spec"], events))
    return out


def _campaign(
    storage: Storage, name: str, spec: dict[str, Any], events: list[dict[str, Any]]
) -> CampaignView:
    budget = spec.get("budget") or {}
    cost = float(budget.get("cost_per_label", 0.0))
    per_item = cost * int(spec.get("annotators_per_item", 1))
    rounds: list[tuple[int, float | None, float | None]] = []
    machine_rows = 0
    for e in events:
        if e["kind"] == "autolabelled":
            payload = json.loads(e["payload"])
            machine_rows += int(payload.get("rows") or 0)
            rounds.append((int(e["round"] or 0), payload.get("accuracy_above"), payload.get("lower_bound")))
    finished = next((json.loads(e["payload"]).get("reason") for e in events if e["kind"] == "finished"), None)
    trained = [int(e["round"] or 0) for e in events if e["kind"] == "trained"]
    labels = Table(storage, "labels", name)
    human_items, human_annotations, per_class = _labels(labels, [str(x) for x in spec.get("labels", [])])
    return CampaignView(
        name=name,
        source=str(spec.get("source", "")),
        source_version=spec.get("source_version"),
        backend=str((spec.get("backend") or {}).get("kind", "")),
        target_accuracy=spec.get("target_accuracy"),
        pool_size=int(spec.get("pool_size", 0)),
        human_items=human_items,
        human_annotations=human_annotations,
        machine_items=machine_rows,
        rounds=max(trained, default=0),
        finished=finished,
        currency=str(budget.get("currency", "")),
        cost_per_label=cost,
        spent=human_annotations * cost,
        machine_value=machine_rows * per_item,
        measured_accuracy=tuple(sorted(rounds)),
        per_class=per_class,
    )


def _labels(table: Table, classes: list[str]) -> tuple[int, int, tuple[ClassAccuracy, ...]]:
    """(human items, human annotations, per class: machine labels, human items, and how often the
    machine label agrees with the human consensus on items labelled both ways)."""
    if not table.exists():
        return 0, 0, tuple(ClassAccuracy(c, 0, 0, 0, 0) for c in classes)
    snapshot = table.snapshot()
    machine_counts = (
        QueryBuilder()
        .register("labels", snapshot)
        .execute(f"SELECT label, count(*) AS n FROM labels WHERE source = '{MACHINE}' GROUP BY label")
        .read_all()
    )
    machine = dict(zip(machine_counts["label"].to_pylist(), machine_counts["n"].to_pylist(), strict=True))
    dataset = snapshot.to_pyarrow_dataset()
    human = dataset.to_table(columns=["example_id", "label"], filter=ds.field("source") == HUMAN)
    votes: dict[str, Counter[str]] = {}
    for item, label in zip(human["example_id"].to_pylist(), human["label"].to_pylist(), strict=True):
        votes.setdefault(item, Counter())[label] += 1
    consensus = {item: counts.most_common(1)[0][0] for item, counts in votes.items()}
    both = dataset.to_table(
        columns=["example_id", "label"],
        filter=(ds.field("source") == MACHINE)
        & ds.field("example_id").isin(pa.array(list(consensus), pa.string())),
    )
    checked: Counter[str] = Counter()
    agreeing: Counter[str] = Counter()
    for item, label in zip(both["example_id"].to_pylist(), both["label"].to_pylist(), strict=True):
        checked[label] += 1
        agreeing[label] += int(consensus[item] == label)
    human_per_class = Counter(consensus.values())
    names = classes + sorted(set(machine) - set(classes))
    per_class = tuple(
        ClassAccuracy(c, int(machine.get(c, 0)), human_per_class[c], checked[c], agreeing[c]) for c in names
    )
    return len(consensus), int(pc.count(human["example_id"]).as_py() or 0), per_class
