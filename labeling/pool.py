"""The unlabelled pool in Spark: scored where it lives, never collected.

A logistic regression (the campaign default, calibrated or not) is compiled into Spark SQL
expressions: imputation and scaling per feature, one dot product per class (and per calibration
fold), the softmax of the logits over the fitted temperature, or Platt's sigmoid or the isotonic map
as a CASE over its thresholds, the average over folds, then the scores. The optimizer runs that in
generated code, no Python worker. Other models (trees) are broadcast once and applied per Arrow batch
in ``mapInPandas``. Both give the numbers the in-memory selector computes (``score_frame`` with
``labeling.strategies``). Selection takes the top rows with ``orderBy(...).limit(k)``, which Spark runs
as a per-partition top-k (TakeOrderedAndProject): only k rows reach the driver, so a ten-million-row
pool costs a scan.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from labeling.models import FittedModel
from labeling.spec import CampaignSpec
from labeling.store import MACHINE
from labeling.strategies import UNCERTAINTY, UNCERTAINTY_COLUMNS
from lake.storage import Storage
from lake.table import Table, Zone

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

RANDOM_KEY = "__random"
PREDICTED = "predicted"
CONFIDENCE = "confidence"
_UNIT = float(2**63)


def source_table(storage: Storage, source: str) -> Table:
    zone, _, name = source.partition("/")
    return Table(storage, zone, name)  # type: ignore[arg-type,unused-ignore]


def source_zone(source: str) -> Zone:
    return source.partition("/")[0]  # type: ignore[return-value]


def read_source(spark: SparkSession, storage: Storage, spec: CampaignSpec) -> DataFrame:
    """The source at the campaign's pinned version, restricted to the pool filter, id as string."""
    from pyspark.sql import functions as F

    frame = source_table(storage, spec.source).read(spark, spec.source_version)
    if spec.pool_filter:
        frame = frame.filter(F.expr(spec.pool_filter))
    return frame.withColumn(spec.id_column, F.col(spec.id_column).cast("string"))


def with_random_key(frame: DataFrame, id_column: str, seed: int, salt: int) -> DataFrame:
    """A uniform [0, 1) key per item from a hash of (seed, salt, id): random, yet the same on every re-run."""
    from pyspark.sql import functions as F

    hashed = F.xxhash64(F.lit(seed), F.lit(salt), F.col(id_column))
    return frame.withColumn(RANDOM_KEY, hashed.bitwiseAND(F.lit(0x7FFFFFFFFFFFFFFF)) / F.lit(_UNIT))


def pool_frame(
    spark: SparkSession,
    storage: Storage,
    spec: CampaignSpec,
    labels: Table,
    salt: int,
    exclude: Sequence[str] = (),
) -> DataFrame:
    """Unlabelled items (id, features, random key): the source minus every labelled or in-flight id."""
    from pyspark.sql import functions as F

    source = read_source(spark, storage, spec)
    frame = source.select(F.col(spec.id_column), *feature_columns(source, spec.feature_columns))
    if labels.exists():
        done = labels.read(spark).select(F.col("example_id").alias(spec.id_column)).distinct()
        frame = frame.join(done, spec.id_column, "left_anti")
    if exclude:
        frame = frame.join(
            F.broadcast(ids_frame(spark, spec.id_column, exclude)), spec.id_column, "left_anti"
        )
    return with_random_key(frame, spec.id_column, spec.seed, salt)


def feature_columns(frame: DataFrame, names: Sequence[str]) -> list[Column]:
    """Feature columns as doubles; vector columns (arrays, e.g. an assembled ``features``) as double arrays."""
    from pyspark.sql import functions as F

    types = dict(frame.dtypes)
    return [
        F.col(c).cast("array<double>" if types[c].startswith("array") else "double").alias(c) for c in names
    ]


def feature_matrix(frame: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The model's input: scalar columns as one column each, vector columns expanded in place."""
    blocks = []
    for name in names:
        values = frame[name].to_numpy()
        first = next((v for v in values if isinstance(v, (list, tuple, np.ndarray))), None)
        if first is not None:  # a missing vector becomes NaNs (the model imputes them)
            width = len(first)
            blocks.append(
                np.vstack([np.full(width, np.nan) if v is None else np.asarray(v, float) for v in values])
            )
        else:
            blocks.append(values.astype(np.float64).reshape(-1, 1))
    return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))


