"""The ``lakeprep`` command line: one typer app, one sub-module per area.

``lake.cli.lake_commands``  sample, run, tables, history, quality, vacuum, demo
``lake.cli.lineage_commands`` lineage, drift
``lake.cli.contract_commands`` contract export, import (ODCS v3)
``lake.cli.pipeline_commands`` pipeline run, show (status, start, submit: ``lake.deploy.cli``)
``labeling.cli``           campaign ...
``lake.deploy.cli``        deploy, glue, emr, emr-serverless, iam
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lake.cli import contract_commands, lake_commands, pipeline_commands
from lake.errors import enable_debug, report

app = typer.Typer(
    name="lakeprep",
    help="Prepare ML data in a Delta lake: contracts, quarantine, lineage, features, labelling.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
lake_commands.register(app)
pipeline_commands.register(app)
contract_commands.register(app)


def _register_optional() -> None:
    """Areas whose dependencies are extras register only when importable, so a Glue-side install
    (core dependencies only) still gets the core commands."""
    from lake.cli import lineage_commands, site_commands

    lineage_commands.register(app)
    site_commands.register(app)
    try:
        from labeling.cli import app as campaign_app
    except ImportError as exc:  # labeling extra not installed
        campaign_app = _missing("campaign", "labeling", exc)
    app.add_typer(
        campaign_app, name="campaign", help="Labelling campaigns: active learning and auto-labelling."
    )
    from lake.deploy.cli import register as register_deploy

    register_deploy(app)


def _missing(name: str, extra: str, exc: ImportError) -> typer.Typer:
    stub = typer.Typer(help=f"(needs: pip install 'lakeprep[{extra}]')")

    @stub.callback(invoke_without_command=True)
    def _explain() -> None:
        raise typer.BadParameter(
            f"`lakeprep {name}` needs the {extra} extra: pip install 'lakeprep[{extra}]' ({exc})"
        )

    return stub


_register_optional()


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks (default: one line, the traceback in a log file)")
    ] = False,
) -> None:
    if debug:
        enable_debug()


def main() -> None:
    """``lakeprep``: an error ends in one line naming what to fix (``lake.errors``); ``--debug`` may come
    anywhere, and reaches the jobs ``lakeprep run`` starts."""
    args = sys.argv[1:]
    if "--debug" in args:
        args = ["--debug", *(a for a in args if a != "--debug")]
    try:
        app(args=args, prog_name="lakeprep")
    except Exception as exc:
        raise SystemExit(report(exc, "lakeprep")) from None
