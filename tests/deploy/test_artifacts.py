"""The release: a real wheel that records its code version, published with the scripts and contracts
to the real local S3 server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from lake.deploy.artifacts import (
    BUILD_INFO_PATH,
    BuiltWheel,
    DeployError,
    current_release,
    encryption_args,
    publish_release,
    split_s3,
    stamp_wheel,
)
from lake.deploy.aws import Clients
from lake.deploy.config import load_config
from lake.lineage import git_sha
from lake.paths import contracts_dir, job_script
from tests.deploy.conftest import KMS_KEY, Aws, pip_install_target

pytestmark = pytest.mark.s3


def test_wheel_carries_jobs_contracts_and_code_version(built_wheel: BuiltWheel, tmp_path: Path) -> None:
    with zipfile.ZipFile(built_wheel.path) as wheel:
        names = set(wheel.namelist())
        info = json.loads(wheel.read(BUILD_INFO_PATH))
        record = wheel.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
    assert {
        "lake/_bundle/jobs/ingest.py",
        "lake/_bundle/jobs/clean.py",
        "lake/_bundle/schemas/flights.yaml",
    } <= names
    assert info["git_sha"] == git_sha()
    assert built_wheel.git_sha == git_sha()
    assert f"{BUILD_INFO_PATH},sha256=" in record

    # pip accepts the stamped wheel (RECORD hashes checked), and the installed package reports the sha.
    target = pip_install_target(str(built_wheel.path), tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if k != "LAKEPREP_GIT_SHA"} | {"PYTHONPATH": str(target)}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lake.lineage import git_sha; from lake import paths; print(git_sha(), paths.jobs_dir())",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [git_sha(), str(target / "lake" / "_bundle" / "jobs")]


def test_stamping_is_reproducible(built_wheel: BuiltWheel, tmp_path: Path) -> None:
    """Same code, same bytes: the release id (content hash) is stable across deploys."""
    copy = tmp_path / built_wheel.path.name
    shutil.copy(built_wheel.path, copy)
    again = stamp_wheel(copy, built_wheel.git_sha)
    assert again.sha256 == built_wheel.sha256
    other = stamp_wheel(copy, "0" * 40)
    assert other.sha256 != built_wheel.sha256


def test_publish_release_to_s3(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> None:
    config = load_config(str(write_deployment(s3_bucket)))
    clients = Clients.for_config(config)
    with pytest.raises(DeployError, match="nothing deployed yet"):
        current_release(clients.s3, config)

    release = publish_release(clients.s3, config, built_wheel)
    assert release.uri == f"s3://{s3_bucket}/lakeprep/test/releases/{release.release_id}"
    assert release.release_id.endswith(built_wheel.sha256[:12])
    assert set(release.jobs) >= {"ingest", "clean"}

    s3 = aws.s3.client()

    def read(uri: str) -> bytes:
        bucket, key = split_s3(uri)
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    assert hashlib.sha256(read(release.wheel_uri)).hexdigest() == built_wheel.sha256
    for job in release.jobs:
        assert read(release.script_uri(job)) == job_script(job).read_bytes()
    for contract in contracts_dir().glob("*.yaml"):
        assert read(f"{release.contracts_uri}{contract.name}") == contract.read_bytes()
    bootstrap = read(release.bootstrap_uri).decode()
    assert release.wheel_uri in bootstrap
    assert config.emr.python in bootstrap
    subprocess.run(["bash", "-n"], input=bootstrap, text=True, check=True)  # it parses as bash
    assert current_release(clients.s3, config) == release

    # Publishing the same wheel again lands on the same release (idempotent upload).
    assert publish_release(clients.s3, config, built_wheel) == release


def test_uploads_use_sse_kms_when_configured(write_deployment: Callable[..., Path]) -> None:
    """The local S3 server has no KMS, so the request arguments are what is checked here."""
    plain = load_config(str(write_deployment("bucket-a")))
    assert encryption_args(plain) == {}
    encrypted = load_config(str(write_deployment("bucket-a", kms_key_arn=KMS_KEY)))
    assert encryption_args(encrypted) == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY}
