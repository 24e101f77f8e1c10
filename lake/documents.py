"""The declarative files lakeprep reads: dataset contracts, feature specs, deployment files, pipeline
files and campaign specs. They share one strict model base, one identifier rule and one way to be
found in a folder, so a file the loader accepts is also one that listings and releases see.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")  # JSON files are read as JSON, the others as YAML
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"  # a column or feature name Spark SQL takes unquoted
IDENTIFIER_PATTERN = rf"^{IDENTIFIER}$"


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo in a file must not silently disable a rule) and a loaded
    document is a value (frozen)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def is_document(path: Path) -> bool:
    """A YAML or JSON file (by its suffix)."""
    return path.suffix in DOCUMENT_SUFFIXES


def document_files(folder: Path) -> list[Path]:
    """The documents directly in ``folder`` (none when it does not exist), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_document(p) and p.is_file())


def document_names(folder: Path) -> list[str]:
    """The names (file stems) of the documents in ``folder``."""
    return [p.stem for p in document_files(folder)]


def find_document(name: str, folders: Iterable[Path]) -> Path | None:
    """``<folder>/<name>.yaml`` (or ``.yml``, ``.json``) in the first of ``folders`` that has one."""
    for folder in folders:
        for suffix in DOCUMENT_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    return None
