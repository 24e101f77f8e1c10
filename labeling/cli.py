"""``lakeprep campaign ...``: create, round, sync, status, export, run, review, close-batch, list."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Group
from rich.live import Live
from rich.table import Table as RichTable
from rich.text import Text

from labeling.backends.base import BackendError, BackendUnavailableError
from labeling.campaign import Campaign, CampaignError
from labeling.report import render_status
from labeling.spec import (
    STRATEGIES,
    BackendSpec,
    Budget,
    CampaignSpec,
    ColdStart,
    Consensus,
    ContentKind,
    ContentSpec,
    GroundTruthBackendSpec,
    LabelStudioBackendSpec,
    Lookup,
    ModelKind,
    ModelSpec,
    SimulatedBackendSpec,
    StrategyName,
    TaskType,
)
from labeling.store import CampaignStore
from lake.cli.common import LakeOption, console, err_console, print_table, storage_for

app = typer.Typer(no_args_is_help=True, help="Labelling campaigns: active learning and auto-labelling.")
Name = Annotated[str, typer.Argument(help="Campaign name (lower-case letters, digits, - and _)")]


def _default(model: type[BaseModel], field: str) -> Any:
    """A spec field's default, so an option's default is the spec's and stated only there."""
    return model.model_fields[field].default


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


@contextmanager
def _errors() -> Iterator[None]:
    """Known failures as one red line and an exit code, not a traceback (3: backend down, retry later)."""
    try:
        yield
    except BackendUnavailableError as exc:
        err_console.print(f"[red]{exc}[/] - nothing was lost; run the command again once it is back")
        raise typer.Exit(3) from exc
    except (CampaignError, BackendError, ValueError) as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc


def _backend_spec(
    backend: str,
    truth_column: str | None,
    noise: str | None,
    ls_url: str | None,
    ls_project: str | None,
    gt_s3_prefix: str | None,
    gt_role_arn: str | None,
    gt_workteam_arn: str | None,
    gt_region: str,
    gt_price: float | None,
) -> BackendSpec:
    if backend == "simulated":
        if not truth_column:
            raise typer.BadParameter("the simulated backend needs --truth-column")
        levels = tuple(float(v) for v in _split(noise)) or _default(SimulatedBackendSpec, "annotator_noise")
        return SimulatedBackendSpec(truth_column=truth_column, annotator_noise=levels)
    if backend == "label_studio":
        if not ls_url:
            raise typer.BadParameter(
                "the Label Studio backend needs --ls-url (the token comes from the environment)"
            )
        return LabelStudioBackendSpec(url=ls_url, project_title=ls_project)
    if backend == "ground_truth":
        if not (gt_s3_prefix and gt_role_arn and gt_workteam_arn):
            raise typer.BadParameter("Ground Truth needs --gt-s3-prefix, --gt-role-arn and --gt-workteam-arn")
        return GroundTruthBackendSpec(
            s3_prefix=gt_s3_prefix,
            role_arn=gt_role_arn,
            workteam_arn=gt_workteam_arn,
            region=gt_region,
            price_usd=gt_price,
        )
    raise typer.BadParameter(f"unknown backend {backend!r}: simulated, label_studio or ground_truth")


