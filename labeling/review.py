"""Review: human labels that cleanlab finds likely wrong go back to more annotators.

The labels' out-of-sample probabilities (cross-validated, each item scored by a model that never saw
it) feed cleanlab's confident learning; the most suspicious items, as many as the budget still buys,
become a review batch sent to ``annotators`` people. Their answers join the item's consensus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labeling import planner, quality
from labeling.planner import CampaignError, RoundResult
from labeling.report import capacity
from labeling.training import load_labelled

if TYPE_CHECKING:
    from labeling.campaign import Campaign


def review(campaign: Campaign, limit: int = 50, annotators: int = 2) -> RoundResult:
    """Plan and push a review batch of at most ``limit`` likely mislabelled items."""
    state = campaign.state()
    spec = state.spec
    planner.require_closed(state)
    labelled = load_labelled(campaign.spark, campaign.storage, spec, campaign.store)
    if labelled.items.empty:
        raise CampaignError("no human labels to review yet")
    probs = quality.out_of_sample_probs(
        spec.model, labelled.features, labelled.labels, len(spec.labels), spec.seed
    )
    if probs is None:
        raise CampaignError("too few labels per class to estimate which are wrong")
    suspects = quality.likely_mislabelled(labelled.labels, probs)
    budget = min(limit, capacity(spec, state))
    picked = suspects[:budget]
    if len(picked) == 0:
        return RoundResult(
            max(state.trained, default=0),
            note=f"cleanlab found {len(suspects)} suspicious labels; budget allows {budget}",
        )
    ids = [str(labelled.items["example_id"][i]) for i in picked]
    batch = planner.review_batch(state, ids, annotators)
    campaign.plan_and_push(campaign.context("review", batch=batch.batch_id), spec, batch)
    return RoundResult(
        batch.round,
        batch_id=batch.batch_id,
        batch_items=len(batch.items),
        note=f"{len(suspects)} likely mislabelled",
    )
