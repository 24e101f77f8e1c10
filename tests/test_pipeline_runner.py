"""``lakeprep pipeline run`` over a real sample lake: every stage a real spark-submit, a broken
contract stops the run at clean with a one-line reason, and after the fix the next run resumes at
clean without ingesting again. Tables are read back with polars and deltalake."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner, Result

from lake.columns import STAGE
from lake.paths import contracts_dir
from lake.pipeline import load_pipeline, parse_pipeline
from lake.pipeline.runner import PipelineRun, Selection, StageRun, failure_reason, last_run, plan, state_uri
from lake.sample import land_sample
from lake.storage import Storage
from lake.table import Table
from lakeprep.cli import app

runner = CliRunner()
HAS_ROWS = "{name: has_rows, check: row_count, min: 1, severity: fail}"
# The first three days of January: featurize's windows over previous days need more than one day.
LIMIT = 2500
IMPOSSIBLE = "{name: has_rows, check: row_count, min: 100000000, severity: fail}"


def lakeprep(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def runs_of(storage: Storage, job: str) -> list[str]:
    """The job's runs, one OpenLineage events file each, written by the job itself."""
    folder = Path(storage.root) / "_lineage" / job
    return sorted(p.stem for p in folder.glob("*.jsonl")) if folder.is_dir() else []


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(contracts_dir(), folder)
    return folder


