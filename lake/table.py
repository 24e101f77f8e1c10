"""The Delta table layer: Spark writes Parquet, the driver commits it to the Delta log with delta-rs.

A write has two steps with a hard line between them:

1. ``stage``: Spark writes Parquet files into a fresh folder inside the table (``<table>/<write-id>/``).
   Nothing references them yet, so readers and the table version are unaffected.
2. ``commit``: the driver reads the new files' footers, builds add actions with per-file
   statistics and commits them in one delta-rs transaction, with lineage tags and, when given,
   Delta app transactions (``txn``) that make the commit idempotent.

A run killed between the two leaves the table at its previous version; its files are orphans
that ``vacuum`` removes. Reads in Spark use the table's file list at the current or a pinned
version, so Spark never needs the Delta jars.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import time
import urllib.parse
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import ColumnProperties, DeltaTable, WriterProperties
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    RemoveAction,
    Transaction,
    create_table_with_add_actions,
)

from lake.contracts.model import spark_schema_of
from lake.stats import file_stats, unsigned_zeros, unsigned_zeros_arrow
from lake.storage import Storage, join
from lake.tags import LINEAGE_KEY, CommitTags

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

Zone = Literal["raw", "cleaned", "features", "quarantine", "labels", "metrics"]
ZONES: tuple[Zone, ...] = ("raw", "cleaned", "features", "quarantine", "labels", "metrics")
WriteMode = Literal["append", "overwrite", "replace_partitions"]
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


class TableError(RuntimeError):
    """A table operation that cannot proceed; the message names the table."""


@dataclass(frozen=True)
class StagedWrite:
    """Parquet files written for one commit and not yet referenced by the log."""

    table: str
    write_id: str
    adds: list[AddAction]
    partition_by: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return sum(json.loads(a.stats)["numRecords"] for a in self.adds)

    @property
    def partitions(self) -> set[tuple[tuple[str, str | None], ...]]:
        return {tuple(sorted(a.partition_values.items())) for a in self.adds}


@dataclass(frozen=True)
class CommitResult:
    table: str
    version: int
    rows: int
    files: int
    skipped: bool = False  # the app transaction was already committed: nothing written


@dataclass(frozen=True)
class CommitRecord:
    """One entry of a table's history with its lineage tags (empty for foreign commits)."""

    version: int
    timestamp_ms: int
    operation: str
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def lineage(self) -> CommitTags:
        """The tags, typed."""
        return CommitTags.read(self.tags)


def when(timestamp_ms: int) -> str:
    """A commit's time as the CLI and the site print it (UTC, to the second)."""
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _delta_rs_stats_columns(schema: pa.Schema) -> dict[str, str | None]:
    """Table properties for a table delta-rs writes: log statistics for every top-level column but floats.

    delta-rs' own writer leaves ``maxValues`` out for a float column holding inf (and its bounds skip
    NaN), and delta-rs' pyarrow reader then prunes files it needs (``d = inf`` finds nothing).
    Unlike Spark-staged files (``lake.stats`` writes reader-safe bounds), delta-rs' statistics cannot
    be corrected, so floats get none; every other column keeps its data skipping."""
    columns = [
        f.name
        for f in schema
        if not pa.types.is_floating(f.type) and not pa.types.is_nested(f.type) and "`" not in f.name
    ]
    if not columns:
        return {"delta.dataSkippingNumIndexedCols": "0"}
    return {"delta.dataSkippingStatsColumns": ",".join(f"`{c}`" for c in columns)}


def _no_float_footer_stats(schema: pa.Schema) -> WriterProperties:
    """Parquet writer settings for delta-rs writes: no footer statistics for float columns.

    arrow-rs leaves NaN out of a float column's footer bounds, and DataFusion and Spark prune row groups
    on them (a file of NaN and 1.0 is skipped for ``d > 1.0``, ``d = NaN``), so floats get none."""
    floats = [f.name for f in schema if pa.types.is_floating(f.type)]
    return WriterProperties(
        compression="SNAPPY",  # delta-rs' default, which explicit writer properties would otherwise drop
        column_properties={c: ColumnProperties(statistics_enabled="NONE") for c in floats},
    )


