"""Spark sessions. Jobs take the session spark-submit / Glue / EMR configured; configuration lives in
``spark-defaults.conf``, not in code. ``local_session`` applies that file for in-process use (tests,
notebooks) the way ``spark-submit --properties-file`` would. The one exception is S3 on a machine of
your own: the S3A connector's settings come from the AWS variables (``s3a_settings``), never from a
file, and never on Glue / EMR, whose ``s3://`` is EMRFS."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from lake import paths

S3A_JARS_VARIABLE = "LAKEPREP_S3A_JARS"
S3A_FILESYSTEM = "org.apache.hadoop.fs.s3a.S3AFileSystem"
# hadoop-aws 3.3 (the S3A connector `make s3a-jars` extracts) reads these as plain numbers, while the
# Hadoop 3.4 defaults inside Spark 4 say "60s", "24h"...: NumberFormatException unless they are numbers.
# Each value is Hadoop's default in the unit hadoop-aws 3.3 reads (ms, except the two in seconds).
S3A_NUMERIC_SETTINGS = {
    "fs.s3a.threads.keepalivetime": "60",
    "fs.s3a.connection.establish.timeout": "30000",
    "fs.s3a.connection.timeout": "200000",
    "fs.s3a.multipart.purge.age": "86400",
    "fs.s3a.connection.ttl": "300000",
    "fs.s3a.connection.acquisition.timeout": "60000",
    "fs.s3a.connection.idle.time": "60000",
    "fs.s3a.retry.interval": "500",
    "fs.s3a.retry.throttle.interval": "100",
}


class S3AJarsMissingError(FileNotFoundError):
    """An s3:// lake run locally, without Spark's S3A connector jars."""


def s3a_jars(environ: Mapping[str, str] | None = None) -> list[str]:
    """hadoop-aws and its AWS SDK bundle: ``$LAKEPREP_S3A_JARS`` (paths separated by spaces, commas or
    ``:``), else the checkout's ``.cache/jars/`` (``make s3a-jars``); empty when neither has them."""
    value = (os.environ if environ is None else environ).get(S3A_JARS_VARIABLE, "")
    jars = [j for j in value.replace(",", " ").replace(os.pathsep, " ").split() if j]
    if not jars:
        root = paths.checkout_root()
        jars = [str(p) for p in sorted((root / ".cache" / "jars").glob("*.jar"))] if root else []
    return [j for j in jars if Path(j).is_file()]


def require_s3a_jars(environ: Mapping[str, str] | None = None) -> list[str]:
    jars = s3a_jars(environ)
    if not jars:
        raise S3AJarsMissingError(
            "an s3:// lake needs Spark's S3A connector (hadoop-aws 3.3.1 + aws-java-sdk-bundle jars): "
            f"run `make s3a-jars` in the lakeprep checkout, or set {S3A_JARS_VARIABLE} to the jar files"
        )
    return jars


def s3a_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Hadoop settings that make ``s3://`` work through S3A on a machine of your own, from the standard
    AWS variables: the endpoint (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, path-style for
    S3-compatible stores), the region, credentials from the AWS SDK's default chain (environment,
    profile, web identity, container or instance role) and the numeric timeouts hadoop-aws 3.3 needs.
    Never used on Glue / EMR, whose ``s3://`` is EMRFS."""
    env = os.environ if environ is None else environ
    settings = {
        "fs.s3.impl": S3A_FILESYSTEM,
        "fs.s3a.aws.credentials.provider": "com.amazonaws.auth.DefaultAWSCredentialsProviderChain",
        **S3A_NUMERIC_SETTINGS,
    }
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        settings["fs.s3a.endpoint.region"] = region
        settings["fs.s3a.endpoint"] = f"s3.{region}.amazonaws.com"
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        settings["fs.s3a.endpoint"] = endpoint
        settings["fs.s3a.path.style.access"] = "true"
        settings["fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https://")).lower()
    return settings


