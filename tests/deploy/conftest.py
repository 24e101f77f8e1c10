"""Deployment fixtures: moto (server mode, loopback) for the AWS control planes, the real local S3
server for artifacts, one real wheel build per session, and one real run of the jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import SparkSession

from lake.deploy.artifacts import BuiltWheel, build_wheel
from lake.sample import land_sample
from lake.storage import Storage
from tests.conftest import TEST_SALT
from tests.deploy import moto_support
from tests.support.jobs import run_inprocess
from tests.support.servers import S3Server

REGION = "us-east-1"
ROLE = f"arn:aws:iam::{moto_support.ACCOUNT}:role/lakeprep-test-jobs"
SECRET = f"arn:aws:secretsmanager:{REGION}:{moto_support.ACCOUNT}:secret:lakeprep/test/pii-salt-AbC123"
KMS_KEY = f"arn:aws:kms:{REGION}:{moto_support.ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass(frozen=True)
class Aws:
    moto: str
    s3: S3Server
    region: str = REGION


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_support.moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """boto3 reaches moto for Glue/EMR/EMR Serverless/IAM/STS and the local S3 server for S3."""
    moto_support.reset(moto_endpoint)
    for service in moto_support.MOTO_SERVICES:
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return Aws(moto_endpoint, s3_env)


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> BuiltWheel:
    """The real wheel, built once with pip from this checkout (hatchling) and stamped."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def pip_install_target(requirement: str, target: Path) -> Path:
    """``pip install --no-deps --target``: a package to look at without installing it here."""
    command = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
    subprocess.run([*command, "--target", str(target), requirement], check=True)
    return target


def deployment(bucket: str, **overrides: Any) -> dict[str, Any]:
    """A deployment file's content for a test bucket (artifacts and lake in it)."""
    data: dict[str, Any] = {
        "environment": "test",
        "region": REGION,
        "lake_root": f"s3://{bucket}/lake",
        "artifacts": {"bucket": bucket, "prefix": "lakeprep"},
        "job_role_arn": ROLE,
        "pii_salt_secret_arn": SECRET,
        "glue": {"version": "5.0", "worker_type": "G.1X", "number_of_workers": 2, "timeout_minutes": 30},
        "emr_serverless": {"python_env": f"s3://{bucket}/lakeprep/test/envs/lakeprep-py311.tar.gz"},
        "tags": {"team": "data-platform"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


@pytest.fixture
def write_deployment(tmp_path: Path) -> Callable[..., Path]:
    def write(bucket: str, **overrides: Any) -> Path:
        path = tmp_path / "deploy" / "test.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(deployment(bucket, **overrides), sort_keys=False))
        return path

    return write


RAN_DATASETS = ("airlines", "airports", "planes", "flights")


@pytest.fixture(scope="session")
def ran_lake(tmp_path_factory: pytest.TempPathFactory, spark: SparkSession) -> Storage:
    """A local lake where the real ingest and clean jobs ran over a slice of the sample."""
    storage = Storage.resolve(str(tmp_path_factory.mktemp("ran") / "lake"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKEPREP_PII_SALT", TEST_SALT)
        for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
            patch.delenv(key)
        land_sample(storage, RAN_DATASETS, months=[1], limit=300)
        datasets = ",".join(RAN_DATASETS)
        run_inprocess("ingest", ["--lake", storage.root, "--dataset", datasets])
        run_inprocess("clean", ["--lake", storage.root, "--dataset", datasets])
    return storage
