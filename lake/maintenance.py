"""Vacuum: remove the files of a table that no version needs, without ever touching a running write.

Two kinds of files can go, with different rules:

* **expired**: files a past version referenced and a later one removed. Time travel may still want
  them, so they go only once removed longer ago than the retention. delta-rs finds and deletes these
  (its "lite" vacuum, which records VACUUM START / END commits, so only when there is one to delete).
* **orphans**: files no version ever referenced: a run killed between staging and commit, a stage cut
  short (Spark's ``_temporary`` folder), a commit skipped as already done. Nothing can ever read them,
  so they go at once, as soon as the run that wrote them is over. A staged write lives in
  ``<table>/<run-id>-<n>/``; the run is over when its lineage events (``<lake>/_lineage/<job>/<run
  id>.jsonl``) end in COMPLETE or FAIL, or when START names a driver on this machine that is gone
  (a killed run never writes its end). Of a run that may still be going (its driver is alive, or it
  ran elsewhere, or it left no events), the files wait until they are older than the retention.

Checksum sidecars (``.x.crc``), ``_SUCCESS`` markers and emptied folders go with their files and are
not counted as files. Nothing is committed when nothing is removed.

This module sits above ``lake.table`` (a ``Table`` knows nothing of its upkeep): ``vacuum(table)``,
``TableOptimizer(table)``.

Optimize (``TableOptimizer(table)``) is the other half of upkeep: a table fed by small
appends for a year holds thousands of small files and commits. ``compact`` bin-packs the small files
of each partition into files of about the target size, as one commit marked ``dataChange: false``
(the same rows, rearranged) that keeps the table's lineage tags; ``checkpoint`` writes a Delta
checkpoint so a snapshot loads from it instead of replaying every commit. Compaction rewrites with
Spark and commits through ``Table.commit``, so the new files get lakeprep's statistics
(``lake.stats``): delta-rs' own ``optimize.compact`` writes float bounds that leave NaN out, and the
data-skipping readers then drop rows (239 mismatches on the edge tables of
``tests/test_data_skipping.py``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import socket
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs

from lake.lineage import RunContext
from lake.openlineage import DRIVER_TAG
from lake.storage import LINEAGE_DIR, Storage, join
from lake.storage import _hidden as _hidden_top  # the Delta log, _pipelines/...; col=value is data
from lake.table import ZONES, Table, TableError, list_tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_STAGED = re.compile(r"^(?P<run>.+)-[0-9a-f]{8}$")  # Table.stage's <run-id>-<n> folders
_ENDED = {"COMPLETE", "FAIL", "ABORT"}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class RunStatus:
    """Whether the run that wrote a staged folder is over, from its lineage events (read once)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._events: dict[str, str] | None = None
        self._known: dict[str, bool | None] = {}

    def _index(self) -> dict[str, str]:
        if self._events is None:
            base = self.storage.uri(LINEAGE_DIR)
            self._events = {}
            for info in self.storage.list_files(base):
                if info.path.endswith(".jsonl"):
                    self._events[info.base_name[: -len(".jsonl")]] = self.storage.to_uri(info.path)
        return self._events

    def over(self, run_id: str) -> bool | None:
        """True: ended, or its driver on this machine is gone. False: its driver here is alive.
        None: unknown (no events, or a driver on another machine)."""
        if run_id not in self._known:
            self._known[run_id] = self._status(run_id)
        return self._known[run_id]

    def _status(self, run_id: str) -> bool | None:
        uri = self._index().get(run_id)
        if uri is None:
            return None
        events = [json.loads(line) for line in self.storage.read_text(uri).splitlines() if line.strip()]
        if any(e.get("eventType") in _ENDED for e in events):
            return True
        for event in events:
            tags = ((event.get("run") or {}).get("facets") or {}).get("tags", {}).get("tags", [])
            driver = next((t.get("value") for t in tags if t.get("key") == DRIVER_TAG), None)
            if driver:
                host, _, pid = str(driver).rpartition(":")
                if host == socket.gethostname() and pid.isdigit():
                    return not _process_alive(int(pid))
        return None


@dataclass
class VacuumPlan:
    table: str
    expired: list[str] = field(default_factory=list)  # removed by a version longer ago than the retention
    orphans: list[str] = field(default_factory=list)  # never referenced, their run is over
    waiting: list[str] = field(default_factory=list)  # never referenced, their run may still be going
    leftovers: list[str] = field(default_factory=list)  # sidecars, _temporary, _SUCCESS: not counted
    empty_dirs: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        """The data files that go (relative to the table)."""
        return self.expired + self.orphans