def s3a_spark_conf(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Spark conf for a locally launched job on an s3:// lake: the S3A jars and ``spark.hadoop.*``."""
    return {
        "spark.jars": ",".join(require_s3a_jars(environ)),
        **{f"spark.hadoop.{key}": value for key, value in s3a_settings(environ).items()},
    }


def read_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a Spark properties file (``key value`` or ``key=value``, ``#`` comments)."""
    props: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" in line.split(None, 1)[0]:
            key, value = line.split("=", 1)
        else:
            parts = line.split(None, 1)
            key, value = parts[0], parts[1] if len(parts) > 1 else ""
        props[key.strip()] = value.strip()
    return props


def persist_on_disk(frame: DataFrame) -> DataFrame:
    """Keep a frame that is read more than once (counted, then written) on the executors' local disks.

    Not MEMORY_AND_DISK: Spark builds in-memory column batches outside its memory manager, so caching big
    partitions can exhaust the heap (featurize over 16M flights did, with 4 GB). The disk copy cost no
    measurable time (featurize over 4M flights: 95 s either way) and takes no heap, only local disk."""
    return frame.persist(StorageLevel.DISK_ONLY)


def get_spark(app_name: str) -> SparkSession:
    """The job's session: whatever the launcher (spark-submit, Glue, EMR) configured, plus S3A settings
    when a job launched on a machine of your own has the S3A jars (see ``configure_s3a``)."""
    session = SparkSession.builder.appName(app_name).getOrCreate()
    configure_s3a(session)
    return session


def configure_s3a(session: SparkSession) -> bool:
    """Fill in ``s3a_settings`` for a local or standalone session whose driver has the S3A classes
    (``spark-submit --jars ...``) and no ``s3://`` file system of its own (Glue / EMR map it to EMRFS).
    Settings given with ``--conf spark.hadoop.*`` win; numeric timeouts replace only unit-suffixed
    defaults. Returns whether it configured anything."""
    master = session.sparkContext.master or ""
    if not master.startswith(("local", "spark://")):
        return False
    jvm = session.sparkContext._jvm
    assert jvm is not None
    try:
        jvm.java.lang.Thread.currentThread().getContextClassLoader().loadClass(S3A_FILESYSTEM)
    except Exception:  # py4j wraps ClassNotFoundException: no S3A jars on this driver
        return False
    hadoop = session.sparkContext._jsc.hadoopConfiguration()
    if hadoop.get("fs.s3.impl") not in (None, S3A_FILESYSTEM):
        return False
    given = session.sparkContext.getConf()
    for key, value in s3a_settings().items():
        current = hadoop.get(key)
        if key in S3A_NUMERIC_SETTINGS:
            if current is None or not current.strip().isdigit():
                hadoop.set(key, value)
            continue
        # Hadoop records where a value came from: one set in code (by the caller) is the caller's.
        sources = hadoop.getPropertySources(key)
        set_in_code = sources is not None and "programmatically" in list(sources)
        if not given.contains(f"spark.hadoop.{key}") and not set_in_code:
            hadoop.set(key, value)
    return True


def local_session(
    app_name: str = "lakeprep",
    conf: Mapping[str, str] | None = None,
    master: str = "local[2]",
    lake: str | None = None,
) -> SparkSession:
    """A local session configured from ``spark-defaults.conf`` plus ``conf`` overrides. For an s3://
    ``lake`` (or ``$LAKEPREP_LAKE``) it carries the S3A connector and settings; other sessions do not
    copy its 200 MB of jars."""
    # Python workers (mapInPandas, pandas UDFs) must run this interpreter, with its packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # The JVM finds log4j2.properties on its classpath through this folder; without it Spark prints
    # its start-up WARN lines into every command that starts a session.
    os.environ.setdefault("SPARK_CONF_DIR", str(paths.spark_defaults().parent))
    builder = SparkSession.builder.master(master).appName(app_name)
    settings = read_properties(paths.spark_defaults())
    if (lake or os.environ.get("LAKEPREP_LAKE") or "").startswith(("s3://", "s3a://")):
        settings.update(s3a_spark_conf())
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
