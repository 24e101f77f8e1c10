"""The campaign loop with the simulated backend: budget, autolabelling, provenance, crash safety."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import polars as pl
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from labeling.backends import BackendUnavailableError
from labeling.backends.simulated import SimulatedBackend
from labeling.campaign import Campaign, CampaignError
from labeling.spec import Budget, ContentSpec, SimulatedBackendSpec
from labeling.store import CampaignStore, Event
from lake.storage import Storage
from lake.table import Table
from tests.support.jobs import killed_before_commit

LINEAGE_FIELDS = {
    "campaign",
    "round",
    "strategy",
    "model_version",
    "annotators",
    "label_source",
    "features_version",
}


def make_campaign(spark: SparkSession, lake: Storage, table: Table, name: str, **settings: Any) -> Campaign:
    options: dict[str, Any] = {
        "batch_size": 100,
        "validation_fraction": 0.3,
        "target_accuracy": 0.95,
        "budget": Budget(max_items=600, cost_per_label=0.1),
        "backend": SimulatedBackendSpec(truth_column="label", annotator_noise=(0.0,)),
        **settings,
    }
    return Campaign.create(
        lake,
        name=name,
        source=table.ref,
        id_column="example_id",
        content=ContentSpec(columns=("text",)),
        labels=["neg", "pos"],
        spark=spark,
        **options,
    )


@contextmanager
def interrupted_when_recording(monkeypatch: pytest.MonkeyPatch, kind: str) -> Iterator[None]:
    """The lake becomes unreachable exactly when the campaign records a ``kind`` event."""
    original = CampaignStore.record

    def failing(self: CampaignStore, events: list[Event], tags: dict[str, Any]) -> Any:
        if any(e.kind == kind for e in events):
            raise ConnectionError(f"lost the lake while recording {kind}")
        return original(self, events, tags)

    monkeypatch.setattr(CampaignStore, "record", failing)
    try:
        with pytest.raises(ConnectionError):
            yield
    finally:
        monkeypatch.setattr(CampaignStore, "record", original)


def labels_frame(lake: Storage, name: str) -> pl.DataFrame:
    """The labels table read by an independent Delta reader (delta-rs through polars)."""
    return pl.read_delta(lake.uri("labels", name))


def truth(table: Table) -> dict[str, str]:
    frame = pl.read_delta(table.uri)
    return {i: ("neg", "pos")[v] for i, v in zip(frame["example_id"], frame["label"], strict=True)}


def test_simulated_campaign_to_the_end(spark: SparkSession, lake: Storage, separable_features: Table) -> None:
    campaign = make_campaign(
        spark,
        lake,
        separable_features,
        "loop",
        batch_size=150,
        budget=Budget(max_items=450, cost_per_label=0.1),
    )
    steps: list[str] = []
    status = campaign.run(on_step=steps.append)

    assert status.finished in {"budget", "target_reached"}
    assert status.human_items == campaign.state().items_sent <= 450
    assert status.machine_items > 0, f"nothing autolabelled: {steps}"
    assert status.human_items + status.machine_items + status.left == status.pool_size == 3000
    assert status.spent == pytest.approx(status.human_annotations * 0.1)
    assert status.all_human_cost == pytest.approx(300.0)
    # only machine labels count as saved: items nobody labelled would still cost a human
    assert status.saving == pytest.approx(status.machine_items * 0.1)
    assert status.complete_cost == pytest.approx(status.projected_total + status.left * 0.1)
    assert status.machine_accuracy_lower_bound is not None
    assert status.machine_accuracy_lower_bound >= 0.95

    labels = labels_frame(lake, "loop")
    assert labels["annotation_key"].n_unique() == labels.height
    human = labels.filter(pl.col("source") == "human")
    machine = labels.filter(pl.col("source") == "machine")
    assert human.height == status.human_annotations
    assert machine.height == status.machine_items == machine["example_id"].n_unique()
    assert set(human["example_id"]).isdisjoint(machine["example_id"])
    known = truth(separable_features)
    machine_accuracy = np.mean(
        [known[i] == label for i, label in zip(machine["example_id"], machine["label"], strict=True)]
    )
    assert machine_accuracy >= 0.95
    assert (machine["confidence"] >= 0.5).all()
    assert set(human["purpose"]) >= {"validation", "query", "cold_start"}
    # pre-annotations went to query items only: validation items were graded unanchored
    plans = [b for b in campaign.state().batches.values() if b.model_version]
    assert plans
    assert all(i.predicted is None for b in plans for i in b.items if i.purpose == "validation")
    assert all(i.predicted in ("neg", "pos") for b in plans for i in b.items if i.purpose == "query")

    table = DeltaTable(lake.uri("labels", "loop"))
    for entry in table.history():
        if entry.get("operation") == "CREATE TABLE" and "lakeprep" not in entry:
            continue
        tags = entry["lakeprep"]
        assert tags["job"].startswith("campaign-")
        assert set(tags) >= LINEAGE_FIELDS, tags.keys()
        assert tags["features_version"] == separable_features.version()
        assert tags["inputs"][0]["table"] == "features/separable"
    assert campaign.evaluate("label")["machine"]["accuracy"] >= 0.95

    out, rows = campaign.export()
    exported = pl.read_delta(out.uri)
    assert rows == exported.height == status.human_items + status.machine_items
    assert {
        "label",
        "label_source",
        "label_confidence",
        "label_annotators",
        "label_round",
        "label_model_version",
        "label_campaign",
        "label_features_version",
        "source_label",
        "f00",
    } <= set(exported.columns)
    assert set(exported["label_source"]) == {"human", "machine"}
    # idempotent afterwards: nothing left to sync, no new round
    assert campaign.sync() == []
    assert campaign.round().finished == status.finished
    assert labels_frame(lake, "loop").height == labels.height


def test_money_budget_stops_the_campaign(spark: SparkSession, lake: Storage, cancer_features: Table) -> None:
    campaign = make_campaign(
        spark,
        lake,
        cancer_features,
        "money",
        budget=Budget(max_money=15.0, cost_per_label=0.1),
        autolabel=False,
        feature_columns=[f"f{j:02d}" for j in range(8)],
    )
    status = campaign.run()
    assert status.finished == "budget"
    assert status.human_items == 150
    assert status.spent == pytest.approx(15.0)
    assert status.machine_items == 0
    assert status.projected_total == pytest.approx(15.0)
    assert status.saving == pytest.approx(0.0)


def test_sync_is_idempotent_when_interrupted_after_the_labels_commit(
    spark: SparkSession, lake: Storage, separable_features: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign(spark, lake, separable_features, "resync")
    first = campaign.round()
    assert first.batch_id == "b001"
    assert first.batch_items == 100

    with interrupted_when_recording(monkeypatch, "closed"):
        campaign.sync()
    assert labels_frame(lake, "resync").height == 100  # the labels were committed
    assert campaign.state().open_batches  # ... but the batch is still open

    again = campaign.sync()
    assert again[0].new == 0
    assert again[0].complete
    assert labels_frame(lake, "resync").height == 100
    assert not campaign.state().open_batches
    assert campaign.store.labels_committed("b001") == 100


def test_sync_killed_before_its_commit_loses_nothing(
    spark: SparkSession, lake: Storage, separable_features: Table
) -> None:
    campaign = make_campaign(spark, lake, separable_features, "killed")
    campaign.round()
    command = [
        sys.executable,
        "-c",
        "from lakeprep.cli import main; main()",
        "campaign",
        "sync",
        "killed",
        "--lake",
        lake.root,
    ]
    env = {**os.environ, **killed_before_commit("labels/killed")}
    crashed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    assert not Table(lake, "labels", "killed").exists()

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "+100 annotations" in rerun.stdout
    assert labels_frame(lake, "killed").height == 100
    assert not campaign.state().open_batches


def test_round_interrupted_after_machine_labels_does_not_write_them_twice(
    spark: SparkSession, lake: Storage, separable_features: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign(  # 140 validation labels: about 70 per class, enough to vouch for both
        spark, lake, separable_features, "autocrash", batch_size=200, validation_fraction=0.7
    )
    campaign.round()
    campaign.sync()

    with interrupted_when_recording(monkeypatch, "autolabelled"):
        campaign.round()
    written = labels_frame(lake, "autocrash").filter(pl.col("source") == "machine")
    assert written.height > 0, "round 2 should autolabel on this easy data"

    redo = campaign.round()
    assert redo.round == 2, "the interrupted round is redone, not skipped"
    assert redo.machine_labelled == written.height
    assert redo.batch_id == "b002"
    machine = labels_frame(lake, "autocrash").filter(pl.col("source") == "machine")
    assert machine.height == written.height == machine["example_id"].n_unique()
    assert campaign.status().machine_items == written.height


def test_batch_planned_during_an_outage_is_pushed_later(
    spark: SparkSession, lake: Storage, separable_features: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign(spark, lake, separable_features, "outage")
    original = SimulatedBackend.push

    def down(self: SimulatedBackend, *args: Any) -> Any:
        raise BackendUnavailableError("annotation service down")

    monkeypatch.setattr(SimulatedBackend, "push", down)
    with pytest.raises(BackendUnavailableError):
        campaign.round()
    planned = campaign.state().batches["b001"]
    assert not planned.pushed
    with pytest.raises(CampaignError, match="still open"):
        campaign.review()
    monkeypatch.setattr(SimulatedBackend, "push", original)

    resumed = campaign.round()
    assert resumed.batch_id == "b001"
    assert "interruption" in resumed.note
    assert campaign.state().batches["b001"].ids == planned.ids
    assert campaign.sync()[0].new == 100


def test_several_annotators_consensus_and_review(
    spark: SparkSession, lake: Storage, separable_features: Table
) -> None:
    campaign = make_campaign(
        spark,
        lake,
        separable_features,
        "crowd",
        annotators_per_item=3,
        batch_size=60,
        budget=Budget(max_items=300, cost_per_label=0.05),
        backend=SimulatedBackendSpec(truth_column="label", annotator_noise=(0.0, 0.02, 0.45)),
        autolabel=False,
    )
    campaign.run(max_rounds=2)
    agreement = campaign.annotator_agreement().set_index("annotator_id")
    assert agreement.loc["sim-2", "agreement"] < 0.75 < agreement.loc["sim-0", "agreement"]
    labels = labels_frame(lake, "crowd")
    assert labels.height == 2 * 60 * 3
    assert campaign.status().spent == pytest.approx(2 * 60 * 3 * 0.05)
    consensus_right = campaign.evaluate("label")["human"]["accuracy"]
    assert consensus_right >= 0.97, "the vote outweighs the noisy annotator"

    review = campaign.review(limit=10, annotators=2)
    assert review.batch_id == "review001"
    assert 0 < review.batch_items <= 10
    synced = campaign.sync()
    assert synced[0].batch_id == "review001"
    assert synced[0].new == review.batch_items * 2
    assert campaign.state().items_sent == 120 + review.batch_items


def test_status_says_which_label_is_short_of_validation_items_while_nothing_is_labelled_by_machine(
    spark: SparkSession, lake: Storage
) -> None:
    """A rare class (6% of the pool) and a budget of 150: the random validation slice holds a handful of
    that class, fewer than the 59 a 95% bound at 95% confidence needs, so no item is labelled by machine.
    ``status`` said only "0 by machine" and left the user to guess why; it now names the short label,
    how many validation items it has and how many it needs."""
    from rich.console import Console
    from sklearn.datasets import make_classification

    from labeling.demo import run_demo_campaign
    from labeling.report import render_status
    from tests.labeling.conftest import features_table

    x, y = make_classification(
        n_samples=1000, n_features=4, class_sep=2.0, weights=[0.94], flip_y=0.0, random_state=5
    )
    table = features_table(lake, "rare", x, y)
    summary = run_demo_campaign(
        lake, table.ref, batch_size=50, budget_items=150, annotator_noise=0.0, spark=spark
    )
    status = summary.status
    assert status.machine_items == 0
    _, late = status.classes
    assert late.validation_needed == 59
    assert late.validation_items < 59  # the premise: the rare class is short
    labels = labels_frame(lake, summary.campaign)
    assert late.validation_items <= labels.filter(pl.col("label_index") == 1).height

    console = Console(record=True, width=240)
    console.print(render_status(status))
    text = console.export_text()
    short = [c for c in status.classes if c.validation_items < 59]
    listed = ", ".join(f"{c.label} {c.validation_items}" for c in short)
    assert f"every label needs 59 before any machine label; short: {listed}" in text
    assert f"{late.validation_items} of the 59 validation items it needs" in text


def test_a_demo_sized_campaign_labels_by_machine_and_reports_each_class(
    spark: SparkSession, lake: Storage
) -> None:
    """Batch 100, budget 200 (the data-skipping demo): a 20% validation slice held 40 labels, fewer than
    the 59 per label a 95% bound at 95% confidence needs, so nothing was ever labelled by machine. The
    planner now sizes the slice to the budget; status gives every figure with its sample and bound."""
    import json

    from rich.console import Console
    from sklearn.datasets import make_classification

    from labeling.demo import run_demo_campaign
    from labeling.report import render_status
    from tests.labeling.conftest import features_table

    x, y = make_classification(n_samples=800, n_features=4, class_sep=2.0, flip_y=0.0, random_state=3)
    table = features_table(lake, "tiny", x, y)
    summary = run_demo_campaign(
        lake, table.ref, batch_size=100, budget_items=200, annotator_noise=0.0, spark=spark
    )
    status = summary.status
    assert status.human_items == 200
    assert status.machine_items > 0
    assert summary.machine_accuracy is not None
    assert summary.machine_accuracy >= 0.95

    labels = labels_frame(lake, summary.campaign)
    machine = labels.filter(pl.col("source") == "machine")
    known = dict(zip(pl.read_delta(table.uri)["example_id"], pl.read_delta(table.uri)["label"], strict=True))
    assert [c.label for c in status.classes] == ["on_time", "late"]
    assert sum(c.human_items for c in status.classes) == status.human_items
    assert sum(c.machine_items for c in status.classes) == status.machine_items
    for index, c in enumerate(status.classes):
        said = machine.filter(pl.col("label_index") == index)
        assert said.height == c.machine_items
        if c.machine_items:
            right = np.mean([known[i] == index for i in said["example_id"]])
            assert right >= 0.95
            assert c.measured_on >= 59  # the fewest validation items that can show 95% at 95%
            assert c.machine_accuracy_lower_bound is not None
            assert c.machine_accuracy_lower_bound >= 0.95
            assert c.wrong_share_upper_bound is not None
            assert c.wrong_share_upper_bound <= 0.05
    assert status.machine_accuracy_measured_on >= 59

    shown = json.loads(json.dumps(status.as_dict()))
    floats = [
        shown["machine_accuracy_lower_bound"],
        *(c["threshold"] for c in shown["classes"] if c["threshold"]),
    ]
    assert all(round(f, 4) == f for f in floats)
    console = Console(record=True, width=200)
    console.print(render_status(status))
    text = console.export_text()
    assert f"on {status.machine_accuracy_measured_on:,} validation items, >= " in text
    assert "(95% confidence)" in text
