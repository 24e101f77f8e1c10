"""Measurement 3: ``featurize`` (jobs/featurize.py, the flight_delay spec) against a hand-written Spark
SQL / DataFrame job that computes the same features, and featurize's scaling with the row count.

The hand-written job is what an engineer would write without lakeprep: one SQL statement for joins,
label, derivations and window aggregates, one aggregation pass for the training-split statistics
(means, approximate medians, standard deviations, category frequencies), then plain column
expressions for imputation, scaling, bucketing and one-hot encoding, and a Parquet write. It skips
what featurize adds: exclusion accounting, deterministic de-duplication of joined tables, a
pyspark.ml pipeline saved for ``--apply``, the Delta commit with lineage, metrics.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench.timing import timed

MEAN_IMPUTED = ("wx_temp", "wx_humid", "wx_pressure", "route_delay_7d", "carrier_delay_28d")
MEDIAN_IMPUTED = (
    "dep_delay",
    "wx_wind_speed",
    "wx_precip",
    "wx_visib",
    "plane_age",
    "plane_seats",
    "seats_per_engine",
    "route_flights_7d",
)
# scaled, in the spec's feature order
SCALED = (
    "dep_hour",
    "dep_delay",
    "day_of_year",
    "log_distance",
    "wx_temp",
    "wx_humid",
    "wx_wind_speed",
    "wx_precip",
    "wx_visib",
    "wx_pressure",
    "plane_age",
    "plane_seats",
    "seats_per_engine",
    "route_delay_7d",
    "route_flights_7d",
    "carrier_delay_28d",
)
ONEHOT = ("weekday", "month", "carrier", "origin")
INDEXED = ("dest",)

EXAMPLES_SQL = """
WITH w AS (SELECT * FROM (SELECT origin, time_hour, temp, humid, wind_speed, precip, visib, pressure,
                 row_number() OVER (PARTITION BY origin, time_hour ORDER BY temp) AS r FROM weather) WHERE r = 1),
     p AS (SELECT * FROM (SELECT tailnum, year AS plane_year, seats AS plane_seats, engines AS plane_engines,
                 row_number() OVER (PARTITION BY tailnum ORDER BY year) AS r FROM planes) WHERE r = 1),
     base AS (
       SELECT f.*, datediff(make_date(f.year, f.month, f.day), DATE'1970-01-01') AS day_number,
         avg(arr_delay) OVER route7 AS route_delay_7d,
         CAST(count(arr_delay) OVER route7 AS DOUBLE) AS route_flights_7d,
         avg(arr_delay) OVER carrier28 AS carrier_delay_28d
       FROM flights f
       WINDOW route7 AS (PARTITION BY origin, dest ORDER BY datediff(make_date(year, month, day), DATE'1970-01-01')
                         RANGE BETWEEN 7 PRECEDING AND 1 PRECEDING),
              carrier28 AS (PARTITION BY carrier ORDER BY datediff(make_date(year, month, day), DATE'1970-01-01')
                            RANGE BETWEEN 28 PRECEDING AND 1 PRECEDING))
SELECT concat_ws('|', b.year, b.month, b.day, b.carrier, b.flight, b.origin, b.sched_dep_time) AS example_id,
  CASE WHEN arr_delay > 15 THEN 1 ELSE 0 END AS is_late,
  b.hour + b.minute / 60.0 AS dep_hour, b.dep_delay,
  dayofweek(make_date(b.year, b.month, b.day)) AS weekday,
  b.month, b.carrier, b.origin, b.dest, b.distance,
  dayofyear(make_date(b.year, b.month, b.day)) AS day_of_year,
  log1p(CASE WHEN b.distance >= 0 THEN b.distance END) AS log_distance,
  w.temp AS wx_temp, w.humid AS wx_humid, w.wind_speed AS wx_wind_speed, w.precip AS wx_precip,
  w.visib AS wx_visib, w.pressure AS wx_pressure,
  CAST(b.year - p.plane_year AS DOUBLE) AS plane_age, CAST(p.plane_seats AS DOUBLE) AS plane_seats,
  CAST(p.plane_seats AS DOUBLE) / NULLIF(CAST(p.plane_engines AS DOUBLE), 0) AS seats_per_engine,
  b.route_delay_7d, b.route_flights_7d, b.carrier_delay_28d
