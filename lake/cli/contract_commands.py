"""``lakeprep contract export`` / ``import``: lakeprep contracts to ODCS v3 files and back.

Both directions go through the one ``Contract`` model, so an exported file read back gives the same
contract (same rules, same fingerprint).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from lake.cli.common import err_console
from lake.contracts import ContractError, contract_yaml, load_contracts, parse_contracts, read_document
from lake.contracts.odcs import SUFFIX, is_odcs, odcs_yaml
from lake.paths import contracts_dir

contract_app = typer.Typer(
    help="Contracts in the Open Data Contract Standard (ODCS v3): export lakeprep contracts, import ODCS files.",
    no_args_is_help=True,
)

ContractsOption = Annotated[
    str | None,
    typer.Option("--contracts", help="Contracts folder (default $LAKEPREP_CONTRACTS, then schemas/)"),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Folder to write the files into (default: print)")
]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace files that already exist in --out")]


class ContractFormat(str, Enum):
    odcs = "odcs"


def register(app: typer.Typer) -> None:
    app.add_typer(contract_app, name="contract")


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return typer.Exit(2)


def _write(out: Path, name: str, text: str, force: bool) -> None:
    target = out / name
    if target.exists() and not force:
        raise _fail(f"{target} exists; pass --force to replace it")
    out.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {escape(str(target))}", highlight=False)


@contract_app.command("export")
def export(
    dataset: Annotated[str | None, typer.Argument(help="Dataset whose contract to export")] = None,
    all_datasets: Annotated[bool, typer.Option("--all", help="Export every contract in the folder")] = False,
    fmt: Annotated[ContractFormat, typer.Option("--format", help="Format to write")] = ContractFormat.odcs,
    out: OutOption = None,
    contracts: ContractsOption = None,
    force: ForceOption = False,
) -> None:
    """Write contracts as ODCS v3 YAML (``<dataset>.odcs.yaml`` in --out, or printed)."""
    if (dataset is not None) == all_datasets:
        raise _fail("name one DATASET or pass --all")
    if all_datasets and out is None:
        raise _fail("--all writes one file per dataset: pass --out DIR")
    try:
        known = load_contracts(contracts_dir(contracts))
    except ContractError as exc:
        raise _fail(str(exc)) from None
    if dataset is not None and dataset not in known:
        raise _fail(f"no contract for dataset {dataset!r} (known: {', '.join(sorted(known))})")
    chosen = sorted(known) if all_datasets else [str(dataset)]
    for name in chosen:
        text = odcs_yaml(known[name])
        if out is None:
            print(text, end="")
        else:
            _write(out, f"{name}{SUFFIX}", text, force)


@contract_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="An ODCS v3 contract (YAML or JSON)")],
    out: OutOption = None,
    force: ForceOption = False,
) -> None:
    """Read an ODCS v3 contract and write each schema object as a lakeprep contract (``<dataset>.yaml``)."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{file}: cannot read contract: {exc.strerror}") from None
    try:
        if not is_odcs(read_document(text, str(file))):
            raise ContractError(f"{file}: not an ODCS contract (it has no apiVersion / kind: DataContract)")
        imported = parse_contracts(text, str(file))
    except ContractError as exc:
        raise _fail(str(exc)) from None
    for i, contract in enumerate(imported):
        if out is None:
            print(("---\n" if i else "") + contract_yaml(contract), end="")
        else:
            _write(out, f"{contract.name}.yaml", contract_yaml(contract), force)
