"""Where a campaign stands: who labelled what, how good the machine labels are, and what it costs.

Everything here comes from the event log and the human labels (small), so ``status`` never starts Spark.
Money: an annotation costs ``cost_per_label``; a closed batch is paid in full (skipped tasks included),
an open one as far as annotations came back. The projection adds what the remaining budget would buy
from the items still left; the saving compares it with sending every pool item to humans.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from labeling.spec import CampaignSpec
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
    projected_total: float
    all_human_cost: float
    saving: float
    saving_pct: float
    coverage: float  # share of the pool with a label (human or machine)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
            spent_annotations += len(batch.items) * batch.annotators
    spent = spent_annotations * cost
    committed = state.annotations_ordered * cost
    future = 0 if state.finished else min(capacity(spec, state), left)
    projected = committed + future * spec.human_cost_per_item
    all_human = spec.pool_size * spec.human_cost_per_item
    saving = all_human - projected
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
        saving=saving,
        saving_pct=100.0 * saving / all_human if all_human else 0.0,
        coverage=(len(human_ids) + machine) / spec.pool_size if spec.pool_size else 0.0,
    )