FROM base b
LEFT JOIN w ON b.origin = w.origin AND b.time_hour = w.time_hour
LEFT JOIN p ON b.tailnum = p.tailnum
WHERE b.dep_time IS NOT NULL AND b.arr_delay IS NOT NULL
"""


def _split(example_id: Any) -> Any:
    from pyspark.sql import functions as F

    bucket = F.pmod(F.xxhash64(F.lit("lakeprep"), example_id), F.lit(1_000_000)) / 1_000_000.0
    return F.when(bucket < 0.8, "train").when(bucket < 0.9, "validation").otherwise("test")


def handwritten(spark: Any, lake: Path, output: Path) -> int:
    """The hand-written job; returns the number of examples written."""
    from pyspark.sql import functions as F

    from lake.storage import Storage
    from lake.table import Table

    storage = Storage.resolve(str(lake))
    for name in ("flights", "weather", "planes"):
        Table(storage, "cleaned", name).read(spark).createOrReplaceTempView(name)
    examples = spark.sql(EXAMPLES_SQL)
    examples = examples.withColumn("split", _split(F.col("example_id"))).cache()
    train = examples.where(F.col("split") == "train")
    stats = train.agg(
        *[F.avg(c).alias(f"mean_{c}") for c in MEAN_IMPUTED],
        *[F.percentile_approx(c, 0.5, 1000).alias(f"median_{c}") for c in MEDIAN_IMPUTED],
    ).first()
    assert stats is not None
    fill = {c: stats[f"mean_{c}"] for c in MEAN_IMPUTED} | {c: stats[f"median_{c}"] for c in MEDIAN_IMPUTED}
    imputed = examples.na.fill({c: float(v) for c, v in fill.items() if v is not None})
    imputed_train = imputed.where(F.col("split") == "train")
    moments = imputed_train.agg(
        *[F.avg(c).alias(f"m_{c}") for c in SCALED], *[F.stddev(c).alias(f"s_{c}") for c in SCALED]
    ).first()
    assert moments is not None
    categories = {}
    for column in (*ONEHOT, *INDEXED):
        counts = imputed_train.groupBy(column).count().orderBy(F.desc("count"), F.asc(column)).collect()
        categories[column] = [r[column] for r in counts if r[column] is not None]
    scaled = [
        ((F.col(c) - F.lit(moments[f"m_{c}"])) / F.lit(moments[f"s_{c}"] or 1.0)).alias(c) for c in SCALED
    ]
    onehot = [  # one slot per training category, then one for categories unseen in training
        F.array(
            *[F.when(F.col(c) == F.lit(v), 1.0).otherwise(0.0) for v in categories[c]],
            F.when(F.col(c).isin(categories[c]), 0.0).otherwise(1.0),
        ).alias(c)
        for c in ONEHOT
    ]
    dest_index = F.coalesce(
        *[F.when(F.col("dest") == F.lit(v), float(i)) for i, v in enumerate(categories["dest"])],
        F.lit(float(len(categories["dest"]))),
    ).alias("dest")
    bucket = (
        F.when(F.col("distance").isNull(), 5.0)
        .when(F.col("distance") < 500, 0.0)
        .when(F.col("distance") < 1000, 1.0)
        .when(F.col("distance") < 1500, 2.0)
        .when(F.col("distance") < 2500, 3.0)
        .otherwise(4.0)
        .alias("distance_bucket")
    )
    out = imputed.select("example_id", "split", "is_late", *scaled, *onehot, dest_index, bucket)
    vector = F.concat(
        F.array(*[F.col(c) for c in SCALED]),
        *[F.col(c) for c in ONEHOT],
        F.array(F.col("dest"), F.col("distance_bucket")),
    )
    out = out.withColumn("features", vector)
    out.write.mode("overwrite").partitionBy("split").parquet(str(output))
    rows = examples.count()
    examples.unpersist()
    return rows


def handwritten_featurize(params: dict[str, Any]) -> dict[str, Any]:
    from bench.spark import session

    lake = Path(params["lake"])
    output = Path(params["output"])
    shutil.rmtree(output, ignore_errors=True)
    spark = session("bench-handwritten")
    seconds, rows = timed(lambda: handwritten(spark, lake, output))
    return {"seconds": seconds, "examples": rows}


def lakeprep_featurize(params: dict[str, Any]) -> dict[str, Any]:
    from bench.spark import session
    from jobs.featurize import main

    lake = Path(params["lake"])
    shutil.rmtree(lake / "features" / "flight_delay", ignore_errors=True)
    session("bench-featurize")
    seconds, results = timed(
        lambda: main(["--lake", str(lake), "--spec", "flight_delay", "--full-refresh", "--run-id", "bench"])
    )
    return {"seconds": seconds, "examples": results[0].rows_out, "rows_in": results[0].rows_in}


TIERS = ("lakeprep_featurize", "handwritten_featurize")


def compare_outputs(lake: Path, output: Path) -> dict[str, Any]:
    """Check the hand-written job computes the same features: join on example_id, compare vectors."""
    import numpy as np
    import pyarrow.dataset as ds
    from deltalake import DeltaTable

    ours = DeltaTable(str(lake / "features" / "flight_delay")).to_pandas(
        columns=["example_id", "split", "is_late", "features"]
    )
    theirs = (
        ds.dataset(str(output), partitioning="hive")
        .to_table(columns=["example_id", "split", "is_late", "features"])
        .to_pandas()
    )
    joined = ours.merge(theirs, on="example_id", suffixes=("_lakeprep", "_handwritten"))
    a, b = np.vstack(joined["features_lakeprep"]), np.vstack(joined["features_handwritten"])
    return {
        "examples_lakeprep": len(ours),
        "examples_handwritten": len(theirs),
        "matched": len(joined),
        "vector_length": [int(a.shape[1]), int(b.shape[1])],
        "max_abs_difference": float(np.nanmax(np.abs(a - b))) if a.shape == b.shape else None,
        "same_label": float((joined["is_late_lakeprep"] == joined["is_late_handwritten"]).mean()),
        "same_split": float((joined["split_lakeprep"] == joined["split_handwritten"]).mean()),
    }
