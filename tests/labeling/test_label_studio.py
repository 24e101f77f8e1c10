"""The Label Studio backend against a real server: project from the label set, tasks with predictions,
annotations made through the API, sync, a server stopped and restarted mid-batch, and two annotators per task."""

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

from labeling import quality
from labeling.backends import BackendUnavailableError
from labeling.backends.label_studio import BATCH_FIELD, ID_FIELD, LabelStudioBackend
from labeling.spec import Budget, LabelStudioBackendSpec
from lake.storage import Storage
from lake.table import Table
from lakeprep.cli import app
from tests.labeling.conftest import CANCER_LABELS, LS_TOKEN, LabelStudioServer, cancer_campaign, cancer_truth

LABELS = CANCER_LABELS


def batch_tasks(client: LabelStudio, project: int, batch_id: str) -> list[Any]:
    # one page that holds them all (iterating the SDK's pager would ask for a page past the last)
    tasks: list[Any] = client.tasks.list(project=project, fields="all", page_size=1000).items or []
    assert len(tasks) < 1000
    return [t for t in tasks if t.data[BATCH_FIELD] == batch_id]


def annotate(
    client: LabelStudio,
    tasks: list[Any],
    truth: dict[str, str],
    annotator: int | None = None,
    wrong: frozenset[str] = frozenset(),
) -> None:
    """What an annotator does in the UI: submit one choice per task (the other label for ``wrong`` ids)."""
    for task in tasks:
        example_id = task.data[ID_FIELD]
        label = truth[example_id]
        if example_id in wrong:
            label = next(other for other in LABELS if other != label)
        client.annotations.create(
            id=task.id,
            result=[
                {"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": [label]}}
            ],
            **({"completed_by": annotator} if annotator is not None else {}),
        )


@pytest.mark.label_studio
def test_label_studio_campaign_survives_a_server_restart(
    spark: SparkSession, lake: Storage, cancer_features: Table, ls_env: LabelStudioServer
) -> None:
    campaign = cancer_campaign(
        spark,
        lake,
        cancer_features,
        "ls-cancer",
        LabelStudioBackendSpec(url=ls_env.url, page_size=7),
        budget=Budget(max_items=60, cost_per_label=0.5),
        validation_fraction=0.25,
        autolabel=False,
        prelabel_above=0.5,  # binary: every query item's suggestion is shown
    )
    project_id = int(campaign.state().backend["project_id"])
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    project = client.projects.get(id=project_id)
    assert project.title == "lakeprep: ls-cancer"
    assert all(f'<Choice value="{label}"/>' in (project.label_config or "") for label in LABELS)
    truth = cancer_truth()
    invalid_pages_before = ls_env.log.read_text(errors="replace").count("Invalid page")

    # the same title is found again, never created twice
    again = LabelStudioBackend(campaign.state().spec, {})
    assert again.prepare()["project_id"] == project_id

    first = campaign.round()
    assert first.batch_id == "b001"
    tasks = batch_tasks(client, project_id, "b001")
    assert len(tasks) == 20
    assert not any(t.predictions for t in tasks)
    batch = campaign.state().batches["b001"]
    assert campaign.backend().push(batch, [])["imported"] == 0  # a repeated push imports nothing
    assert len(batch_tasks(client, project_id, "b001")) == 20
    annotate(client, tasks, truth)
    assert campaign.sync()[0].new == 20
    assert not campaign.state().open_batches
    # 20 tasks read 7 at a time: pages 1-3 only, never a fourth that the server logs as a traceback
    assert ls_env.log.read_text(errors="replace").count("Invalid page") == invalid_pages_before

    second = campaign.round()
    assert second.batch_id == "b002"
    assert second.model_version
    tasks = sorted(batch_tasks(client, project_id, "b002"), key=lambda t: t.id)
    plan = campaign.state().batches["b002"]
    for task in tasks:
        item = plan.item(task.data[ID_FIELD])
        assert item is not None
        if item.purpose == "validation":
            assert not task.predictions
        else:
            (prediction,) = task.predictions
            assert prediction.model_version == second.model_version
            assert 0.5 <= prediction.score <= 1.0
            assert prediction.result[0]["value"]["choices"] == [item.predicted]

    annotate(client, tasks[:10], truth)
    partial = campaign.sync()[0]
    assert (partial.new, partial.stored, partial.complete) == (10, 10, False)

    ls_env.stop()
    with pytest.raises(BackendUnavailableError):
        campaign.sync()
    down = CliRunner().invoke(app, ["campaign", "sync", "ls-cancer", "--lake", lake.root])
    assert down.exit_code == 3, down.output
    assert LS_TOKEN not in down.output
    assert pl.read_delta(lake.uri("labels", "ls-cancer")).height == 30

    ls_env.start()
    resumed = campaign.sync()[0]
    assert (resumed.new, resumed.stored, resumed.complete) == (0, 10, False)
    annotate(client, tasks[10:], truth)
    done = campaign.sync()[0]
    assert (done.new, done.stored, done.complete) == (10, 20, True)

    labels = pl.read_delta(lake.uri("labels", "ls-cancer"))
    assert labels.height == 40 == labels["annotation_key"].n_unique()
    assert labels["annotation_key"].str.starts_with(f"ls:{project_id}:").all()
    assert (labels["annotator_id"] == "ls-user:1").all()
    assert all(truth[i] == label for i, label in zip(labels["example_id"], labels["label"], strict=True))
    status = campaign.status()
    assert (status.human_items, status.spent, status.open_batches) == (40, 20.0, [])
    # the token reached Label Studio only: not the state, the labels or their commit metadata
    for table in ("labels/ls-cancer", "labels/campaigns"):
        delta = DeltaTable(lake.uri(*table.split("/")))
        assert LS_TOKEN not in json.dumps(delta.history(), default=str)
        assert LS_TOKEN not in json.dumps(delta.to_pyarrow_table().to_pylist(), default=str)


