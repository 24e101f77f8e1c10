"""The round planner's decisions, without Spark, a lake or a backend."""

from __future__ import annotations

import pytest

from labeling import planner
from labeling.spec import Budget, CampaignSpec, ContentSpec, SimulatedBackendSpec
from labeling.state import Batch, CampaignState, PlannedItem


def spec(**overrides: object) -> CampaignSpec:
    settings: dict[str, object] = {
        "name": "plan",
        "source": "features/x",
        "source_version": 0,
        "id_column": "example_id",
        "content": ContentSpec(columns=("text",)),
        "labels": ("neg", "pos"),
        "feature_columns": ("f",),
        "pool_size": 100,
        "backend": SimulatedBackendSpec(truth_column="label"),
        "budget": Budget(max_items=30),
        "batch_size": 20,
        **overrides,
    }
    return CampaignSpec.model_validate(settings)


ITEMS = (
    PlannedItem("a", "validation"),
    PlannedItem("b", "query", "pos", 0.55),
    PlannedItem("c", "query", "neg", 0.97),
)


def test_query_items_carry_the_models_answer_only_above_the_campaigns_confidence() -> None:
    batch = planner.round_batch(spec(), 2, "m2", ITEMS)
    shown = {i.example_id: {"text": f"item {i.example_id}"} for i in ITEMS}
    default = planner.tasks_for(spec(), batch, shown, {})
    assert [t.predicted for t in default] == [None, None, None]  # unsure items: no anchor by default
    assert [t.data for t in default] == [{"text": "item a"}, {"text": "item b"}, {"text": "item c"}]
    confident = planner.tasks_for(spec(prelabel_above=0.9), batch, shown, {"c": 0})
    assert [(t.predicted, t.score, t.model_version) for t in confident] == [
        (None, None, None),
        (None, None, None),
        ("neg", 0.97, "m2"),
    ]
    assert confident[2].truth == 0


def test_batches_budget_and_stop_reasons() -> None:
    campaign = spec()
    state = CampaignState(spec=campaign)
    assert planner.stop_reason(campaign, state, left=50, machine=0) is None
    assert planner.stop_reason(campaign, state, left=0, machine=0) == "pool_exhausted"
    assert planner.stop_reason(campaign, state, left=0, machine=3) == "target_reached"
    assert planner.batch_size(campaign, state, left=50) == 20
    cold = planner.round_batch(campaign, 1, None, ITEMS[:1])
    assert (cold.batch_id, cold.strategy) == ("b001", "cold_start:stratified")
    state.batches["b001"] = Batch("b001", 1, "round", "hybrid", None, 1, ITEMS * 10)
    assert planner.batch_size(campaign, state, left=50) == 0
    assert planner.stop_reason(campaign, state, left=50, machine=0) == "budget"
    with pytest.raises(planner.CampaignError, match="b001 is still open"):
        planner.require_closed(state)
    # closed by hand after 4 answers: only those count against the budget
    state.batches["b001"] = Batch(
        "b001", 1, "round", "hybrid", None, 1, ITEMS * 10,
        closed={"billed_annotations": 4, "labelled_items": 4},
    )  # fmt: skip
    planner.require_closed(state)
    assert planner.batch_size(campaign, state, left=50) == 20
    review = planner.review_batch(state, ["a", "b"], annotators=2)
    assert (review.batch_id, review.annotators, review.ids) == ("review001", 2, ["a", "b"])


def test_the_validation_slice_can_prove_the_target_within_the_budget() -> None:
    """Batch 100, budget 200, 20% validation: 40 validation labels, fewer than the 59 per label that a
    95% bound at 95% confidence needs, so no machine label was possible however good the model (the
    demo campaign labelled none by machine). The planner raises the share to reach it by the last batch."""
    from labeling.autolabel import accuracy_lower_bound

    plan = spec(batch_size=100, budget=Budget(max_items=200), validation_fraction=0.2)
    first = planner.validation_count(plan, 100, 0, 200)
    second = planner.validation_count(plan, 100, first, 100)
    per_label = (first + second) / len(plan.labels)
    assert accuracy_lower_bound(int(per_label), int(per_label), 0.05) >= 0.95
    assert planner.validation_needed(plan) >= 2 * 59
    assert max(first, second) <= 100 * planner.MAX_VALIDATION_SHARE  # the strategy keeps a third
    # with budget to spare, or no machine labels wanted, the spec's fraction stands
    assert planner.validation_count(spec(batch_size=100, budget=Budget(max_items=5000)), 100, 0, 5000) == 20
    assert planner.validation_count(plan.model_copy(update={"autolabel": False}), 100, 0, 200) == 20
    assert planner.validation_count(plan, 100, 150, 100) == 20