def _referenced(table: Table) -> set[str]:
    """Every data file any version in the log mentions (added or removed), plus the current ones."""
    storage = table.storage
    found = set(table.files())
    log_dir = join(table.uri, "_delta_log")
    selector = pafs.FileSelector(storage.fs_path(log_dir), allow_not_found=True)
    for info in storage.filesystem.get_file_info(selector):
        if not info.base_name.endswith(".json"):
            continue
        for line in storage.read_text(storage.to_uri(info.path)).splitlines():
            action = json.loads(line) if line.strip() else {}
            for kind in ("add", "remove"):
                if kind in action:
                    found.add(urllib.parse.unquote(action[kind]["path"]))
    return found


def plan_vacuum(
    table: Table, retention_hours: float, runs: RunStatus | None = None, now: float | None = None
) -> VacuumPlan:
    """What a vacuum would remove from ``table`` (nothing is deleted here)."""
    storage = table.storage
    runs = runs or RunStatus(storage)
    cutoff = (now or time.time()) - retention_hours * 3600
    plan = VacuumPlan(table.ref)
    referenced: set[str] = set()
    if table.exists():  # else a first run was killed before its commit: every file is an orphan
        plan.expired = sorted(
            urllib.parse.unquote(p)
            for p in table.snapshot().vacuum(
                retention_hours=int(retention_hours), dry_run=True, enforce_retention_duration=False
            )
        )
        referenced = _referenced(table) | set(plan.expired)
    base = storage.fs_path(table.uri)
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    files: dict[str, float] = {}
    dirs: dict[str, float] = {}
    bookkeeping = False  # e.g. _pipelines/ of a featurize run: never removed here
    for info in storage.filesystem.get_file_info(selector):
        relative = info.path[len(base) :].lstrip("/")
        if not relative or _hidden_top(relative.split("/", 1)[0]):
            bookkeeping = bookkeeping or bool(relative)
            continue
        mtime = info.mtime.timestamp() if info.mtime else 0.0
        (files if info.type == pafs.FileType.File else dirs)[relative] = mtime

    def run_over(relative: str, mtime: float) -> bool:
        match = _STAGED.match(relative.split("/", 1)[0])
        status = runs.over(match.group("run")) if match else None
        return status if status is not None else mtime <= cutoff

    going = set(plan.expired)
    for relative, mtime in sorted(files.items()):
        folder, _, name = relative.rpartition("/")
        parts = relative.split("/")
        if relative in referenced:
            continue
        if name.startswith(".") and name.endswith(".crc"):
            continue  # decided with its data file below
        if "_temporary" in parts or name == "_SUCCESS" or name.startswith("."):
            if run_over(relative, mtime):
                plan.leftovers.append(relative)
            continue
        if run_over(relative, mtime):
            plan.orphans.append(relative)
            going.add(relative)
        else:
            plan.waiting.append(relative)
    for relative, mtime in sorted(files.items()):
        folder, _, name = relative.rpartition("/")
        if not (name.startswith(".") and name.endswith(".crc")):
            continue
        data = f"{folder}/{name[1:-4]}" if folder else name[1:-4]
        if data in going or (data not in files and run_over(relative, mtime)):
            plan.leftovers.append(relative)
    gone = going | set(plan.leftovers)
    remaining = [f for f in files if f not in gone]
    for folder, mtime in sorted(dirs.items(), key=lambda d: -d[0].count("/")):
        prefix = folder + "/"
        if not any(f.startswith(prefix) for f in remaining) and run_over(folder, mtime):
            plan.empty_dirs.append(folder)
    # Only the outermost empty folders: deleting one removes what is inside.
    plan.empty_dirs = [
        d for d in plan.empty_dirs if not any(d.startswith(o + "/") for o in plan.empty_dirs if o != d)
    ]
    if not table.exists() and not remaining and not plan.waiting and not bookkeeping:
        plan.empty_dirs = [""]  # the folder of a table that never was: it goes whole
    return plan


def apply_vacuum(table: Table, plan: VacuumPlan, retention_hours: float) -> None:
    """Delete what ``plan`` lists. Expired files go through delta-rs (it records the vacuum in the log)."""
    if plan.expired:
        table.snapshot().vacuum(
            retention_hours=int(retention_hours), dry_run=False, enforce_retention_duration=False
        )
    fs = table.storage.filesystem
    base = table.storage.fs_path(table.uri)
    for relative in [*plan.orphans, *plan.leftovers]:
        _delete(fs, f"{base}/{relative}", pafs.FileType.File)
    for relative in plan.empty_dirs:
        _delete(fs, f"{base}/{relative}".rstrip("/"), pafs.FileType.Directory)


