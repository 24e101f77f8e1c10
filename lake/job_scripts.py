"""The job scripts as data: which exist, the options each declares, and the command line a run passes.

Below both the deployment (``lake.deploy``) and the pipelines (``lake.pipeline``), which read the same
scripts. Options are read from the script's ``OPTIONS`` literal without importing it (deploying must
not need Spark).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

from lake.paths import available_jobs as available_jobs  # re-exported: deploy and pipelines list jobs here


def job_options(script: Path) -> dict[str, str]:
    """The script's own ``OPTIONS = {...}`` (name -> help), read from its source."""
    tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        if any(isinstance(t, ast.Name) and t.id == "OPTIONS" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise ValueError(
                    f"{script}: OPTIONS must be a literal dict (deploy reads it without importing)"
                ) from None
            if isinstance(value, dict):
                return {str(k): str(v) for k, v in value.items()}
    return {}


def as_argv(arguments: Mapping[str, str]) -> list[str]:
    """Job arguments in Glue's convention (``{"--name": "value"}``, ``""`` for a flag) as a command line."""
    argv: list[str] = []
    for name, value in arguments.items():
        argv += [name, value] if value != "" else [name]
    return argv