def ids_frame(spark: SparkSession, id_column: str, ids: Sequence[str]) -> DataFrame:
    return spark.createDataFrame([(i,) for i in ids], f"`{id_column}` string")


def score_frame(frame: pd.DataFrame, model: FittedModel, id_column: str) -> pd.DataFrame:
    """Predicted label, confidence and every uncertainty score for one pandas batch (also used in memory)."""
    probs = model.predict_proba(feature_matrix(frame, model.feature_columns))
    scored = {
        id_column: frame[id_column].to_numpy(),
        PREDICTED: probs.argmax(axis=1).astype(np.int32),
        CONFIDENCE: probs.max(axis=1),
    }
    for name, column in UNCERTAINTY_COLUMNS.items():
        scored[column] = UNCERTAINTY[name](probs)
    if RANDOM_KEY in frame:
        scored[RANDOM_KEY] = frame[RANDOM_KEY].to_numpy()
    return pd.DataFrame(scored)


def score_pool(frame: DataFrame, model: FittedModel, id_column: str) -> DataFrame:
    """Score every pool row on the executors: Spark SQL expressions for a linear model, the broadcast
    model per Arrow batch for any other."""
    carried = [RANDOM_KEY] if RANDOM_KEY in frame.columns else []
    probabilities = linear_probabilities(frame, model, [id_column, *carried])
    if probabilities is None:
        return _score_batches(frame, model, id_column)
    return probabilities.select(id_column, *score_columns(model.n_labels), *carried)


