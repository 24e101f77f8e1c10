"""The round planner's decisions, without Spark, a lake or a backend."""

from __future__ import annotations

import math

import numpy as np
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
    first = planner.validation_count(plan, 100, [0, 0], 200)
    second = planner.validation_count(plan, 100, [first // 2, first - first // 2], 100)
    per_label = (first + second) / len(plan.labels)
    assert accuracy_lower_bound(int(per_label), int(per_label), 0.05) >= 0.95
    assert planner.validation_needed(plan) >= 2 * 59
    assert max(first, second) <= 100 * planner.MAX_VALIDATION_SHARE  # the strategy keeps a third
    # with budget to spare, or no machine labels wanted, the spec's fraction stands
    assert planner.validation_count(spec(batch_size=100, budget=Budget(max_items=5000)), 100, [], 5000) == 20
    assert planner.validation_count(plan.model_copy(update={"autolabel": False}), 100, [0, 0], 200) == 20
    assert planner.validation_count(plan, 100, [75, 75], 100) == 20


def campaign_slice(plan: CampaignSpec, pool: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """A campaign's validation slice, batch after batch until the budget is spent: the planner says how
    many items, the items are the next ones of a random order of the pool (what ``select_batch`` draws),
    and the planner then sees only their human labels. Returns the slice and the rounds' notes."""
    order = np.random.default_rng(11).permutation(len(pool))
    taken, spent, notes, budget = 0, 0, [], plan.budget.max_items or 0
    while spent < budget:
        budget_left = budget - spent
        size = min(plan.batch_size, budget_left)
        counts = np.bincount(pool[order[:taken]], minlength=len(plan.labels)).tolist()
        taken += planner.validation_count(plan, size, counts, budget_left)
        notes.append(planner.validation_shortfall(plan, counts, budget_left))
        spent += size
    return order[:taken], notes


def test_a_skewed_pool_gets_a_random_slice_large_enough_for_its_rarest_class() -> None:
    """Issue 11: the slice was sized as if labels were equally frequent (59 x labels x 1.15), so a class
    that is 5% of the pool got ~7 of the 59 validation items it needs, and one class short blocks every
    machine label. Sized from the label shares the slice shows, it grows until the rare class has them."""
    plan = spec(batch_size=100, budget=Budget(max_items=3000))
    pool = np.zeros(4000, dtype=np.int64)
    pool[:200] = 1  # 'pos' is 5% of the pool
    need = plan.validation_per_label
    order = np.random.default_rng(11).permutation(len(pool))
    old = planner.validation_needed(plan)  # before any label: the equal-share estimate, the old sizing
    assert old == math.ceil(need * 2 * planner.VALIDATION_MARGIN)
    assert np.bincount(pool[order[:old]], minlength=2)[1] < need  # the old slice leaves 'pos' short

    checked, notes = campaign_slice(plan, pool)
    counts = np.bincount(pool[checked], minlength=2)
    assert counts.min() >= need  # every class can now be proven
    assert len(checked) <= 3000 * planner.MAX_VALIDATION_SHARE
    assert not any(notes)  # the budget could buy it
    # random items only: a prefix of the random order, so the rare class keeps about its pool share
    # (a class-targeted pick would hold it far above 5%)
    assert checked.tolist() == order[: len(checked)].tolist()
    share, n = counts[1] / len(checked), len(checked)
    assert abs(share - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / n)
    # the size follows the labels seen, never more than the rare class calls for
    assert planner.validation_needed(plan, counts.tolist()) == counts.sum()


def test_a_budget_too_small_for_the_rarest_class_says_which_class_is_short() -> None:
    plan = spec(batch_size=100, budget=Budget(max_items=600))
    pool = np.zeros(4000, dtype=np.int64)
    pool[:200] = 1
    checked, notes = campaign_slice(plan, pool)
    counts = np.bincount(pool[checked], minlength=2)
    assert counts[1] < plan.validation_per_label
    assert len(checked) <= 600 * planner.MAX_VALIDATION_SHARE  # the strategy still gets its third
    last = notes[-1]
    assert "'pos' has" in last
    assert "short), about" in last
    assert "the budget buys at most 66" in last
    assert f"of the {plan.validation_per_label} validation labels it needs" in last
    assert planner.validation_shortfall(plan, [0, 0], 600) == ""  # nothing known before any label
    assert planner.validation_shortfall(plan, [70, 60], 100) == ""  # every class proven
