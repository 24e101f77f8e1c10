"""``lakeprep campaign ...`` end to end on the simulated backend, and the demo the README runs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
from pyspark.sql import SparkSession
from rich.console import Console
from typer.testing import CliRunner

from labeling.demo import run_demo_campaign
from lake.storage import Storage
from lake.table import Table
from lakeprep.cli import app


def invoke(*args: str) -> str:
    """Run a command; its output with line wrapping undone (rich wraps at the terminal width)."""
    result = CliRunner().invoke(app, ["campaign", *args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_campaign_commands(spark: SparkSession, lake: Storage, separable_features: Table) -> None:
    assert spark.sparkContext  # the session the commands pick up
    common = ["--lake", lake.root]
    created = invoke(
        "create", "cli", "--source", "features/separable", "--labels", "neg,pos", "--display", "text",
        "--backend", "simulated", "--truth-column", "label", "--noise", "0.01",
        "--where", "split = 'train'", "--batch-size", "120", "--budget-items", "240", "--budget-money", "100",
        "--cost-per-label", "0.25", "--validation-fraction", "0.4", "--strategy", "margin", *common,
    )  # fmt: skip
    assert "f00, f01, f02, f03, f04, f05" in created  # every numeric column but the label
    again = invoke("create", "cli", "--source", "features/separable", "--labels", "neg,pos", "--display", "text",
                   "--backend", "simulated", "--truth-column", "label", "--noise", "0.01", "--where", "split = 'train'",
                   "--batch-size", "120", "--budget-items", "240", "--budget-money", "100", "--cost-per-label", "0.25",
                   "--validation-fraction", "0.4", "--strategy", "margin", *common)  # fmt: skip
    assert "campaign cli" in again  # the same definition again is accepted, nothing duplicated
    conflicting = CliRunner().invoke(
        app, ["campaign", "create", "cli", "--source", "features/separable", "--labels", "a,b", "--display", "text",
              "--backend", "simulated", "--truth-column", "label", "--budget-items", "10", *common],
    )  # fmt: skip
    assert conflicting.exit_code == 2
    assert "different definition" in " ".join(conflicting.output.split())

    first = invoke("round", "cli", *common)
    assert "batch b001: 120 items to humans" in first
    assert "+120 annotations" in invoke("sync", "cli", *common)
    assert "+0 annotations" in invoke("sync", "cli", *common) or "no open batch" in invoke(
        "sync", "cli", *common
    )

    ran = invoke("run", "cli", *common)
    assert "finished" in ran
    status = json.loads(CliRunner().invoke(app, ["campaign", "status", "cli", "--json", *common]).output)
    assert status["human_items"] == 240
    assert status["spent"] == 60.0
    assert status["finished"] in {"budget", "target_reached"}
    table = invoke("status", "cli", *common)
    assert "labelling everything by hand" in table
    # progress and money in full where output is not a terminal (rich would cut them at 80 columns)
    listed = invoke("list", *common)
    assert "cli" in listed
    assert f"{status['human_items'] + status['machine_items']:,}/{status['pool_size']:,}" in listed
    assert f"{status['spent']:,.2f} {status['currency']}" in listed
    assert "…" not in listed

    exported = invoke("export", "cli", "--to", "features/separable_labelled", *common)
    assert "features/separable_labelled" in exported
    training = pl.read_delta(lake.uri("features", "separable_labelled"))
    assert training.height == status["human_items"] + status["machine_items"]
    assert set(training["split"]) == {"train"}
    assert (training["label_campaign"] == "cli").all()


def test_demo_campaign_prints_its_cost_summary(
    spark: SparkSession, lake: Storage, separable_features: Table
) -> None:
    out = io.StringIO()
    summary = run_demo_campaign(
        lake,
        "features/separable",
        batch_size=150,
        budget_items=450,
        annotator_noise=0.0,
        spark=spark,
        console=Console(file=out, width=120),
    )
    printed = out.getvalue()
    status = summary.status
    assert summary.campaign == "separable_demo_v0"
    assert status.finished in {"budget", "target_reached"}
    assert status.human_items <= 450
    assert status.machine_items > 0
    assert summary.machine_accuracy is not None
    assert summary.machine_accuracy >= 0.95
    assert f"{status.spent:,.2f} USD spent" in printed
    assert "every item by hand" in printed
    assert f"saving {status.saving:,.2f} USD" in printed
    assert f"{summary.machine_accuracy:.1%} accurate against the true labels" in printed
    # a second run finds the finished campaign and reports the same numbers
    again = run_demo_campaign(lake, "features/separable", spark=spark)
    assert again.status.human_items == status.human_items
    assert again.status.machine_items == status.machine_items


def test_campaign_commands_print_no_spark_warnings(lake: Storage, separable_features: Table) -> None:
    """A user's shell has no SPARK_CONF_DIR: the Spark a command starts still reads the repository's
    log4j2.properties, so no WARN line (loopback address, native-hadoop) reaches the terminal."""
    env = {k: v for k, v in os.environ.items() if k not in {"SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS"}}
    lakeprep = str(Path(sys.executable).with_name("lakeprep"))
    result = subprocess.run(
        [lakeprep, "campaign", "create", "quiet", "--source", separable_features.ref, "--labels", "neg,pos",
         "--display", "text", "--backend", "simulated", "--truth-column", "label", "--budget-items", "10",
         "--lake", lake.root],
        capture_output=True, text=True, env=env, timeout=840, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "campaign quiet" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if " WARN " in line]
    assert warnings == []
