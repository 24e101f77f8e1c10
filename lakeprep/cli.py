"""``lakeprep``, the console script: the core's command areas (``lake.cli``) and the
add-ons' (``demo``, ``campaign``) in one typer app, in the order ``lakeprep --help`` lists them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lake.cli import (
    contract_commands,
    deploy_commands,
    lake_commands,
    lineage_commands,
    pipeline_commands,
    site_commands,
)
from lake.errors import enable_debug, report
from lakeprep.demo import demo

app = typer.Typer(
    name="lakeprep",
    help="Prepare ML data in a Delta lake: contracts, quarantine, lineage, features, labelling.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _campaign_app() -> typer.Typer:
    """``labeling.cli``'s app, or a stub that names the extra to install: a Glue-side install (core
    dependencies only) still gets every other command."""
    try:
        from labeling.cli import app as campaign_app
    except ImportError as exc:  # labeling extra not installed
        return _missing("campaign", "labeling", exc)
    return campaign_app


def _missing(name: str, extra: str, exc: ImportError) -> typer.Typer:
    stub = typer.Typer(help=f"(needs: pip install 'lakeprep[{extra}]')")

    @stub.callback(invoke_without_command=True)
    def _explain() -> None:
        raise typer.BadParameter(
            f"`lakeprep {name}` needs the {extra} extra: pip install 'lakeprep[{extra}]' ({exc})"
        )

    return stub


# typer lists commands first, then groups, each in the order registered.
lake_commands.register(app)
app.command("demo")(demo)
pipeline_commands.register(app)
contract_commands.register(app)
lineage_commands.register(app)
site_commands.register(app)
app.add_typer(
    _campaign_app(), name="campaign", help="Labelling campaigns: active learning and auto-labelling."
)
deploy_commands.register(app)


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
