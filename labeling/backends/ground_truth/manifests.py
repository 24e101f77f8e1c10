"""Input and output manifests of a labeling job (JSON lines), per built-in task type.

An input line names the object (``source``: the text a worker reads; ``source-ref``: an image on S3) and
carries lakeprep's item id, batch and the model's suggestion (Ground Truth copies every other key into
the output untouched). An output line adds the label attribute and its ``-metadata``; their shape depends
on the task type (SageMaker Developer Guide, "Output Data"):

* classification: the class index, metadata ``class-name`` and ``confidence``;
* multi-label: a list of class indexes, metadata ``class-map`` and ``confidence-map`` (index -> value);
* bounding box: ``{"image_size": [...], "annotations": [{class_id, left, top, width, height}]}``,
  metadata ``class-map`` and ``objects`` (one ``confidence`` per box);
* named entities: ``{"annotations": {"labels": [...], "entities": [{label, startOffset, endOffset}]}}``,
  metadata ``entities`` (one ``confidence`` per span).

Every metadata also has ``job-name``, ``human-annotated`` and ``creation-date`` (naive ISO, UTC); a
failed item has ``failure-reason`` instead of a label.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from labeling.backends.base import Annotation
from labeling.backends.ground_truth.tasks import BuiltinTask

LABEL_ATTRIBUTE = "lakeprep-label"
ID_KEY, BATCH_KEY, PREDICTION_KEY = "lakeprep-id", "lakeprep-batch", "lakeprep-prediction"


@dataclass(frozen=True)
class ParsedLine:
    """One output line: its labels as annotations, or why it has none."""

    example_id: str
    annotations: list[Annotation] = field(default_factory=list)
    problem: str | None = None  # failed, machine-labelled, malformed: the item is not labelled


def parse_line(
    line: dict[str, Any], task: BuiltinTask, labels: tuple[str, ...], annotator: str
) -> ParsedLine:
    """The annotations of one output line (one per class, box or span), each with its confidence, its
    time and, in ``detail``, the job, the consolidated answer's type and what the label alone omits."""
    example_id = str(line.get(ID_KEY))
    metadata = line.get(f"{LABEL_ATTRIBUTE}-metadata") or {}
    if "failure-reason" in metadata:
        return ParsedLine(example_id, problem=f"not labelled ({metadata['failure-reason']})")
    if LABEL_ATTRIBUTE not in line:
        return ParsedLine(example_id, problem="not labelled (no label in the output)")
    if str(metadata.get("human-annotated", "yes")).lower() != "yes":
        return ParsedLine(example_id, problem="labelled by Ground Truth's own model; skipped")
    job = str(metadata.get("job-name", "")).removeprefix("labeling-job/")
    value = line[LABEL_ATTRIBUTE]
    provenance = {
        "job": job,
        "type": metadata.get("type", task.output_type),
        "task": task.name,
        "consolidated": True,  # the output manifest holds ACS-<task>'s answer, not one worker's
    }
    at = utc(metadata.get("creation-date"))
    base = f"gt:{job}:{example_id}"

    def annotation(label: str, key: str, confidence: Any, **detail: Any) -> Annotation:
        return Annotation(
            example_id=example_id,
            label=label,
            annotator_id=annotator,
            key=key,
            confidence=float(confidence) if confidence is not None else None,
            annotated_at=at,
            detail=json.dumps(provenance | detail, sort_keys=True),
        )

    try:
        if task.element in ("crowd-classifier", "crowd-image-classifier"):
            label = metadata.get("class-name") or _class(labels, {}, value)
            return ParsedLine(example_id, [annotation(label, base, metadata.get("confidence"))])
        class_map = {str(k): str(v) for k, v in (metadata.get("class-map") or {}).items()}
        if task.name.endswith("MultiLabel"):
            confidences = metadata.get("confidence-map") or {}
            chosen = {_class(labels, class_map, index): str(index) for index in value}
            names = sorted(chosen)
            return ParsedLine(
                example_id,
                [
                    annotation(name, f"{base}:{name}", confidences.get(chosen[name]), labels=names)
                    for name in names
                ],
            )
        if task.name == "BoundingBox":
            size = (value.get("image_size") or [{}])[0]
            objects = metadata.get("objects") or []
            boxes = []
            for n, box in enumerate(value.get("annotations") or []):
                geometry = {k: int(box[k]) for k in ("left", "top", "width", "height")}
                confidence = objects[n].get("confidence") if n < len(objects) else None
                name = _class(labels, class_map, box["class_id"])
                boxes.append(annotation(name, f"{base}:box{n}", confidence, box=geometry, image_size=size))
            return ParsedLine(example_id, boxes)
        source = str(line.get("source", ""))
        entities = metadata.get("entities") or []
        spans = []
        for n, entity in enumerate((value.get("annotations") or {}).get("entities") or []):
            start, end = int(entity["startOffset"]), int(entity["endOffset"])
            confidence = entities[n].get("confidence") if n < len(entities) else None
            span = {"start": start, "end": end, "text": source[start:end]}
            spans.append(annotation(str(entity["label"]), f"{base}:span{n}", confidence, span=span))
        return ParsedLine(example_id, spans)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        return ParsedLine(example_id, problem=f"unreadable {task.output_type} label {value!r} ({exc})")


def _class(labels: tuple[str, ...], class_map: dict[str, str], index: Any) -> str:
    """A class index of the output as its label: the job's class map first, else the label order."""
    if str(index) in class_map:
        return class_map[str(index)]
    position = int(index)
    if not 0 <= position < len(labels):
        raise ValueError(f"class index {position} is outside the {len(labels)} labels")
    return labels[position]


def utc(value: Any) -> dt.datetime | None:
    """Ground Truth writes naive ISO timestamps in UTC."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
