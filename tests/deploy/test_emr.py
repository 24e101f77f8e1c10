"""``lakeprep emr submit`` and ``lakeprep emr-serverless submit`` against moto, release on the local S3 server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from lake.deploy.artifacts import BuiltWheel
from lakeprep.cli import app
from tests.deploy import moto_support
from tests.deploy.conftest import REGION, ROLE, SECRET, Aws

pytestmark = [pytest.mark.aws, pytest.mark.s3]

runner = CliRunner()


def lakeprep(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def published(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> Path:
    path = write_deployment(s3_bucket)
    result = lakeprep("deploy", "artifacts", "--env", str(path), "--wheel", str(built_wheel.path))
    assert result.exit_code == 0, result.output
    assert "bootstrap.sh" in result.output
    return path


def cluster(log_uri: str | None = "s3://logs-bucket/emr/") -> str:
    request: dict[str, Any] = {
        "Name": "lakeprep-test",
        "ReleaseLabel": "emr-7.5.0",
        "Instances": {
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole",
    }
    if log_uri:
        request["LogUri"] = log_uri
    return str(boto3.client("emr", region_name=REGION).run_job_flow(**request)["JobFlowId"])


def test_step_runs_the_release_script_with_spark_submit(published: Path, s3_bucket: str) -> None:
    cluster_id = cluster()
    result = lakeprep(
        "emr",
        "submit",
        "clean",
        "--env",
        str(published),
        "--cluster-id",
        cluster_id,
        "--arg",
        "dataset=flights",
    )
    assert result.exit_code == 0, result.output
    emr = boto3.client("emr", region_name=REGION)
    (summary,) = emr.list_steps(ClusterId=cluster_id)["Steps"]
    step = emr.describe_step(ClusterId=cluster_id, StepId=summary["Id"])["Step"]
    assert step["ActionOnFailure"] == "CONTINUE"
    jar = step["Config"]
    assert jar["Jar"] == "command-runner.jar"
    args = jar["Args"]
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    assert "spark.pyspark.python=/usr/bin/python3.11" in args
    assert "spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS" in args
    script = next(a for a in args if a.endswith("/jobs/clean.py"))
    assert script.startswith(f"s3://{s3_bucket}/lakeprep/test/releases/")
    job_args = args[args.index(script) + 1 :]
    assert job_args == [
        "--lake",
        f"s3://{s3_bucket}/lake",
        "--pii-salt-secret",
        SECRET,
        "--dataset",
        "flights",
    ]
    # The script the step runs is on S3.
    bucket, key = script.removeprefix("s3://").split("/", 1)
    assert boto3.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    assert f"s3://logs-bucket/emr/{cluster_id}/steps/{summary['Id']}/" in result.output


def test_step_wait_follows_until_it_ends(published: Path) -> None:
    cluster_id = cluster()
    backend = moto_support.emr_backend(REGION)

    # The cluster finishing spark-submit with exit 0.
    worker = moto_support.when_started(lambda: backend.clusters[cluster_id].steps, "state", "COMPLETED")
    result = lakeprep(
        "emr",
        "submit",
        "ingest",
        "--env",
        str(published),
        "--cluster-id",
        cluster_id,
        "--wait",
        "--poll-seconds",
        "0.05",
    )
    worker.join()
    assert result.exit_code == 0, result.output
    assert "COMPLETED after" in result.output
    assert "run COMPLETED" in result.output


def test_packaged_python_env_replaces_bootstrap(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> None:
    archive = f"s3://{s3_bucket}/envs/lakeprep.tar.gz"
    path = write_deployment(s3_bucket, emr={"python_env": archive})
    assert (
        lakeprep("deploy", "artifacts", "--env", str(path), "--wheel", str(built_wheel.path)).exit_code == 0
    )
    cluster_id = cluster(log_uri=None)
    result = lakeprep("emr", "submit", "ingest", "--env", str(path), "--cluster-id", cluster_id)
    assert result.exit_code == 0, result.output
    emr = boto3.client("emr", region_name=REGION)
    (summary,) = emr.list_steps(ClusterId=cluster_id)["Steps"]
    args = emr.describe_step(ClusterId=cluster_id, StepId=summary["Id"])["Step"]["Config"]["Args"]
    assert args[args.index("--archives") + 1] == f"{archive}#environment"
    assert "spark.pyspark.python=./environment/bin/python" in args
    assert "no LogUri" in result.output


def test_submit_before_any_deploy_says_what_to_do(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path]
) -> None:
    path = write_deployment(s3_bucket)
    result = lakeprep("emr", "submit", "ingest", "--env", str(path), "--cluster-id", cluster())
    assert result.exit_code == 2
    assert "lakeprep deploy artifacts --env test" in result.output


def test_serverless_job_run(published: Path, s3_bucket: str) -> None:
    client = boto3.client("emr-serverless", region_name=REGION)
    application = client.create_application(
        name="lakeprep", releaseLabel="emr-7.5.0", type="SPARK", clientToken="test-application"
    )["applicationId"]
    result = lakeprep(
        "emr-serverless",
        "submit",
        "ingest",
        "--env",
        str(published),
        "--application-id",
        application,
        "--arg",
        "dataset=weather",
        "--wait",
        "--poll-seconds",
        "0",
    )
    assert result.exit_code == 0, result.output
    assert "run SUCCESS" in result.output
    (summary,) = client.list_job_runs(applicationId=application)["jobRuns"]
    run = client.get_job_run(applicationId=application, jobRunId=summary["id"])["jobRun"]
    assert run["executionRole"] == ROLE
    driver = run["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"].startswith(f"s3://{s3_bucket}/lakeprep/test/releases/")
    assert driver["entryPoint"].endswith("/jobs/ingest.py")
    assert driver["entryPointArguments"] == ["--lake", f"s3://{s3_bucket}/lake", "--dataset", "weather"]
    parameters = driver["sparkSubmitParameters"]
    archive = f"s3://{s3_bucket}/lakeprep/test/envs/lakeprep-py311.tar.gz#environment"
    assert f"--conf spark.archives={archive}" in parameters
    assert "--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python" in parameters
    assert "--conf spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python" in parameters
    logs = run["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"]
    assert logs == f"s3://{s3_bucket}/lakeprep/test/logs/"
    assert f"{logs}applications/{application}/jobs/{summary['id']}/SPARK_DRIVER/" in result.output


def test_serverless_needs_a_packaged_env(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> None:
    path = write_deployment(s3_bucket, emr_serverless={"python_env": None})
    assert (
        lakeprep("deploy", "artifacts", "--env", str(path), "--wheel", str(built_wheel.path)).exit_code == 0
    )
    result = lakeprep("emr-serverless", "submit", "ingest", "--env", str(path), "--application-id", "00abc")
    assert result.exit_code == 2
    assert "emr_serverless.python_env is not set" in result.output
