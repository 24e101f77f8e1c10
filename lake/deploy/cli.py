"""``lakeprep deploy|glue|emr|emr-serverless|iam`` (owned by the deployment work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    del app
