"""Walk commit lineage tags back from a table version to its inputs, down to the landed files.

Each commit names its inputs with the exact versions read; a raw version covers every ingest
commit up to it (raw is append-only), whose tags list the landed files. So a features version
resolves to the cleaned versions, the raw versions and finally the files that fed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lake.storage import Storage
from lake.table import ZONES, Table
from lake.tags import CommitTags


@dataclass
class LineageNode:
    table: str
    version: int | None
    job: str | None = None
    run_id: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    inputs: list[LineageNode] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # landed files (raw tables only)
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "table": self.table,
            "version": self.version,
            "job": self.job,
            "run_id": self.run_id,
            "rows": self.rows,
        }
        if self.files:
            out["landed_files"] = self.files
        if self.note:
            out["note"] = self.note
        out["inputs"] = [i.as_dict() for i in self.inputs]
        return out


def _landed_files(table: Table, version: int) -> list[str]:
    files: list[str] = []
    for record in table.history():
        ingest = record.lineage.ingest
        if record.version <= version and ingest is not None:
            files.extend(ingest.source_files)
    return sorted(set(files))


def trace(storage: Storage, ref: str, version: int | None = None) -> LineageNode:
    """The lineage tree of ``ref`` (``zone/name``) at ``version`` (default: current)."""
    return _trace(storage, ref, version, {})


def _trace(
    storage: Storage, ref: str, version: int | None, seen: dict[tuple[str, int | None], LineageNode]
) -> LineageNode:
    zone, _, name = ref.partition("/")
    if zone not in ZONES:
        return LineageNode(ref, version, note="outside the lake's zones")
    table = Table(storage, zone, name)  # type: ignore[arg-type,unused-ignore]
    if not table.exists():
        return LineageNode(ref, version, note="table no longer exists")
    version = table.version() if version is None else version
    key = (ref, version)
    if key in seen:
        return seen[key]
    assert version is not None
    tags = CommitTags.read(table.commit_tags(version))
    rows = tags.rows.as_tag() if tags.rows is not None else {}
    node = LineageNode(ref, version, tags.run.job, tags.run.run_id, rows)
    seen[key] = node
    if zone == "raw":
        node.files = _landed_files(table, version)
    for item in tags.inputs:
        if item.table.startswith("landing/"):
            continue  # a raw commit's landing input: its files are listed on the raw node
        node.inputs.append(_trace(storage, item.table, item.version, seen))
    return node
