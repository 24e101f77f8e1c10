"""Where a campaign stands: who labelled what, how good the machine labels are, and what it costs.

Everything here comes from the event log and the human labels (small), so ``status`` never starts Spark.
Money: an annotation costs ``cost_per_label``; a closed batch is paid in full (skipped tasks included),
an open one as far as annotations came back. The projected total adds what the remaining budget would
buy from the items still left. The saving compares a fully labelled pool both ways: everything by hand,
against this campaign plus the items it leaves unlabelled done by hand - so only machine labels count
as saved, never items nobody labelled.

Accuracy of machine labels is only ever measured on a sample (the validation slice), so a figure is
never shown without its sample size and its one-sided Clopper-Pearson lower bound: "100% on 60 items"
is at least 95.1% with 95% confidence, not 100%. Each label gets the same figures of its own.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from rich.table import Table as RichTable

from labeling.regions import ItemConsensus, item_consensus, region_summary
from labeling.spec import CampaignSpec, LabelStudioBackendSpec
from labeling.state import CampaignState
from labeling.sync import answered

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
class ClassStatus:
    """One label: who labelled items with it, and how sure the machine labels saying it are."""

    label: str
    human_items: int  # human-labelled items whose consensus is this label
    machine_items: int  # items machine-labelled with it
    threshold: float | None  # the latest round's confidence for machine labels saying it (None: never)
    machine_accuracy: float | None  # measured on the validation items above the threshold
    measured_on: int  # how many validation items that is (the fewest of any round that labelled)
    machine_accuracy_lower_bound: float | None  # at the campaign's confidence level
    validation_items: int  # validation items of this class (human label) in the latest round
    validation_needed: int  # what it must show before any item is labelled by machine (0: no auto-labelling)
    wrong_share_upper_bound: float | None  # at most this share of the class gets a wrong machine label


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
    machine_accuracy_measured_on: int  # validation items behind machine_accuracy (fewest of any round)
    confidence_level: float
    classes: list[ClassStatus]
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
    regions: int | None = None  # span and box campaigns: regions people drew (None for classes)
    agreed_regions: int | None = None  # of those, the consensus: regions most of an item's annotators drew
    unanimous_items: int | None = None  # answered items every annotator answered alike

    @property
    def state(self) -> str:
        if self.finished:
            return f"finished ({self.finished})"
        if self.open_batches:
            return f"waiting for annotators ({', '.join(self.open_batches)})"
        return "ready for a round" if self.rounds or self.human_items else "created"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, floats rounded to what the figures mean (4 decimals), nested ones too."""
        return dict(_rounded(asdict(self)))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def human_consensus_counts(human: pa.Table, n_labels: int) -> list[int]:
    """Human-labelled items per label (each item counted once, under its most frequent label)."""
    counts = [0] * n_labels
    if human.num_rows == 0:
        return counts
    frame = human.select(["example_id", "label_index"]).to_pandas()
    votes = frame.groupby(["example_id", "label_index"]).size().reset_index(name="votes")
    top = votes.sort_values(["votes", "label_index"], ascending=[False, True]).drop_duplicates("example_id")
    for index, count in top["label_index"].value_counts().items():
        if 0 <= int(index) < n_labels:
            counts[int(index)] = int(count)
    return counts


def region_counts(items: list[ItemConsensus], labels: tuple[str, ...]) -> list[int]:
    """Human-labelled items per label in a span or box campaign: items whose consensus has such a region."""
    return [sum(any(r.label == label for r in i.regions) for i in items) for label in labels]


def class_status(
    state: CampaignState, human: pa.Table, items: list[ItemConsensus] | None = None
) -> list[ClassStatus]:
    """Per label: human and machine items, and the machine labels' measured accuracy with its bound
    (``items``: the region consensus of a span or box campaign, whose items count per region label)."""
    spec = state.spec
    if items is None:
        humans = human_consensus_counts(human, len(spec.labels))
    else:
        humans = region_counts(items, spec.labels)
    calibration = (state.latest_training() or {}).get("calibration") or {}
    out = []
    for index, label in enumerate(spec.labels):
        rounds = [
            p["labels"][label]
            for p in state.autolabelled.values()
            if label in (p.get("labels") or {}) and p["labels"][label].get("rows")
        ]
        rows = sum(int(r["rows"]) for r in rounds)
        measured = [r for r in rounds if r.get("n_above")]
        accuracy = (
            sum(r["rows"] * (r.get("accuracy_above") or 0.0) for r in measured) / rows
            if rows and measured
            else None
        )
        bounds = [r["lower_bound"] for r in measured if r.get("lower_bound") is not None]
        latest_label = (calibration.get("labels") or {}).get(str(index)) or {}
        latest_class = (calibration.get("classes") or {}).get(str(index)) or {}
        floor = calibration.get("floor")
        threshold = latest_label.get("threshold")
        out.append(
            ClassStatus(
                label=label,
                human_items=humans[index],
                machine_items=rows,
                threshold=None if threshold is None or floor is None else max(threshold, floor),
                machine_accuracy=accuracy,
                measured_on=min((int(r["n_above"]) for r in measured), default=0),
                machine_accuracy_lower_bound=min(bounds) if bounds else None,
                validation_items=int(latest_class.get("n_validation") or 0),
                validation_needed=spec.validation_per_label if spec.autolabel else 0,
                wrong_share_upper_bound=latest_class.get("wrong_share_upper_bound"),
            )
        )
    return out


