"""From a backend's annotations to labels-table rows: only what is new, only labels of the label set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labeling.backends.base import Annotation, Progress
from labeling.spec import CampaignSpec
from labeling.state import Batch
from labeling.store import HUMAN, utc_now


@dataclass(frozen=True)
class NewAnnotations:
    fresh: list[Annotation]  # not stored yet, of this batch, with a known label
    unknown: list[Annotation]  # not stored yet, but their label is not in the label set
    notes: list[str]


def new_annotations(progress: Progress, stored: set[str], batch: Batch, spec: CampaignSpec) -> NewAnnotations:
    """The annotations a sync must append: keys already stored are what make a re-run add nothing."""
    members = set(batch.ids)
    candidates = [a for a in progress.annotations if a.key not in stored and a.example_id in members]
    unknown = [a for a in candidates if a.label not in spec.labels]
    notes = list(progress.notes) + [
        f"item {a.example_id}: label {a.label!r} is not in the label set" for a in unknown
    ]
    fresh = sorted((a for a in candidates if a.label in spec.labels), key=lambda a: a.key)
    return NewAnnotations(fresh, unknown, notes)


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
                "label_index": spec.label_index(a.label),
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
        )
    return rows


def closed_payload(progress: Progress, batch: Batch, spec: CampaignSpec, annotations: int) -> dict[str, Any]:
    """What a completed batch records; its unlabelled items (skipped, failed) return to the pool."""
    members = set(batch.ids)
    labelled = {a.example_id for a in progress.annotations if a.label in spec.labels}
    return {
        "annotations": annotations,
        "labelled_items": len(labelled & members),
        "unlabelled_items": sorted(members - labelled),
        "reason": "complete",
    }