@app.command()
def create(
    name: Name,
    source: Annotated[str, typer.Option(help="Lake table to label, e.g. features/flight_delay")],
    labels: Annotated[str, typer.Option(help="The label set, comma-separated (e.g. on_time,late)")],
    display: Annotated[list[str], typer.Option(help="Column(s) a human sees (repeatable)")],
    id_column: Annotated[str, typer.Option(help="Unique item id column")] = "example_id",
    display_kind: Annotated[
        str, typer.Option(help="text (one column), image (a lake path or URI column) or record (several)")
    ] = _default(ContentSpec, "kind"),
    task_type: Annotated[
        str,
        typer.Option(
            help="classification, multi_label (Ground Truth), named_entity (spans of a text) "
            "or bounding_box (boxes on an image)"
        ),
    ] = _default(CampaignSpec, "task_type"),
    content_table: Annotated[
        str | None,
        typer.Option(help="Table holding the --display columns, e.g. cleaned/flights (default: --source)"),
    ] = None,
    content_key: Annotated[
        str | None,
        typer.Option(help="Its column or SQL expression equal to the item id (default: --id-column)"),
    ] = None,
    lookup: Annotated[
        list[str] | None,
        typer.Option(
            help="Show a code by its name: COLUMN=ZONE/TABLE:KEY_COLUMN:NAME_COLUMN, e.g. carrier=cleaned/airlines:carrier:name"
        ),
    ] = None,
    instructions: Annotated[
        str, typer.Option(help="What annotators are asked (shown with every task)")
    ] = _default(CampaignSpec, "instructions"),
    label_description: Annotated[
        list[str] | None, typer.Option(help="LABEL=hint shown on that choice (repeatable)")
    ] = None,
    prelabel_above: Annotated[
        float | None,
        typer.Option(help="Show the model's answer as a pre-annotation only at this confidence or above"),
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="Model feature columns (default: every numeric column)")
    ] = None,
    where: Annotated[
        str | None, typer.Option(help="Spark SQL filter choosing the pool, e.g. \"split = 'train'\"")
    ] = None,
    source_version: Annotated[
        int | None, typer.Option(help="Pin this version (default: the current one)")
    ] = None,
    backend: Annotated[str, typer.Option(help="label_studio, ground_truth or simulated")] = "label_studio",
    truth_column: Annotated[
        str | None, typer.Option(help="simulated: the column with the known answer")
    ] = None,
    noise: Annotated[
        str | None, typer.Option(help="simulated: error rate per annotator, e.g. 0.02,0.05")
    ] = None,
    ls_url: Annotated[str | None, typer.Option(envvar="LABEL_STUDIO_URL", help="Label Studio URL")] = None,
    ls_project: Annotated[str | None, typer.Option(help="Label Studio project title")] = None,
    gt_s3_prefix: Annotated[str | None, typer.Option(help="Ground Truth: s3:// prefix for manifests")] = None,
    gt_role_arn: Annotated[
        str | None, typer.Option(help="Ground Truth: SageMaker execution role ARN")
    ] = None,
    gt_workteam_arn: Annotated[str | None, typer.Option(help="Ground Truth: work team ARN")] = None,
    gt_region: Annotated[str, typer.Option(help="Ground Truth: AWS region")] = _default(
        GroundTruthBackendSpec, "region"
    ),
    gt_price: Annotated[
        float | None, typer.Option(help="Ground Truth: USD per task (public workforce)")
    ] = None,
    strategy: Annotated[str, typer.Option(help=f"One of {', '.join(STRATEGIES)}")] = _default(
        CampaignSpec, "strategy"
    ),
    cold_start: Annotated[str, typer.Option(help="First batch: stratified, diverse or random")] = _default(
        CampaignSpec, "cold_start"
    ),
    batch_size: Annotated[int, typer.Option(help="Items per batch sent to humans")] = _default(
        CampaignSpec, "batch_size"
    ),
    budget_items: Annotated[int | None, typer.Option(help="At most this many items to humans")] = None,
    budget_money: Annotated[
        float | None, typer.Option(help="At most this much money on human labels")
    ] = None,
    cost_per_label: Annotated[float, typer.Option(help="Price of one human annotation")] = _default(
        Budget, "cost_per_label"
    ),
    target_accuracy: Annotated[
        float, typer.Option(help="Machine labels must reach this accuracy")
    ] = _default(CampaignSpec, "target_accuracy"),
    confidence_level: Annotated[float, typer.Option(help="...proven at this confidence")] = _default(
        CampaignSpec, "confidence_level"
    ),
    validation_fraction: Annotated[
        float, typer.Option(help="Random share of each batch kept to grade the model")
    ] = _default(CampaignSpec, "validation_fraction"),
    annotators: Annotated[int, typer.Option(help="Annotators per item")] = _default(
        CampaignSpec, "annotators_per_item"
    ),
    consensus: Annotated[str, typer.Option(help="majority or cleanlab")] = _default(
        CampaignSpec, "consensus"
    ),
    model: Annotated[
        str, typer.Option(help="logistic_regression, gradient_boosting or random_forest")
    ] = _default(ModelSpec, "kind"),
    no_autolabel: Annotated[bool, typer.Option("--no-autolabel", help="Humans label everything")] = False,
    seed: Annotated[int, typer.Option(help="Seed for sampling and models")] = _default(CampaignSpec, "seed"),
    lake: LakeOption = None,
) -> None:
    """Define a campaign on a pinned version of a lake table and set up its backend project."""
    with _errors():
        spec = _backend_spec(
            backend,
            truth_column,
            noise,
            ls_url,
            ls_project,
            gt_s3_prefix,
            gt_role_arn,
            gt_workteam_arn,
            gt_region,
            gt_price,
        )
        campaign = Campaign.create(
            storage_for(lake),
            name=name,
            source=source,
            id_column=id_column,
            content=ContentSpec(
                kind=_choice(display_kind, ContentKind),
                columns=tuple(display),
                table=content_table,
                key=content_key,
                lookups=tuple(_lookup(v) for v in lookup or []),
            ),
            labels=_split(labels),
            instructions=instructions,
            label_descriptions=dict(_pair(v, "--label-description") for v in label_description or []),
            prelabel_above=prelabel_above,
            backend=spec,
            task_type=_choice(task_type, TaskType),
            budget=Budget(max_items=budget_items, max_money=budget_money, cost_per_label=cost_per_label),
            feature_columns=_split(features) or None,
            source_version=source_version,
            pool_filter=where,
            strategy=_choice(strategy, StrategyName),
            cold_start=_choice(cold_start, ColdStart),
            batch_size=batch_size,
            target_accuracy=target_accuracy,
            confidence_level=confidence_level,
            validation_fraction=validation_fraction,
            annotators_per_item=annotators,
            consensus=_choice(consensus, Consensus),
            model=ModelSpec(kind=_choice(model, ModelKind)),
            autolabel=not no_autolabel,
            seed=seed,
        )
        state = campaign.state()
        console.print(
            f"[green]campaign {name}[/]: {state.spec.pool_size:,} items from {state.spec.source}@{state.spec.source_version}, "
            f"features {', '.join(state.spec.feature_columns)}; backend {state.spec.backend.kind} {state.backend or '(not reached yet)'}"
        )


