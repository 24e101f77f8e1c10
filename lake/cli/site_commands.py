"""``lakeprep site``: write the lake's static HTML site (tables, quality over time, quarantine, lineage,
feature sets, labelling campaigns)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lake.cli.common import LakeOption, console, err_console, storage_for
from lake.contracts import ContractError
from lake.storage import Storage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def register(app: typer.Typer) -> None:
    app.command("site")(site)


def default_out(lake_root: str) -> Path:
    """``<lake>/_site`` for a local lake; ``./lake-site`` for one on S3 (the site is written locally)."""
    return Path("lake-site") if lake_root.startswith("s3://") else Path(lake_root) / "_site"


def site(
    lake: LakeOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: <lake>/_site, or ./lake-site for S3)"),
    ] = None,
    drift: Annotated[
        bool, typer.Option("--drift", help="Compute feature drift (PSI / KS) with a local Spark session")
    ] = False,
) -> None:
    """Write a static site of the lake (plain HTML, inline SVG charts, no network): open index.html.

    Rebuilds are incremental: only new commits are read and only changed pages rendered."""
    storage = storage_for(lake)
    spark = None
    if drift:
        from lake.spark import local_session

        spark = local_session("lakeprep-site")
    try:
        write_site(storage, out, spark)
    except ContractError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def write_site(storage: Storage, out: Path | None = None, spark: SparkSession | None = None) -> Path:
    """Build the site (incrementally) and print what was written and where index.html is."""
    from lake.site import build_site

    target = out or default_out(storage.root)
    with console.status(f"building the site of {storage.root}"):
        result = build_site(storage, target, spark=spark)
    console.print(
        f"site: {result.tables} tables, {len(result.written)} pages written, {len(result.kept)} unchanged, "
        f"in {result.seconds:.1f}s"
    )
    console.print(f"open {result.index.resolve()}", soft_wrap=True)
    return result.index