def backend_url(state: CampaignState) -> str | None:
    """The page where annotators work, when the backend has one (the Label Studio project)."""
    spec = state.spec.backend
    project = state.backend.get("project_id")
    if isinstance(spec, LabelStudioBackendSpec) and project is not None:
        return f"{spec.url}/projects/{project}/data"
    return None


def compute_status(state: CampaignState, human: pa.Table) -> CampaignStatus:
    """The figures of ``status``. Money counts answers (one per item and annotator, however many spans
    or boxes it holds); a span or box campaign adds its regions and their consensus."""
    spec = state.spec
    items = item_consensus(human) if spec.structured else None
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
    measured_on = [int(p["n_above"]) for p in rounds_with_rows if p.get("n_above")]

    cost = spec.budget.cost_per_label
    spent_annotations = 0
    for batch in state.batches.values():
        if batch.is_open:
            spent_annotations += answered(human.filter(pc.equal(human["batch_id"], batch.batch_id)))
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
        human_annotations=answered(human),
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
        machine_accuracy_measured_on=min(measured_on, default=0),
        confidence_level=spec.confidence_level,
        classes=class_status(state, human, items),
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
        **({} if items is None else _region_fields(human, items)),
    )


def _region_fields(human: pa.Table, items: list[ItemConsensus]) -> dict[str, int]:
    summary = region_summary(human, items)
    return {k: summary[k] for k in ("regions", "agreed_regions", "unanimous_items")}


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
        *(
            []
            if status.regions is None
            else [
                (
                    "regions drawn",
                    f"{status.regions:,} ({status.agreed_regions:,} agreed by most annotators; "
                    f"{status.unanimous_items:,} items answered alike by all)",
                )
            ]
        ),
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
        *(
            []
            if (short := labels_short_of_validation(status.classes)) is None
            else [("validation slice", short)]
        ),
        ("machine-label threshold now", "-" if status.threshold is None else f"{status.threshold:.3f}"),
        (
            f"machine-label accuracy (target {pct(status.target_accuracy)})",
            measured(
                status.machine_accuracy,
                status.machine_accuracy_measured_on,
                status.machine_accuracy_lower_bound,
                status.confidence_level,
            ),
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
    for c in status.classes:
        table.add_row(
            f"  {c.label}",
            f"{c.human_items:,} by humans, {c.machine_items:,} by machine"
            + (
                f": {measured(c.machine_accuracy, c.measured_on, c.machine_accuracy_lower_bound, status.confidence_level)}"
                if c.machine_items
                else ""
            )
            + (
                f"; at most {pct(c.wrong_share_upper_bound)} of the class mislabelled by machine"
                if c.wrong_share_upper_bound is not None and status.machine_items
                else ""
            )
            + (
                f"; {c.validation_items:,} of the {c.validation_needed} validation items it needs"
                if c.validation_items < c.validation_needed
                else ""
            ),
        )
    return table


def labels_short_of_validation(classes: list[ClassStatus]) -> str | None:
    """Why nothing is labelled by machine yet, when that is the reason: the labels whose validation items
    cannot prove the target (one short label blocks every machine label:
    ``autolabel.calibrate_per_label``)."""
    short = [c for c in classes if c.validation_items < c.validation_needed]
    if not short:
        return None
    listed = ", ".join(f"{c.label} {c.validation_items:,}" for c in short)
    return f"every label needs {short[0].validation_needed} before any machine label; short: {listed}"


def measured(accuracy: float | None, n: int, bound: float | None, confidence: float) -> str:
    """A measured accuracy with what it rests on: '100.0% on 60 validation items, >= 95.1% (95% conf.)'."""
    if accuracy is None:
        return "-"
    floor = "-" if bound is None else f"{100 * bound:.1f}%"
    return f"{100 * accuracy:.1f}% on {n:,} validation items, >= {floor} ({confidence:.0%} confidence)"
