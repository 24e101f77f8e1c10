"""What a trial against a real Label Studio found, fixed: edits after a sync, closing a batch by hand,
`create` without a token, and what `status` / `list` tell a user."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from labeling.backends.label_studio import BATCH_FIELD, ID_FIELD
from labeling.spec import Budget, LabelStudioBackendSpec
from labeling.store import CampaignStore
from lake.storage import Storage
from lake.table import Table
from lakeprep.cli import app
from tests.labeling.conftest import CANCER_LABELS, LS_TOKEN, LabelStudioServer, cancer_campaign, cancer_truth
from tests.labeling.test_label_studio import annotate, batch_tasks
from tests.support.servers import free_port


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["campaign", *args])
    crash = f" [{result.exception!r}]" if result.exit_code == 1 else ""  # an uncaught exception: show it
    return result.exit_code, " ".join(result.output.split()) + crash


def choice(label: str) -> list[dict[str, object]]:
    return [{"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": [label]}}]


def annotation_id(task: Any) -> int:
    (first,) = task.annotations
    return int(first["id"] if isinstance(first, dict) else first.id)


@pytest.mark.label_studio
def test_edits_and_deletions_after_a_sync_become_new_label_versions(
    spark: SparkSession, lake: Storage, cancer_features: Table, ls_env: LabelStudioServer
) -> None:
    campaign = cancer_campaign(
        spark,
        lake,
        cancer_features,
        "ls-edits",
        LabelStudioBackendSpec(url=ls_env.url),
        budget=Budget(max_items=20, cost_per_label=0.5),
        autolabel=False,
    )
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    project = int(campaign.state().backend["project_id"])
    truth = cancer_truth()
    campaign.round()
    tasks = sorted(batch_tasks(client, project, "b001"), key=lambda t: t.id)
    annotate(client, tasks, truth)
    assert campaign.sync()[0].new == 20
    assert not campaign.state().open_batches

    edited, removed = (batch_tasks(client, project, "b001")[i] for i in (0, 1))
    edited_id, removed_id = edited.data[ID_FIELD], removed.data[ID_FIELD]
    other = next(label for label in CANCER_LABELS if label != truth[edited_id])
    client.annotations.update(id=annotation_id(edited), result=choice(other))
    client.annotations.delete(id=annotation_id(removed))

    code, out = cli("sync", "ls-edits", "--lake", lake.root)
    assert code == 0, out
    assert "b001: +2 annotations (1 edited, 1 deleted)" in out
    current = campaign.store.human_labels().to_pylist()
    labels = {r["example_id"]: r["label"] for r in current}
    assert labels[edited_id] == other
    assert removed_id not in labels
    assert len(current) == 19
    history = campaign.store.label_history().to_pylist()
    assert len(history) == 22  # the first answers are kept
    assert [r["label"] for r in history if r["example_id"] == edited_id] == [truth[edited_id], other]
    assert [r["label"] for r in history if r["example_id"] == removed_id] == [truth[removed_id], None]
    code, out = cli("sync", "ls-edits", "--lake", lake.root)
    assert (code, out) == (0, "no open batch")  # nothing new: nothing appended twice
    assert campaign.store.label_history().num_rows == 22


@pytest.mark.label_studio
def test_close_batch_withdraws_unanswered_tasks_and_bills_only_answers(
    spark: SparkSession, lake: Storage, cancer_features: Table, ls_env: LabelStudioServer
) -> None:
    campaign = cancer_campaign(
        spark,
        lake,
        cancer_features,
        "ls-close",
        LabelStudioBackendSpec(url=ls_env.url),
        budget=Budget(max_items=40, cost_per_label=0.5),
        autolabel=False,
    )
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    project = int(campaign.state().backend["project_id"])
    campaign.round()
    tasks = sorted(batch_tasks(client, project, "b001"), key=lambda t: t.id)
    annotate(client, tasks[:5], cancer_truth())

    code, out = cli("close-batch", "ls-close", "b001", "--lake", lake.root)
    assert code == 0, out
    left = batch_tasks(client, project, "b001")
    assert sorted(t.id for t in left) == sorted(t.id for t in tasks[:5]), "unanswered tasks are withdrawn"
    status = campaign.status()
    assert (status.human_items, status.spent, status.open_batches) == (5, 2.5, [])

    second = campaign.round()
    assert second.batch_items == 20  # the 15 released items are budget again
    everything: list[Any] = list(client.tasks.list(project=project, page_size=100))
    ids = [t.data[ID_FIELD] for t in everything]
    assert len(ids) == len(set(ids)) == 25, "no item has two tasks"
    assert {t.data[BATCH_FIELD] for t in everything} == {"b001", "b002"}


@pytest.mark.label_studio
def test_create_checks_the_backend_first_and_status_shows_where_to_label(
    lake: Storage,
    cancer_features: Table,
    ls_env: LabelStudioServer,
    monkeypatch: pytest.MonkeyPatch,
    unique: Callable[[str], str],
) -> None:
    name = unique("ls-create")
    create = ["create", name, "--source", cancer_features.ref, "--labels", ",".join(CANCER_LABELS),
              "--display", "text", "--features", "f00,f01,f02", "--budget-items", "20", "--lake", lake.root]  # fmt: skip
    monkeypatch.delenv("LAKEPREP_LABEL_STUDIO_TOKEN", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    code, out = cli(*create, "--ls-url", ls_env.url)
    assert code == 2
    assert "no Label Studio token" in out
    monkeypatch.setenv("LAKEPREP_LABEL_STUDIO_TOKEN", LS_TOKEN)
    code, out = cli(*create, "--ls-url", f"http://127.0.0.1:{free_port()}")
    assert code == 3
    assert "unreachable" in out
    assert CampaignStore.campaign_names(lake) == [], "nothing recorded before the backend answered"

    code, out = cli(*create, "--ls-url", ls_env.url)
    assert code == 0, out
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    projects: list[Any] = list(client.projects.list())
    (project,) = [p for p in projects if p.title == f"lakeprep: {name}"]  # made at create
    url = f"{ls_env.url}/projects/{project.id}/data"
    code, out = cli("status", name, "--lake", lake.root)
    assert url in out
    code, out = cli("list", "--lake", lake.root)
    assert name in out
    assert "created" in out
    assert "label_studio" in out
    assert "0/" in out
    result = CliRunner().invoke(app, ["campaign", "status", name, "--json", "--lake", lake.root])
    status = json.loads(result.output)
    assert status["backend_url"] == url
    floats = [v for v in status.values() if isinstance(v, float)]
    assert floats
    assert all(round(v, 4) == v for v in floats)