def _choice(value: str, kind: Any) -> Any:
    allowed = kind.__args__
    if value not in allowed:
        raise typer.BadParameter(f"{value!r}: choose one of {', '.join(allowed)}")
    return value


def _pair(value: str, option: str) -> tuple[str, str]:
    name, sep, text = value.partition("=")
    if not sep or not name.strip():
        raise typer.BadParameter(f"{option} {value!r}: expected NAME=VALUE")
    return name.strip(), text.strip()


def _lookup(value: str) -> Lookup:
    column, spec = _pair(value, "--lookup")
    parts = spec.split(":")
    if len(parts) != 3 or not all(parts):
        raise typer.BadParameter(f"--lookup {value!r}: expected COLUMN=ZONE/TABLE:KEY_COLUMN:NAME_COLUMN")
    return Lookup(column=column, table=parts[0], key=parts[1], value=parts[2])


def _campaign(name: str, lake: str | None) -> Campaign:
    return Campaign(storage_for(lake), name)


@app.command("round")
def round_command(name: Name, lake: LakeOption = None) -> None:
    """Train on the labels so far, machine-label what is safe, push the next batch with pre-annotations."""
    from labeling.planner import describe

    with _errors():
        console.print(describe(_campaign(name, lake).round()))


@app.command()
def sync(name: Name, lake: LakeOption = None) -> None:
    """Pull finished annotations into the labels table (safe to repeat)."""
    with _errors():
        results = _campaign(name, lake).sync()
    if not results:
        console.print("no open batch")
    for result in results:
        state = "complete" if result.complete else "still open"
        changes = [
            f"{n} {what}" for n, what in ((result.updated, "edited"), (result.deleted, "deleted")) if n
        ]
        detail = f" ({', '.join(changes)})" if changes else ""
        console.print(
            f"{result.batch_id}: +{result.new} annotations{detail} ({result.stored} stored), {state}"
        )
        for note in result.notes[:10]:
            console.print(f"  [yellow]{note}[/]")


def _agreement_table(campaign: Campaign) -> RichTable | None:
    frame = campaign.annotator_agreement()
    if frame.empty or int(frame["shared"].sum()) == 0:
        return None
    table = RichTable(title="annotators (agreement with consensus on shared items)")
    for column in ("annotator", "labels", "shared", "agreement"):
        table.add_column(column, justify="left" if column == "annotator" else "right")
    for row in frame.itertuples(index=False):
        table.add_row(str(row.annotator_id), str(row.labels), str(row.shared), f"{100 * row.agreement:.1f}%")
    return table


