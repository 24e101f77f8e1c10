"""The demo campaign: a simulated labelling campaign on a features table, ending with its cost summary.

Annotators are simulated from the table's own label column (with a little noise), so the demo can
also say how accurate the machine labels really were - something a real campaign only estimates.
Re-running it is cheap: the campaign name carries the features version, so an unchanged table finds
the finished campaign and prints its summary again; a rebuilt table starts a new one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console

from labeling.campaign import Campaign, CampaignError
from labeling.pool import source_table
from labeling.report import CampaignStatus, render_status
from labeling.spec import Budget, ContentSpec, ModelSpec, SimulatedBackendSpec, StrategyName
from lake.storage import Storage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TRUTH_CANDIDATES = ("label", "is_late")


@dataclass(frozen=True)
class DemoSummary:
    campaign: str
    status: CampaignStatus
    accuracy: dict[str, dict[str, Any]]  # per label source: items and accuracy against the known labels
    seconds: float

    @property
    def machine_accuracy(self) -> float | None:
        return self.accuracy.get("machine", {}).get("accuracy")


def run_demo_campaign(
    storage: Storage,
    source: str = "features/flight_delay",
    *,
    name: str | None = None,
    truth_column: str | None = None,
    labels: Sequence[str] = ("on_time", "late"),
    pool_filter: str | None = "split = 'train'",
    batch_size: int = 200,
    budget_items: int | None = None,
    cost_per_label: float = 0.08,
    target_accuracy: float = 0.95,
    annotator_noise: float = 0.02,
    strategy: StrategyName = "hybrid",
    model: ModelSpec | None = None,
    spark: SparkSession | None = None,
    console: Console | None = None,
) -> DemoSummary:
    """Run (or resume) a simulated campaign on ``source`` and return its summary; with ``console``,
    print each round and the cost summary.

    ``truth_column`` defaults to the first of ``label`` / ``is_late`` in the table; ``budget_items`` to
    15% of the pool, at most 3,000; ``pool_filter`` is dropped when the table has no ``split`` column."""
    started = time.monotonic()
    table = source_table(storage, source)
    if not table.exists():
        raise CampaignError(f"no table {source} in {storage.root}: build the features first")
    version = table.version()
    columns = table.arrow_schema(version).names
    truth = truth_column or next((c for c in TRUTH_CANDIDATES if c in columns), None)
    if truth is None:
        raise CampaignError(f"{source} has none of {TRUTH_CANDIDATES}: pass truth_column")
    campaign_name = name or f"{table.name}_demo_v{version}"
    say = console.print if console else (lambda *_: None)
    campaign = Campaign(storage, campaign_name, spark=spark)
    if not campaign.exists():
        rows = table.row_count(version)
        campaign = Campaign.create(
            storage,
            name=campaign_name,
            source=source,
            id_column="example_id",
            content=ContentSpec(kind="record", columns=tuple(_display_columns(columns, truth))),
            labels=labels,
            backend=SimulatedBackendSpec(truth_column=truth, annotator_noise=(annotator_noise,)),
            budget=Budget(
                max_items=budget_items or max(batch_size, min(3000, rows * 15 // 100)),
                cost_per_label=cost_per_label,
            ),
            source_version=version,
            pool_filter=pool_filter if "split" in columns else None,
            batch_size=batch_size,
            target_accuracy=target_accuracy,
            strategy=strategy,
            model=model or ModelSpec(),
            spark=spark,
        )
        say(
            f"[bold]campaign {campaign_name}[/]: simulated annotators ({annotator_noise:.0%} noise) on {source}@{version}"
        )
    status = campaign.run(on_step=lambda step: say(f"  {step}"))
    accuracy = campaign.evaluate(truth)
    summary = DemoSummary(campaign_name, status, accuracy, time.monotonic() - started)
    if console:
        console.print(render_status(status))
        console.print(cost_summary(summary))
    return summary


def _display_columns(columns: Sequence[str], truth: str) -> list[str]:
    """What a human would be shown: a few descriptive columns (never the answer)."""
    preferred = ["carrier", "origin", "dest", "dep_hour", "month", "distance"]
    chosen = [c for c in preferred if c in columns]
    return chosen or [c for c in columns if c not in {"example_id", truth, "split"}][:4]


def cost_summary(summary: DemoSummary) -> str:
    """One paragraph: who labelled what, how good the machine labels were, and the money."""
    s = summary.status
    machine = summary.accuracy.get("machine")
    human = summary.accuracy.get("human")
    lines = [
        f"{s.human_items:,} items labelled by simulated humans, {s.machine_items:,} by the model, "
        f"{s.left:,} left unlabelled (pool {s.pool_size:,}; stopped: {s.finished or 'not yet'}).",
    ]
    if machine:
        lines.append(
            f"Machine labels: {machine['accuracy']:.1%} accurate against the true labels "
            f"(target {s.target_accuracy:.0%}; measured on the validation slice "
            f"{_pct(s.machine_accuracy)}, lower bound {_pct(s.machine_accuracy_lower_bound)})."
        )
    else:
        lines.append(
            f"No confidence level of the model (held-out accuracy {_pct(s.model_accuracy)}) reached the "
            f"{s.target_accuracy:.0%} target with {s.validation_items} validation labels: nothing was "
            "labelled by machine."
        )
    if human:
        lines.append(f"Human labels (noisy annotators, consensus): {human['accuracy']:.1%} accurate.")
    lines.append(
        f"Cost: {s.spent:,.2f} {s.currency} spent (projected {s.projected_total:,.2f}); every item by hand: "
        f"{s.all_human_cost:,.2f}; this campaign plus the {s.left:,} items it leaves, by hand: "
        f"{s.complete_cost:,.2f}; saving {s.saving:,.2f} {s.currency} ({s.saving_pct:.1f}%). "
        f"Done in {summary.seconds:,.0f}s."
    )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


__all__ = ["DemoSummary", "cost_summary", "run_demo_campaign"]
