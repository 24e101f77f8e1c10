"""Lineage trace and drift commands (``lakeprep lineage``, ``lakeprep drift``)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    del app
