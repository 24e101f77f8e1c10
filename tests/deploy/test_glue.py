"""``lakeprep deploy glue`` and ``lakeprep glue run`` against moto's Glue, artifacts on the local S3 server."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from lake.deploy import glue
from lake.deploy.artifacts import BuiltWheel, current_release, publish_release, split_s3
from lake.deploy.aws import Clients
from lake.deploy.config import load_config
from lake.job_scripts import available_jobs
from lakeprep.cli import app
from tests.deploy import moto_support
from tests.deploy.conftest import KMS_KEY, REGION, ROLE, SECRET, Aws

pytestmark = [pytest.mark.aws, pytest.mark.s3]

runner = CliRunner()


def lakeprep(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def glue_client() -> Any:
    return boto3.client("glue", region_name=REGION)


def all_jobs() -> list[dict[str, Any]]:
    return [job for page in glue_client().get_paginator("get_jobs").paginate() for job in page["Jobs"]]


def actions(output: str) -> dict[str, str]:
    """job -> created/updated/unchanged, from the deploy table."""
    found = {}
    for job in available_jobs():
        match = re.search(rf"{job}\s+\S+\s+(created|updated|unchanged)", output)
        assert match, output
        found[job] = match.group(1)
    return found


@pytest.fixture
def deployed(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> Path:
    path = write_deployment(
        s3_bucket, glue={"jobs": {"clean": {"number_of_workers": 4, "timeout_minutes": 90}}}
    )
    result = lakeprep("deploy", "glue", "--env", str(path), "--wheel", str(built_wheel.path))
    assert result.exit_code == 0, result.output
    assert set(actions(result.output).values()) == {"created"}
    return path


def test_deploy_twice_updates_never_duplicates(
    deployed: Path, built_wheel: BuiltWheel, s3_bucket: str, write_deployment: Callable[..., Path]
) -> None:
    jobs = available_jobs()
    assert sorted(j["Name"] for j in all_jobs()) == [f"lakeprep-test-{job}" for job in jobs]

    again = lakeprep("deploy", "glue", "--env", str(deployed), "--wheel", str(built_wheel.path))
    assert again.exit_code == 0, again.output
    assert set(actions(again.output).values()) == {"unchanged"}
    assert len(all_jobs()) == len(jobs)

    # A changed setting updates the jobs in place (UpdateJob), still one job per script.
    changed = write_deployment(
        s3_bucket,
        glue={"worker_type": "G.2X", "jobs": {"clean": {"number_of_workers": 4, "timeout_minutes": 90}}},
    )
    third = lakeprep("deploy", "glue", "--env", str(changed), "--wheel", str(built_wheel.path))
    assert third.exit_code == 0, third.output
    assert set(actions(third.output).values()) == {"updated"}
    assert len(all_jobs()) == len(jobs)
    assert {j["WorkerType"] for j in all_jobs()} == {"G.2X"}
    tags = glue_client().get_tags(
        ResourceArn=f"arn:aws:glue:{REGION}:{moto_support.ACCOUNT}:job/lakeprep-test-ingest"
    )["Tags"]
    assert tags == {"team": "data-platform", "lakeprep:environment": "test"}


def test_job_definition(deployed: Path, aws: Aws) -> None:
    config = load_config(str(deployed))
    release = current_release(Clients.for_config(config).s3, config)
    s3 = aws.s3.client()

    def exists(uri: str) -> bool:
        bucket, key = split_s3(uri)
        return bool(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])

    ingest = glue_client().get_job(JobName="lakeprep-test-ingest")["Job"]
    clean = glue_client().get_job(JobName="lakeprep-test-clean")["Job"]
    assert ingest["Role"] == ROLE
    assert ingest["Command"] == {
        "Name": "glueetl",
        "ScriptLocation": release.script_uri("ingest"),
        "PythonVersion": "3",
    }
    assert exists(ingest["Command"]["ScriptLocation"])
    assert (ingest["GlueVersion"], ingest["WorkerType"], ingest["NumberOfWorkers"], ingest["Timeout"]) == (
        "5.0",
        "G.1X",
        2,
        30,
    )
    assert (clean["NumberOfWorkers"], clean["Timeout"]) == (4, 90)  # per-job override
    assert ingest["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert "SecurityConfiguration" not in ingest  # no key configured

    arguments = ingest["DefaultArguments"]
    modules = arguments["--additional-python-modules"].split(",")
    assert modules[0] == release.wheel_uri
    assert exists(modules[0])
    assert any(m.startswith("deltalake==") for m in modules)
    assert arguments["--enable-glue-datacatalog"] == "true"
    assert arguments["--TempDir"] == f"s3://{release.root.removeprefix('s3://')}/tmp/"
    assert arguments["--lake"] == config.lake_root
    assert arguments["--enable-metrics"] == arguments["--enable-continuous-cloudwatch-log"] == "true"
    assert arguments["--spark-event-logs-path"] == release.spark_ui_logs
    assert arguments["--job-bookmark-option"] == "job-bookmark-disable"
    conf = arguments["--conf"]
    assert "spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS" in conf
    assert "spark.sql.session.timeZone=UTC --conf " in conf
    assert "spark.driver.memory" not in conf  # laptop sizing stays local
    # Only the job that hashes PII gets the secret's id (never a secret value).
    assert "--pii-salt-secret" not in arguments
    assert clean["DefaultArguments"]["--pii-salt-secret"] == SECRET


def test_kms_key_adds_a_security_configuration(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> None:
    # The local S3 server has no KMS: the release is uploaded unencrypted, the jobs get the key.
    plain = load_config(str(write_deployment(s3_bucket)))
    release = publish_release(Clients.for_config(plain).s3, plain, built_wheel)
    config = load_config(str(write_deployment(s3_bucket, kms_key_arn=KMS_KEY)))
    client = Clients.for_config(config).glue
    first = glue.deploy_jobs(client, config, release)
    second = glue.deploy_jobs(client, config, release)
    assert [d.action for d in first] == ["created"] * len(first)
    assert [d.action for d in second] == ["unchanged"] * len(second)
    name = glue.security_configuration_name(config)
    assert {j["SecurityConfiguration"] for j in all_jobs()} == {name}
    encryption = glue_client().get_security_configuration(Name=name)["SecurityConfiguration"][
        "EncryptionConfiguration"
    ]
    assert encryption["S3Encryption"] == [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": KMS_KEY}]


def test_run_and_follow_to_success(deployed: Path, aws: Aws) -> None:
    # Each status check advances the run one state: STARTING -> RUNNING -> SUCCEEDED.
    moto_support.set_transition(aws.moto, "glue::job_run", {"progression": "manual", "times": 1})
    result = lakeprep(
        "glue",
        "run",
        "ingest",
        "--env",
        str(deployed),
        "--arg",
        "dataset=flights",
        "--wait",
        "--poll-seconds",
        "0",
    )
    assert result.exit_code == 0, result.output
    states = re.findall(r"lakeprep-test-ingest: (\w+) after", result.output)
    lifecycle = ["STARTING", "RUNNING", "SUCCEEDED"]
    assert states[-2:] == ["RUNNING", "SUCCEEDED"]  # followed through a running state to the end
    assert states == [s for s in lifecycle if s in states]
    started = re.search(r"run (jr_\w+)", result.output)
    assert started, result.output
    run_id = started.group(1)
    assert f"/output, stream {run_id}" in result.output
    assert "/error" in result.output
    assert "run SUCCEEDED" in result.output
    runs = glue_client().get_job_runs(JobName="lakeprep-test-ingest")["JobRuns"]
    assert [r["Id"] for r in runs] == [run_id]
    assert runs[0]["Arguments"]["--dataset"] == "flights"


def test_failed_run_exits_non_zero(deployed: Path, aws: Aws) -> None:
    moto_support.set_transition(aws.moto, "glue::job_run", {"progression": "manual", "times": 10_000})
    backend = moto_support.glue_backend(REGION)

    # Glue failing the run, as when the script raises.
    failer = moto_support.when_started(
        lambda: backend.get_job("lakeprep-test-clean").job_runs, "status", "FAILED"
    )
    result = lakeprep("glue", "run", "clean", "--env", str(deployed), "--wait", "--poll-seconds", "0.05")
    failer.join()
    assert result.exit_code == 1, result.output
    assert "run ended FAILED" in result.output
    assert "CloudWatch" in result.output


def test_run_refuses_mistakes(
    aws: Aws, deployed: Path, s3_bucket: str, write_deployment: Callable[..., Path]
) -> None:
    unknown = lakeprep("glue", "run", "train", "--env", str(deployed))
    assert unknown.exit_code == 2
    assert "no job 'train'" in unknown.output
    secret = lakeprep("glue", "run", "clean", "--env", str(deployed), "--arg", "api_key=abc")
    assert secret.exit_code == 2
    assert "looks like a secret" in secret.output
    malformed = lakeprep("glue", "run", "clean", "--env", str(deployed), "--arg", "dataset")
    assert malformed.exit_code == 2
    assert "use name=value" in malformed.output
    other = write_deployment(s3_bucket, environment="staging")
    missing = lakeprep("glue", "run", "clean", "--env", str(other))
    assert missing.exit_code == 2
    assert "lakeprep deploy glue --env staging" in missing.output
    assert glue_client().get_job_runs(JobName="lakeprep-test-clean")["JobRuns"] == []


def test_deploy_warns_about_another_account(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> None:
    path = write_deployment(s3_bucket, job_role_arn="arn:aws:iam::999988887777:role/lakeprep")
    result = lakeprep("deploy", "artifacts", "--env", str(path), "--wheel", str(built_wheel.path))
    assert result.exit_code == 0, result.output
    assert f"account {moto_support.ACCOUNT}, the job role is in 999988887777" in result.output