def _score_batches(frame: DataFrame, model: FittedModel, id_column: str) -> DataFrame:
    """Any scikit-learn model: broadcast once, applied per Arrow batch (``mapInPandas``)."""
    spark = frame.sparkSession
    broadcast = spark.sparkContext.broadcast(model)
    uncertainty = ", ".join(f"{c} double" for c in UNCERTAINTY_COLUMNS.values())
    schema = f"`{id_column}` string, {PREDICTED} int, {CONFIDENCE} double, {uncertainty}"
    if RANDOM_KEY in frame.columns:
        schema += f", {RANDOM_KEY} double"

    def score(batches: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        fitted = broadcast.value
        for batch in batches:
            yield score_frame(batch, fitted, id_column)

    return frame.mapInPandas(score, schema)


# ------------------------------------------------------------------- linear models as SQL expressions
_PROBABILITY = "__p"  # __p0 .. __p{n_labels-1}: probabilities over the full label set
# Products in the decision values (inputs x decision columns x folds) up to which a model is compiled:
# Spark's analyzer and optimizer slow down on larger expression trees (a ten-class model over 64
# pixels, 3,300 products, took minutes to plan), and those models are scored per Arrow batch instead.
MAX_SQL_TERMS = 1024
_CLIP = 1.0 + 1e-5  # CalibratedClassifierCV rounds probabilities in (1, 1 + 1e-5] down to 1


def linear_probabilities(frame: DataFrame, model: FittedModel, keep: Sequence[str]) -> DataFrame | None:
    """``keep`` and the model's probabilities over the full label set (``__p<label>``) as Spark
    expressions, computed in the order scikit-learn computes them; None for a model that is not a
    logistic regression (calibrated or not) or whose input width the frame's types do not give.

    Three projections (scaled inputs, decision values, probabilities) so each value is computed once:
    Spark does not collapse projections that would repeat a non-trivial expression."""
    from pyspark.sql import functions as F

    folds = _linear_folds(model.classifier)
    width = int(model.preprocess.n_features_in_)
    inputs = _input_elements(frame, model.feature_columns, width)
    if folds is None or inputs is None or width * sum(f.width for f in folds) > MAX_SQL_TERMS:
        return None
    imputer, scaler = model.preprocess[0], model.preprocess[1]
    medians = np.asarray(imputer.statistics_, dtype=np.float64)
    means = np.zeros(width) if scaler.mean_ is None else np.asarray(scaler.mean_, dtype=np.float64)
    scales = np.ones(width) if scaler.scale_ is None else np.asarray(scaler.scale_, dtype=np.float64)
    scaled = [
        (
            (F.when(x.isNull() | F.isnan(x), F.lit(float(medians[i]))).otherwise(x) - float(means[i]))
            / float(scales[i])
        ).alias(f"__z{i}")
        for i, x in enumerate(inputs)
    ]
    stage = frame.select(*keep, *scaled)
    z = [F.col(f"__z{i}") for i in range(width)]
    decisions = []
    for k, fold in enumerate(folds):
        coef = np.asarray(fold.estimator.coef_, dtype=np.float64)
        intercept = np.asarray(fold.estimator.intercept_, dtype=np.float64)
        for j in range(coef.shape[0]):
            total = _sum([z[i] * float(coef[j, i]) for i in range(width)])
            decisions.append((total + float(intercept[j])).alias(f"__d{k}_{j}"))
    stage = stage.select(*keep, *decisions)
    per_fold = [
        fold.probabilities([F.col(f"__d{k}_{j}") for j in range(fold.width)]) for k, fold in enumerate(folds)
    ]
    classes = len(per_fold[0])
    mean = [
        functools.reduce(operator.add, [p[c] for p in per_fold]) / float(len(folds)) for c in range(classes)
    ]
    position = {int(label): c for c, label in enumerate(model.classes)}
    full = [
        (mean[position[label]] if label in position else F.lit(0.0)).alias(f"{_PROBABILITY}{label}")
        for label in range(model.n_labels)
    ]
    return stage.select(*keep, *full)


def score_columns(n_labels: int) -> list[Column]:
    """Predicted label, confidence and every uncertainty score from the ``__p`` columns, as
    ``score_frame`` and ``labeling.strategies`` compute them (argmax takes the first highest)."""
    from pyspark.sql import functions as F

    probs = [F.col(f"{_PROBABILITY}{label}") for label in range(n_labels)]
    top = F.greatest(*probs)
    predicted = F.lit(n_labels - 1)
    for label in reversed(range(n_labels - 1)):
        predicted = F.when(probs[label] == top, F.lit(label)).otherwise(predicted)
    ordered = F.sort_array(F.array(*probs), asc=False)
    second = F.least(*probs) if n_labels == 2 else ordered[1]
    plogp = [F.when(p > 0, p * F.log(p)).otherwise(F.lit(0.0)) for p in probs]
    uncertainty = {
        "least_confidence": 1.0 - top,
        "margin": 1.0 - (top - second),
        "entropy": -functools.reduce(operator.add, plogp),
    }
    return [
        predicted.cast("int").alias(PREDICTED),
        top.alias(CONFIDENCE),
        *[uncertainty[name].alias(column) for name, column in UNCERTAINTY_COLUMNS.items()],
    ]


@dataclass(frozen=True)
class _LinearFold:
    """One fitted logistic regression and what turns its decision values into class probabilities: its
    own sigmoid / softmax of the decision values times ``logit_scale`` (1, or temperature scaling's
    inverse temperature), or the per-class calibrators of one cross-validation fold."""

    estimator: Any
    n_classes: int
    calibrators: tuple[Any, ...] = ()
    class_positions: tuple[int, ...] = ()
    logit_scale: float = 1.0

    @property
    def width(self) -> int:
        return int(np.asarray(self.estimator.coef_).shape[0])

    def probabilities(self, decisions: list[Column]) -> list[Column]:
        from pyspark.sql import functions as F

        if not self.calibrators:
            if self.logit_scale != 1.0:
                decisions = [d * self.logit_scale for d in decisions]
            if len(decisions) == 1:  # binary: expit of the one decision value
                positive = 1.0 / (1.0 + F.exp(-decisions[0]))
                return [1.0 - positive, positive]
            top = F.greatest(*decisions)
            exps = [F.exp(d - top) for d in decisions]
            total = _sum(exps)
            return [e / total for e in exps]
        calibrated = [_calibrate(c, d) for c, d in zip(self.calibrators, decisions, strict=True)]
        if self.n_classes == 2:
            probs = [1.0 - calibrated[0], calibrated[0]]
        else:
            raw: list[Column] = [F.lit(0.0)] * self.n_classes
            for position, value in zip(self.class_positions, calibrated, strict=True):
                raw[position] = value
            total = _sum(raw)
            probs = [F.when(total != 0, p / total).otherwise(F.lit(1.0 / self.n_classes)) for p in raw]
        return [F.when((p > 1.0) & (p <= _CLIP), F.lit(1.0)).otherwise(p) for p in probs]


def _sum(terms: Sequence[Column]) -> Column:
    """A sum as a balanced tree (a shallow expression plans faster than a left-deep chain)."""
    from pyspark.sql import functions as F

    if not terms:
        return F.lit(0.0)
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return _sum(terms[:middle]) + _sum(terms[middle:])


def _linear_folds(classifier: Any) -> list[_LinearFold] | None:
    """A logistic regression, or a calibrated one (temperature, sigmoid or isotonic, every fold), as
    folds; else None."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    if isinstance(classifier, LogisticRegression):
        return [_LinearFold(classifier, len(classifier.classes_))]
    if not isinstance(classifier, CalibratedClassifierCV):
        return None
    folds = []
    classes = np.asarray(classifier.classes_)
    for fitted in classifier.calibrated_classifiers_:
        if not isinstance(fitted.estimator, LogisticRegression):
            return None
        if fitted.method == "temperature":
            if not np.array_equal(fitted.estimator.classes_, classes):
                return None
            # softmax(beta * logits); a binary decision value d is scikit-learn's logits (-d, d)
            beta = float(fitted.calibrators[0].beta_)
            folds.append(
                _LinearFold(
                    fitted.estimator, len(classes), logit_scale=beta * (2 if len(classes) == 2 else 1)
                )
            )
            continue
        if fitted.method not in ("sigmoid", "isotonic"):
            return None
        if not all(isinstance(c, IsotonicRegression) or hasattr(c, "a_") for c in fitted.calibrators):
            return None
        positions = tuple(int(p) for p in np.searchsorted(classes, fitted.estimator.classes_))
        folds.append(_LinearFold(fitted.estimator, len(classes), tuple(fitted.calibrators), positions))
    return folds or None


def _calibrate(calibrator: Any, decision: Column) -> Column:
    """Platt's sigmoid ``expit(-(a f + b))``, or the isotonic map: clip to the fitted range, then
    linear interpolation between thresholds (scipy's ``interp1d``), found by a binary CASE."""
    from pyspark.sql import functions as F

    if hasattr(calibrator, "a_"):
        return 1.0 / (1.0 + F.exp(decision * float(calibrator.a_) + float(calibrator.b_)))
    xs = np.asarray(calibrator.X_thresholds_, dtype=np.float64)
    ys = np.asarray(calibrator.y_thresholds_, dtype=np.float64)
    if len(ys) == 1:
        return F.lit(float(ys[0]))
    clipped = F.least(F.greatest(decision, F.lit(float(calibrator.X_min_))), F.lit(float(calibrator.X_max_)))

    def segments(lo: int, hi: int) -> Column:  # segment j spans (xs[j], xs[j + 1]]
        if hi - lo == 1:
            slope = float((ys[lo + 1] - ys[lo]) / (xs[lo + 1] - xs[lo]))
            return F.lit(slope) * (clipped - float(xs[lo])) + float(ys[lo])
        mid = (lo + hi) // 2
        return F.when(clipped <= float(xs[mid]), segments(lo, mid)).otherwise(segments(mid, hi))

    return segments(0, len(xs) - 1)


def _input_elements(frame: DataFrame, names: Sequence[str], width: int) -> list[Column] | None:
    """The model's input as one double per element, in ``feature_matrix``'s order; a vector column's
    width is what the model's input width leaves (None with two vector columns: not known)."""
    from pyspark.sql import functions as F

    types = dict(frame.dtypes)
    vectors = [n for n in names if types[n].startswith("array")]
    vector_width = width - (len(names) - len(vectors))
    if len(vectors) > 1 or (vectors and vector_width < 1) or (not vectors and vector_width != 0):
        return None
    elements: list[Column] = []
    for name in names:
        if name in vectors:
            elements.extend(F.get(F.col(name), j).cast("double") for j in range(vector_width))
        else:
            elements.append(F.col(name).cast("double"))
    return elements


def machine_labels(
    scored: DataFrame, spec: CampaignSpec, version: str, threshold: float, number: int
) -> DataFrame:
    """Rows of the labels table (``store.LABELS_SCHEMA``) for every scored item at or above the threshold."""
    from pyspark.sql import functions as F

    names = F.array(*[F.lit(label) for label in spec.labels])
    return scored.filter(F.col(CONFIDENCE) >= threshold).select(
        F.lit(spec.name).alias("campaign"),
        F.col(spec.id_column).alias("example_id"),
        F.element_at(names, F.col(PREDICTED) + 1).alias("label"),
        F.col(PREDICTED).cast("int").alias("label_index"),
        F.lit(MACHINE).alias("source"),
        F.lit(f"model:{version}").alias("annotator_id"),
        F.col(CONFIDENCE).alias("confidence"),
        F.lit(number).cast("int").alias("round"),
        F.lit(f"auto-r{number:03d}").alias("batch_id"),
        F.lit("auto").alias("purpose"),
        F.lit("autolabel").alias("strategy"),
        F.lit(version).alias("model_version"),
        F.lit(spec.source_version).cast("long").alias("features_version"),
        F.concat(F.lit(f"machine:{spec.name}:r{number}:"), F.col(spec.id_column)).alias("annotation_key"),
        F.lit("model").alias("backend"),
        F.current_timestamp().alias("labelled_at"),
    )


def top_rows(frame: DataFrame, column: str, k: int, id_column: str) -> list[dict[str, Any]]:
    """The k rows with the highest ``column`` (ties: random key, then id), as plain dicts."""
    from pyspark.sql import functions as F

    if k <= 0:
        return []
    order = [F.col(column).desc()]
    if column != RANDOM_KEY and RANDOM_KEY in frame.columns:
        order.append(F.col(RANDOM_KEY).desc())
    order.append(F.col(id_column).asc())
    return [row.asDict() for row in frame.orderBy(*order).limit(k).collect()]


def rows_for(
    spark: SparkSession, storage: Storage, spec: CampaignSpec, ids: Sequence[str], columns: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Chosen items' columns from the pinned source (a broadcast join: only those rows are read back),
    JSON-safe (numbers, strings, ISO dates), keyed by id."""
    from pyspark.sql import functions as F

    if not ids:
        return {}
    wanted = list(dict.fromkeys([spec.id_column, *columns]))
    frame = (
        read_source(spark, storage, spec)
        .join(F.broadcast(ids_frame(spark, spec.id_column, ids)), spec.id_column)
        .select(*wanted)
    )
    return json_rows(frame, spec.id_column)


def json_rows(frame: DataFrame, key: str) -> dict[str, dict[str, Any]]:
    """A few rows (already bounded) as JSON-safe dicts (numbers, strings, ISO dates), keyed by ``key``."""
    records = json.loads(_pandas(frame).to_json(orient="records", date_format="iso"))
    return {str(r[key]): r for r in records}


def features_for(
    spark: SparkSession, storage: Storage, spec: CampaignSpec, ids: Sequence[str]
) -> dict[str, np.ndarray]:
    """Feature vectors of the given (labelled or candidate) items, keyed by id."""
    from pyspark.sql import functions as F

    if not ids:
        return {}
    source = read_source(spark, storage, spec)
    selected = source.join(F.broadcast(ids_frame(spark, spec.id_column, ids)), spec.id_column).select(
        F.col(spec.id_column), *feature_columns(source, spec.feature_columns)
    )
    frame = _pandas(selected)
    values = feature_matrix(frame, spec.feature_columns)
    return {str(i): values[n] for n, i in enumerate(frame[spec.id_column])}


def _pandas(frame: DataFrame) -> pd.DataFrame:
    """A small (already bounded) Spark result on the driver."""
    return cast(pd.DataFrame, frame.toPandas())
