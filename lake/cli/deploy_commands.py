"""``lakeprep deploy|glue|emr|emr-serverless|catalog|iam`` and ``lakeprep pipeline status|start|submit``:
deploy the jobs and the pipeline to AWS and run them there."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.table import Table as RichTable

from lake.cli.common import console, err_console, print_table
from lake.cli.pipeline_commands import pipeline_app
from lake.contracts import ContractError, load_contracts
from lake.deploy import catalog, emr, glue, iam
from lake.deploy.arguments import ArgumentError, parse_run_arguments
from lake.deploy.artifacts import (
    DeployError,
    Release,
    build_or_use,
    current_release,
    publish_release,
    split_s3,
)
from lake.deploy.aws import Clients, RunState, follow
from lake.deploy.config import DeployConfig, DeployConfigError, load_config
from lake.job_scripts import available_jobs
from lake.paths import contracts_dir
from lake.pipeline import Pipeline, load_pipeline
from lake.storage import Storage
from lake.table import ZONES

EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env", "-e", help="Environment: deploy/<env>.yaml, or a path to a deployment file ($LAKEPREP_ENV)"
    ),
]
WheelOption = Annotated[
    Path | None, typer.Option("--wheel", help="Deploy this wheel instead of building one from the checkout")
]
ArgOption = Annotated[
    list[str] | None,
    typer.Option("--arg", help="Job argument name=value, e.g. --arg dataset=flights (repeatable)"),
]
WaitOption = Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run until it ends")]
PollOption = Annotated[float, typer.Option("--poll-seconds", min=0.0, help="Seconds between status checks")]

deploy_app = typer.Typer(
    help="Publish releases and create or update the jobs that run them.", no_args_is_help=True
)
glue_app = typer.Typer(help="Run deployed Glue jobs.", no_args_is_help=True)
emr_app = typer.Typer(help="Run jobs as EMR steps on a running cluster.", no_args_is_help=True)
serverless_app = typer.Typer(help="Run jobs on an EMR Serverless application.", no_args_is_help=True)
catalog_app = typer.Typer(
    help="Register the lake's Delta tables in the Glue Data Catalog.", no_args_is_help=True
)
iam_app = typer.Typer(help="Least-privilege IAM for the job role.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """The deploy groups, and the AWS side of ``lakeprep pipeline`` (status, start, submit)."""
    app.add_typer(deploy_app, name="deploy")
    app.add_typer(glue_app, name="glue")
    app.add_typer(emr_app, name="emr")
    app.add_typer(serverless_app, name="emr-serverless")
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(iam_app, name="iam")


@contextmanager
def _reported() -> Iterator[None]:
    """Known failures become one clear line and exit 2, not a traceback."""
    try:
        yield
    except (DeployConfigError, DeployError, ArgumentError, ContractError, LookupError, ValueError) as exc:
        err_console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    except (ClientError, BotoCoreError) as exc:
        err_console.print(f"[red]AWS error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None


def _check_job(job: str) -> None:
    jobs = available_jobs()
    if job not in jobs:
        raise LookupError(f"no job {job!r}; jobs are {jobs}")


def _check_account(config: DeployConfig, clients: Clients) -> None:
    """Deploying with another account's credentials is the classic mistake: say so before uploading."""
    account = clients.sts.get_caller_identity()["Account"]
    if account != config.account_id:
        err_console.print(
            f"[yellow]warning:[/] these credentials are for account {account}, the job role is in "
            f"{config.account_id} ({config.job_role_arn})",
            soft_wrap=True,
        )


def _publish(config: DeployConfig, clients: Clients, wheel: Path | None) -> Release:
    _check_account(config, clients)
    with console.status("building the lakeprep wheel" if wheel is None else "reading the wheel"):
        built, workdir = build_or_use(wheel)
    try:
        with console.status(f"uploading release {built.release_id} to {config.artifacts_root}"):
            release = publish_release(clients.s3, config, built)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    console.print(
        f"release [bold]{release.release_id}[/] (git {release.git_sha or 'unknown'}) at {release.uri}",
        soft_wrap=True,
    )
    return release


def _finish(state: RunState, logs: list[str]) -> None:
    for line in logs:
        console.print(f"  {line}", soft_wrap=True)
    if state.detail:
        console.print(f"  {state.detail}", soft_wrap=True)
    if not state.finished:
        return
    if not state.succeeded:
        err_console.print(f"[red]run ended {state.state}[/]", soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"[green]run {state.state}[/]", soft_wrap=True)


