"""A round: train on the human labels so far, machine-label what is proven safe, plan and push the
next batch.

A round that crashed is redone with the same number: machine labels are written once per round (Delta
app transaction ``autolabel:<campaign>`` = last round written), a batch is recorded as planned before
it is pushed, and a batch planned but not pushed is pushed by the next call (backends never create a
task twice for a batch). What to do at each step is the planner's decision (``labeling.planner``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from labeling import planner, pool
from labeling.autolabel import LabelCalibrations
from labeling.machine import proven, write_machine_labels
from labeling.models import FittedModel
from labeling.planner import RoundResult
from labeling.report import capacity
from labeling.selection import select_batch
from labeling.spec import CampaignSpec
from labeling.store import MACHINE, Event
from labeling.training import calibrate, fit_round_model, load_labelled
from lake.lineage import RunContext
from lake.spark import persist_on_disk

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from labeling.campaign import Campaign


def run_round(campaign: Campaign) -> RoundResult:
    """Train on the labels so far, machine-label what is safe, pick and push the next batch."""
    state = campaign.state()
    spec = state.spec
    waiting = planner.unpushed(state)
    if waiting:
        for batch in waiting:
            campaign.push(state, batch)
        last = waiting[-1]
        return RoundResult(
            last.round,
            last.model_version,
            batch_id=last.batch_id,
            batch_items=len(last.items),
            note="pushed a batch planned before an interruption",
        )
    planner.require_closed(state)
    if state.finished:
        return RoundResult(
            max(state.trained, default=0), finished=state.finished.get("reason"), note="campaign finished"
        )
    number, _ = state.current_round()
    ctx = campaign.context("round", round=number)
    labelled = load_labelled(campaign.spark, campaign.storage, spec, campaign.store)
    model = fit_round_model(spec, labelled, number)
    calibration = calibrate(spec, model, labelled)
    measured = calibration.as_dict() if calibration else None
    campaign.record(
        ctx,
        spec,
        Event(
            f"trained:r{number}",
            "trained",
            {
                "model_version": model.version if model else None,
                "n_train": int((~labelled.validation).sum()),
                "calibration": measured,
            },
            round=number,
        ),
    )
    scored = scored_pool(campaign, spec, model, number)
    try:
        machine = 0
        remaining = scored
        if model is not None and calibration is not None and calibration.thresholds and spec.autolabel:
            machine = autolabel(campaign, ctx, spec, scored, model, calibration, number)
            remaining = scored.filter(~proven(calibration.thresholds))
        left = remaining.count()
        reason = planner.stop_reason(spec, state, left, machine)
        if reason is not None:
            campaign.record(
                ctx,
                spec,
                Event("finished", "finished", {"reason": reason, "round": number}, round=number),
            )
            return RoundResult(number, model.version if model else None, measured, machine, finished=reason)
        size = planner.batch_size(spec, state, left)
        counts = np.bincount(labelled.labels[labelled.validation], minlength=len(spec.labels)).tolist()
        budget_left = min(capacity(spec, state), left)
        validation = planner.validation_count(spec, size, counts, budget_left)
        picked = select_batch(
            campaign.spark, campaign.storage, spec, remaining, model, labelled, size, number, validation
        )
        batch = planner.round_batch(spec, number, model.version if model else None, picked)
    finally:
        if model is not None:
            scored.unpersist()
    campaign.plan_and_push(ctx, spec, batch)
    short = planner.validation_shortfall(spec, counts, budget_left)
    return RoundResult(
        number, batch.model_version, measured, machine, batch.batch_id, len(batch.items), note=short
    )


def scored_pool(campaign: Campaign, spec: CampaignSpec, model: FittedModel | None, number: int) -> DataFrame:
    """The pool not yet labelled, with a random key per round and, once a model exists, its scores."""
    frame = pool.pool_frame(campaign.spark, campaign.storage, spec, campaign.store.labels, salt=number)
    if model is None:
        return frame
    return persist_on_disk(pool.score_pool(frame, model, spec.id_column))


def autolabel(
    campaign: Campaign,
    ctx: RunContext,
    spec: CampaignSpec,
    scored: DataFrame,
    model: FittedModel,
    calibration: LabelCalibrations,
    number: int,
) -> int:
    """Machine labels for the pool items whose label is proven at their confidence (``labeling.machine``)."""
    tags = campaign.tags(
        ctx,
        spec,
        round=number,
        strategy="autolabel",
        model_version=model.version,
        annotators=[f"model:{model.version}"],
        label_source=MACHINE,
        threshold=calibration.threshold,
        thresholds={spec.labels[i]: t for i, t in calibration.thresholds.items()},
        measured_accuracy=calibration.accuracy_above,
        accuracy_lower_bound=calibration.lower_bound,
    )
    payload = write_machine_labels(
        campaign.spark, campaign.store, spec, scored, model, calibration, number, tags, ctx.run_id
    )
    campaign.record(ctx, spec, Event(f"autolabelled:r{number}", "autolabelled", payload, round=number))
    return int(payload["rows"])
