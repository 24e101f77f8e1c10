"""From a backend's annotations to labels-table rows: only what is new (annotations, edits, deletions),
only labels of the label set. A span or box is one annotation (one row) per region; its geometry,
normalised by the backend into ``Annotation.detail`` (``{"span": {start, end, text}}`` or ``{"box":
{left, top, width, height}, "image_size": {width, height}}`` in pixels), fills the typed columns here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from labeling.backends.base import Annotation, Progress
from labeling.regions import NO_REGIONS
from labeling.spec import CampaignSpec
from labeling.state import Batch
from labeling.store import HUMAN, REVISION, STRUCTURE_FIELDS, annotation_identity, utc_now


@dataclass(frozen=True)
class NewAnnotations:
    fresh: list[Annotation]  # to append: annotations not stored yet and new versions of stored ones
    unknown: list[Annotation]  # not stored yet, but their label is not in the label set
    notes: list[str]
    deleted: list[dict[str, Any]] = field(default_factory=list)  # rows retracting deleted annotations
    updated: int = 0  # how many of ``fresh`` are new versions of stored annotations


def new_annotations(
    progress: Progress, history: pa.Table, batch: Batch, spec: CampaignSpec, revisable: bool = False
) -> NewAnnotations:
    """What a sync must append, given every stored version of the batch's annotations (``history``,
    oldest first). New keys are appended as they are; with a ``revisable`` backend (one that returns
    every annotation of the batch as it is now) a changed label becomes a new version and a stored
    annotation missing from the backend a deletion, so edits made after a sync are never ignored."""
    members = set(batch.ids)
    stored = set(history["annotation_key"].to_pylist())
    latest: dict[str, dict[str, Any]] = {}
    for row in history.to_pylist():
        latest[annotation_identity(row["annotation_key"])] = row
    candidates = [a for a in progress.annotations if a.example_id in members]
    answers = answer_labels(spec)
    unknown = [a for a in candidates if a.label not in answers and a.key not in latest]
    notes = list(progress.notes) + [
        f"item {a.example_id}: label {a.label!r} is not in the label set" for a in unknown
    ]
    fresh, updated = [], 0
    for a in candidates:
        if a.label not in answers:
            continue
        if a.key not in latest:
            fresh.append(a)
        elif revisable and _answer(latest[a.key]) != _answer(label_structure(a) | {"label": a.label}):
            version = replace(a, key=f"{a.key}{REVISION}{a.revision or utc_now().isoformat()}")
            if version.key not in stored:
                fresh.append(version)
                updated += 1
    deleted = []
    if revisable:
        present = {a.key for a in progress.annotations}
        now = utc_now()
        for identity, row in latest.items():
            if row["label"] is not None and identity not in present:
                key = f"{identity}{REVISION}deleted:{now.isoformat()}"
                deleted.append(
                    row | {"label": None, "label_index": None, "annotation_key": key, "labelled_at": now}
                )
    fresh.sort(key=lambda a: a.key)
    return NewAnnotations(fresh, unknown, notes, deleted, updated)


GEOMETRY = [f.name for f in STRUCTURE_FIELDS if f.name != "detail"]


def _answer(row: dict[str, Any]) -> tuple[Any, ...]:
    """What a person answered (the label and the region, not its provenance): a change is a new version."""
    return (row["label"], *(row.get(name) for name in GEOMETRY))


def label_structure(annotation: Annotation) -> dict[str, Any]:
    """The typed region columns of an annotation (all None for a class) and its ``detail`` JSON."""
    detail = json.loads(annotation.detail) if annotation.detail else {}
    span = detail.get("span") or {}
    box = detail.get("box") or {}
    size = detail.get("image_size") or {}
    row: dict[str, Any] = {
        "span_start": span.get("start"),
        "span_end": span.get("end"),
        "span_text": span.get("text"),
        "box_left": _number(box.get("left")),
        "box_top": _number(box.get("top")),
        "box_width": _number(box.get("width")),
        "box_height": _number(box.get("height")),
        "image_width": size.get("width"),
        "image_height": size.get("height"),
        "detail": annotation.detail,
    }
    return row


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def answer_labels(spec: CampaignSpec) -> set[str]:
    """What an answer may say: a label of the set or, where an answer is a set of regions, none."""
    return set(spec.labels) | ({NO_REGIONS} if spec.structured else set())


def answered(human: pa.Table) -> int:
    """Answers given, as billed: one per (item, annotator), however many spans or boxes it holds."""
    return len(set(zip(human["example_id"].to_pylist(), human["annotator_id"].to_pylist(), strict=True)))


def label_rows(spec: CampaignSpec, batch: Batch, annotations: list[Annotation]) -> list[dict[str, Any]]:
    """Labels-table rows for human annotations, with the provenance of the batch that asked for them."""
    now = utc_now()
    rows = []
    for a in annotations:
        item = batch.item(a.example_id)
        rows.append(
            {
                "campaign": spec.name,
                "example_id": a.example_id,
                "label": a.label,
                "label_index": None if a.label == NO_REGIONS else spec.label_index(a.label),
                "source": HUMAN,
                "annotator_id": a.annotator_id,
                "confidence": a.confidence,
                "round": batch.round,
                "batch_id": batch.batch_id,
                "purpose": item.purpose if item else "query",
                "strategy": batch.strategy,
                "model_version": batch.model_version,
                "features_version": spec.source_version,
                "annotation_key": a.key,
                "backend": spec.backend.kind,
                "labelled_at": a.annotated_at or now,
            }
            | label_structure(a)
        )
    return rows


def closed_payload(progress: Progress, batch: Batch, spec: CampaignSpec, annotations: int) -> dict[str, Any]:
    """What a completed batch records; its unlabelled items (skipped, failed) return to the pool."""
    members = set(batch.ids)
    labelled = {a.example_id for a in progress.annotations if a.label in answer_labels(spec)}
    return {
        "annotations": annotations,
        "labelled_items": len(labelled & members),
        "unlabelled_items": sorted(members - labelled),
        "reason": "complete",
    }