def _delete(fs: pafs.FileSystem, path: str, kind: pafs.FileType) -> None:
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return  # gone already (another vacuum, or its folder went first)
    if kind == pafs.FileType.Directory:
        fs.delete_dir(path)
    else:
        fs.delete_file(path)


def vacuum(table: Table, retention_hours: float = 168, dry_run: bool = True) -> list[str]:
    """The data files removed (or, dry, that would be): see the module docstring for the rules."""
    plan = plan_vacuum(table, retention_hours)
    if not dry_run:
        apply_vacuum(table, plan, retention_hours)
    return plan.files


def table_folders(storage: Storage) -> list[Table]:
    """Every folder of every zone, a Delta table or not (a first run killed before its commit leaves a
    folder of orphans and no log)."""
    found = []
    for zone in ZONES:
        base = storage.fs_path(storage.uri(zone))
        infos = storage.filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        for info in sorted(infos, key=lambda i: i.path):
            if info.type == pafs.FileType.Directory and not _hidden_top(info.base_name):
                found.append(Table(storage, zone, info.base_name))
    return found


def vacuum_lake(storage: Storage, retention_hours: float, dry_run: bool) -> list[tuple[Table, VacuumPlan]]:
    """Plan (and unless ``dry_run`` apply) a vacuum of every table folder, reading run statuses once."""
    plans = []
    status = RunStatus(storage)
    for table in table_folders(storage):
        plan = plan_vacuum(table, retention_hours, status)
        if not dry_run:
            apply_vacuum(table, plan, retention_hours)
        plans.append((table, plan))
    return plans


# -------------------------------------------------------------------------------------- optimize
TARGET_FILE_BYTES = 128 * 1024 * 1024
OPTIMIZE_JOB = "optimize"
_MAX_RECORDS = "spark.sql.files.maxRecordsPerFile"


@dataclass(frozen=True)
class CompactionPlan:
    """The small files of a table that compaction rewrites, per partition, and into how many files."""

    table: str
    version: int
    partition_by: tuple[str, ...]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]]  # typed partition values -> add actions
    target_size: int

    @property
    def paths(self) -> list[str]:
        return [urllib.parse.unquote(a["path"]) for files in self.groups.values() for a in files]

    @property
    def rows(self) -> int:
        return sum(int(a["num_records"]) for files in self.groups.values() for a in files)

    def outputs(self, values: tuple[Any, ...]) -> int:
        """Files a partition's small files become: enough to stay near the target size."""
        size = sum(int(a["size_bytes"]) for a in self.groups[values])
        return max(1, math.ceil(size / self.target_size))

    @property
    def rows_per_file(self) -> int:
        """Rows per output file: the most any partition needs to fit its rows in ``outputs`` files."""
        return max(
            math.ceil(sum(int(a["num_records"]) for a in files) / self.outputs(values))
            for values, files in self.groups.items()
        )


@dataclass(frozen=True)
class OptimizeResult:
    table: str
    version: int  # the table's version afterwards
    files_before: int
    files_after: int
    rows: int  # rows rewritten
    compacted: bool  # False: no partition had two small files
    checkpoint: int | None  # the version a checkpoint was written at (None: none written)


def plan_compaction(table: Table, target_size: int = TARGET_FILE_BYTES) -> CompactionPlan:
    """Files below the target size, grouped by partition; partitions they would not reduce are left."""
    snapshot = table.snapshot()
    partition_by = tuple(snapshot.metadata().partition_columns)
    actions = pa.table(snapshot.get_add_actions(flatten=True))
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for action in actions.to_pylist() if actions.num_rows else []:
        if int(action["size_bytes"]) < target_size and action.get("num_records") is not None:
            values = tuple(action[f"partition.{c}"] for c in partition_by)
            groups[values].append(action)
    plan = CompactionPlan(table.ref, snapshot.version(), partition_by, dict(groups), target_size)
    # a partition is rewritten only when that leaves it fewer files (so repeated runs converge)
    kept = {values: files for values, files in groups.items() if plan.outputs(values) < len(files)}
    return dataclasses.replace(plan, groups=kept)


def compaction_tags(table: Table, run: RunContext, plan: CompactionPlan, files_after: int) -> dict[str, Any]:
    """The newest commit's tags about the table's rows, this run's identity and what it rewrote."""
    newest = table.history(1)[0].lineage
    rewrite = {
        "read_version": plan.version,
        "files_removed": len(plan.paths),
        "files_added": files_after,
        "rows": plan.rows,
        "target_size": plan.target_size,
    }
    return newest.rewritten_by(run.stamp(), **{OPTIMIZE_JOB: rewrite}).as_dict()


