"""Spark pool scoring gives the same numbers as scoring in memory, and selection never needs the whole pool."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from labeling import pool, strategies
from labeling.models import fit_model
from labeling.spec import Budget, CampaignSpec, ContentSpec, ModelSpec, SimulatedBackendSpec
from labeling.store import LABELS_SCHEMA, CampaignStore
from lake.storage import Storage
from lake.table import Table


def spec_for(table: Table, **overrides: object) -> CampaignSpec:
    settings: dict[str, object] = {
        "name": "pooltest",
        "source": table.ref,
        "source_version": table.version(),
        "id_column": "example_id",
        "content": ContentSpec(columns=("text",)),
        "labels": ("neg", "pos"),
        "feature_columns": tuple(f"f{j:02d}" for j in range(6)),
        "pool_size": table.row_count(),
        "backend": SimulatedBackendSpec(truth_column="label"),
        "budget": Budget(max_items=100),
        **overrides,
    }
    return CampaignSpec.model_validate(settings)


def test_spark_scoring_equals_in_memory_scoring(
    spark: SparkSession, lake: Storage, separable_features: Table
) -> None:
    spec = spec_for(separable_features)
    data = separable_features.to_arrow().to_pandas()
    train = data.sample(200, random_state=0)
    model = fit_model(
        ModelSpec(kind="gradient_boosting"),
        train[list(spec.feature_columns)].to_numpy(),
        train["label"].to_numpy(),
        n_labels=2,
        feature_columns=spec.feature_columns,
        version="test-model",
    )
    frame = pool.pool_frame(spark, lake, spec, CampaignStore(lake, spec.name).labels, salt=1)
    scored_spark = pool._pandas(pool.score_pool(frame.repartition(4), model, spec.id_column))
    in_memory = pool.score_frame(data[["example_id", *spec.feature_columns]], model, spec.id_column)

    merged = in_memory.merge(scored_spark, on="example_id", suffixes=("_mem", "_spark"))
    assert len(merged) == len(data) == len(scored_spark)
    assert (merged["predicted_mem"] == merged["predicted_spark"]).all()
    for column in ["confidence", *strategies.UNCERTAINTY_COLUMNS.values()]:
        np.testing.assert_allclose(merged[f"{column}_mem"], merged[f"{column}_spark"], rtol=1e-12, atol=1e-12)
    # the in-memory scores are the model's own probabilities, through the strategy functions
    probs = model.predict_proba(data[list(spec.feature_columns)].to_numpy())
    np.testing.assert_allclose(in_memory["confidence"], probs.max(axis=1))
    np.testing.assert_allclose(in_memory["u_margin"], strategies.margin_uncertainty(probs))

    # the Spark top-k is the in-memory top-k of the same score
    top = pool.top_rows(pool.score_pool(frame, model, spec.id_column), "u_entropy", 25, spec.id_column)
    expected = in_memory.sort_values(["u_entropy", "example_id"], ascending=[False, True]).head(25)
    assert [r["u_entropy"] for r in top] == pytest.approx(expected["u_entropy"].tolist())


def test_pool_excludes_labelled_and_in_flight_items(
    spark: SparkSession, lake: Storage, separable_features: Table
) -> None:
    spec = spec_for(separable_features, pool_filter="split = 'train'")
    store = CampaignStore(lake, spec.name)
    train_ids = set(separable_features.to_arrow().to_pandas().query("split == 'train'")["example_id"])
    labelled = sorted(train_ids)[:30]
    now = dt.datetime.now(dt.timezone.utc)
    store.labels.append_arrow(
        pa.Table.from_pylist(
            [
                {
                    "campaign": spec.name,
                    "example_id": i,
                    "label": "neg",
                    "label_index": 0,
                    "source": "human",
                    "annotator_id": "a",
                    "round": 1,
                    "batch_id": "b001",
                    "purpose": "query",
                    "strategy": "random",
                    "features_version": 0,
                    "annotation_key": f"k-{i}",
                    "backend": "simulated",
                    "labelled_at": now,
                }
                for i in labelled
            ],
            schema=LABELS_SCHEMA,
        ),
        tags={"job": "test"},
    )
    in_flight = sorted(train_ids)[30:40]
    frame = pool.pool_frame(spark, lake, spec, store.labels, salt=2, exclude=in_flight)
    ids = set(pool._pandas(frame.select("example_id"))["example_id"])
    assert ids == train_ids - set(labelled) - set(in_flight)
    keys = pool._pandas(frame.select(pool.RANDOM_KEY))[pool.RANDOM_KEY]
    assert keys.between(0, 1, inclusive="left").all()
    assert keys.nunique() == len(keys)


def test_random_key_is_stable_and_changes_with_the_salt(spark: SparkSession) -> None:
    frame = spark.createDataFrame(pd.DataFrame({"id": [f"i{n}" for n in range(50)]}))
    first = pool._pandas(pool.with_random_key(frame, "id", seed=3, salt=1))
    again = pool._pandas(pool.with_random_key(frame, "id", seed=3, salt=1))
    other = pool._pandas(pool.with_random_key(frame, "id", seed=3, salt=2))
    assert first[pool.RANDOM_KEY].tolist() == again[pool.RANDOM_KEY].tolist()
    assert first[pool.RANDOM_KEY].tolist() != other[pool.RANDOM_KEY].tolist()


def test_model_gives_zero_probability_to_labels_it_never_saw() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = np.where(x[:, 0] > 0, 2, 0)  # labels 0 and 2 of a three-label set
    model = fit_model(ModelSpec(), x, y, n_labels=3, feature_columns=("a", "b", "c"), version="v")
    probs = model.predict_proba(x)
    assert probs.shape == (40, 3)
    assert (probs[:, 1] == 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert model.calibrated


def digits_table(storage: Storage) -> Table:
    """scikit-learn's handwritten 0s, 1s and 2s (three classes) as ``features/digits_vec``: the 64
    pixels as one vector column beside two scalars, with missing values the model imputes (a null
    vector, a NaN pixel, null scalars)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    chosen = np.flatnonzero(digits.target < 3)
    matrix, images, target = digits.data[chosen], digits.images[chosen], digits.target[chosen]
    values = [list(map(float, row)) for row in matrix]
    values[5][10] = float("nan")
    pixels: list[list[float] | None] = [None if i == 3 else row for i, row in enumerate(values)]
    rows = []
    for i, vector in enumerate(pixels):
        rows.append(
            {
                "example_id": f"digit-{i:05d}",
                "ink": None if i % 97 == 0 else float(matrix[i].sum()),
                "rows_used": float((images[i].sum(axis=1) > 0).sum()),
                "pixels": vector,
                "label": int(target[i]),
                "text": f"digit {i}",
            }
        )
    table = Table(storage, "features", "digits_vec")
    schema = pa.schema(
        [
            ("example_id", pa.string()),
            ("ink", pa.float64()),
            ("rows_used", pa.float64()),
            ("pixels", pa.list_(pa.float64())),
            ("label", pa.int32()),
            ("text", pa.string()),
        ]
    )
    table.append_arrow(pa.Table.from_pylist(rows, schema=schema), tags={"job": "test-fixture"})
    return table


