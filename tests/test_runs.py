"""Runs, metrics and lineage tell the truth: one metrics set per table version whatever crashes or
races, FAIL for a run whose JVM died or whose arguments were wrong, no lake made up from a typo."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lake.errors import LakeNotFoundError, UsageError
from lake.openlineage import read_events
from lake.sample import land_sample
from lake.storage import Storage
from lake.table import Table
from tests.support.jobs import run_inprocess, spark_submit

INJECT = Path(__file__).resolve().parent / "support" / "inject"
CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture
def airlines(spark: SparkSession, lake: Storage) -> Storage:
    """A lake with the (tiny) airlines table ingested, not yet cleaned."""
    land_sample(lake, datasets=["airlines"])
    run_inprocess("ingest", ["--lake", lake.root, "--dataset", "airlines"])
    return lake


def metric_sets(lake: Storage, table: str) -> dict[int, set[str]]:
    """table version -> the runs whose metrics the metrics table holds for it (read with delta-rs)."""
    data = DeltaTable(lake.uri("metrics", "quality")).to_pyarrow_table()
    data = data.filter(pc.equal(data["table"], table))
    found: dict[int, set[str]] = {}
    for row in data.select(["table_version", "run_id"]).to_pylist():
        found.setdefault(row["table_version"], set()).add(row["run_id"])
    return found


def rows_out(lake: Storage, table: str, version: int) -> list[float]:
    data = DeltaTable(lake.uri("metrics", "quality")).to_pyarrow_table()
    mask = pc.and_(
        pc.and_(pc.equal(data["table"], table), pc.equal(data["table_version"], version)),
        pc.equal(data["metric"], "rows_out"),
    )
    return [float(v) for v in data.filter(mask)["value"].to_pylist()]


def test_a_crash_between_commit_and_metrics_is_repaired_by_the_rerun(
    airlines: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Table.append_arrow

    def crash(self: Table, data: pa.Table, **kwargs: Any) -> Any:
        if self.ref == "metrics/quality" and data["table"][0].as_py() == "cleaned/airlines":
            raise RuntimeError("driver killed after the target commit")
        return original(self, data, **kwargs)

    monkeypatch.setattr(Table, "append_arrow", crash)
    with pytest.raises(RuntimeError, match="driver killed"):
        run_inprocess("clean", ["--lake", airlines.root, "--dataset", "airlines", "--run-id", "clean-crash"])
    cleaned = Table(airlines, "cleaned", "airlines")
    assert cleaned.version() == 0
    assert 0 not in metric_sets(airlines, cleaned.ref)

    monkeypatch.setattr(Table, "append_arrow", original)
    [result] = run_inprocess("clean", ["--lake", airlines.root, "--dataset", "airlines"])
    assert result.skipped == "up to date"
    # The missing set is written, as the committing run measured it, and only once.
    assert metric_sets(airlines, cleaned.ref) == {0: {"clean-crash"}}
    assert rows_out(airlines, cleaned.ref, 0) == [float(cleaned.row_count())]
    run_inprocess("clean", ["--lake", airlines.root, "--dataset", "airlines"])
    assert rows_out(airlines, cleaned.ref, 0) == [float(cleaned.row_count())]


def _commits_after_both_staged(monkeypatch: pytest.MonkeyPatch, refs: set[str]) -> None:
    """Two runs in threads: neither commits before both have staged, then commits go one at a time
    (what two concurrent processes see when both read the table before either committed)."""
    original = Table.commit
    barrier = threading.Barrier(2, timeout=600)
    lock = threading.Lock()
    arrived: set[int] = set()

    def commit(self: Table, staged: Any, **kwargs: Any) -> Any:
        if self.ref in refs and threading.get_ident() not in arrived:
            arrived.add(threading.get_ident())
            barrier.wait()
        with lock:
            return original(self, staged, **kwargs)

    monkeypatch.setattr(Table, "commit", commit)


def test_two_concurrent_runs_record_one_metrics_set_for_the_version(
    airlines: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    _commits_after_both_staged(monkeypatch, {"cleaned/airlines", "quarantine/airlines"})
    args = ["--lake", airlines.root, "--dataset", "airlines"]
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(run_inprocess, "clean", [*args, "--run-id", f"clean-{n}"]) for n in (1, 2)]
        [r.result() for r in runs]
    cleaned = Table(airlines, "cleaned", "airlines")
    assert cleaned.version() == 0  # one commit; the other run found its app transaction done
    committer = cleaned.commit_tags(0)["run_id"]
    assert metric_sets(airlines, cleaned.ref) == {0: {committer}}
    assert rows_out(airlines, cleaned.ref, 0) == [float(cleaned.row_count())]


def test_an_unknown_dataset_is_a_failed_run(lake: Storage) -> None:
    Path(lake.root).mkdir(parents=True)
    with pytest.raises(UsageError, match=r"--dataset: no contract for \['nope'\]"):
        run_inprocess("clean", ["--lake", lake.root, "--dataset", "nope", "--run-id", "clean-unknown"])
    events = read_events(lake, "clean", "clean-unknown")
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert "nope" in events[1]["run"]["facets"]["errorMessage"]["message"]


def test_a_missing_lake_is_an_error_not_a_new_lake(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    with pytest.raises(LakeNotFoundError, match="no lake there"):
        run_inprocess("clean", ["--lake", str(missing)])
    assert not missing.exists()


def _wait_gone(pid: int, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    raise AssertionError(f"orphaned driver {pid} still running")


@pytest.mark.slow
def test_a_run_whose_jvm_is_killed_commits_nothing_and_fails(airlines: Storage, tmp_path: Path) -> None:
    pid_file = tmp_path / "driver.pid"
    killed = spark_submit(
        "clean",
        ["--lake", airlines.root, "--dataset", "airlines", "--run-id", "clean-jvm-killed"],
        env={
            "PYTHONPATH": os.pathsep.join([str(INJECT), str(CHECKOUT)]),
            "LAKEPREP_TEST_KILL_JVM_AFTER_STAGE": "cleaned/airlines",
            "LAKEPREP_TEST_PID_FILE": str(pid_file),
        },
    )
    assert killed.returncode in {-signal.SIGKILL, 128 + signal.SIGKILL}, killed.stderr[-3000:]
    _wait_gone(int(pid_file.read_text()))  # the Python driver outlives its JVM: let it finish
    assert not Table(airlines, "cleaned", "airlines").exists()
    assert not Table(airlines, "quarantine", "airlines").has_committed([("clean:airlines", 0)])
    events = read_events(airlines, "clean", "clean-jvm-killed")
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert "JVM died" in events[1]["run"]["facets"]["errorMessage"]["message"]