@pytest.mark.label_studio
def test_label_studio_two_annotators_per_task(
    spark: SparkSession,
    lake: Storage,
    cancer_features: Table,
    ls_env: LabelStudioServer,
    unique: Callable[[str], str],
) -> None:
    """Every task asks two people; a batch is done only when both answered, and both answers are kept."""
    campaign = cancer_campaign(
        spark,
        lake,
        cancer_features,
        "ls-pairs",
        LabelStudioBackendSpec(url=ls_env.url),
        budget=Budget(max_items=20, cost_per_label=0.5),
        annotators_per_item=2,
        autolabel=False,
    )
    project_id = int(campaign.state().backend["project_id"])
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    assert client.projects.get(id=project_id).maximum_annotations == 2
    people = []
    for _ in range(2):
        name = unique("annotator")
        people.append(client.users.create(username=name, email=f"{name}@example.org", password=unique("pw")))
    truth = cancer_truth()

    campaign.round()
    tasks = batch_tasks(client, project_id, "b001")
    assert len(tasks) == 20
    annotate(client, tasks, truth, annotator=people[0].id)
    first = campaign.sync()[0]
    assert (first.new, first.complete) == (20, False), "one answer per task is not enough"
    disputed = frozenset(t.data[ID_FIELD] for t in tasks[:5])
    annotate(client, tasks, truth, annotator=people[1].id, wrong=disputed)
    second = campaign.sync()[0]
    assert (second.new, second.stored, second.complete) == (20, 40, True)

    human = campaign.store.human_labels()
    assert human.num_rows == 40
    assert set(human.column("annotator_id").to_pylist()) == {f"ls-user:{p.id}" for p in people}
    votes = quality.consensus(human)
    assert len(votes) == 20
    assert (votes["n_annotations"] == 2).all()
    assert votes["annotators"].map(len).eq(2).all()
    assert set(votes.loc[votes["agreement"] < 1, "example_id"]) == disputed
    status = campaign.status()
    assert (status.human_items, status.spent) == (20, 20.0)