@pytest.mark.parametrize(
    ("dataset", "kind", "calibration"),
    [
        ("cancer", "logistic_regression", "temperature"),  # the campaign default
        ("cancer", "logistic_regression", "sigmoid"),
        ("cancer", "logistic_regression", "isotonic"),
        ("cancer", "logistic_regression", "none"),
        ("digits", "logistic_regression", "temperature"),
        ("digits", "logistic_regression", "sigmoid"),
        ("digits", "logistic_regression", "isotonic"),
        ("digits", "logistic_regression", "none"),
    ],
)
def test_linear_models_are_scored_by_spark_sql_as_in_memory(
    spark: SparkSession, lake: Storage, dataset: str, kind: str, calibration: str
) -> None:
    """A logistic regression, calibrated or not, is scored without a Python worker and gives the
    in-memory probabilities (1e-9), predictions and top items, on real data (breast cancer: binary, eight
    features; digits: three classes, a 64-pixel vector column with missing values)."""
    from tests.labeling.conftest import breast_cancer_table

    if dataset == "cancer":
        table = breast_cancer_table(lake)
        spec = spec_for(table, labels=("benign", "malignant"))
    else:
        table = digits_table(lake)
        spec = spec_for(table, labels=("0", "1", "2"), feature_columns=("ink", "pixels", "rows_used"))
    frame = pool.pool_frame(spark, lake, spec, CampaignStore(lake, spec.name).labels, salt=1)
    data = pool._pandas(frame)
    train = data.sample(300, random_state=1)
    labels = table.to_arrow().to_pandas().set_index("example_id")["label"]
    model = fit_model(
        ModelSpec.model_validate({"kind": kind, "calibration": calibration}),
        pool.feature_matrix(train, spec.feature_columns),
        labels.loc[train["example_id"]].to_numpy(),
        n_labels=len(spec.labels),
        feature_columns=spec.feature_columns,
        version="test-model",
    )
    assert model.calibrated == (calibration != "none")

    scored = pool.score_pool(frame.repartition(3), model, spec.id_column)
    plan = scored._jdf.queryExecution().executedPlan().toString()
    for python_worker in ("MapInPandas", "ArrowEvalPython", "BatchEvalPython"):
        assert python_worker not in plan
    in_spark = pool._pandas(scored)
    in_memory = pool.score_frame(data, model, spec.id_column)
    merged = in_memory.merge(in_spark, on="example_id", suffixes=("_mem", "_spark"))
    assert len(merged) == len(data) == len(in_spark)
    assert (merged["predicted_mem"] == merged["predicted_spark"]).all()
    for column in ["confidence", *strategies.UNCERTAINTY_COLUMNS.values(), pool.RANDOM_KEY]:
        np.testing.assert_allclose(merged[f"{column}_spark"], merged[f"{column}_mem"], rtol=0, atol=1e-9)
    # the in-memory path is the model's own probabilities
    probs = model.predict_proba(pool.feature_matrix(data, spec.feature_columns))
    np.testing.assert_allclose(in_memory["confidence"], probs.max(axis=1), rtol=0, atol=0)

    # the same top items, selected in Spark without collecting the pool
    for column in strategies.UNCERTAINTY_COLUMNS.values():
        top = pool.top_rows(scored, column, 40, spec.id_column)
        expected = in_memory.sort_values(
            [column, pool.RANDOM_KEY, "example_id"], ascending=[False, False, True]
        ).head(40)
        np.testing.assert_allclose([r[column] for r in top], expected[column], rtol=0, atol=1e-9)
        if calibration in ("temperature", "sigmoid"):  # no plateaus: a strict ranking, the same items
            assert [r["example_id"] for r in top] == expected["example_id"].tolist()
