"""Issue 12: clean's typed projection (normalise and cast 19 columns of the shipped flights contract)
compiles to one whole-stage method over HotSpot's 8,000-byte limit, which the JIT never compiles; run
interpreted it made ``clean`` about 4x slower than the same work in small methods. Spark's
``spark.sql.codegen.hugeMethodLimit`` set to that limit makes such a stage fall back to small compiled
methods: every session lakeprep starts and every Glue / EMR deployment carries it."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake.columns import INGESTED_AT, SOURCE_FILE
from lake.contracts import load_contract
from lake.deploy.arguments import cluster_spark_conf
from lake.paths import contracts_dir
from lake.zones.clean.transform import cast_to_contract, normalize_text

HOTSPOT_HUGE_METHOD = 8000  # bytes of bytecode; -XX:+DontCompileHugeMethods is the JVM's default
LIMIT = "spark.sql.codegen.hugeMethodLimit"


def largest_generated_method(frame: DataFrame) -> int:
    """The largest method whole-stage codegen compiles for ``frame``'s plan, in bytes of bytecode."""
    spark = frame.sparkSession
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    debug = getattr(getattr(jvm.org.apache.spark.sql.execution.debug, "package$"), "MODULE$")
    stages = debug.codegenStringSeq(frame._jdf.queryExecution().executedPlan()).iterator()
    sizes = []
    while stages.hasNext():
        sizes.append(int(stages.next()._3().maxMethodCodeSize()))
    return max(sizes)


def test_clean_projection_is_past_the_jit_limit_and_sessions_fall_back(
    spark: SparkSession, tmp_path: Path
) -> None:
    contract = load_contract(contracts_dir() / "flights.yaml")
    text = ", ".join(f"`{c.name}` string" for c in contract.columns)
    landed = spark.createDataFrame([tuple("1" for _ in contract.columns)], text)
    landed = landed.withColumn(SOURCE_FILE, F.lit("f.csv")).withColumn(INGESTED_AT, F.current_timestamp())
    landed.write.parquet(str(tmp_path / "raw"))  # a file scan: a local relation would be folded away
    raw = spark.read.parquet(str(tmp_path / "raw"))
    adaptive = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", "false")  # the final plan, not an adaptive placeholder
    try:
        typed = cast_to_contract(normalize_text(raw, contract), contract)
        assert largest_generated_method(typed) > HOTSPOT_HUGE_METHOD
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", adaptive or "true")
    assert int(spark.conf.get(LIMIT) or 0) <= HOTSPOT_HUGE_METHOD
    assert int(cluster_spark_conf()[LIMIT]) <= HOTSPOT_HUGE_METHOD