# -------------------------------------------------------------------------------------- deploy
@deploy_app.command("artifacts")
def deploy_artifacts(env: EnvOption = None, wheel: WheelOption = None) -> None:
    """Build the wheel and upload it with the job scripts, contracts and EMR bootstrap (for EMR runs)."""
    with _reported():
        config = load_config(env)
        release = _publish(config, Clients.for_config(config), wheel)
        console.print(f"EMR bootstrap action: {release.bootstrap_uri}", soft_wrap=True)


@deploy_app.command("glue")
def deploy_glue(env: EnvOption = None, wheel: WheelOption = None) -> None:
    """Publish a release, create or update one Glue job per job script and the pipeline's Glue
    workflow (triggers, EventBridge rule); idempotent."""
    with _reported():
        config = load_config(env)
        clients = Clients.for_config(config)
        pipeline = _pipeline(config)
        release = _publish(config, clients, wheel)
        deployed = glue.deploy_jobs(clients.glue, config, release)
        workflow = glue.deploy_workflow(clients.glue, clients.events, config, pipeline)
    _print_table(
        f"Glue jobs ({config.environment}, {config.region})",
        ("job", "Glue job", "action", "script"),
        [(d.job, d.name, _coloured(d.action), d.script) for d in deployed],
    )
    _print_table(
        f"Glue workflow of pipeline {pipeline.name}",
        ("kind", "name", "action", "what"),
        [(r.kind, r.name, _coloured(r.action), r.detail) for r in workflow],
    )
    if config.pipeline.on_landing:
        bucket = split_s3(config.lake_root)[0]
        console.print(
            f"[dim]note: the rule sees landed files only if bucket {bucket} sends events to EventBridge "
            "(S3 > Properties > Amazon EventBridge: On; see docs/deployment.md)[/]",
            soft_wrap=True,
        )


