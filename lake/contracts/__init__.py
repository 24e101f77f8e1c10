"""Load dataset contracts from ``schemas/`` (or any folder / S3 prefix) with errors that name the file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

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
from lake.contracts.types import LogicalType, logical_type

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
    "load_contract",
    "load_contracts",
    "logical_type",
    "parse_contract",
    "parse_document",
    "spark_schema_of",
]

CONTRACT_SUFFIXES = (".yaml", ".yml", ".json")


class ContractError(ValueError):
    """A contract file that cannot be used; the message names the file and the field."""


def _error_location(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as a readable field path: ``columns[3].type``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_document(
    text: str,
    source: str,
    model: type[ModelT],
    what: str = "contract",
    error: type[ValueError] = ContractError,
) -> ModelT:
    """YAML/JSON text to a typed model; every error names ``source`` and the field path and is raised as
    ``error`` (a caller with its own kind of error passes it)."""
    try:
        data: Any = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise error(f"{source}: not valid {'JSON' if source.endswith('.json') else 'YAML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{source}: a {what} must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_error_location(err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise error(f"{source}: {problems}") from None


def parse_contract(text: str, source: str) -> Contract:
    """Parse contract text; ``source`` is the file name used in error messages."""
    contract = parse_document(text, source, Contract)
    contract._path = source
    return contract


def load_contract(path: str | Path) -> Contract:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"{path}: cannot read contract: {exc.strerror}") from exc
    return parse_contract(text, str(path))


def load_contracts(folder: str | Path) -> dict[str, Contract]:
    """Every contract directly under ``folder`` (sub-folders such as ``features/`` hold other specs)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ContractError(f"{folder}: contracts folder not found")
    contracts: dict[str, Contract] = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix in CONTRACT_SUFFIXES and p.is_file()):
        contract = load_contract(path)
        if contract.name in contracts:
            raise ContractError(
                f"{path}: dataset {contract.name!r} is already defined in {contracts[contract.name].path}"
            )
        contracts[contract.name] = contract
    return contracts