@app.command()
def status(
    name: Name,
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh until the campaign finishes (Ctrl-C stops)")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes with --watch")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    lake: LakeOption = None,
) -> None:
    """Humans vs machine, model accuracy on held-out human labels, money spent, projection and saving."""
    campaign = _campaign(name, lake)

    def view() -> Group:
        status = campaign.status()
        parts: list[Any] = [render_status(status)]
        if status.backend_url:  # on one line, never wrapped, so it stays clickable
            parts.insert(0, Text(f"label here: {status.backend_url}", no_wrap=True, overflow="ignore"))
        agreement = _agreement_table(campaign)
        if agreement is not None:
            parts.append(agreement)
        return Group(*parts)

    with _errors():
        if as_json:
            console.print_json(json.dumps(campaign.status().as_dict()))
            return
        if not watch:
            console.print(view())
            return
        with Live(view(), console=console, refresh_per_second=1) as live:
            try:
                while not campaign.status().finished:
                    time.sleep(interval)
                    live.update(view())
            except KeyboardInterrupt:
                pass


@app.command()
def export(
    name: Name,
    to: Annotated[
        str | None, typer.Option(help="Target table zone/name (default labels/<campaign>_training)")
    ] = None,
    lake: LakeOption = None,
) -> None:
    """Write the training set: features joined with the final labels and their provenance."""
    with _errors():
        table, rows = _campaign(name, lake).export(to)
    console.print(f"[green]{table.ref}[/] version {table.version()}: {rows:,} labelled rows")


@app.command()
def run(
    name: Name,
    wait: Annotated[
        bool, typer.Option("--wait", help="Poll a real backend until annotators finish each batch")
    ] = False,
    poll: Annotated[float, typer.Option(help="Seconds between polls with --wait")] = 30.0,
    max_rounds: Annotated[int | None, typer.Option(help="Stop after this many rounds")] = None,
    lake: LakeOption = None,
) -> None:
    """The whole loop until the budget, the target or the pool is exhausted."""
    with _errors():
        final = _campaign(name, lake).run(
            wait=wait, poll_seconds=poll, max_rounds=max_rounds, on_step=console.print
        )
    console.print(render_status(final))


@app.command()
def review(
    name: Name,
    limit: Annotated[int, typer.Option(help="At most this many items")] = 50,
    annotators: Annotated[int, typer.Option(help="Annotators per reviewed item")] = 2,
    lake: LakeOption = None,
) -> None:
    """Send human labels that cleanlab finds likely wrong back to annotators."""
    from labeling.planner import describe

    with _errors():
        console.print(describe(_campaign(name, lake).review(limit, annotators)))


@app.command("close-batch")
def close_batch(
    name: Name, batch: Annotated[str, typer.Argument(help="Batch id, e.g. b004")], lake: LakeOption = None
) -> None:
    """Stop waiting on a batch: what was labelled stays, the rest returns to the pool."""
    with _errors():
        _campaign(name, lake).close_batch(batch)
    console.print(f"closed {batch}")


@app.command("list")
def list_campaigns(lake: LakeOption = None) -> None:
    """Campaigns recorded in the lake: state, backend and progress."""
    storage = storage_for(lake)
    names = CampaignStore.campaign_names(storage)
    if not names:
        console.print("no campaigns")
        return
    table = RichTable()
    for column in ("campaign", "state", "backend", "labelled", "humans", "machine", "spent"):
        text = column in ("campaign", "state", "backend")
        # identifiers stay whole on narrow terminals (and in pipes, where rich assumes 80 columns)
        table.add_column(column, justify="left" if text else "right", no_wrap=text)
    for name in names:
        with _errors():
            s = Campaign(storage, name).status()
        table.add_row(
            name,
            s.state,
            s.backend,
            f"{s.human_items + s.machine_items:,}/{s.pool_size:,} ({100 * s.coverage:.1f}%)",
            f"{s.human_items:,}",
            f"{s.machine_items:,}",
            f"{s.spent:,.2f} {s.currency}",
        )
    print_table(table)
