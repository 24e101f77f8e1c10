"""The round planner: every decision a campaign command makes, as pure functions of the spec and the
state (no Spark, no lake, no backend), so they can be read and tested on their own.

``labeling.campaign`` runs the loops around them: it reads the state, asks the planner what to do,
does the I/O (train, score, write labels, push, pull) and records the outcome as events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from scipy.stats import beta

from labeling.backends.base import Task
from labeling.report import capacity
from labeling.spec import CampaignSpec
from labeling.state import Batch, CampaignState, PlannedItem


class CampaignError(RuntimeError):
    """A command that cannot proceed in the campaign's current state; the message says what to do."""


@dataclass(frozen=True)
class RoundResult:
    round: int
    model_version: str | None = None
    calibration: dict[str, Any] | None = None
    machine_labelled: int = 0
    batch_id: str | None = None
    batch_items: int = 0
    finished: str | None = None
    note: str = ""


def default_features(schema: pa.Schema, exclude: Sequence[str]) -> list[str]:
    """The assembled ``features`` vector when the table has one (as the featurize job writes it), else
    every numeric column not excluded (ids, the truth, splits)."""
    vector = next((f for f in schema if f.name == "features" and pa.types.is_list(f.type)), None)
    if vector is not None and pa.types.is_floating(vector.type.value_type):
        return ["features"]
    return [
        f.name
        for f in schema
        if f.name not in exclude
        and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type))
    ]


def unpushed(state: CampaignState) -> list[Batch]:
    """Batches planned before an interruption and never pushed: the next ``round`` pushes them first."""
    return [b for b in state.open_batches if not b.pushed]


def require_closed(state: CampaignState) -> None:
    if state.open_batches:
        open_ids = ", ".join(b.batch_id for b in state.open_batches)
        raise CampaignError(f"batch {open_ids} is still open: run `sync` (or `close-batch`) first")


def stop_reason(spec: CampaignSpec, state: CampaignState, left: int, machine: int) -> str | None:
    """Why the campaign ends this round, if it does: the pool is labelled, or the budget is spent."""
    if left == 0:  # every item labelled: by machine at the target (at least in part), or all by humans
        return "target_reached" if machine or state.machine_labelled else "pool_exhausted"
    if capacity(spec, state) <= 0:
        return "budget"
    return None


def batch_size(spec: CampaignSpec, state: CampaignState, left: int) -> int:
    return min(spec.batch_size, capacity(spec, state), left)


MAX_VALIDATION_SHARE = 2 / 3  # of a batch: the rest still goes to the strategy (active learning)
VALIDATION_MARGIN = 1.15  # a random slice splits unevenly between labels: aim a little above the need
SHARE_QUANTILE = 0.2  # a label's share of the pool is taken at this lower quantile: small counts mislead


def label_share(count: int, total: int, n_labels: int, quantile: float = SHARE_QUANTILE) -> float:
    """A cautious estimate of a label's share of the pool from ``count`` of ``total`` random validation
    items: the ``quantile`` of its Beta posterior under a uniform Dirichlet prior (a label not seen yet
    still gets a share, a small count a low one)."""
    return float(beta.ppf(quantile, count + 1, total - count + n_labels - 1))


def validation_needed(
    spec: CampaignSpec, counts: Sequence[int] = (), quantile: float = SHARE_QUANTILE
) -> int:
    """How large the random validation slice must grow for every label to show
    ``CampaignSpec.validation_per_label`` items, given ``counts``, the human labels per label already in
    it (``slice_size``)."""
    return slice_size(spec.validation_per_label, len(spec.labels), counts, quantile)


def slice_size(
    per_label: int, n_labels: int, counts: Sequence[int] = (), quantile: float = SHARE_QUANTILE
) -> int:
    """The validation slice that gives each of ``n_labels`` labels ``per_label`` items. Before any label
    is known: as if the labels were equally frequent, with ``VALIDATION_MARGIN`` (no slice can be smaller:
    the rarest label is at most 1 / ``n_labels`` of the pool); after: for the label furthest from its
    need, the slice so far plus its missing items (with the margin) divided by its cautious share
    (``label_share``) - the rarest class sets the size, learnt as the slice grows.

    Growing the slice this way keeps the guarantee: the items stay uniform random draws and the rule
    looks only at their human labels, never at the model's answers. Given the labels drawn, each class's
    items are independent draws of that class whatever the stopping rule, so the per-class
    Clopper-Pearson bounds hold as for a slice of fixed size (docs/labeling.md says more)."""
    equal = math.ceil(per_label * n_labels * VALIDATION_MARGIN)
    total = sum(counts)
    missing = [
        (per_label - count) / label_share(count, total, n_labels, quantile)
        for count in counts
        if count < per_label
    ]
    if total == 0 or not missing:
        return equal if total == 0 else total
    return max(equal, total + math.ceil(max(missing) * VALIDATION_MARGIN))


