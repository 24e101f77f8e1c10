"""Pieces every CLI module shares: the console, the ``--lake`` option, table references."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from lake.runtime import require_lake
from lake.storage import Storage
from lake.table import ZONES, Table

console = Console()
err_console = Console(stderr=True)


def print_table(table: RichTable) -> None:
    """A table on stdout, whole. In a pipe or a log rich assumes 80 columns and cuts wide cells to
    '…' (progress, money, paths), so there it is printed at its natural width instead."""
    if console.is_terminal:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update(max_width=10_000)).maximum
    Console(width=max(console.width, natural)).print(table)


LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake", help="Lake root: a folder or s3://bucket/prefix (default $LAKEPREP_LAKE, then ./.lake)"
    ),
]


def storage_for(lake: str | None, create: bool = False) -> Storage:
    """The lake behind ``--lake``: it must exist, unless the command creates it (sample, demo)."""
    storage = Storage.resolve(lake)
    if not create:
        require_lake(storage)
    return storage


def table_ref(lake: str | None, ref: str) -> Table:
    """``zone/name`` (e.g. ``cleaned/flights``) in the lake, with a clear error for anything else (the
    reference is checked before the lake: a typo in it is named even when ``--lake`` is wrong too)."""
    zone, _, name = ref.partition("/")
    if not name or zone not in ZONES:
        raise typer.BadParameter(f"{ref!r}: use <zone>/<dataset> with a zone in {', '.join(ZONES)}")
    storage = storage_for(lake)
    table = Table(storage, zone, name)  # type: ignore[arg-type,unused-ignore]
    if not table.exists():
        raise typer.BadParameter(f"no table {ref} in lake {storage.root}")
    return table
