"""Span (named entity) and box campaigns: the task type said once on the spec, Label Studio's region
interfaces, and regions drawn through the real Label Studio API landing in ``labels/<campaign>`` as one
row per span or box, with its geometry and where it came from, read back with polars and deltalake."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from label_studio_sdk import LabelStudio
from pydantic import ValidationError
from pyspark.sql import SparkSession

from labeling.backends.base import Annotation, BackendError
from labeling.backends.label_studio import ID_FIELD, label_config
from labeling.campaign import Campaign
from labeling.regions import iou, region_consensus
from labeling.spec import (
    Budget,
    CampaignSpec,
    ContentSpec,
    GroundTruthBackendSpec,
    LabelStudioBackendSpec,
)
from labeling.state import Batch, PlannedItem
from labeling.store import LABELS_SCHEMA, STRUCTURE_FIELDS, CampaignStore
from labeling.sync import label_rows
from lake.storage import Storage
from tests.labeling.conftest import LS_TOKEN, LabelStudioServer
from tests.labeling.content_fixtures import image_table, text_table
from tests.labeling.test_label_studio import batch_tasks
from tests.labeling.test_label_studio_content import campaign_for

ENTITIES = ("word", "name")
MARKS = ("stroke", "blank")
BATCH, COST = 10, 0.1  # campaign_for's batch size and price of a label


def spec_for(content: ContentSpec, backend: Any, **kw: Any) -> CampaignSpec:
    return CampaignSpec(
        name="regions",
        source="features/things",
        source_version=1,
        id_column="example_id",
        content=content,
        labels=ENTITIES,
        feature_columns=("f",),
        pool_size=4,
        backend=backend,
        budget=Budget(max_items=4),
        **kw,
    )


GT = {"s3_prefix": "s3://bucket/gt", "role_arn": "arn:aws:iam::1:role/r", "workteam_arn": "arn:w"}


def test_span_and_box_campaigns_are_never_labelled_by_machine() -> None:
    """A machine label is a class, not regions: the round would have written class labels with no span
    or box as the items' answers (autolabel used to stay on for these task types)."""
    text = ContentSpec(kind="text", columns=("text",))
    image = ContentSpec(kind="image", columns=("image",))
    for content, task_type in ((text, "named_entity"), (image, "bounding_box")):
        for backend in (LabelStudioBackendSpec(url="http://ls:8080"), GroundTruthBackendSpec(**GT)):
            assert not spec_for(content, backend, task_type=task_type, autolabel=True).autolabel
    only_on_backend = spec_for(image, {"kind": "ground_truth", **GT, "task_type": "bounding_box"})
    assert only_on_backend.structured
    assert not only_on_backend.autolabel
    assert spec_for(text, LabelStudioBackendSpec(url="http://ls:8080")).autolabel  # classification keeps it


def test_the_task_type_is_said_once_for_both_backends() -> None:
    text = ContentSpec(kind="text", columns=("text",))
    ls = spec_for(text, LabelStudioBackendSpec(url="http://ls:8080"), task_type="named_entity")
    assert ls.task_type == "named_entity"
    assert ls.structured
    gt = spec_for(text, GroundTruthBackendSpec(**GT), task_type="named_entity")
    assert isinstance(gt.backend, GroundTruthBackendSpec)
    assert gt.backend.task_type == "named_entity"  # the job Ground Truth builds follows the campaign
    older = spec_for(text, GroundTruthBackendSpec(**GT, task_type="named_entity"))  # said on the backend only
    assert older.task_type == "named_entity"
    stored = CampaignSpec.model_validate(json.loads(gt.model_dump_json()))
    assert stored == gt
    with pytest.raises(ValidationError, match="task type 'bounding_box' of the campaign, 'named_entity'"):
        spec_for(text, GroundTruthBackendSpec(**GT, task_type="named_entity"), task_type="bounding_box")
    assert not spec_for(text, LabelStudioBackendSpec(url="http://ls:8080")).structured