# ------------------------------------------------------------------------------ no Spark
def test_pipeline_file_errors_name_the_file_and_field(tmp_path: Path, contracts: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: nightly\nstages:\n  - job: ingest\n  - job: clean\n    options: {ful-refresh: true}\n"
    )
    result = lakeprep("pipeline", "show", "--pipeline", str(bad))
    assert result.exit_code == 2
    assert f"{bad}: stages[1].options: 'ful-refresh': job 'clean' has no such option" in result.output
    assert "Traceback" not in result.output

    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("name: nightly\nstages:\n  - {job: ingest, datasets: [flights, fligths]}\n")
    result = lakeprep("pipeline", "run", "--pipeline", str(unknown), "--contracts", str(contracts))
    assert result.exit_code == 2
    assert f"{unknown}: stages[0].datasets: no contract for ['fligths']" in result.output

    missing = lakeprep("pipeline", "run", "--lake", str(tmp_path / "lake"))
    assert missing.exit_code == 2
    assert "no lake there (`lakeprep sample --lake" in missing.output
    (tmp_path / "lake").mkdir()
    result = lakeprep("pipeline", "run", "--from", "train", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 2
    assert "no stage 'train'; stages are ['ingest', 'clean', 'featurize']" in result.output
    result = lakeprep("pipeline", "run", "--dataset", "flights,boats", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 2
    assert "--dataset: no contract for ['boats']" in result.output
    assert list((tmp_path / "lake").iterdir()) == []  # nothing ran, no run state written


def test_stage_arguments_follow_the_file() -> None:
    pipeline = parse_pipeline(
        "name: p\nstages:\n"
        "  - {job: ingest, datasets: [flights, weather]}\n"
        "  - {job: clean, options: {full-refresh: true}}\n"
        "  - {job: featurize, options: {spec: [flight_delay], full-refresh: false}}\n",
        "p.yaml",
    )
    ingest, clean, featurize = pipeline.stages
    assert ingest.arguments() == {"--dataset": "flights,weather"}
    assert ingest.arguments(["planes"]) == {"--dataset": "planes"}  # a run's --dataset wins
    assert clean.arguments() == {"--full-refresh": "true"}
    assert featurize.arguments(["planes"]) == {
        "--spec": "flight_delay"
    }  # takes no --dataset; false flags left out
    assert [s.job for s in pipeline.stages_from("clean")] == ["clean", "featurize"]


def test_resume_only_with_the_same_selection(tmp_path: Path) -> None:
    storage = Storage.resolve(str(tmp_path / "lake"))
    pipeline = load_pipeline()
    selection: Selection = {"datasets": None, "contracts": None}
    stopped = PipelineRun(
        "default",
        "pipeline-default-1",
        "2026-01-01T00:00:00+00:00",
        selection,
        [StageRun("ingest", "succeeded"), StageRun("clean", "running"), StageRun("featurize")],
    )
    storage.write_bytes(state_uri(storage, "default"), stopped.to_json().encode())
    assert last_run(storage, "default") == stopped
    stages, resumed = plan(pipeline, storage, selection, None)  # interrupted while clean ran
    assert ([s.job for s in stages], resumed) == (["clean", "featurize"], stopped)
    other: Selection = {"datasets": ["flights"], "contracts": None}
    stages, resumed = plan(pipeline, storage, other, None)
    assert ([s.job for s in stages], resumed) == (["ingest", "clean", "featurize"], None)
    stages, resumed = plan(pipeline, storage, selection, "featurize")
    assert ([s.job for s in stages], resumed) == (["featurize"], None)


def test_failure_reason_without_lineage_events(tmp_path: Path) -> None:
    storage = Storage.resolve(str(tmp_path / "lake"))
    exited = "26/01/01 10:00:00 WARN Utils: noise\nno contract for dataset(s) ['boats']; known: ['flights']\n"
    assert (
        failure_reason(storage, "clean", "r1", exited, 1)
        == "no contract for dataset(s) ['boats']; known: ['flights']"
    )
    raised = 'Traceback (most recent call last):\n  File "x", line 1\nlake.table.TableError: cleaned/x: broken\n  details\n'
    assert failure_reason(storage, "clean", "r2", raised, 1) == "lake.table.TableError: cleaned/x: broken"
    reported = (
        "error: --lake /x: no lake there\n(traceback in /tmp/lakeprep/clean.log; --debug shows it here)\n"
    )
    assert failure_reason(storage, "clean", "r3", reported, 2) == "--lake /x: no lake there"
    assert failure_reason(storage, "clean", "r4", "", -9) == "exit code -9"


# ------------------------------------------------------------------------------ real runs
@pytest.mark.slow
@pytest.mark.timeout(2400)  # four spark-submits; on a loaded 2-core machine one can take minutes
def test_failed_stage_stops_the_run_and_the_next_run_resumes_there(tmp_path: Path, contracts: Path) -> None:
    storage = Storage.resolve(str(tmp_path / "lake"))
    land_sample(storage, months=[1], limit=LIMIT)
    flights_contract = contracts / "flights.yaml"
    original = flights_contract.read_text()
    assert HAS_ROWS in original
    flights_contract.write_text(original.replace(HAS_ROWS, IMPOSSIBLE))
    args = ("pipeline", "run", "--lake", storage.root, "--contracts", str(contracts))

    failed = lakeprep(*args)
    assert failed.exit_code == 1, failed.output
    assert "✓ ingest succeeded" in failed.output
    reason = [line for line in failed.output.splitlines() if line.startswith("✗ clean failed:")]
    assert len(reason) == 1, failed.output  # one line, no traceback
    assert (
        "ContractViolationError: cleaned/flights: dataset rule(s) failed, nothing was committed" in reason[0]
    )
    assert (
        f"{LIMIT} rows out, expected [100000000, inf]" in reason[0]
    )  # the broken rule's bounds, the landed rows
    assert "Traceback" not in failed.output
    assert "stopped at clean" in failed.output
    state = last_run(storage, "default")
    assert state is not None
    assert [(s.job, s.state) for s in state.stages] == [
        ("ingest", "succeeded"),
        ("clean", "failed"),
        ("featurize", "pending"),
    ]
    assert state.stages[1].log is not None
    assert "dataset rule(s) failed" in storage.read_text(state.stages[1].log)  # the stage's own output
    assert not Table(storage, "cleaned", "flights").exists()
    assert not Table(storage, "features", "flight_delay").exists()
    assert len(runs_of(storage, "ingest")) == 1

    flights_contract.write_text(original)  # the fix
    resumed = lakeprep(*args)
    assert resumed.exit_code == 0, resumed.output
    assert f"resuming run {state.run_id}: ingest succeeded there" in resumed.output
    assert "✓ clean succeeded" in resumed.output
    assert "✓ featurize succeeded" in resumed.output
    assert len(runs_of(storage, "ingest")) == 1  # not ingested again
    assert len(runs_of(storage, "clean")) == 2
    assert len(runs_of(storage, "featurize")) == 1
    after = last_run(storage, "default")
    assert after is not None
    assert after.resumed_from == state.run_id
    assert [(s.job, s.state) for s in after.stages] == [
        ("ingest", "skipped"),
        ("clean", "succeeded"),
        ("featurize", "succeeded"),
    ]
    # The stages ran with the run ids the state recorded, and wrote what they should.
    clean_tags = DeltaTable(storage.uri("cleaned", "flights")).history(1)[0]["lakeprep"]
    assert clean_tags["run_id"] == after.stages[1].run_id
    cleaned = pl.read_delta(storage.uri("cleaned", "flights"))
    quarantined = pl.read_delta(storage.uri("quarantine", "flights")).filter(pl.col(STAGE) == "clean")
    assert cleaned.height + quarantined.height == pl.read_delta(storage.uri("raw", "flights")).height == LIMIT
    feature_tags = DeltaTable(storage.uri("features", "flight_delay")).history(1)[0]["lakeprep"]
    assert feature_tags["run_id"] == after.stages[2].run_id
    assert feature_tags["rows"]["in"] == cleaned.height
    assert pl.read_delta(storage.uri("features", "flight_delay")).height == feature_tags["rows"]["out"] > 0
    assert json.loads(storage.read_text(state_uri(storage, "default")))["stages"][2]["state"] == "succeeded"
