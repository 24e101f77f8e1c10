"""The local SparkSession every measured workload uses: the project's spark-defaults.conf, 2 cores."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import SparkSession


def session(app: str, conf: Mapping[str, str] | None = None) -> SparkSession:
    from lake.spark import local_session

    spark = local_session(app, dict(conf or {}), master="local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    return spark