class TableOptimizer:
    """Upkeep of one table, as delta-rs' ``DeltaTable.optimize``: ``compact`` and ``checkpoint``."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def compact(
        self,
        spark: SparkSession,
        *,
        target_size: int = TARGET_FILE_BYTES,
        sort_by: Sequence[str] = (),
        checkpoint: bool = True,
        run: RunContext | None = None,
    ) -> OptimizeResult:
        """Rewrite each partition's small files into files of about ``target_size`` bytes (rows sorted
        by ``sort_by`` within each), committed as ``dataChange: false`` with the table's lineage tags;
        then a checkpoint. The removed files stay for time travel until ``vacuum``'s retention."""
        table = self.table
        plan = plan_compaction(table, target_size)
        files_before = len(table.files(plan.version))
        if not plan.groups:
            return OptimizeResult(
                table.ref,
                plan.version,
                files_before,
                files_before,
                0,
                False,
                self._maybe_checkpoint(checkpoint),
            )
        schema = table.arrow_schema(plan.version)
        unknown = [c for c in sort_by if c not in schema.names]
        if unknown:
            raise TableError(f"{table.ref}: cannot sort by {unknown}: no such column(s)")
        run = run or RunContext.start(OPTIMIZE_JOB, {"table": table.ref, "target_size": target_size})
        frame = table.read(spark, plan.version, files=plan.paths)
        # One task per partition (or one per output file), each rolling to a new file every
        # ``rows_per_file`` rows: the partition's rows in files of about the target size.
        if plan.partition_by:
            frame = frame.repartition(*plan.partition_by)
        else:
            frame = frame.repartition(plan.outputs(()))
        if plan.partition_by or sort_by:
            frame = frame.sortWithinPartitions(*plan.partition_by, *sort_by)
        write_id = table.new_write_id(run.run_id)
        previous = spark.conf.get(_MAX_RECORDS, None)
        spark.conf.set(_MAX_RECORDS, str(plan.rows_per_file))
        try:
            table.write_parquet(frame, write_id, plan.partition_by)
        finally:
            if previous is None:
                spark.conf.unset(_MAX_RECORDS)
            else:
                spark.conf.set(_MAX_RECORDS, previous)
        staged = table.staged(write_id, plan.partition_by)
        if staged.rows != plan.rows:  # nothing lost, nothing doubled
            table.discard(staged)
            raise TableError(
                f"{table.ref}: compaction staged {staged.rows} rows for {plan.rows}; nothing committed"
            )
        result = table.commit(
            staged,
            schema=schema,
            mode="append",
            tags=compaction_tags(table, run, plan, len(staged.adds)),
            partition_by=plan.partition_by,
            remove=plan.paths,
            data_change=False,
        )
        return OptimizeResult(
            table.ref,
            result.version,
            files_before,
            len(table.files(result.version)),
            plan.rows,
            True,
            self._maybe_checkpoint(checkpoint),
        )

    def checkpoint(self) -> int:
        """Write a Delta checkpoint at the current version (a snapshot then loads from it, not from
        every commit since the table began); the version."""
        snapshot = self.table.snapshot()
        snapshot.create_checkpoint()
        return int(snapshot.version())

    def last_checkpoint(self) -> int | None:
        """The version of the newest checkpoint (``_delta_log/_last_checkpoint``), None when none."""
        storage = self.table.storage
        uri = join(self.table.uri, "_delta_log/_last_checkpoint")
        if storage.filesystem.get_file_info(storage.fs_path(uri)).type == pafs.FileType.NotFound:
            return None
        return int(json.loads(storage.read_text(uri))["version"])

    def _maybe_checkpoint(self, wanted: bool) -> int | None:
        if not wanted:
            return None
        current = self.table.version()
        return current if self.last_checkpoint() == current else self.checkpoint()


def optimize_lake(
    storage: Storage,
    spark: SparkSession,
    tables: Sequence[Table] | None = None,
    *,
    target_size: int = TARGET_FILE_BYTES,
    sort_by: Mapping[str, Sequence[str]] | None = None,
    checkpoint: bool = True,
) -> list[OptimizeResult]:
    """Compact (and checkpoint) the given tables, or every zone table of the lake."""
    chosen = list(tables) if tables is not None else list_tables(storage)
    return [
        TableOptimizer(table).compact(
            spark, target_size=target_size, sort_by=(sort_by or {}).get(table.ref, ()), checkpoint=checkpoint
        )
        for table in chosen
    ]