def _print_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    table = RichTable(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    print_table(table)


def _coloured(action: str) -> str:
    colour = {"created": "green", "updated": "yellow", "unchanged": "dim", "deleted": "red"}[action]
    return f"[{colour}]{action}[/]"


def _pipeline(config: DeployConfig) -> Pipeline:
    """The deployment's pipeline file, its datasets checked against the contracts that ship."""
    return load_pipeline(config.pipeline.file, load_contracts(contracts_dir()))


# ----------------------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class _Started:
    """A run a command started: how to announce it, follow it and find its logs."""

    message: str
    initial_state: str
    name: str
    state: Callable[[], RunState]
    logs: Callable[[], list[str]]


def _start_and_follow(
    job: str,
    env: str | None,
    arg: list[str] | None,
    wait: bool,
    poll_seconds: float,
    start: Callable[[DeployConfig, Clients, dict[str, str]], _Started],
) -> None:
    """What every run command does: load the environment, start, optionally follow, show the logs."""
    with _reported():
        config = load_config(env)
        _check_job(job)
        arguments = parse_run_arguments(arg or [])
        started = start(config, Clients.for_config(config), arguments)
        console.print(started.message, soft_wrap=True)
        state = RunState(started.initial_state, finished=False)
        if wait:
            state = follow(started.state, started.name, console, poll_seconds)
        logs = started.logs()
    _finish(state, logs)


@glue_app.command("run")
def glue_run(
    job: Annotated[str, typer.Argument(help="Job script name: ingest, clean, featurize")],
    env: EnvOption = None,
    arg: ArgOption = None,
    wait: WaitOption = False,
    poll_seconds: PollOption = 15.0,
) -> None:
    """Start a run of the deployed Glue job; with --wait, follow it and exit non-zero unless it succeeds."""

    def start(config: DeployConfig, clients: Clients, arguments: dict[str, str]) -> _Started:
        name = config.glue_job_name(job)
        run_id = glue.start_run(clients.glue, config, job, arguments)
        return _Started(
            f"started Glue job {name}: run [bold]{run_id}[/]",
            "STARTED",
            name,
            lambda: glue.run_state(clients.glue, name, run_id),
            lambda: glue.log_locations(config, name, run_id, glue.run_log_group(clients.glue, name, run_id)),
        )

    _start_and_follow(job, env, arg, wait, poll_seconds, start)


@emr_app.command("submit")
def emr_submit(
    job: Annotated[str, typer.Argument(help="Job script name: ingest, clean, featurize")],
    cluster_id: Annotated[str, typer.Option("--cluster-id", help="Running EMR cluster (j-...)")],
    env: EnvOption = None,
    arg: ArgOption = None,
    wait: WaitOption = False,
    poll_seconds: PollOption = 15.0,
) -> None:
    """Add an EMR step (command-runner.jar + spark-submit) running the current release's job script."""

    def start(config: DeployConfig, clients: Clients, arguments: dict[str, str]) -> _Started:
        release = current_release(clients.s3, config)
        step_id = emr.submit_step(clients.emr, config, release, job, cluster_id, arguments)
        return _Started(
            f"added step [bold]{step_id}[/] to {cluster_id} (release {release.release_id})",
            "PENDING",
            step_id,
            lambda: emr.step_state(clients.emr, cluster_id, step_id),
            lambda: emr.step_logs(clients.emr, cluster_id, step_id),
        )

    _start_and_follow(job, env, arg, wait, poll_seconds, start)


@serverless_app.command("submit")
def serverless_submit(
    job: Annotated[str, typer.Argument(help="Job script name: ingest, clean, featurize")],
    application_id: Annotated[str, typer.Option("--application-id", help="EMR Serverless Spark application")],
    env: EnvOption = None,
    arg: ArgOption = None,
    wait: WaitOption = False,
    poll_seconds: PollOption = 15.0,
) -> None:
    """Start an EMR Serverless job run of the current release's job script in its packaged Python env."""

    def start(config: DeployConfig, clients: Clients, arguments: dict[str, str]) -> _Started:
        release = current_release(clients.s3, config)
        client = clients.emr_serverless
        run_id = emr.submit_serverless(client, config, release, job, application_id, arguments)
        return _Started(
            f"started job run [bold]{run_id}[/] on {application_id} (release {release.release_id})",
            "SUBMITTED",
            run_id,
            lambda: emr.serverless_state(client, application_id, run_id),
            lambda: emr.serverless_logs(release, application_id, run_id),
        )

    _start_and_follow(job, env, arg, wait, poll_seconds, start)


# -------------------------------------------------------------------------------------- catalog
@catalog_app.command("register")
def catalog_register(
    env: EnvOption = None,
    lake: Annotated[
        str | None, typer.Option("--lake", help="Lake root (default: lake_root of the deployment)")
    ] = None,
    zone: Annotated[list[str] | None, typer.Option("--zone", help=f"Only these zones of {ZONES}")] = None,
    contracts: Annotated[
        str | None, typer.Option("--contracts", help="Contracts folder (default: schemas/)")
    ] = None,
) -> None:
    """Create or update a Glue Data Catalog table (table_type DELTA) for every Delta table of the lake."""
    with _reported():
        config = load_config(env)
        unknown = sorted(set(zone or []) - set(ZONES))
        if unknown:
            raise ValueError(f"unknown zone(s) {unknown}; zones are {ZONES}")
        storage = Storage.resolve(lake or config.lake_root)
        chosen = tuple(z for z in ZONES if not zone or z in zone)
        clients = Clients.for_config(config)
        with console.status(f"registering tables of {storage.root}"):
            registered = catalog.register_tables(
                clients.glue, config, storage, load_contracts(contracts_dir(contracts)), chosen
            )
    table = RichTable(title=f"Glue Data Catalog ({config.environment})")
    for column in ("table", "catalog table", "Delta version", "action"):
        table.add_column(column)
    for item in registered:
        table.add_row(item.ref, f"{item.database}.{item.name}", str(item.version), item.action)
    console.print(table if registered else f"no Delta tables in {storage.root}")


# ------------------------------------------------------------------------------------------ iam
@iam_app.command("policy")
def iam_policy(
    env: EnvOption = None,
    job: Annotated[
        list[str] | None,
        typer.Option("--job", help="Only for these jobs (a per-job role); default: all jobs"),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the JSON here")] = None,
    attach: Annotated[
        str | None, typer.Option("--attach", help="Also put it as this inline policy name on the job role")
    ] = None,
    events_role: Annotated[
        bool,
        typer.Option("--events-role", help="The policy of pipeline.on_landing.events_role_arn instead"),
    ] = False,
) -> None:
    """Print the least-privilege IAM policy the job role needs (JSON), or with --events-role the one
    the EventBridge role of pipeline.on_landing needs."""
    with _reported():
        config = load_config(env)
        jobs = job or available_jobs()
        for name in jobs:
            _check_job(name)
        if events_role:
            if config.pipeline.on_landing is None:
                raise ValueError("--events-role: the deployment file has no pipeline.on_landing")
            workflow = config.workflow_name(_pipeline(config).name)
            document = iam.policy_json(iam.events_role_policy(config, workflow))
            roles = {config.pipeline.on_landing.events_role_arn}
        else:
            document = iam.policy_json(iam.job_role_policy(config, jobs))
            roles = {config.role_for(name) for name in jobs}
        if attach:
            if len(roles) != 1:
                raise ValueError(
                    f"--attach: these jobs run under different roles {sorted(roles)}; attach per --job"
                )
            role_name = roles.pop().split(":role/", 1)[1].rsplit("/", 1)[-1]
            Clients.for_config(config).iam.put_role_policy(
                RoleName=role_name, PolicyName=attach, PolicyDocument=document
            )
            err_console.print(f"put inline policy {attach} on role {role_name}", soft_wrap=True)
    if output:
        output.write_text(document + "\n")
        err_console.print(f"wrote {output}", soft_wrap=True)
    else:
        typer.echo(document)
    if not events_role:
        err_console.print(f"[dim]note: {iam.UNSCOPABLE_NOTE}[/]", soft_wrap=True)


# ------------------------------------------------------------------------------------ pipeline
_STATE_COLOURS = {"SUCCEEDED": "green", "COMPLETED": "green", "NOT STARTED": "dim"}


def _state(state: str) -> str:
    colour = _STATE_COLOURS.get(state, "red" if state in glue.FAILED else "yellow")
    return f"[{colour}]{state}[/]"


@pipeline_app.command("status")
def pipeline_status(
    env: EnvOption = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="How many of the last workflow runs")] = 5,
) -> None:
    """The deployed Glue workflow's last runs and each stage's state (with the failed stages' errors)."""
    with _reported():
        config = load_config(env)
        pipeline = _pipeline(config)
        statuses = glue.workflow_status(Clients.for_config(config).glue, config, pipeline, runs)
    name = config.workflow_name(pipeline.name)
    if not statuses:
        console.print(
            f"workflow {name} has no runs yet: `lakeprep pipeline start --env {config.environment}`",
            soft_wrap=True,
        )
        return
    table = RichTable(title=f"Glue workflow {name} ({config.environment}): last {len(statuses)} runs")
    for column in ("workflow run", "status", "started (UTC)", *pipeline.jobs):
        table.add_column(column)
    for status in statuses:
        started = status.started_on.strftime("%Y-%m-%d %H:%M:%S") if status.started_on else "-"
        table.add_row(
            status.run_id, _state(status.status), started, *(_state(s.state) for s in status.stages)
        )
    print_table(table)
    for status in statuses:
        for stage in status.failed:
            console.print(
                f"{status.run_id}: {stage.job} {stage.state}: {stage.detail or '-'}", soft_wrap=True
            )


