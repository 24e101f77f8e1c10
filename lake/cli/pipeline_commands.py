"""``lakeprep pipeline run|show``: the pipeline's stages run locally in one command (the AWS side,
``status``, ``start`` and ``submit``, is added by ``lake.cli.deploy_commands``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from lake.cli.common import LakeOption, console, err_console, print_table, storage_for
from lake.contracts import ContractError, load_contracts
from lake.paths import contracts_dir
from lake.pipeline import Pipeline, PipelineError, load_pipeline
from lake.pipeline.runner import PipelineRun, StageRun, run_pipeline

pipeline_app = typer.Typer(
    help="The pipeline (ingest -> clean -> featurize): run it locally, or on AWS as a Glue workflow / EMR steps.",
    no_args_is_help=True,
)

PipelineOption = Annotated[
    str | None,
    typer.Option(
        "--pipeline", "-p", help="pipelines/<name>.yaml, or a path to a pipeline file (default: default)"
    ),
]
ContractsOption = Annotated[
    str | None, typer.Option("--contracts", help="Contracts folder (default: schemas/)")
]


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")


def load_checked(pipeline: str | None, contracts: str | None) -> Pipeline:
    """The pipeline, its datasets checked against the contracts; a bad file exits 2 with one line."""
    try:
        return load_pipeline(pipeline, load_contracts(contracts_dir(contracts)))
    except (PipelineError, ContractError) as exc:
        err_console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


def _datasets(values: list[str] | None) -> list[str] | None:
    chosen = [d.strip() for value in values or [] for d in value.split(",") if d.strip()]
    return chosen or None


@pipeline_app.command("show")
def show(pipeline: PipelineOption = None, contracts: ContractsOption = None) -> None:
    """Validate the pipeline file and print its stages with the arguments each job gets."""
    chosen = load_checked(pipeline, contracts)
    table = RichTable(title=f"pipeline {chosen.name}: {chosen.description}".rstrip(": "))
    for column in ("#", "job", "arguments"):
        table.add_column(column)
    for index, stage in enumerate(chosen.stages, 1):
        arguments = " ".join(f"{k} {v}".strip() for k, v in stage.arguments().items())
        everything = "[dim](every dataset)[/]" if stage.takes_datasets else "-"
        table.add_row(str(index), stage.job, arguments or everything)
    print_table(table)


@pipeline_app.command("run")
def run(
    lake: LakeOption = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Start at this stage (default: where the last run stopped)")
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            "--dataset", help="Only these datasets in the stages that take --dataset (repeatable, or a,b)"
        ),
    ] = None,
    pipeline: PipelineOption = None,
    contracts: ContractsOption = None,
) -> None:
    """Run the stages in order with spark-submit; stop at the first failure, resume there next time."""
    chosen = load_checked(pipeline, contracts)
    datasets = _datasets(dataset)
    try:
        storage = storage_for(lake)
        if not storage.exists(storage.root):  # the run state must not create an empty lake
            raise PipelineError(
                f"--lake {storage.root}: no lake there (`lakeprep sample --lake {storage.root}` creates one)"
            )
        if start:
            chosen.index(start)
        if datasets:
            known = load_contracts(contracts_dir(contracts))
            unknown = sorted(set(datasets) - set(known))
            if unknown:
                raise PipelineError(f"--dataset: no contract for {unknown}; known: {sorted(known)}")
    except (PipelineError, ContractError, FileNotFoundError) as exc:
        err_console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None

    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    )
    tasks: dict[str, TaskID] = {}

    def planned(run: PipelineRun) -> None:
        if run.resumed_from:
            skipped = [s.job for s in run.stages if s.state == "skipped"]
            console.print(
                f"resuming run {run.resumed_from}: {', '.join(skipped)} succeeded there", soft_wrap=True
            )

    def started(stage: StageRun) -> None:
        progress.update(tasks[stage.job], description=f"{stage.job}: running ({stage.run_id})")
        progress.start_task(tasks[stage.job])

    def ended(stage: StageRun) -> None:
        task = tasks[stage.job]
        progress.stop_task(task)
        if stage.state == "succeeded":
            progress.update(task, description=f"[green]{stage.job}: succeeded[/] in {stage.seconds}s")
            console.print(f"[green]✓[/] {stage.job} succeeded in {stage.seconds}s ({stage.run_id})")
        else:
            progress.update(task, description=f"[red]{stage.job}: failed[/]")
            console.print(f"[red]✗ {stage.job} failed:[/] {stage.reason}", soft_wrap=True)

    with progress:
        for job in chosen.jobs:
            tasks[job] = progress.add_task(f"{job}: waiting", start=False, total=None)
        outcome = run_pipeline(
            chosen,
            storage,
            datasets=datasets,
            contracts=contracts,
            start=start,
            on_plan=planned,
            on_start=started,
            on_end=ended,
        )
        for record in outcome.stages:
            if record.state == "skipped":
                progress.update(tasks[record.job], description=f"[dim]{record.job}: skipped[/]")
            elif record.state == "pending":
                progress.update(tasks[record.job], description=f"[dim]{record.job}: not run[/]")
    failed = outcome.stopped_at
    if failed is not None:
        err_console.print(
            f"[red]error:[/] pipeline {chosen.name} stopped at {failed.job}: {failed.reason} "
            f"(log: {failed.log}); fix it and re-run `lakeprep pipeline run` to resume there",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    console.print(f"[green]pipeline {chosen.name} succeeded[/] (run {outcome.run_id})", soft_wrap=True)
