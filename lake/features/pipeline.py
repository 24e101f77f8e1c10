"""The fitted part of a feature set, as a ``pyspark.ml`` Pipeline.

Imputer, StringIndexer, OneHotEncoder, Bucketizer, VectorAssembler and StandardScaler do the work;
the pipeline is fitted on the training split only and saved beside the features table, so
``featurize --apply`` transforms new data with exactly the training-time statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.ml import Estimator, Pipeline, PipelineModel, Transformer
from pyspark.ml.feature import (
    Bucketizer,
    Imputer,
    OneHotEncoder,
    StandardScaler,
    StringIndexer,
    VectorAssembler,
)
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lake.features.build import EXAMPLE_ID, SPLIT
from lake.features.spec import FeatureColumn, FeatureSpec

VECTOR = "features"
_SCALED = "__scaled"
_ASSEMBLED = "__assembled"


def _num(column: str) -> str:
    return f"__num_{column}"


def _cat(column: str) -> str:
    return f"__cat_{column}"


def _imputed(column: str) -> str:
    return f"__imp_{column}"


def _index(column: str) -> str:
    return f"__idx_{column}"


def _onehot(column: str) -> str:
    return f"__ohe_{column}"


def _bucket(column: str) -> str:
    return f"__bkt_{column}"


def model_inputs(frame: DataFrame, spec: FeatureSpec, keep: Sequence[str] = ()) -> DataFrame:
    """Id, split, label, the ``keep`` columns and each feature's source as double (numeric) or string
    (categorical)."""
    columns = [F.col(EXAMPLE_ID), F.col(SPLIT), F.col(spec.label.name), *[F.col(c) for c in keep]]
    for feature in spec.features:
        if feature.kind == "categorical":
            columns.append(F.col(feature.column).cast("string").alias(_cat(feature.column)))
        elif feature.buckets and feature.impute == "none":
            # NaN, not NULL: Bucketizer(handleInvalid="keep") puts NaN in its own "missing" bucket.
            value = F.coalesce(F.col(feature.column).cast("double"), F.lit(float("nan")))
            columns.append(value.alias(_num(feature.column)))
        else:
            columns.append(F.col(feature.column).cast("double").alias(_num(feature.column)))
    return frame.select(*columns)


def _numeric_source(feature: FeatureColumn) -> str:
    return _imputed(feature.column) if feature.impute != "none" else _num(feature.column)


def build_pipeline(spec: FeatureSpec) -> Pipeline:
    numeric = [f for f in spec.features if f.kind == "numeric"]
    categorical = [f for f in spec.features if f.kind == "categorical"]
    stages: list[Transformer | Estimator] = []
    for strategy in ("mean", "median", "mode"):
        group = [f.column for f in numeric if f.impute == strategy]
        if group:
            stages.append(
                Imputer(
                    strategy=strategy,
                    inputCols=[_num(c) for c in group],
                    outputCols=[_imputed(c) for c in group],
                )
            )
    if categorical:
        stages.append(
            StringIndexer(
                inputCols=[_cat(f.column) for f in categorical],
                outputCols=[_index(f.column) for f in categorical],
                handleInvalid="keep",  # categories unseen in training get their own index
                stringOrderType="frequencyDesc",
            )
        )
    onehot = [f.column for f in categorical if f.encode == "onehot"]
    if onehot:
        stages.append(
            OneHotEncoder(
                inputCols=[_index(c) for c in onehot],
                outputCols=[_onehot(c) for c in onehot],
                handleInvalid="keep",
            )
        )
    bucketed = [f for f in numeric if f.buckets]
    if bucketed:
        stages.append(
            Bucketizer(
                splitsArray=[f.buckets or [] for f in bucketed],
                inputCols=[_numeric_source(f) for f in bucketed],
                outputCols=[_bucket(f.column) for f in bucketed],
                handleInvalid="keep",
            )
        )
    scaled = [f for f in numeric if f.scale]
    if scaled:
        stages.append(
            VectorAssembler(
                inputCols=[_numeric_source(f) for f in scaled], outputCol="__to_scale", handleInvalid="keep"
            )
        )
        stages.append(StandardScaler(inputCol="__to_scale", outputCol=_SCALED, withMean=True, withStd=True))
    if spec.vector:
        stages.append(
            VectorAssembler(inputCols=_vector_parts(spec), outputCol=_ASSEMBLED, handleInvalid="keep")
        )
    return Pipeline(stages=stages)


def _vector_parts(spec: FeatureSpec) -> list[str]:
    parts = [_SCALED] if any(f.scale for f in spec.features) else []
    for feature in spec.features:
        if feature.kind == "categorical":
            parts.append(_onehot(feature.column) if feature.encode == "onehot" else _index(feature.column))
        elif feature.buckets:
            parts.append(_bucket(feature.column))
        elif not feature.scale:
            parts.append(_numeric_source(feature))
    return parts


class FeatureFitError(ValueError):
    """The training split cannot fit a transform (e.g. nothing to impute from)."""


def fit(spec: FeatureSpec, inputs: DataFrame) -> PipelineModel:
    """Fit on the training split only: validation and test rows never inform the transforms.

    Spark's Imputer refuses a column with no value to impute from; only then is the training split
    counted (a pass of its own) to name every such column, so a successful fit pays no extra pass."""
    train = inputs.where(F.col(SPLIT) == "train")
    try:
        return build_pipeline(spec).fit(train)
    except Exception as failure:
        empty = _unimputable(spec, train)
        if empty:
            raise FeatureFitError(
                f"feature set {spec.name}: {empty} have no values in the training split, so there is "
                "nothing to impute from (more input data is needed, or drop these features)"
            ) from failure
        raise


def _unimputable(spec: FeatureSpec, train: DataFrame) -> list[str]:
    """The imputed features without a single value (NULL and NaN are missing) in ``train``."""
    imputed = [f.column for f in spec.features if f.kind == "numeric" and f.impute != "none"]
    if not imputed:
        return []
    present = train.agg(*[F.count(F.nanvl(F.col(_num(c)), F.lit(None))).alias(c) for c in imputed]).first()
    assert present is not None  # an aggregation without grouping always yields one row
    return [c for c in imputed if not present[c]]


def transform(model: PipelineModel, spec: FeatureSpec, inputs: DataFrame) -> DataFrame:
    """The features table rows: id, split, label, one column per feature, and the vector."""
    transformed = model.transform(inputs)
    scaled_position = {f.column: i for i, f in enumerate(f for f in spec.features if f.scale)}
    scaled = vector_to_array(F.col(_SCALED)) if scaled_position else None
    columns = [F.col(EXAMPLE_ID), F.col(SPLIT), F.col(spec.label.name)]
    for feature in spec.features:
        if feature.kind == "categorical":
            value = (
                vector_to_array(F.col(_onehot(feature.column)))
                if feature.encode == "onehot"
                else F.col(_index(feature.column))
            )
        elif feature.buckets:
            value = F.col(_bucket(feature.column))
        elif feature.scale:
            assert scaled is not None
            value = scaled.getItem(scaled_position[feature.column])
        else:
            value = F.col(_numeric_source(feature))
        columns.append(value.alias(feature.output))
    if spec.vector:
        columns.append(vector_to_array(F.col(_ASSEMBLED)).alias(VECTOR))
    return transformed.select(*columns)


def save(model: PipelineModel, uri: str) -> None:
    model.write().overwrite().save(uri)


def load(uri: str) -> PipelineModel:
    return PipelineModel.load(uri)
