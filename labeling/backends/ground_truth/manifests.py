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

A worker who finds nothing to mark submits no box (``"annotations": []``, ``image_size`` still given,
metadata ``objects: []``) or no entity (``"entities": []``); both here and in a worker's own response
that answer is one ``NO_REGIONS`` label (part ``:no-regions``), as Label Studio's empty answers are, so
the item counts as answered, is billed and votes in lakeprep's region consensus (``labeling.regions``).

Every metadata also has ``job-name``, ``human-annotated`` and ``creation-date`` (naive ISO, UTC); a
failed item has ``failure-reason`` instead of a label.

Each worker's own answer is in ``<output>/<job>/annotations/worker-response/iteration-<n>/<index>/*.json``
(``<index>``: the item's line in the input manifest): ``{"answers": [{"workerId", "submissionTime",
"timeSpentInSeconds", "workerMetadata", "answerContent": {<the element's name>: ...}}]}``, where the
element gives ``label`` (classifiers), ``labels`` (multi-select), ``boundingBoxes`` (with each box's
``label``) and ``inputImageProperties``, or ``entities`` (spans).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from labeling.backends.base import Annotation
from labeling.backends.ground_truth.tasks import BuiltinTask
from labeling.regions import NO_REGIONS

LABEL_ATTRIBUTE = "lakeprep-label"
ID_KEY, BATCH_KEY, PREDICTION_KEY = "lakeprep-id", "lakeprep-batch", "lakeprep-prediction"


@dataclass(frozen=True)
class Answer:
    """One label of an item: its class, or one of its classes, boxes or spans, or that it has none."""

    label: str
    part: str  # tells it from the item's other labels in its key: "", ":<label>", ":box<n>", ":span<n>", ":no-regions"
    confidence: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # what the label alone does not say


@dataclass(frozen=True)
class ParsedLine:
    """One output line: its consolidated labels as annotations, or why it has none."""

    example_id: str
    annotations: list[Annotation] = field(default_factory=list)
    problem: str | None = None  # failed, machine-labelled, malformed: the item is not labelled
    job: str = ""


READABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError)  # a label of another shape


def parse_line(
    line: dict[str, Any], task: BuiltinTask, labels: tuple[str, ...], annotator: str
) -> ParsedLine:
    """The consolidated annotations of one output line (one per class, box or span), each with its
    confidence, its time and, in ``detail``, the job, the answer's type and what the label omits."""
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
    try:
        answers = consolidated_answers(task, value, metadata, labels, str(line.get("source", "")))
    except READABLE as exc:
        return ParsedLine(example_id, problem=f"unreadable {task.output_type} label {value!r} ({exc})")
    # the output manifest holds ACS-<task>'s consolidation of the workers' answers, not one worker's
    provenance = {"job": job, "type": metadata.get("type", task.output_type), "task": task.name}
    found = as_annotations(
        example_id,
        answers,
        f"gt:{job}:{example_id}",
        annotator,
        utc(metadata.get("creation-date")),
        provenance | {"consolidated": True},
    )
    return ParsedLine(example_id, found, job=job)


def consolidated_answers(
    task: BuiltinTask, value: Any, metadata: dict[str, Any], labels: tuple[str, ...], source: str
) -> list[Answer]:
    """The labels of an output line, read by the shape of its task type (module docstring)."""
    if task.element in ("crowd-classifier", "crowd-image-classifier"):
        label = metadata.get("class-name") or _class(labels, {}, value)
        return [Answer(str(label), "", _float(metadata.get("confidence")))]
    class_map = {str(k): str(v) for k, v in (metadata.get("class-map") or {}).items()}
    if task.name.endswith("MultiLabel"):
        confidences = metadata.get("confidence-map") or {}
        chosen = {_class(labels, class_map, index): str(index) for index in value}
        names = sorted(chosen)
        return [Answer(n, f":{n}", _float(confidences.get(chosen[n])), {"labels": names}) for n in names]
    if task.name == "BoundingBox":
        size = (value.get("image_size") or [{}])[0]
        objects = metadata.get("objects") or []
        boxes = [
            _box(_class(labels, class_map, box["class_id"]), n, box, size, objects)
            for n, box in enumerate(value.get("annotations") or [])
        ]
        return boxes or _nothing_marked({"image_size": size})
    spans = (value.get("annotations") or {}).get("entities") or []
    return _spans(spans, source, metadata.get("entities") or []) or _nothing_marked({})


def worker_answers(task: BuiltinTask, content: Any, source: str) -> list[Answer]:
    """One worker's labels from the ``answerContent`` of a worker response, by the element's output."""
    if task.element in ("crowd-classifier", "crowd-image-classifier"):
        return [Answer(str(content["label"]), "")]
    if task.name.endswith("MultiLabel"):
        names = sorted({str(label) for label in content["labels"]})
        return [Answer(n, f":{n}", None, {"labels": names}) for n in names]
    if task.name == "BoundingBox":
        size = content.get("inputImageProperties") or {}
        boxes = [
            _box(str(b["label"]), n, b, size, []) for n, b in enumerate(content.get("boundingBoxes") or [])
        ]
        return boxes or _nothing_marked({"image_size": size})
    return _spans(content.get("entities") or [], source, []) or _nothing_marked({})


def response_annotations(
    task: BuiltinTask, response: dict[str, Any], example_id: str, job: str, source: str
) -> list[Annotation]:
    """Every worker's annotations in one worker-response file, each worker as its own annotator."""
    found: list[Annotation] = []
    for answer in response.get("answers") or []:
        worker = str(answer["workerId"])
        identity = ((answer.get("workerMetadata") or {}).get("identityData") or {}).get("sub")
        provenance = {
            "job": job,
            "task": task.name,
            "consolidated": False,
            "worker": worker,
            "worker_sub": identity,
            "seconds": answer.get("timeSpentInSeconds"),
        }
        answers = worker_answers(task, answer["answerContent"][task.answer], source)
        found += as_annotations(
            example_id,
            answers,
            f"gt:{job}:{example_id}:{worker}",
            f"groundtruth:{worker}",
            utc(answer.get("submissionTime")),
            provenance,
        )
    return found


def as_annotations(
    example_id: str,
    answers: list[Answer],
    key: str,
    annotator: str,
    at: dt.datetime | None,
    provenance: dict[str, Any],
) -> list[Annotation]:
    return [
        Annotation(
            example_id=example_id,
            label=answer.label,
            annotator_id=annotator,
            key=f"{key}{answer.part}",
            confidence=answer.confidence,
            annotated_at=at,
            detail=json.dumps(provenance | answer.detail, sort_keys=True),
        )
        for answer in answers
    ]


def _nothing_marked(detail: dict[str, Any]) -> list[Answer]:
    """A box or span answer that marks nothing: still an answer (module docstring)."""
    return [Answer(NO_REGIONS, ":no-regions", None, detail)]


def _box(label: str, n: int, box: dict[str, Any], size: dict[str, Any], objects: list[Any]) -> Answer:
    geometry = {k: int(box[k]) for k in ("left", "top", "width", "height")}
    confidence = _float(objects[n].get("confidence")) if n < len(objects) else None
    return Answer(label, f":box{n}", confidence, {"box": geometry, "image_size": size})


def _spans(entities: list[dict[str, Any]], source: str, confidences: list[Any]) -> list[Answer]:
    """Spans by Unicode code point offsets (Python's string indexes), with the text they cover."""
    out = []
    for n, entity in enumerate(entities):
        start, end = int(entity["startOffset"]), int(entity["endOffset"])
        confidence = _float(confidences[n].get("confidence")) if n < len(confidences) else None
        span = {"start": start, "end": end, "text": source[start:end]}
        out.append(Answer(str(entity["label"]), f":span{n}", confidence, {"span": span}))
    return out


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


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