def test_label_studio_asks_for_regions_on_the_content_they_are_drawn_on() -> None:
    ls = LabelStudioBackendSpec(url="http://ls:8080")
    text = spec_for(
        ContentSpec(kind="text", columns=("text",)),
        ls,
        task_type="named_entity",
        label_descriptions={"name": "A person's or a place's name"},
    )
    view = ET.fromstring(label_config(text))
    (labels,) = view.iter("Labels")
    assert labels.get("toName") == "item"
    assert [t.get("value") for t in view.iter("Text")] == ["$text"]
    assert [(x.get("value"), x.get("hint")) for x in labels] == [
        ("word", None),
        ("name", "A person's or a place's name"),
    ]
    boxes = spec_for(ContentSpec(kind="image", columns=("image",)), ls, task_type="bounding_box")
    view = ET.fromstring(label_config(boxes))
    (rectangles,) = view.iter("RectangleLabels")
    assert [x.get("value") for x in rectangles] == list(ENTITIES)
    assert [t.get("value") for t in view.iter("Image")] == ["$image"]
    assert not list(view.iter("Choices"))
    with pytest.raises(BackendError, match="bounding_box task needs image content, not text"):
        label_config(spec_for(ContentSpec(kind="text", columns=("text",)), ls, task_type="bounding_box"))
    with pytest.raises(BackendError, match="named_entity task needs text content, not record"):
        label_config(spec_for(ContentSpec(kind="record", columns=("a", "b")), ls, task_type="named_entity"))


def test_a_labels_table_from_before_the_region_columns_gets_them(lake: Storage) -> None:
    """An existing campaign's labels table lacks the new columns: the first span appended adds them
    (old rows empty) instead of failing on a schema mismatch."""
    store = CampaignStore(lake, "old-campaign")
    old = pa.schema([f for f in LABELS_SCHEMA if f not in STRUCTURE_FIELDS])
    first = {f.name: None for f in old} | {
        "campaign": "old-campaign",
        "example_id": "a",
        "label": "word",
        "source": "human",
    }
    store.labels.append_arrow(pa.Table.from_pylist([first], schema=old), tags={"job": "test"})
    spec = spec_for(
        ContentSpec(kind="text", columns=("text",)),
        LabelStudioBackendSpec(url="http://ls:8080"),
        task_type="named_entity",
    )
    batch = Batch("b001", 1, "round", "random", None, 1, (PlannedItem("b", "cold_start"),))
    span = {"span": {"start": 4, "end": 9, "text": "quick"}, "task": 7}
    rows = label_rows(
        spec, batch, [Annotation("b", "word", "ls-user:1", "ls:1:2:r", detail=json.dumps(span))]
    )
    store.append_human(rows, "b001", 1, {"job": "test"})
    read = pl.read_delta(store.labels.uri, storage_options=lake.delta_options).sort("example_id")
    assert read["span_text"].to_list() == [None, "quick"]
    assert read["span_start"].to_list() == [None, 4]
    assert store.label_history().num_rows == 2


def lake_labels(lake: Storage, campaign: Campaign) -> pl.DataFrame:
    """The campaign's labels as an independent reader sees them."""
    return pl.read_delta(campaign.store.labels.uri, storage_options=lake.delta_options)


def word_at(text: str, n: int) -> tuple[int, int]:
    """Offsets of the n-th word of at least four letters (what an annotator would mark)."""
    words, start = [], None
    for i, ch in enumerate(text + " "):
        if ch.isalpha() and start is None:
            start = i
        elif not ch.isalpha() and start is not None:
            if i - start >= 4:
                words.append((start, i))
            start = None
    return words[n % len(words)]


