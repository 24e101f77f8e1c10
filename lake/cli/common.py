"""Pieces every CLI module shares: the console, the ``--lake`` option, table references."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console

from lake.storage import Storage
from lake.table import ZONES, Table

console = Console()
err_console = Console(stderr=True)

LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake", help="Lake root: a folder or s3://bucket/prefix (default $LAKEPREP_LAKE, then ./.lake)"
    ),
]


def storage_for(lake: str | None) -> Storage:
    return Storage.resolve(lake)


def table_ref(storage: Storage, ref: str) -> Table:
    """``zone/name`` (e.g. ``cleaned/flights``) to a table, with a clear error for anything else."""
    zone, _, name = ref.partition("/")
    if not name or zone not in ZONES:
        raise typer.BadParameter(f"{ref!r}: use <zone>/<dataset> with a zone in {', '.join(ZONES)}")
    table = Table(storage, zone, name)  # type: ignore[arg-type,unused-ignore]
    if not table.exists():
        raise typer.BadParameter(f"no table {ref} in lake {storage.root}")
    return table


def when(timestamp_ms: int) -> str:
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
