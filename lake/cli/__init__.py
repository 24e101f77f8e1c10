"""The ``lakeprep`` command line: one typer app, one sub-module per area.

``lake.cli.lake_commands``  sample, run, tables, history, quality, vacuum, demo
``lake.cli.lineage_commands`` lineage, drift
``lake.cli.contract_commands`` contract export, import (ODCS v3)
``lake.cli.pipeline_commands`` pipeline run, show (status, start, submit: ``lake.deploy.cli``)
``labeling.cli``           campaign ...
``lake.deploy.cli``        deploy, glue, emr, emr-serverless, iam
"""

from __future__ import annotations

import typer

from lake.cli import contract_commands, lake_commands, pipeline_commands

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


def main() -> None:
    app()
