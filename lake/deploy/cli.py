"""``lakeprep deploy|glue|emr|emr-serverless|catalog|iam``: deploy the jobs to AWS and run them there."""

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

from lake.cli.common import console, err_console
from lake.contracts import ContractError, load_contracts
from lake.deploy import catalog, emr, glue, iam
from lake.deploy.arguments import ArgumentError, parse_run_arguments
from lake.deploy.artifacts import DeployError, Release, build_or_use, current_release, publish_release
from lake.deploy.aws import Clients, RunState, follow
from lake.deploy.config import DeployConfig, DeployConfigError, load_config
from lake.deploy.jobs import available_jobs
from lake.paths import contracts_dir
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
    """Publish a release, then create or update one Glue job per job script (idempotent)."""
    with _reported():
        config = load_config(env)
        clients = Clients.for_config(config)
        release = _publish(config, clients, wheel)
        deployed = glue.deploy_jobs(clients.glue, config, release)
    table = RichTable(title=f"Glue jobs ({config.environment}, {config.region})")
    for column in ("job", "Glue job", "action", "script"):
        table.add_column(column)
    for item in deployed:
        colour = {"created": "green", "updated": "yellow", "unchanged": "dim"}[item.action]
        table.add_row(item.job, item.name, f"[{colour}]{item.action}[/]", item.script)
    console.print(table)


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
) -> None:
    """Print the least-privilege IAM policy the job role needs (JSON)."""
    with _reported():
        config = load_config(env)
        jobs = job or available_jobs()
        for name in jobs:
            _check_job(name)
        document = iam.policy_json(iam.job_role_policy(config, jobs))
        if attach:
            roles = {config.role_for(name) for name in jobs}
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
    err_console.print(f"[dim]note: {iam.UNSCOPABLE_NOTE}[/]", soft_wrap=True)
