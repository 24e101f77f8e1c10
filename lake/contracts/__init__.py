"""Load dataset contracts from ``schemas/`` (or any folder / S3 prefix) with errors that name the file and field."""

from __future__ import annotations

from pathlib import Path

import yaml

from lake.contracts.model import (
    AllowedValuesRule,
    Column,
    CompletenessRule,
    Contract,
    DatasetRule,
    ExpressionRule,
    NotNullRule,
    RangeRule,
    ReferenceRule,
    RegexRule,
    RowCountRule,
    RowRule,
    UniqueRule,
    spark_schema_of,
)
from lake.contracts.odcs import contracts_from_odcs, is_odcs
from lake.contracts.parsing import (
    ContractError,
    field_path,
    parse_document,
    read_document,
    validate_document,
    validation_problems,
)
from lake.contracts.types import LogicalType, logical_type
from lake.documents import document_files

__all__ = [
    "AllowedValuesRule",
    "Column",
    "CompletenessRule",
    "Contract",
    "ContractError",
    "DatasetRule",
    "ExpressionRule",
    "LogicalType",
    "NotNullRule",
    "RangeRule",
    "ReferenceRule",
    "RegexRule",
    "RowCountRule",
    "RowRule",
    "UniqueRule",
    "contract_yaml",
    "field_path",
    "load_contract",
    "load_contracts",
    "logical_type",
    "parse_contract",
    "parse_contracts",
    "parse_document",
    "read_document",
    "spark_schema_of",
    "validate_document",
    "validation_problems",
]


def parse_contracts(text: str, source: str) -> list[Contract]:
    """Contract text in lakeprep's format or in ODCS v3 (told apart by content: ``apiVersion`` /
    ``kind: DataContract``) to its contracts: one, or one per schema object of an ODCS file."""
    data = read_document(text, source)
    contracts = (
        contracts_from_odcs(data, source) if is_odcs(data) else [validate_document(data, source, Contract)]
    )
    for contract in contracts:
        contract._path = source
    return contracts


def parse_contract(text: str, source: str) -> Contract:
    """Parse the text of one dataset's contract; ``source`` is the file name used in error messages."""
    contracts = parse_contracts(text, source)
    if len(contracts) != 1:
        names = ", ".join(c.name for c in contracts)
        raise ContractError(f"{source}: describes {len(contracts)} datasets ({names}); expected one")
    return contracts[0]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"{path}: cannot read contract: {exc.strerror}") from exc


def load_contract(path: str | Path) -> Contract:
    return parse_contract(_read(Path(path)), str(path))


def contract_yaml(contract: Contract) -> str:
    """A contract as lakeprep YAML, only what differs from the defaults (``parse_contract`` reads it back)."""
    data = contract.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)


def load_contracts(folder: str | Path) -> dict[str, Contract]:
    """Every contract directly under ``folder``, lakeprep YAML/JSON and ODCS files side by side (sub-folders
    such as ``features/`` hold other specs)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ContractError(f"{folder}: contracts folder not found")
    contracts: dict[str, Contract] = {}
    for path in document_files(folder):
        for contract in parse_contracts(_read(path), str(path)):
            if contract.name in contracts:
                raise ContractError(
                    f"{path}: dataset {contract.name!r} is already defined in {contracts[contract.name].path}"
                )
            contracts[contract.name] = contract
    return contracts