@pytest.mark.label_studio
def test_spans_drawn_in_label_studio_land_in_the_lake_once_with_their_text(
    spark: SparkSession, lake: Storage, ls_env: LabelStudioServer, unique: Callable[[str], str]
) -> None:
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    campaign = campaign_for(
        spark,
        lake,
        text_table(lake, ("computers", "love"), per_class=20),
        unique("spans"),
        ls_env.url,
        ContentSpec(kind="text", columns=("text",)),
        labels=ENTITIES,
        feature_columns=["n_chars", "n_words"],
        task_type="named_entity",
        instructions="Mark the longer words and any names.",
        cold_start="random",
    )
    project = int(campaign.state().backend["project_id"])
    config = str(client.projects.get(id=project).label_config)
    assert "<Labels" in config
    assert "<Choices" not in config
    campaign.round()
    tasks = sorted(batch_tasks(client, project, "b001"), key=lambda t: t.id)
    assert len(tasks) == BATCH
    assert all(not t.predictions for t in tasks)
    drawn: dict[str, list[tuple[str, int, int]]] = {}
    answers = {}
    for n, task in enumerate(tasks):
        text = task.data["text"]
        regions = [("word", *word_at(text, 0))] + ([("name", *word_at(text, 1))] if n == 0 else [])
        drawn[task.data[ID_FIELD]] = regions
        result = [
            {
                "id": f"r{n}{k}",
                "from_name": "label",
                "to_name": "item",
                "type": "labels",
                "value": {"start": s, "end": e, "text": text[s:e], "labels": [label]},
            }
            for k, (label, s, e) in enumerate(regions)
        ]
        answers[task.data[ID_FIELD]] = client.annotations.create(id=task.id, result=result)

    (synced,) = campaign.sync()
    assert synced.new == BATCH + 1  # one row per span
    assert synced.complete
    labels = lake_labels(lake, campaign)
    texts = {t.data[ID_FIELD]: t.data["text"] for t in tasks}
    assert labels.height == BATCH + 1
    for row in labels.iter_rows(named=True):
        text = texts[row["example_id"]]
        assert (row["label"], row["span_start"], row["span_end"]) in drawn[row["example_id"]]
        assert row["span_text"] == text[row["span_start"] : row["span_end"]]
        assert row["box_left"] is None
        assert (row["source"], row["round"], row["batch_id"], row["backend"]) == (
            "human",
            1,
            "b001",
            "label_studio",
        )
        detail = json.loads(row["detail"])
        assert detail["annotation"] == answers[row["example_id"]].id  # where the span came from
        assert row["annotation_key"] == f"ls:{project}:{detail['annotation']}:{detail['region']}"
    version = campaign.store.labels.version()
    assert campaign.sync() == []
    assert campaign.store.labels.version() == version

    # the annotator moves one span and removes the second of the first task: a new version, a deletion
    first = tasks[0].data[ID_FIELD]
    (label, s, e) = drawn[first][0]
    moved = {
        "id": "r00",
        "from_name": "label",
        "to_name": "item",
        "type": "labels",
        "value": {"start": s, "end": e - 1, "text": texts[first][s : e - 1], "labels": [label]},
    }
    client.annotations.update(id=answers[first].id, result=[moved])
    (changed,) = campaign.sync()
    assert (changed.updated, changed.deleted) == (1, 1)
    current = pl.from_arrow(campaign.store.human_labels())
    assert isinstance(current, pl.DataFrame)
    mine = current.filter(pl.col("example_id") == first)
    assert mine.select("span_start", "span_end", "span_text").rows() == [(s, e - 1, texts[first][s : e - 1])]
    assert (
        lake_labels(lake, campaign).height == BATCH + 3
    )  # history kept: first versions, an edit, a deletion

    status = campaign.status()
    assert status.spent == pytest.approx(BATCH * COST)  # billed per item answered, not per span


