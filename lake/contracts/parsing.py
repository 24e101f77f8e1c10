"""Declarative documents to typed models, with errors that name the file and the field: contracts here,
and the feature specs, deployment and pipeline files that reuse it. Below both contract formats
(``lake.contracts.model``'s and ODCS's in ``lake.contracts.odcs``), which ``lake.contracts`` puts
side by side."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError


class ContractError(ValueError):
    """A contract file that cannot be used; the message names the file and the field."""


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as a readable field path: ``columns[3].type``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


ModelT = TypeVar("ModelT", bound=BaseModel)


def validation_problems(
    exc: ValidationError, locate: Callable[[tuple[int | str, ...]], str] = field_path
) -> str:
    """pydantic's errors as one line, ``field.path: message; ...``; ``locate`` spells a location (a caller
    whose document has another shape than the model, such as an ODCS file, maps it back to its own fields)."""
    return "; ".join(
        f"{locate(err['loc'])}: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()
    )


def read_document(
    text: str, source: str, what: str = "contract", error: type[ValueError] = ContractError
) -> dict[str, Any]:
    """YAML/JSON text to a mapping; errors name ``source``."""
    try:
        data: Any = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise error(f"{source}: not valid {'JSON' if source.endswith('.json') else 'YAML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{source}: a {what} must be a mapping, got {type(data).__name__}")
    return data


def parse_document(
    text: str,
    source: str,
    model: type[ModelT],
    what: str = "contract",
    error: type[ValueError] = ContractError,
) -> ModelT:
    """YAML/JSON text to a typed model; every error names ``source`` and the field path and is raised as
    ``error`` (a caller with its own kind of error passes it)."""
    return validate_document(read_document(text, source, what, error), source, model, error)


def validate_document(
    data: dict[str, Any], source: str, model: type[ModelT], error: type[ValueError] = ContractError
) -> ModelT:
    """A mapping to a typed model; the error names ``source`` and every field path at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{source}: {validation_problems(exc)}") from None
