"""``campaign create`` states no default of its own: each option left out gives the campaign spec's."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import BaseModel
from typer.testing import CliRunner

from labeling.cli import app
from labeling.spec import Budget, CampaignSpec, ContentSpec, GroundTruthBackendSpec, ModelSpec

# options named unlike the spec field they set
RENAMED: dict[str, tuple[type[BaseModel], str]] = {
    "display_kind": (ContentSpec, "kind"),
    "gt_region": (GroundTruthBackendSpec, "region"),
    "cost_per_label": (Budget, "cost_per_label"),
    "annotators": (CampaignSpec, "annotators_per_item"),
    "model": (ModelSpec, "kind"),
}


def _option_defaults() -> dict[str, Any]:
    group = typer.main.get_group(app)
    command = group.commands["create"]
    return {p.name: p.default for p in command.params if p.name}


def test_create_options_default_to_the_campaign_spec() -> None:
    options = _option_defaults()
    # every option sharing a name with a spec field that has a plain default (not required, no factory)
    same_name: dict[str, tuple[type[BaseModel], str]] = {
        name: (CampaignSpec, name)
        for name, field in CampaignSpec.model_fields.items()
        if name in options and not field.is_required() and field.default_factory is None
    }
    assert {"strategy", "cold_start", "batch_size", "target_accuracy", "seed", "task_type"} <= set(same_name)
    wanted = {**same_name, **RENAMED}
    assert {o: options[o] for o in wanted} == {o: m.model_fields[f].default for o, (m, f) in wanted.items()}


def test_create_help_prints_the_lookup_syntax_as_written() -> None:
    """Rich reads ``:key:`` as an emoji code: the help once showed ``ZONE/TABLE🔑VALUE``."""
    result = CliRunner().invoke(app, ["create", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "COLUMN=ZONE/TABLE:KEY_COLUMN:NAME_COLUMN" in text
    assert "carrier=cleaned/airlines:carrier:name" in text