@pytest.mark.label_studio
def test_boxes_drawn_in_label_studio_land_in_the_lake_in_pixels(
    spark: SparkSession, lake: Storage, ls_env: LabelStudioServer, unique: Callable[[str], str]
) -> None:
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    campaign = campaign_for(
        spark,
        lake,
        image_table(lake, limit=12),
        unique("boxes"),
        ls_env.url,
        ContentSpec(kind="image", columns=("image",)),
        labels=MARKS,
        feature_columns=[f"p{j:02d}" for j in range(64)],
        task_type="bounding_box",
        cold_start="random",
    )
    project = int(campaign.state().backend["project_id"])
    assert "<RectangleLabels" in str(client.projects.get(id=project).label_config)
    campaign.round()
    tasks = sorted(batch_tasks(client, project, "b001"), key=lambda t: t.id)
    assert len(tasks) == BATCH
    assert tasks[0].data["image"].startswith("data:image/png;base64,")
    for n, task in enumerate(tasks):
        client.annotations.create(
            id=task.id,
            result=[
                {
                    "id": f"b{n}",
                    "from_name": "label",
                    "to_name": "item",
                    "type": "rectanglelabels",
                    "original_width": 64,
                    "original_height": 64,
                    "image_rotation": 0,
                    "value": {
                        "x": 25.0 + n,
                        "y": 12.5,
                        "width": 50.0,
                        "height": 75.0,
                        "rotation": 0,
                        "rectanglelabels": [MARKS[n % 2]],
                    },
                }
            ],
        )
    (synced,) = campaign.sync()
    assert synced.new == BATCH
    assert synced.complete
    assert campaign.sync() == []
    table = DeltaTable(campaign.store.labels.uri, storage_options=lake.delta_options).to_pyarrow_table()
    rows = sorted(table.to_pylist(), key=lambda r: r["box_left"])
    assert [r["label"] for r in rows] == [MARKS[n % 2] for n in range(BATCH)]
    for n, row in enumerate(rows):
        assert row["box_left"] == pytest.approx((25.0 + n) * 64 / 100)
        assert (row["box_top"], row["box_width"], row["box_height"]) == (8.0, 32.0, 48.0)
        assert (row["image_width"], row["image_height"]) == (64, 64)
        assert row["span_start"] is None
        assert json.loads(row["detail"])["box_percent"]["x"] == 25.0 + n
    assert campaign.status().spent == pytest.approx(BATCH * COST)


def test_regions_most_annotators_drew_are_the_consensus() -> None:
    """Three annotators: a span two of them marked exactly is kept, one marked by a single person is
    not; boxes overlapping at IoU >= 0.5 with the same label agree (their mean is kept), a box of another
    label or one overlapping too little does not."""

    def row(item: str, who: str, label: str, **region: float) -> dict[str, Any]:
        return {"example_id": item, "annotator_id": who, "label": label} | region

    spans = [
        row("t", "a", "name", span_start=0, span_end=5),
        row("t", "b", "name", span_start=0, span_end=5),
        row("t", "c", "name", span_start=0, span_end=4),  # one character short: no match
        row("t", "c", "word", span_start=10, span_end=14),  # only c
    ]
    boxes = [
        row("i", "a", "stroke", box_left=10, box_top=10, box_width=20, box_height=20),
        row("i", "b", "stroke", box_left=12, box_top=10, box_width=20, box_height=20),  # IoU 0.82
        row("i", "c", "blank", box_left=10, box_top=10, box_width=20, box_height=20),  # other label
        row("i", "c", "stroke", box_left=40, box_top=40, box_width=10, box_height=10),  # elsewhere
    ]
    columns = ["span_start", "span_end", "box_left", "box_top", "box_width", "box_height"]
    human = pa.Table.from_pylist([{c: None for c in columns} | r for r in spans + boxes])
    agreed = region_consensus(human)
    assert [(a.example_id, a.label, a.geometry, a.votes, a.annotators) for a in agreed] == [
        ("i", "stroke", (11.0, 10.0, 20.0, 20.0), 2, 3),
        ("t", "name", (0.0, 5.0), 2, 3),
    ]
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)  # below 0.5: no agreement
    assert region_consensus(human, min_iou=0.9) == [agreed[1]]