def _partition_values(relative: str, partition_by: Sequence[str]) -> dict[str, str | None]:
    """Hive-style ``col=value`` folders (as Spark writes them, percent-escaped) to Delta values."""
    found: dict[str, str | None] = {}
    for segment in relative.split("/")[:-1]:
        if "=" in segment:
            key, raw = segment.split("=", 1)
            value = urllib.parse.unquote(raw)
            found[key] = None if value == _HIVE_NULL else value
    missing = [c for c in partition_by if c not in found]
    if missing:
        raise TableError(f"staged file {relative} has no folder for partition column(s) {missing}")
    return {c: found[c] for c in partition_by}


def _as_partition_string(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Table:
    """One Delta table of the lake, addressed as ``<zone>/<name>``."""

    def __init__(self, storage: Storage, zone: Zone, name: str) -> None:
        if zone not in ZONES:
            raise ValueError(f"unknown zone {zone!r}; zones are {ZONES}")
        self.storage = storage
        self.zone = zone
        self.name = name
        self.uri = storage.uri(zone, name)

    def __repr__(self) -> str:
        return f"Table({self.ref} at {self.uri})"

    @property
    def ref(self) -> str:
        return f"{self.zone}/{self.name}"

    # ------------------------------------------------------------------------------ snapshots
    def snapshot(self, version: int | None = None) -> DeltaTable:
        try:
            return DeltaTable(self.uri, version=version, storage_options=self.storage.delta_options)
        except TableNotFoundError as exc:
            raise TableError(f"{self.ref}: no Delta table at {self.uri}") from exc
        except Exception as exc:
            if version is not None:
                raise TableError(f"{self.ref}: cannot load version {version}: {exc}") from exc
            raise

    def exists(self) -> bool:
        return DeltaTable.is_deltatable(self.uri, storage_options=self.storage.delta_options)

    def version(self) -> int | None:
        return self.snapshot().version() if self.exists() else None

    def app_version(self, app_id: str) -> int | None:
        """The version recorded for a Delta app transaction, or None when never committed."""
        return self.app_versions([app_id])[app_id]

    def app_versions(self, app_ids: Iterable[str]) -> dict[str, int | None]:
        """Several app transactions from one snapshot (one log read, however many ids)."""
        ids = list(app_ids)
        if not self.exists():
            return dict.fromkeys(ids)
        snapshot = self.snapshot()
        return {app_id: snapshot.transaction_version(app_id) for app_id in ids}

    def arrow_schema(self, version: int | None = None) -> pa.Schema:
        return pa.schema(self.snapshot(version).schema().to_arrow())

    def history(self, limit: int | None = None) -> list[CommitRecord]:
        if not self.exists():
            return []
        records = []
        for entry in self.snapshot().history(limit):
            tags = entry.get(LINEAGE_KEY)
            records.append(
                CommitRecord(
                    version=int(entry["version"]),
                    timestamp_ms=int(entry.get("timestamp", 0)),
                    operation=str(entry.get("operation", "")),
                    tags=tags if isinstance(tags, dict) else {},
                )
            )
        return records

    def commit_tags(self, version: int) -> dict[str, Any]:
        """Lineage tags of one version (searching history back from the newest)."""
        current = self.version()
        if current is None or version > current or version < 0:
            raise TableError(f"{self.ref}: no version {version} (current: {current})")
        for record in self.history(current - version + 1):
            if record.version == version:
                return record.tags
        raise TableError(f"{self.ref}: the log entry of version {version} has been cleaned up")

    def files(self, version: int | None = None) -> list[str]:
        """Relative paths (physical, as on storage) of the data files at a version."""
        actions = pa.table(self.snapshot(version).get_add_actions(flatten=True))
        return [urllib.parse.unquote(p) for p in actions.column("path").to_pylist()]

    def added_since(self, version: int) -> list[str] | None:
        """Files holding the rows added after ``version``, or None when rows were also removed or
        rewritten. A compaction (``dataChange: false``, ``lakeprep optimize``) adds no rows: its files
        hold the rows of the files it removed, old or new (a compaction mixing both gives None)."""
        before = set(self.files(version))
        now = self.files()
        if before.issubset(now):
            return [f for f in now if f not in before]
        current = self.version()
        assert current is not None
        old, new = set(before), set()
        for v in range(version + 1, current + 1):
            actions = self._commit_actions(v)
            if actions is None or any(a["dataChange"] for kind, a in actions if kind == "remove"):
                return None  # a log entry cleaned up, or rows removed or rewritten
            new |= {a["path"] for kind, a in actions if kind == "add" and a["dataChange"]}
            removed = {a["path"] for kind, a in actions if kind == "remove"}
            compacted = {a["path"] for kind, a in actions if kind == "add" and not a["dataChange"]}
            side = old if removed <= old else new if removed <= new else None
            if side is None:
                return None
            side -= removed
            side |= compacted
        return [f for f in now if f in new] if old | new == set(now) else None

    def _commit_actions(self, version: int) -> list[tuple[str, dict[str, Any]]] | None:
        """The add and remove actions of one log entry (paths unquoted), or None when it is gone."""
        uri = join(self.uri, f"_delta_log/{version:020d}.json")
        if self.storage.filesystem.get_file_info(self.storage.fs_path(uri)).type == pafs.FileType.NotFound:
            return None
        actions = []
        for line in self.storage.read_text(uri).splitlines():
            entry = json.loads(line) if line.strip() else {}
            for kind in ("add", "remove"):
                if kind in entry:
                    action = dict(entry[kind], path=urllib.parse.unquote(entry[kind]["path"]))
                    actions.append((kind, action))
        return actions

    def row_count(self, version: int | None = None) -> int:
        actions = pa.table(self.snapshot(version).get_add_actions(flatten=True))
        counts = actions.column("num_records").to_pylist()
        if any(c is None for c in counts):
            return int(self.snapshot(version).count())
        return int(sum(counts))

    # ---------------------------------------------------------------------------------- read
    def read(
        self, spark: SparkSession, version: int | None = None, files: Iterable[str] | None = None
    ) -> DataFrame:
        """The table (or some of its files) as a Spark DataFrame, from the log's file list.

        Partition values come from the log's add actions, never from folder names: writers lay files
        out differently (lakeprep under ``<write-id>/col=value/``, delta-rs under ``col=value/`` at the
        root, others in no partition folders at all). Files sharing their partition values are read
        in one scan and the values added as typed literals, so Spark still prunes on them.
        """
        from pyspark.sql import functions as F
        from pyspark.sql.types import StructType

        snapshot = self.snapshot(version)
        schema = spark_schema_of(snapshot.schema())
        partition_by = list(snapshot.metadata().partition_columns)
        groups = self._files_by_partition(snapshot, partition_by, files)
        if not groups:
            return spark.createDataFrame([], schema)
        data = StructType([f for f in schema.fields if f.name not in partition_by])
        parts = [
            spark.read.schema(data)
            .parquet(*[join(self.uri, path) for path in paths])
            .select(
                *data.fieldNames(),
                *[
                    F.lit(value).cast(schema[column].dataType).alias(column)
                    for column, value in zip(partition_by, values, strict=True)
                ],
            )
            for values, paths in groups.items()
        ]
        frame = functools.reduce(lambda a, b: a.unionByName(b), parts)
        return frame.select(*schema.fieldNames())

    def _files_by_partition(
        self, snapshot: DeltaTable, partition_by: Sequence[str], files: Iterable[str] | None
    ) -> dict[tuple[str | None, ...], list[str]]:
        """Data files (relative, as on storage) grouped by their partition values in the log."""
        columns = [f"partition.{c}" for c in partition_by]
        table = pa.table(snapshot.get_add_actions(flatten=True))
        actions = table.select(["path", *columns]).to_pylist() if table.num_rows else []
        values = {
            urllib.parse.unquote(a["path"]): tuple(_as_partition_string(a[c]) for c in columns)
            for a in actions
        }
        wanted = list(values) if files is None else list(files)
        unknown = [f for f in wanted if f not in values]
        if unknown:
            raise TableError(f"{self.ref}: {len(unknown)} file(s) not in the table, e.g. {unknown[0]}")
        groups: dict[tuple[str | None, ...], list[str]] = defaultdict(list)
        for path in wanted:
            groups[values[path]].append(path)
        return groups

    def to_arrow(self, version: int | None = None) -> pa.Table:
        """Small tables (metrics, campaign state) read on the driver; never used for zone data."""
        return pa.table(self.snapshot(version).to_pyarrow_table())

    # --------------------------------------------------------------------------------- write
    def stage(
        self,
        frame: DataFrame,
        partition_by: Sequence[str] = (),
        run_id: str = "run",
        expected_rows: int | None = None,
        rows_per_file: int = 1_000_000,
    ) -> StagedWrite:
        """Write ``frame`` as Parquet into a new folder of the table; nothing is committed.

        Partitioned frames are clustered by partition (one file per partition and task slot);
        unpartitioned ones are coalesced to about ``rows_per_file`` rows per file when the row
        count is known, so small tables do not become many tiny files."""
        write_id = self.new_write_id(run_id)
        if partition_by:
            frame = frame.repartition(*partition_by)
        elif expected_rows is not None:
            files = max(1, -(-expected_rows // rows_per_file))
            if files < frame.rdd.getNumPartitions():
                frame = frame.coalesce(files)
        self.write_parquet(frame, write_id, partition_by)
        return self.staged(write_id, partition_by)

    def new_write_id(self, run_id: str) -> str:
        """A folder name no other write uses: the run id (so vacuum can tell whose files they are)
        and a random suffix."""
        return f"{run_id}-{uuid.uuid4().hex[:8]}"

    def write_parquet(self, frame: DataFrame, folder: str, partition_by: Sequence[str] = ()) -> None:
        """Spark writes ``frame`` as Parquet below ``<table>/<folder>`` (hive folders per partition),
        its float zeros unsigned (see ``lake.stats``: Spark's own reader misprunes a -0.0 footer)."""
        unsigned_zeros(frame).write.mode("errorifexists").partitionBy(*partition_by).parquet(
            join(self.uri, folder)
        )

    def staged(
        self, folder: str, partition_by: Sequence[str] = (), columns: Iterable[str] | None = None
    ) -> StagedWrite:
        """The Parquet files below ``<table>/<folder>`` as a write ready to commit. ``columns`` limits the
        statistics to the table's columns when the files carry more (a split write's other side)."""
        return StagedWrite(
            self.ref, folder, self._add_actions(folder, partition_by, columns), tuple(partition_by)
        )

    def adopt(self, source: str, folder: str, flatten: bool = False) -> None:
        """Move the Parquet files below ``source`` (a folder elsewhere in the lake) into
        ``<table>/<folder>`` so ``staged(folder)`` can commit them: keeping their sub-folders (hive
        partitions), or ``flatten``ed into one folder. A rename on local disks and HDFS, a server-side
        copy on S3; files move in parallel."""
        fs = self.storage.filesystem
        base = self.storage.fs_path(source)
        target = self.storage.fs_path(join(self.uri, folder))
        files = [i for i in self.storage.list_files(source) if i.path.endswith(".parquet")]

        def destination(index: int, path: str) -> str:
            relative = path[len(base) :].lstrip("/")
            return (
                f"{target}/{index:05d}-{relative.rsplit('/', 1)[-1]}" if flatten else f"{target}/{relative}"
            )

        moves = [(info.path, destination(n, info.path)) for n, info in enumerate(files)]
        for parent in sorted({dst.rsplit("/", 1)[0] for _, dst in moves}):
            fs.create_dir(parent, recursive=True)
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda move: fs.move(*move), moves))
        self.storage.delete_dir(source)

    def discard(self, staged: StagedWrite | None) -> None:
        """Delete a staged write that will not be committed (its whole write folder)."""
        if staged is not None:
            self.storage.delete_dir(join(self.uri, staged.write_id.split("/", 1)[0]))

    def _add_actions(
        self, folder: str, partition_by: Sequence[str], columns: Iterable[str] | None = None
    ) -> list[AddAction]:
        base = join(self.uri, folder)
        infos = [i for i in self.storage.list_files(base) if i.path.endswith(".parquet")]
        fs = self.storage.filesystem
        wanted = set(columns) if columns is not None else None

        def action(info: Any) -> AddAction | None:
            metadata = pq.read_metadata(info.path, filesystem=fs)
            if metadata.num_rows == 0:
                return None  # Spark writes an empty file for an empty frame; it carries nothing
            relative = f"{folder}/{info.path[len(self.storage.fs_path(base)) :].lstrip('/')}"
            return AddAction(
                path=relative,
                size=int(info.size),
                partition_values=_partition_values(relative, partition_by),
                modification_time=int(info.mtime_ns // 1_000_000)
                if info.mtime_ns
                else int(time.time() * 1000),
                data_change=True,
                stats=file_stats(metadata, wanted),
            )

        with ThreadPoolExecutor(max_workers=16) as pool:
            return [a for a in pool.map(action, infos) if a is not None]

    def commit(
        self,
        staged: StagedWrite | None,
        *,
        schema: pa.Schema,
        mode: WriteMode,
        tags: Mapping[str, Any],
        partition_by: Sequence[str] = (),
        replace_where: Mapping[str, str] | None = None,
        app_transactions: Sequence[tuple[str, int]] = (),
        description: str | None = None,
        remove: Sequence[str] = (),
        data_change: bool = True,
    ) -> CommitResult:
        """Commit staged files (or none) in one transaction with lineage tags and app transactions.

        ``overwrite`` replaces the table, or only the partitions matching ``replace_where``;
        ``replace_partitions`` replaces exactly the partitions the staged files belong to; ``remove``
        (relative paths of current files) drops those files in the same commit (a rewrite of some files).
        ``data_change=False`` marks the adds and removes as a rearrangement of the same rows (a
        compaction), which readers of changes and lakeprep's incremental jobs skip.
        """
        adds = list(staged.adds) if staged else []
        if not data_change:
            adds = [dataclasses.replace(a, data_change=False) for a in adds]
        delta_schema = _delta_schema(schema)
        existed = self.exists()
        if existed and self._recorded_in(snapshot := self.snapshot(), app_transactions):
            log.info(
                "%s: app transaction(s) %s already committed; nothing added", self.ref, list(app_transactions)
            )
            return CommitResult(self.ref, snapshot.version(), 0, 0, skipped=True)
        if not existed:
            try:
                create_table_with_add_actions(
                    self.uri,
                    delta_schema,
                    adds,
                    mode="error",
                    partition_by=list(partition_by) or None,
                    name=self.name,
                    description=description,
                    storage_options=self.storage.delta_options,
                    commit_properties=_commit_properties(tags, app_transactions, creating=True),
                )
                return self._result(adds)
            except Exception as exc:  # lost a creation race: fall through to a normal commit
                if not self.exists():
                    raise TableError(f"{self.ref}: cannot create the table: {exc}") from exc
            # The check and the commit read one snapshot, so delta-rs' conflict check sees any run that
            # committed the same app transaction since.
            snapshot = self.snapshot()
            if self._recorded_in(snapshot, app_transactions):
                self.discard(staged)
                return CommitResult(self.ref, snapshot.version(), 0, 0, skipped=True)
        table_partitions = list(snapshot.metadata().partition_columns)
        if list(partition_by) != table_partitions:
            raise TableError(
                f"{self.ref}: partitioned by {table_partitions}, the write asks for {list(partition_by)}; "
                "rebuild the table to change its partitioning"
            )
        actions: list[AddAction | RemoveAction] = list(adds)
        write_mode = mode
        filters = None
        actions += self._file_removals(snapshot, remove, data_change)
        if mode == "replace_partitions":
            actions += self._removals(snapshot, staged.partitions if staged else set())
            write_mode = "append"
        elif mode == "overwrite" and replace_where:
            filters = [(column, "=", value) for column, value in replace_where.items()]
        try:
            snapshot.create_write_transaction(
                actions,
                mode=write_mode,
                schema=delta_schema,
                partition_by=table_partitions or None,
                partition_filters=filters,
                commit_properties=_commit_properties(tags, app_transactions, creating=False),
            )
        except CommitFailedError:
            # delta-rs refuses a commit whose app transaction another writer committed since our
            # snapshot: two runs on the same input. The input is in the table once; this run adds nothing.
            if not self.has_committed(app_transactions):
                raise
            log.info(
                "%s: a concurrent run committed %s first; nothing added", self.ref, list(app_transactions)
            )
            self.discard(staged)
            return CommitResult(self.ref, self.snapshot().version(), 0, 0, skipped=True)
        return self._result(adds)

    def has_committed(self, app_transactions: Sequence[tuple[str, int]]) -> bool:
        """Whether every (app id, version) is recorded at that version or later: committing it again adds
        nothing."""
        if not app_transactions:
            return False
        return self.exists() and self._recorded_in(self.snapshot(), app_transactions)

    @staticmethod
    def _recorded_in(snapshot: DeltaTable, app_transactions: Sequence[tuple[str, int]]) -> bool:
        if not app_transactions:
            return False
        recorded = {a: snapshot.transaction_version(a) for a, _ in app_transactions}
        return all((done := recorded[a]) is not None and done >= v for a, v in app_transactions)

    def _removals(
        self, snapshot: DeltaTable, partitions: set[tuple[tuple[str, str | None], ...]]
    ) -> list[RemoveAction]:
        if not partitions:
            return []
        return self._remove_where(snapshot, lambda _path, values: tuple(sorted(values.items())) in partitions)

    def _file_removals(
        self, snapshot: DeltaTable, paths: Sequence[str], data_change: bool = True
    ) -> list[RemoveAction]:
        wanted = set(paths)
        removals = (
            self._remove_where(snapshot, lambda path, _values: path in wanted, data_change) if wanted else []
        )
        if len(removals) != len(wanted):
            raise TableError(
                f"{self.ref}: files to replace are no longer in the table (a concurrent rewrite)"
            )
        return removals

    @staticmethod
    def _remove_where(
        snapshot: DeltaTable, chosen: Callable[[str, dict[str, str | None]], bool], data_change: bool = True
    ) -> list[RemoveAction]:
        """Remove actions for the current files ``chosen(path, partition values)`` picks."""
        now = int(time.time() * 1000)
        removals = []
        for row in pa.table(snapshot.get_add_actions(flatten=True)).to_pylist():
            path = urllib.parse.unquote(row["path"])
            values = {
                k[len("partition.") :]: _as_partition_string(v)
                for k, v in row.items()
                if k.startswith("partition.")
            }
            if chosen(path, values):
                removals.append(RemoveAction(path, data_change, now, row["size_bytes"], values))
        return removals

    def _result(self, adds: list[AddAction]) -> CommitResult:
        rows = sum(json.loads(a.stats)["numRecords"] for a in adds)
        return CommitResult(self.ref, self.snapshot().version(), rows, len(adds))

    def write(
        self,
        frame: DataFrame,
        *,
        schema: pa.Schema,
        mode: WriteMode,
        tags: Mapping[str, Any],
        run_id: str,
        partition_by: Sequence[str] = (),
        replace_where: Mapping[str, str] | None = None,
        app_transactions: Sequence[tuple[str, int]] = (),
        description: str | None = None,
    ) -> CommitResult:
        staged = self.stage(frame, partition_by, run_id)
        return self.commit(
            staged,
            schema=schema,
            mode=mode,
            tags=tags,
            partition_by=partition_by,
            replace_where=replace_where,
            app_transactions=app_transactions,
            description=description,
        )

    def append_arrow(
        self,
        data: pa.Table,
        *,
        tags: Mapping[str, Any],
        app_transactions: Sequence[tuple[str, int]] = (),
        partition_by: Sequence[str] = (),
    ) -> CommitResult:
        """Append a small driver-side table (metrics, labels, campaign state) in one commit."""
        from deltalake import write_deltalake

        for attempt in range(2):
            existed = self.exists()
            read = self.snapshot() if existed else None  # the version this write is checked against
            if read is not None and self._recorded_in(read, app_transactions):
                return CommitResult(self.ref, read.version(), 0, 0, skipped=True)
            try:
                write_deltalake(
                    read if read is not None else self.uri,
                    unsigned_zeros_arrow(data),
                    mode="append" if existed else "error",  # creating: version 0 is put-if-absent
                    partition_by=list(partition_by) or None,
                    configuration=None if existed else _delta_rs_stats_columns(data.schema),
                    writer_properties=_no_float_footer_stats(data.schema),
                    storage_options=self.storage.delta_options,
                    commit_properties=_commit_properties(tags, app_transactions, creating=not existed),
                )
            except DeltaError:
                # Two runs wrote the same app transaction at once (two jobs recording one table version's
                # metrics): the loser adds nothing. A lost creation race is retried as an append.
                if self.has_committed(app_transactions):
                    log.info("%s: a concurrent run committed %s first", self.ref, list(app_transactions))
                    return CommitResult(self.ref, self.snapshot().version(), 0, 0, skipped=True)
                if existed or attempt or not self.exists():
                    raise
                continue
            break
        return CommitResult(self.ref, self.snapshot().version(), data.num_rows, 1 if data.num_rows else 0)


def _commit_properties(
    tags: Mapping[str, Any], app_transactions: Sequence[tuple[str, int]], *, creating: bool
) -> CommitProperties:
    """A commit's lineage tags and app transactions. A creating commit is version 0 or nothing: retried,
    delta-rs would commit a lost creation race as a later version that re-creates the table beside the
    winner's commit (and records an app transaction the winner may already hold)."""
    return CommitProperties(
        custom_metadata={LINEAGE_KEY: dict(tags)},
        app_transactions=[Transaction(app_id, version) for app_id, version in app_transactions] or None,
        max_commit_retries=0 if creating else None,
    )


def _delta_schema(schema: pa.Schema) -> Any:
    from deltalake import Schema

    return Schema.from_arrow(schema)


def list_tables(storage: Storage, zones: Iterable[Zone] = ZONES) -> list[Table]:
    """Every Delta table of the lake, zone by zone."""
    tables = []
    for zone in zones:
        base = storage.fs_path(storage.uri(zone))
        infos = storage.filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        for info in sorted(infos, key=lambda i: i.path):
            if info.type == pafs.FileType.Directory:
                table = Table(storage, zone, info.base_name)
                if table.exists():
                    tables.append(table)
    return tables


def arrow_schema_of(schema: StructType) -> pa.Schema:
    """A Spark schema as Arrow (timestamps as UTC micros, like every zone table)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema)
