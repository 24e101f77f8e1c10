"""Where a campaign stands: who labelled what, how good the machine labels are, and what it costs.

Everything here comes from the event log and the human labels (small), so ``status`` never starts Spark.
Money: an annotation costs ``cost_per_label``; a closed batch is paid in full (skipped tasks included),
an open one as far as annotations came back. The projected total adds what the remaining budget would
buy from the items still left. The saving compares a fully labelled pool both ways: everything by hand,
against this campaign plus the items it leaves unlabelled done by hand - so only machine labels count
as saved, never items nobody labelled.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from rich.table import Table as RichTable

from labeling.spec import CampaignSpec, LabelStudioBackendSpec
from labeling.state import CampaignState

UNLIMITED = 10**18


def capacity(spec: CampaignSpec, state: CampaignState) -> int:
    """How many more items the budget lets humans label (items and money limits, whichever is tighter)."""
    budget = spec.budget
    limits: list[float] = []
    if budget.max_items is not None:
        limits.append(budget.max_items - state.items_sent)
    if budget.max_money is not None:
        per_item = spec.human_cost_per_item
        ordered = state.annotations_ordered * budget.cost_per_label
        limits.append(
            math.inf if per_item == 0 else math.floor((budget.max_money - ordered) / per_item + 1e-9)
        )
    bound = min(limits, default=math.inf)
    return UNLIMITED if bound == math.inf else max(0, int(bound))


@dataclass(frozen=True)
class CampaignStatus:
    campaign: str
    source: str
    source_version: int
    backend: str
    strategy: str
    target_accuracy: float
    pool_size: int
    human_items: int
    human_annotations: int
    machine_items: int
    in_flight: int
    left: int
    rounds: int
    open_batches: list[str]
    finished: str | None
    model_version: str | None
    validation_items: int
    model_accuracy: float | None  # the latest model on held-out human labels (the validation slice)
    threshold: float | None
    machine_accuracy: float | None  # measured on the validation slice above each round's threshold
    machine_accuracy_lower_bound: float | None
    currency: str
    cost_per_item: float
    spent: float
    committed: float
    projected_total: float  # this campaign, to its end within the budget
    all_human_cost: float  # every pool item by hand
    complete_cost: float  # this campaign, plus by hand every item it leaves unlabelled
    saving: float
    saving_pct: float
    coverage: float  # share of the pool with a label (human or machine)
    backend_url: str | None = None  # where people label (the Label Studio project)

    @property
    def state(self) -> str:
        if self.finished:
            return f"finished ({self.finished})"
        if self.open_batches:
            return f"waiting for annotators ({', '.join(self.open_batches)})"
        return "ready for a round" if self.rounds or self.human_items else "created"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, floats rounded to what the figures mean (4 decimals)."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def backend_url(state: CampaignState) -> str | None:
    """The page where annotators work, when the backend has one (the Label Studio project)."""
    spec = state.spec.backend
    project = state.backend.get("project_id")
    if isinstance(spec, LabelStudioBackendSpec) and project is not None:
        return f"{spec.url}/projects/{project}/data"
    return None


def compute_status(state: CampaignState, human: pa.Table) -> CampaignStatus:
    spec = state.spec
    human_ids = set(human["example_id"].to_pylist())
    in_flight = len(state.in_flight - human_ids)
    machine = state.machine_labelled
    left = max(0, spec.pool_size - len(human_ids) - machine - in_flight)
    latest = state.latest_training() or {}
    calibration = latest.get("calibration") or {}

    rounds_with_rows = [p for p in state.autolabelled.values() if p.get("rows")]
    weighted = sum(p["rows"] * (p.get("accuracy_above") or 0.0) for p in rounds_with_rows)
    machine_accuracy = weighted / machine if machine and rounds_with_rows else None
    bounds = [p["lower_bound"] for p in rounds_with_rows if p.get("lower_bound") is not None]

    cost = spec.budget.cost_per_label
    spent_annotations = 0
    for batch in state.batches.values():
        if batch.is_open:
            in_batch = pc.equal(human["batch_id"], batch.batch_id)
            spent_annotations += int(pc.sum(in_batch).as_py() or 0)
        else:
            spent_annotations += batch.annotations_charged
    spent = spent_annotations * cost
    committed = state.annotations_ordered * cost
    future = 0 if state.finished else min(capacity(spec, state), left)
    projected = committed + future * spec.human_cost_per_item
    all_human = spec.pool_size * spec.human_cost_per_item
    complete = projected + (left - future) * spec.human_cost_per_item
    saving = all_human - complete
    return CampaignStatus(
        campaign=spec.name,
        source=spec.source,
        source_version=spec.source_version,
        backend=spec.backend.kind,
        strategy=spec.strategy,
        target_accuracy=spec.target_accuracy,
        pool_size=spec.pool_size,
        human_items=len(human_ids),
        human_annotations=human.num_rows,
        machine_items=machine,
        in_flight=in_flight,
        left=left,
        rounds=max(state.trained, default=0),
        open_batches=[b.batch_id for b in state.open_batches],
        finished=(state.finished or {}).get("reason"),
        model_version=latest.get("model_version"),
        validation_items=int(calibration.get("n_validation") or 0),
        model_accuracy=calibration.get("validation_accuracy"),
        threshold=calibration.get("threshold"),
        machine_accuracy=machine_accuracy,
        machine_accuracy_lower_bound=min(bounds) if bounds else None,
        currency=spec.budget.currency,
        cost_per_item=spec.human_cost_per_item,
        spent=spent,
        committed=committed,
        projected_total=projected,
        all_human_cost=all_human,
        complete_cost=complete,
        saving=saving,
        saving_pct=100.0 * saving / all_human if all_human else 0.0,
        coverage=(len(human_ids) + machine) / spec.pool_size if spec.pool_size else 0.0,
        backend_url=backend_url(state),
    )


def render_status(status: CampaignStatus) -> RichTable:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    def money(value: float) -> str:
        return f"{value:,.2f} {status.currency}"

    table = RichTable(
        title=f"campaign {status.campaign} ({status.source}@{status.source_version}, {status.backend})",
        show_header=False,
    )
    table.add_column("")
    table.add_column("", justify="right")
    rows = [
        ("pool", f"{status.pool_size:,}"),
        ("labelled by humans", f"{status.human_items:,} items ({status.human_annotations:,} annotations)"),
        ("labelled by machine", f"{status.machine_items:,} items"),
        ("with annotators now", f"{status.in_flight:,}"),
        ("left", f"{status.left:,}"),
        ("coverage", pct(status.coverage)),
        (
            "rounds",
            f"{status.rounds}"
            + (f" (open: {', '.join(status.open_batches)})" if status.open_batches else ""),
        ),
        ("model", status.model_version or "-"),
        (
            "model accuracy (held-out human labels)",
            f"{pct(status.model_accuracy)} on {status.validation_items} items",
        ),
        ("machine-label threshold now", "-" if status.threshold is None else f"{status.threshold:.3f}"),
        (
            f"machine-label accuracy (target {pct(status.target_accuracy)})",
            f"{pct(status.machine_accuracy)} measured, >= {pct(status.machine_accuracy_lower_bound)} lower bound",
        ),
        ("spent", money(status.spent)),
        ("projected total (this campaign)", money(status.projected_total)),
        ("labelling everything by hand", money(status.all_human_cost)),
        ("this campaign + the rest by hand", money(status.complete_cost)),
        ("saving", f"{money(status.saving)} ({status.saving_pct:.1f}%)"),
        ("state", status.state),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table
