"""Span and box campaigns end to end against a real Label Studio, two annotators per item: created,
a round pushed, regions drawn (and "nothing to mark" answers submitted) through the API as people do in
the UI, synced, the batch closed by hand, then the lake read back with polars and deltalake: every
region and every no-regions answer with its provenance, the consensus (exact spans, boxes at IoU >= 0.5)
in ``status``, in the close event and in the exported training set (span offsets, COCO boxes), money
per answer, unanswered tasks withdrawn; an edit made after the close lands as a new label version."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable
from label_studio_sdk import LabelStudio
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from labeling.backends.label_studio import ID_FIELD
from labeling.campaign import Campaign
from labeling.regions import NO_REGIONS
from labeling.spec import ContentSpec, TaskType
from lake.storage import Storage
from lakeprep.cli import app
from tests.labeling.conftest import LS_TOKEN, LabelStudioServer
from tests.labeling.content_fixtures import image_table, text_table
from tests.labeling.test_label_studio import batch_tasks
from tests.labeling.test_label_studio_content import campaign_for
from tests.labeling.test_structured_tasks import ENTITIES, MARKS, lake_labels, word_at

COST = 0.1  # campaign_for's price of a label
Span = tuple[str, int, int]  # label, start, end (code points; the fortunes are ASCII, so UTF-16 too)
Box = tuple[str, float, float, float, float]  # label, x, y, width, height in percent of a 64x64 image


def region_campaign(
    spark: SparkSession, lake: Storage, url: str, name: str, task_type: TaskType, **kw: Any
) -> Campaign:
    """A span campaign over fortunes (labels ``ENTITIES``) or a box campaign over handwritten digits
    (labels ``MARKS``) on the Label Studio at ``url``, its first batch drawn at random."""
    if task_type == "named_entity":
        table, content = (
            text_table(lake, ("computers", "love"), per_class=20),
            ContentSpec(kind="text", columns=("text",)),
        )
        labels, features = ENTITIES, ["n_chars", "n_words"]
    else:
        table, content = image_table(lake, limit=12), ContentSpec(kind="image", columns=("image",))
        labels, features = MARKS, [f"p{j:02d}" for j in range(64)]
    return campaign_for(
        spark,
        lake,
        table,
        name,
        url,
        content,
        labels=labels,
        feature_columns=features,
        task_type=task_type,
        cold_start="random",
        **kw,
    )


def annotators(client: LabelStudio, unique: Callable[[str], str]) -> list[int]:
    """Two people of the organisation, as Label Studio knows them."""
    ids = []
    for _ in range(2):
        name = unique("annotator")
        ids.append(client.users.create(username=name, email=f"{name}@example.org", password=unique("pw")).id)
    return ids


def span_result(text: str, spans: list[Span]) -> list[dict[str, Any]]:
    """What Label Studio stores when someone selects text and picks a label (nothing: an empty list)."""
    return [
        {
            "id": f"s{k}",
            "from_name": "label",
            "to_name": "item",
            "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]},
        }
        for k, (label, start, end) in enumerate(spans)
    ]


def box_result(boxes: list[Box]) -> list[dict[str, Any]]:
    """What Label Studio stores when someone drags a rectangle on the 64x64 image and picks a label."""
    return [
        {
            "id": f"b{k}",
            "from_name": "label",
            "to_name": "item",
            "type": "rectanglelabels",
            "original_width": 64,
            "original_height": 64,
            "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]},
        }
        for k, (label, x, y, w, h) in enumerate(boxes)
    ]


def training_rows(lake: Storage, campaign: Campaign) -> dict[str, dict[str, Any]]:
    """The exported training set, read by deltalake, by item."""
    table, _ = campaign.export()
    rows = DeltaTable(table.uri, storage_options=lake.delta_options).to_pyarrow_table().to_pylist()
    return {r["example_id"]: r for r in rows}


def check_answers_in_lake(lake: Storage, campaign: Campaign, project: int, no_regions: int) -> pl.DataFrame:
    """Every row is a human answer with its provenance; ``no_regions`` of them mark nothing."""
    labels = lake_labels(lake, campaign)
    assert (labels["source"] == "human").all()
    assert (labels["round"] == 1).all()
    assert (labels["batch_id"] == "b001").all()
    assert (labels["backend"] == "label_studio").all()
    assert labels["labelled_at"].null_count() == 0
    empty = labels.filter(pl.col("label") == NO_REGIONS)
    assert empty.height == no_regions
    assert empty["label_index"].null_count() == no_regions
    assert empty["span_start"].null_count() == empty["box_left"].null_count() == no_regions
    for row in empty.iter_rows(named=True):
        detail = json.loads(row["detail"])
        assert row["annotation_key"] == f"ls:{project}:{detail['annotation']}:no-regions"
        assert detail["task"]
        assert detail["region"] == "no-regions"
    return labels


@pytest.mark.label_studio
def test_a_span_campaign_with_two_annotators_is_synced_closed_billed_and_exported(
    spark: SparkSession, lake: Storage, ls_env: LabelStudioServer, unique: Callable[[str], str]
) -> None:
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    campaign = region_campaign(spark, lake, ls_env.url, unique("ner"), "named_entity", annotators_per_item=2)
    project = int(campaign.state().backend["project_id"])
    alice, bob = annotators(client, unique)
    campaign.round()
    tasks = sorted(batch_tasks(client, project, "b001"), key=lambda t: t.id)
    assert len(tasks) == 10
    ids = [t.data[ID_FIELD] for t in tasks]
    texts = {t.data[ID_FIELD]: t.data["text"] for t in tasks}

    def word(n: int, k: int = 0, label: str = "word") -> Span:
        return (label, *word_at(texts[ids[n]], k))

    answers: dict[int, dict[int, list[Span]]] = {  # task -> annotator -> spans; tasks 7-9 nobody answers
        0: {alice: [word(0), word(0, 1, "name")], bob: [word(0)]},  # "name" by one of two: no consensus
        1: {alice: [], bob: []},  # both: nothing to mark
        2: {alice: [word(2)], bob: []},  # a tie: no region is agreed
        3: {alice: [word(3)], bob: [word(3)]},
        4: {alice: [word(4, 1)], bob: [word(4, 1)]},
        5: {alice: [word(5)], bob: [word(5)]},
        6: {alice: [word(6)]},  # one answer of two so far
    }
    made = {}
    for n, by in answers.items():
        for who, marked in by.items():
            made[(n, who)] = client.annotations.create(
                id=tasks[n].id, result=span_result(texts[ids[n]], marked), completed_by=who
            )
    (synced,) = campaign.sync()
    assert (synced.new, synced.complete) == (11 + 3, False)  # 11 spans, 3 answers marking none

    campaign.close_batch("b001")
    closed = campaign.state().batches["b001"].closed
    assert closed is not None
    assert closed["billed_annotations"] == closed["annotations"] == 13  # answers, not spans
    assert closed["labelled_items"] == 7
    assert closed["unlabelled_items"] == sorted(ids[7:])
    assert closed["deleted_tasks"] == 3
    assert (closed["regions"], closed["agreed_regions"]) == (11, 5)
    assert (closed["unanimous_items"], closed["items_without_regions"]) == (5, 2)
    assert sorted(t.data[ID_FIELD] for t in batch_tasks(client, project, "b001")) == sorted(ids[:7])

    labels = check_answers_in_lake(lake, campaign, project, no_regions=3)
    spans = labels.filter(pl.col("label") != NO_REGIONS)
    assert spans.height == 11
    for row in spans.iter_rows(named=True):
        n = ids.index(row["example_id"])
        who = int(row["annotator_id"].removeprefix("ls-user:"))
        assert (row["label"], row["span_start"], row["span_end"]) in answers[n][who]
        assert row["span_text"] == texts[row["example_id"]][row["span_start"] : row["span_end"]]
        assert json.loads(row["detail"])["annotation"] == made[(n, who)].id

    status = campaign.status()
    assert (status.human_items, status.human_annotations, status.in_flight) == (7, 13, 0)
    assert status.spent == pytest.approx(13 * COST)
    assert (status.regions, status.agreed_regions, status.unanimous_items) == (11, 5, 5)
    assert [(c.label, c.human_items) for c in status.classes] == [("word", 5), ("name", 0)]
    people = campaign.annotator_agreement().set_index("annotator_id")  # whole answers against the consensus
    assert people.loc[f"ls-user:{alice}"].tolist() == [7, 6, 4 / 6]  # her extra "name" and her lone span
    assert people.loc[f"ls-user:{bob}"].tolist() == [6, 6, 1.0]
    shown = CliRunner().invoke(
        app, ["campaign", "status", campaign.name, "--lake", lake.root], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    assert "11 (5 agreed by most annotators; 5 items answered alike by all)" in shown.output

    exported = training_rows(lake, campaign)
    assert set(exported) == set(ids[:7])  # answered items only, with their pinned features
    first = exported[ids[0]]
    assert first["n_chars"] == len(texts[ids[0]])
    ((label, start, end),) = [word(0)]
    assert first["regions"] == [
        {
            "label": label,
            "label_index": 0,
            "start": start,
            "end": end,
            "text": texts[ids[0]][start:end],
            "votes": 2,
        }
    ]
    assert (first["label_confidence"], first["label_source"]) == (
        0.5,
        "human",
    )  # bob's answer is the consensus
    assert sorted(first["label_annotators"]) == sorted([f"ls-user:{alice}", f"ls-user:{bob}"])
    assert (first["label_round"], first["label_campaign"]) == (1, campaign.name)
    assert exported[ids[1]]["regions"] == []
    assert exported[ids[1]]["label_confidence"] == 1.0
    assert exported[ids[2]]["regions"] == []
    assert exported[ids[2]]["label_confidence"] == 0.5
    assert [r["votes"] for r in exported[ids[6]]["regions"]] == [1]

    # after the close, bob looks again at task 2 and marks the word alice marked: a new version
    version = campaign.store.labels.version()
    assert version is not None
    client.annotations.update(id=made[(2, bob)].id, result=span_result(texts[ids[2]], [word(2)]))
    (edited,) = campaign.sync()
    assert (edited.new, edited.deleted) == (2, 1)  # his span, and his no-regions answer withdrawn
    assert campaign.store.labels.version() == version + 1
    history = lake_labels(lake, campaign).filter(pl.col("example_id") == ids[2])
    assert history.height == 4  # alice's span, bob's "nothing", its deletion, bob's span
    (withdrawn,) = history.filter(pl.col("label").is_null())["annotation_key"].to_list()
    assert withdrawn.startswith(f"ls:{project}:{made[(2, bob)].id}:no-regions|rev:deleted:")
    assert campaign.sync() == []
    status = campaign.status()
    assert (status.agreed_regions, status.spent) == (
        6,
        pytest.approx(13 * COST),
    )  # a closed batch's bill stays
    assert [r["text"] for r in training_rows(lake, campaign)[ids[2]]["regions"]] == [
        texts[ids[2]][slice(*word(2)[1:])]
    ]

    # the next round re-sends only unanswered items, and Label Studio never holds two tasks for an item
    second = campaign.round()
    assert second.batch_id == "b002"
    assert not set(campaign.state().batches["b002"].ids) & set(ids[:7])
    every = [t.data[ID_FIELD] for batch in ("b001", "b002") for t in batch_tasks(client, project, batch)]
    assert len(every) == len(set(every)) == 7 + second.batch_items


@pytest.mark.label_studio
def test_a_box_campaign_agrees_on_overlapping_boxes_and_exports_coco_boxes(
    spark: SparkSession, lake: Storage, ls_env: LabelStudioServer, unique: Callable[[str], str]
) -> None:
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    campaign = region_campaign(
        spark, lake, ls_env.url, unique("boxes"), "bounding_box", annotators_per_item=2
    )
    project = int(campaign.state().backend["project_id"])
    alice, bob = annotators(client, unique)
    campaign.round()
    tasks = sorted(batch_tasks(client, project, "b001"), key=lambda t: t.id)
    ids = [t.data[ID_FIELD] for t in tasks]
    stroke: Box = ("stroke", 25.0, 12.5, 50.0, 75.0)  # pixels 16, 8, 32, 48
    answers: dict[int, dict[int, list[Box]]] = {  # tasks 4-9 nobody answers
        0: {alice: [stroke], bob: [("stroke", 28.125, 12.5, 50.0, 75.0)]},  # 2 px to the right: IoU 0.88
        1: {alice: [stroke], bob: [("blank", *stroke[1:])]},  # same place, other label: no consensus
        2: {alice: [stroke], bob: [("stroke", 60.0, 12.5, 40.0, 75.0)]},  # IoU 0.24: no consensus
        3: {alice: [], bob: []},
    }
    made = {}
    for n, by in answers.items():
        for who, drawn in by.items():
            made[(n, who)] = client.annotations.create(
                id=tasks[n].id, result=box_result(drawn), completed_by=who
            )
    campaign.sync()
    campaign.close_batch("b001")
    closed = campaign.state().batches["b001"].closed
    assert closed is not None
    assert (closed["billed_annotations"], closed["labelled_items"], closed["deleted_tasks"]) == (8, 4, 6)
    assert (closed["regions"], closed["agreed_regions"], closed["items_without_regions"]) == (6, 1, 3)

    labels = check_answers_in_lake(lake, campaign, project, no_regions=2)
    boxes = labels.filter(pl.col("label") != NO_REGIONS).sort("annotator_id", "box_left")
    assert boxes.height == 6
    assert (boxes["image_width"] == 64).all()
    assert (boxes["image_height"] == 64).all()
    assert boxes["span_start"].null_count() == 6
    status = campaign.status()
    assert (status.human_annotations, status.spent) == (8, pytest.approx(8 * COST))
    assert [(c.label, c.human_items) for c in status.classes] == [("stroke", 1), ("blank", 0)]

    exported = training_rows(lake, campaign)
    assert set(exported) == set(ids[:4])
    agreed = exported[ids[0]]
    assert agreed["regions"] == [
        {"label": "stroke", "label_index": 0, "bbox": [17.0, 8.0, 32.0, 48.0], "area": 1536.0, "votes": 2}
    ]  # the mean of x = 16 and 18 px
    assert (agreed["image_width"], agreed["image_height"], agreed["label_confidence"]) == (64, 64, 1.0)
    source = DeltaTable(lake.uri("features", "digits"), storage_options=lake.delta_options).to_pyarrow_table()
    (pixels,) = [r for r in source.to_pylist() if r["example_id"] == ids[0]]
    assert all(agreed[f"p{j:02d}"] == pixels[f"p{j:02d}"] for j in range(64))  # its pinned features joined
    for n in (1, 2, 3):
        assert exported[ids[n]]["regions"] == []
    assert exported[ids[1]]["label_confidence"] == 0.0  # neither answer is the (empty) consensus

    # bob moves his box of task 2 onto alice's: a new version, and now they agree
    client.annotations.update(id=made[(2, bob)].id, result=box_result([("stroke", 25.0, 12.5, 50.0, 75.0)]))
    (edited,) = campaign.sync()
    assert (edited.new, edited.updated, edited.deleted) == (1, 1, 0)
    moved = lake_labels(lake, campaign).filter(pl.col("annotation_key").str.contains("|rev:", literal=True))
    assert moved.select("example_id", "annotator_id", "box_left").rows() == [(ids[2], f"ls-user:{bob}", 16.0)]
    assert campaign.status().agreed_regions == 2
    assert training_rows(lake, campaign)[ids[2]]["regions"][0]["bbox"] == [16.0, 8.0, 32.0, 48.0]