@pipeline_app.command("start")
def pipeline_start(env: EnvOption = None, wait: WaitOption = False, poll_seconds: PollOption = 15.0) -> None:
    """Start a run of the deployed Glue workflow; with --wait, follow it and exit 1 unless every stage succeeds."""
    with _reported():
        config = load_config(env)
        pipeline = _pipeline(config)
        client = Clients.for_config(config).glue
        run_id = glue.start_workflow(client, config, pipeline)
        name = config.workflow_name(pipeline.name)
        console.print(f"started Glue workflow {name}: run [bold]{run_id}[/]", soft_wrap=True)
        state = RunState("RUNNING", finished=False)
        if wait:
            state = follow(
                lambda: glue.workflow_run_state(client, config, pipeline, run_id), name, console, poll_seconds
            )
    _finish(state, [f"`lakeprep pipeline status --env {config.environment}` shows each stage"])


@pipeline_app.command("submit")
def pipeline_submit(
    cluster_id: Annotated[str, typer.Option("--cluster-id", help="Running EMR cluster (j-...)")],
    env: EnvOption = None,
    start: Annotated[str | None, typer.Option("--from", help="Start at this stage")] = None,
    arg: ArgOption = None,
    wait: WaitOption = False,
    poll_seconds: PollOption = 15.0,
) -> None:
    """Add the pipeline's stages to an EMR cluster as ordered steps (pipeline.emr_action_on_failure)."""
    with _reported():
        config = load_config(env)
        pipeline = _pipeline(config)
        stages = pipeline.stages_from(start)
        arguments = parse_run_arguments(arg or [])
        clients = Clients.for_config(config)
        release = current_release(clients.s3, config)
        step_ids = emr.submit_pipeline(clients.emr, config, release, stages, cluster_id, arguments)
        console.print(
            f"added {len(step_ids)} steps to {cluster_id} (release {release.release_id}, "
            f"on failure {config.pipeline.emr_action_on_failure}):",
            soft_wrap=True,
        )
        for stage, step_id in zip(stages, step_ids, strict=True):
            console.print(f"  {stage.job}: [bold]{step_id}[/]", soft_wrap=True)
        if not wait:
            return
        for stage, step_id in zip(stages, step_ids, strict=True):
            state = follow(
                lambda step=step_id: emr.step_state(clients.emr, cluster_id, step),  # type: ignore[misc]
                f"{stage.job} ({step_id})",
                console,
                poll_seconds,
            )
            if not state.succeeded:
                break
        logs = emr.step_logs(clients.emr, cluster_id, step_id)
    _finish(state, logs)
