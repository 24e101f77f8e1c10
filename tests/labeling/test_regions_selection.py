"""Active learning on span and box campaigns: the per-item score is the round model's confidence in the
item's region label and the least sure items go first (least confidence, spread by the hybrid's
k-means); before any model exists the batch is the cold start's spread over the content features."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from pyspark.sql import SparkSession
from sklearn.datasets import make_classification

from labeling import strategies
from labeling.campaign import Campaign
from labeling.spec import Budget, ContentSpec, SimulatedBackendSpec
from labeling.training import fit_round_model, load_labelled
from lake.storage import Storage
from lake.table import Table
from tests.labeling.conftest import features_table

# Five items, three labels: least confidence and margin disagree on which are the least sure.
PROBS = np.array(
    [
        [0.50, 0.495, 0.005],  # two labels neck and neck, the third ruled out: margin's first pick
        [0.40, 0.30, 0.30],
        [0.90, 0.05, 0.05],  # sure
        [0.34, 0.33, 0.33],  # sure of nothing: least confidence's first pick
        [0.60, 0.39, 0.01],
    ]
)
# items 0 and 1 are alike, 3 and 4 are alike, 2 lies between
EMBEDDINGS = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [10.0, 10.0], [10.1, 10.0]])


def test_region_campaigns_rank_items_by_their_least_confidence() -> None:
    assert strategies.uncertainty_measure(structured=True) == "least_confidence"
    assert strategies.uncertainty_measure(structured=False) == strategies.HYBRID_UNCERTAINTY == "margin"
    assert strategies.least_confidence(PROBS) == pytest.approx([0.50, 0.60, 0.10, 0.66, 0.40])
    region = strategies.select(
        "hybrid", 2, probs=PROBS, embeddings=EMBEDDINGS, shortlist=2, measure="least_confidence"
    )
    assert sorted(region.tolist()) == [1, 3]
    classes = strategies.select("hybrid", 2, probs=PROBS, embeddings=EMBEDDINGS, shortlist=2)
    assert sorted(classes.tolist()) == [0, 3]


def test_the_region_batch_is_spread_over_the_least_sure_items() -> None:
    """Shortlist of four (the sure item 2 is out), two clusters: the least sure item of each."""
    picked = strategies.hybrid(PROBS, EMBEDDINGS, 2, 4, measure="least_confidence")
    assert sorted(picked.tolist()) == [1, 3]
    by_margin = strategies.hybrid(PROBS, EMBEDDINGS, 2, 4)
    assert sorted(by_margin.tolist()) == [0, 3]


ENTITIES = ("person", "place", "thing")


@pytest.fixture
def three_kinds(lake: Storage) -> Table:
    x, y = make_classification(
        n_samples=600,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        class_sep=0.8,
        random_state=3,
    )
    return features_table(lake, "kinds", x, y)


def test_a_span_campaign_queries_the_items_its_model_is_least_sure_of(
    spark: SparkSession, lake: Storage, three_kinds: Table
) -> None:
    """Round 1 has no model (cold start); round 2 asks for items among the least confident of the whole
    pool, as the model of that round scores them (recomputed here with numpy from the lake)."""
    campaign = Campaign.create(
        lake,
        name="spans",
        source=three_kinds.ref,
        id_column="example_id",
        content=ContentSpec(columns=("text",)),
        labels=ENTITIES,
        task_type="named_entity",
        backend=SimulatedBackendSpec(truth_column="label", annotator_noise=(0.0,)),
        feature_columns=["f00", "f01", "f02", "f03"],
        batch_size=60,
        candidate_factor=2,
        autolabel=False,
        budget=Budget(max_items=300, cost_per_label=0.1),
        spark=spark,
    )
    assert campaign.state().spec.structured
    first = campaign.round()
    assert first.model_version is None
    campaign.sync()
    second = campaign.round()
    assert second.model_version is not None
    assert second.batch_id is not None
    state = campaign.state()
    batch = state.batches[second.batch_id]
    queried = [i.example_id for i in batch.items if i.purpose == "query"]
    assert queried

    spec = state.spec
    labelled = load_labelled(spark, lake, spec, campaign.store)
    model = fit_round_model(spec, labelled, second.round)
    assert model is not None
    assert model.version == second.model_version
    table = pl.read_delta(three_kinds.uri)
    asked = set(labelled.items["example_id"]) | {
        i.example_id for i in batch.items if i.purpose == "validation"
    }
    rest = table.filter(~pl.col("example_id").is_in(list(asked)))
    probs = model.predict_proba(rest.select(spec.feature_columns).to_numpy())
    ids = rest["example_id"].to_list()
    shortlist = 2 * len(queried)
    least_sure = {ids[i] for i in strategies.top_k(strategies.least_confidence(probs), shortlist)}
    by_margin = {ids[i] for i in strategies.top_k(strategies.margin_uncertainty(probs), shortlist)}
    assert set(queried) <= least_sure
    assert not set(queried) <= by_margin  # the classification default would have shortlisted others
