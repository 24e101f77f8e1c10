"""Shared fixtures: one local SparkSession per test session, real servers on loopback, temp lakes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lake.spark import local_session
from lake.storage import Storage
from tests.support.servers import S3Server, s3a_jars, seaweedfs

TEST_SALT = "test-pii-salt"


@pytest.fixture(autouse=True)
def _pii_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEPREP_PII_SALT", TEST_SALT)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    conf = {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "4"}
    jars = s3a_jars()
    if jars:
        conf["spark.jars"] = ",".join(jars)
    session = local_session("lakeprep-tests", conf)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def lake(tmp_path: Path) -> Storage:
    return Storage.resolve(str(tmp_path / "lake"))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """AWS variables pointing boto3, pyarrow and delta-rs at the local S3 server (never real AWS)."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server


@pytest.fixture
def s3_bucket(s3_env: S3Server) -> str:
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3_env.client().create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def s3_lake(s3_env: S3Server, s3_bucket: str, spark: SparkSession) -> Storage:
    """A lake on the local S3 server, with Spark's S3A pointed at it as well."""
    if not s3a_jars():
        pytest.fail("S3A jars missing: run `make test` (it extracts hadoop-aws into .cache/jars)")
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in s3_env.spark_conf().items():
        hadoop.set(key, value)
    return Storage.resolve(f"s3://{s3_bucket}/lake")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests using Spark get the `spark` marker automatically (handy for -m selection)."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)


os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
