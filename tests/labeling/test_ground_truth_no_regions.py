"""Ground Truth box and span answers that mark nothing: the output manifest (``"annotations": []`` with
the image size, ``"entities": []``) and a worker's own empty response are answers, stored as one
``NO_REGIONS`` row like Label Studio's, counted as labelled and voting in the region consensus. Jobs
go through botocore's Stubber, manifests and responses live on the S3 server."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from labeling.backends.base import Progress, Task
from labeling.regions import NO_REGIONS, item_consensus
from labeling.store import LABELS_SCHEMA
from labeling.sync import closed_payload, label_rows
from tests.labeling.test_ground_truth import (
    CROWD_ELEMENT,
    gt_batch,
    gt_spec,
    metadata,
    pushed_job,
    worker_answer,
)
from tests.support.servers import S3Server

IDS = ["item-0", "item-1"]


def empty_boxes(line: dict[str, Any], job: str) -> None:
    """What ACS-BoundingBox writes when the workers drew no box: no annotations, the image size kept."""
    line["lakeprep-label"] = {"image_size": [{"width": 64, "height": 48, "depth": 3}], "annotations": []}
    line["lakeprep-label-metadata"] = metadata(job, "object-detection", objects=[], **{"class-map": {}})


def empty_entities(line: dict[str, Any], job: str) -> None:
    """What ACS-NamedEntityRecognition writes when no entity was marked."""
    line["lakeprep-label"] = {"annotations": {"labels": [{"label": "cat"}], "entities": []}}
    line["lakeprep-label-metadata"] = metadata(job, "text-span", entities=[])


CASES = {
    "bounding-box": ("image", "bounding_box", "BoundingBox", "Bounding box", empty_boxes),
    "named-entity": (
        "text",
        "named_entity",
        "NamedEntityRecognition",
        "Named entity recognition",
        empty_entities,
    ),
}


def pull_job(
    case: str, annotators: int, s3: Any, bucket: str, responses: dict[str, list[dict[str, Any]]]
) -> tuple[Progress, Any, str]:
    """Push a two-item batch, write Ground Truth's output (item-0 answered with nothing marked, item-1
    with the usual answer of the other test module) and the worker responses, then pull it."""
    kind, task_type, builtin, keyword, empty = CASES[case]
    region = "eu-west-1" if kind == "image" else "us-east-1"
    spec = gt_spec(bucket, kind, task_type, region)
    data = [
        {"body": f"s3://{bucket}/images/{n}.png"} if kind == "image" else {"body": f"cat and dog {n}"}
        for n in range(2)
    ]
    tasks = [Task(i, "query", d) for i, d in zip(IDS, data, strict=True)]
    with pushed_job(spec, s3, bucket, tasks, builtin, keyword, annotators) as pushed:
        lines = [dict(line) for line in pushed.lines]
        empty(lines[0], pushed.job)
        lines[1]["lakeprep-label"] = (
            {
                "image_size": [{"width": 64, "height": 48, "depth": 3}],
                "annotations": [{"class_id": 0, "left": 1, "top": 2, "width": 5, "height": 6}],
            }
            if kind == "image"
            else {
                "annotations": {
                    "labels": [],
                    "entities": [{"label": "cat", "startOffset": 0, "endOffset": 3}],
                }
            }
        )
        lines[1]["lakeprep-label-metadata"] = metadata(
            pushed.job, "object-detection" if kind == "image" else "text-span"
        )
        progress = pushed.pull_completed(s3, bucket, lines, responses)
    job = pushed.job
    return progress, spec, job


def human_table(spec: Any, annotators: int, progress: Progress) -> pa.Table:
    """The labels rows sync would append for these annotations."""
    rows = label_rows(spec, gt_batch(IDS, annotators), progress.annotations)
    return pa.Table.from_pylist(rows, schema=LABELS_SCHEMA)


@pytest.mark.s3
@pytest.mark.parametrize("case", list(CASES))
def test_a_consolidated_answer_marking_nothing_is_an_answer(
    case: str, s3_env: S3Server, s3_bucket: str
) -> None:
    progress, spec, job = pull_job(case, 1, s3_env.client(), s3_bucket, {})

    assert not progress.notes  # not "unreadable", not "not labelled"
    empty = [a for a in progress.annotations if a.example_id == "item-0"]
    assert [(a.label, a.key, a.confidence) for a in empty] == [
        (NO_REGIONS, f"gt:{job}:item-0:no-regions", None)
    ]
    detail = json.loads(empty[0].detail or "{}")
    assert detail["job"] == job
    assert detail["consolidated"]
    if case == "bounding-box":
        assert detail["image_size"] == {"width": 64, "height": 48, "depth": 3}
    labels = [(a.example_id, a.label) for a in progress.annotations]
    assert labels == [("item-0", NO_REGIONS), ("item-1", "cat")]

    # both items are labelled (none goes back to the pool) and item-0's consensus is empty, not missing
    closed = closed_payload(progress, gt_batch(IDS, 1), spec, len(progress.annotations))
    assert (closed["labelled_items"], closed["unlabelled_items"]) == (2, [])
    human = human_table(spec, 1, progress)
    row = human.filter(pa.compute.equal(human["example_id"], "item-0")).to_pylist()[0]
    assert row["label_index"] is None
    assert row["span_start"] is None
    assert row["box_left"] is None
    if case == "bounding-box":
        assert (row["image_width"], row["image_height"]) == (64, 48)
    consensus = {c.example_id: c for c in item_consensus(human)}
    assert consensus["item-0"].regions == []
    assert consensus["item-0"].agreement == 1.0
    assert [r.label for r in consensus["item-1"].regions] == ["cat"]


@pytest.mark.s3
@pytest.mark.parametrize("case", list(CASES))
def test_a_worker_marking_nothing_votes_against_the_other_workers_region(
    case: str, s3_env: S3Server, s3_bucket: str
) -> None:
    """Three workers on item-1: one draws a region, two submit nothing; Ground Truth's consolidation kept
    the region, lakeprep's majority (two of three marked nothing) keeps none."""
    builtin = CASES[case][2]
    element = "boundingBox" if builtin == "BoundingBox" else CROWD_ELEMENT[builtin]
    line = {"source": "cat and dog 1"}
    drew = worker_answer(builtin, "wk-a", line)
    blank = [worker_answer(builtin, w, line) for w in ("wk-b", "wk-c")]
    for answer in blank:
        content = answer["answerContent"][element]
        if builtin == "BoundingBox":
            content["boundingBoxes"] = []
        else:
            content["entities"] = []
    progress, spec, job = pull_job(case, 3, s3_env.client(), s3_bucket, {"1": [drew, *blank]})

    workers = sorted((a.annotator_id, a.label) for a in progress.annotations if a.example_id == "item-1")
    drawn = "cat" if builtin == "BoundingBox" else "dog"
    assert workers == [
        ("groundtruth:wk-a", drawn),
        ("groundtruth:wk-b", NO_REGIONS),
        ("groundtruth:wk-c", NO_REGIONS),
    ]
    keys = {a.key for a in progress.annotations}
    assert {f"gt:{job}:item-1:wk-b:no-regions", f"gt:{job}:item-1:wk-c:no-regions"} <= keys
    assert len(keys) == len(progress.annotations)
    human = human_table(spec, 3, progress)
    consensus = {c.example_id: c for c in item_consensus(human)}
    assert consensus["item-1"].regions == []
    assert consensus["item-1"].annotators == ["groundtruth:wk-a", "groundtruth:wk-b", "groundtruth:wk-c"]
    assert consensus["item-1"].exact == ["groundtruth:wk-b", "groundtruth:wk-c"]
    # item-0 had no worker responses: its consolidated empty answer is kept, and noted
    assert [a.label for a in progress.annotations if a.example_id == "item-0"] == [NO_REGIONS]
    assert any("item-0 has no worker responses" in n for n in progress.notes)