def validation_count(spec: CampaignSpec, size: int, counts: Sequence[int], budget_left: int) -> int:
    """How many of a batch of ``size`` go to the random validation slice: ``validation_fraction`` of it,
    raised (up to ``MAX_VALIDATION_SHARE``) when that pace would spend the budget before the slice holds
    ``validation_needed`` labels - a slice too small to prove the target means no machine labels at all
    however good the model (``counts``: validation labels per label so far; ``budget_left``: items the
    budget still buys, this batch included)."""
    if size < 2 or spec.validation_fraction == 0:
        return 0
    share = max(1, round(size * spec.validation_fraction))
    missing = validation_needed(spec, counts) - sum(counts)
    if not spec.autolabel or missing <= share:
        return share
    batches = max(1, math.ceil(budget_left / spec.batch_size))
    return max(share, min(math.ceil(missing / batches), math.floor(size * MAX_VALIDATION_SHARE)))


def validation_shortfall(spec: CampaignSpec, counts: Sequence[int], budget_left: int) -> str:
    """A note when the budget cannot buy a slice that proves every label: which label is short, by how
    many validation labels, and about how many more random items that takes at the median estimate of
    its share (the cautious one sizes the slice, and would warn too early); "" when it can, or before any
    validation label (nothing is known of the shares then)."""
    total = sum(counts)
    if not spec.autolabel or total == 0:
        return ""
    per_label = spec.validation_per_label
    short = [(i, c) for i, c in enumerate(counts) if c < per_label]
    if not short:
        return ""
    buys = math.floor(budget_left * MAX_VALIDATION_SHARE)
    needed = validation_needed(spec, counts, quantile=0.5) - total
    if needed <= buys:
        return ""
    index, count = min(short, key=lambda s: (s[1] + 1) / (total + len(counts)))
    return (
        f"the budget may not buy a validation slice that proves every label, and one label short blocks "
        f"every machine label: {spec.labels[index]!r} has {count} of the {per_label} validation labels it "
        f"needs ({per_label - count} short), about {needed:,} more random items at its share so far, the "
        f"budget buys at most {buys:,}"
    )


def round_batch(
    spec: CampaignSpec, number: int, model_version: str | None, items: Sequence[PlannedItem]
) -> Batch:
    """The round's batch: the strategy's picks, or a cold start while there is no model yet."""
    return Batch(
        batch_id=f"b{number:03d}",
        round=number,
        kind="round",
        strategy=spec.strategy if model_version else f"cold_start:{spec.cold_start}",
        model_version=model_version,
        annotators=spec.annotators_per_item,
        items=tuple(items),
    )


def review_batch(state: CampaignState, ids: Sequence[str], annotators: int) -> Batch:
    """Items whose human labels look wrong, sent to ``annotators`` more people."""
    reviews = sum(1 for b in state.batches.values() if b.kind == "review")
    return Batch(
        batch_id=f"review{reviews + 1:03d}",
        round=max(state.trained, default=0),
        kind="review",
        strategy="cleanlab_review",
        model_version=None,
        annotators=max(annotators, 1),
        items=tuple(PlannedItem(i, "review") for i in ids),
    )


def tasks_for(
    spec: CampaignSpec, batch: Batch, shown: dict[str, dict[str, Any]], truths: dict[str, Any]
) -> list[Task]:
    """What the backend receives: each item's content and, only at or above the campaign's
    ``prelabel_above`` confidence, the model's answer (people are sent the items the model is unsure
    about, so a suggestion there would anchor them)."""
    tasks = []
    for item in batch.items:
        confident = spec.prelabel_above is not None and (item.score or 0.0) >= spec.prelabel_above
        predicted = item.predicted if confident else None
        tasks.append(
            Task(
                example_id=item.example_id,
                purpose=item.purpose,
                data={c: shown.get(item.example_id, {}).get(c) for c in spec.content.columns},
                predicted=predicted,
                score=item.score if predicted is not None else None,
                model_version=batch.model_version if predicted is not None else None,
                truth=truths.get(item.example_id),
            )
        )
    return tasks


def describe(outcome: RoundResult) -> str:
    parts = [f"round {outcome.round}"]
    if outcome.model_version:
        parts.append(f"model {outcome.model_version}")
    calibration = outcome.calibration or {}
    if calibration.get("validation_accuracy") is not None:
        parts.append(
            f"held-out accuracy {calibration['validation_accuracy']:.3f} (n={calibration['n_validation']})"
        )
    if calibration.get("threshold") is not None:
        parts.append(f"threshold {calibration['threshold']:.3f}")
    if outcome.machine_labelled:
        parts.append(f"{outcome.machine_labelled:,} machine labels")
    if outcome.batch_id:
        parts.append(f"batch {outcome.batch_id}: {outcome.batch_items} items to humans")
    if outcome.finished:
        parts.append(f"finished ({outcome.finished})")
    if outcome.note:
        parts.append(outcome.note)
    return ", ".join(parts)
