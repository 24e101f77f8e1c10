"""EMR steps and EMR Serverless job runs of a published release.

Both run the same job script from S3 with spark-submit. Python comes from either the EMR bootstrap
action (the release's wheel installed on every node) or a self-contained Python archive shipped with
the job (``--archives …#environment``), which EMR Serverless requires since it has no bootstrap actions.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lake.deploy.arguments import cluster_spark_conf, conf_flags, job_arguments
from lake.deploy.artifacts import Release
from lake.deploy.aws import RunState
from lake.deploy.config import DeployConfig
from lake.job_scripts import as_argv
from lake.pipeline import Stage

if TYPE_CHECKING:
    from mypy_boto3_emr import EMRClient
    from mypy_boto3_emr_serverless import EMRServerlessClient

ENV_PYTHON = "./environment/bin/python"
STEP_SUCCEEDED = frozenset({"COMPLETED"})
STEP_FAILED = frozenset({"CANCELLED", "FAILED", "INTERRUPTED"})
SERVERLESS_SUCCEEDED = frozenset({"SUCCESS"})
SERVERLESS_FAILED = frozenset({"FAILED", "CANCELLED"})


class MissingPythonEnvError(ValueError):
    pass


def encryption_conf(config: DeployConfig) -> dict[str, str]:
    """EMRFS SSE-KMS for what Spark writes, when the environment has a key."""
    if not config.kms_key_arn:
        return {}
    return {
        "spark.hadoop.fs.s3.enableServerSideEncryption": "true",
        "spark.hadoop.fs.s3.serverSideEncryption.kms.keyId": config.kms_key_arn,
    }


def _arguments(config: DeployConfig, job: str, extra: dict[str, str]) -> list[str]:
    return as_argv({**job_arguments(config, job), **extra})


# ------------------------------------------------------------------------------------ EMR on EC2
def step_definition(
    config: DeployConfig,
    release: Release,
    job: str,
    extra: dict[str, str],
    action_on_failure: str | None = None,
) -> dict[str, Any]:
    """An AddJobFlowSteps step: command-runner.jar running spark-submit on the release's script."""
    python: list[str]
    if config.emr.python_env:
        python = [
            "--archives",
            f"{config.emr.python_env}#environment",
            "--conf",
            f"spark.pyspark.python={ENV_PYTHON}",
        ]
    else:  # the bootstrap action installed the release's wheel for this interpreter
        python = ["--conf", f"spark.pyspark.python={config.emr.python}"]
    command = [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        *python,
        *conf_flags({**cluster_spark_conf(), **encryption_conf(config)}),
        release.script_uri(job),
        *_arguments(config, job, extra),
    ]
    return {
        "Name": f"lakeprep-{config.environment}-{job} ({release.release_id})",
        "ActionOnFailure": action_on_failure or config.emr.action_on_failure,
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": command},
    }


def submit_step(
    emr: EMRClient, config: DeployConfig, release: Release, job: str, cluster_id: str, extra: dict[str, str]
) -> str:
    step = step_definition(config, release, job, extra)
    return emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[step])["StepIds"][0]  # type: ignore[list-item]


def submit_pipeline(
    emr: EMRClient,
    config: DeployConfig,
    release: Release,
    stages: Sequence[Stage],
    cluster_id: str,
    extra: dict[str, str],
) -> list[str]:
    """The stages as ordered steps in one call (EMR runs a cluster's steps in order). With
    ``pipeline.emr_action_on_failure: CANCEL_AND_WAIT`` a failed stage cancels the ones after it;
    with ``CONTINUE`` they still run (each stage skips what is already done)."""
    action = config.pipeline.emr_action_on_failure
    steps = [step_definition(config, release, s.job, {**s.arguments(), **extra}, action) for s in stages]
    return emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=steps)["StepIds"]  # type: ignore[arg-type]


def step_state(emr: EMRClient, cluster_id: str, step_id: str) -> RunState:
    status = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Status"]
    state = status["State"]
    failure = status.get("FailureDetails", {})
    detail = " ".join(filter(None, [failure.get("Reason"), failure.get("Message"), failure.get("LogFile")]))
    return RunState(state, state in STEP_SUCCEEDED | STEP_FAILED, state in STEP_SUCCEEDED, detail)


def step_logs(emr: EMRClient, cluster_id: str, step_id: str) -> list[str]:
    log_uri = emr.describe_cluster(ClusterId=cluster_id)["Cluster"].get("LogUri")
    if not log_uri:
        return [
            f"cluster {cluster_id} has no LogUri: step logs are only on the primary node (/mnt/var/log/hadoop/steps/{step_id})"
        ]
    base = log_uri.replace("s3n://", "s3://").rstrip("/")
    return [
        f"step logs:      {base}/{cluster_id}/steps/{step_id}/ (stdout.gz, stderr.gz)",
        f"container logs: {base}/{cluster_id}/containers/",
    ]


# ---------------------------------------------------------------------------------- Serverless
def serverless_parameters(config: DeployConfig) -> str:
    """sparkSubmitParameters: the packaged Python environment, then the cluster Spark settings."""
    archive = config.emr_serverless.python_env
    if not archive:
        raise MissingPythonEnvError(
            "emr_serverless.python_env is not set: EMR Serverless needs lakeprep in a packaged Python "
            "environment (an archive on S3 built with deploy/emr-serverless/Dockerfile); see docs/deployment.md"
        )
    settings = {
        "spark.archives": f"{archive}#environment",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": ENV_PYTHON,
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": ENV_PYTHON,
        "spark.executorEnv.PYSPARK_PYTHON": ENV_PYTHON,
        **cluster_spark_conf(),
        **encryption_conf(config),
    }
    return " ".join(conf_flags(settings))


def python_env_problems(archive: Path) -> list[str]:
    """Why a packed Python environment (``.tar.gz``) would not run the jobs once EMR unpacks it as
    ``./environment`` (empty when it would). The interpreter ``bin/python`` must be inside the archive
    (a file, or links that stay inside it: a venv's link to the build machine's interpreter dangles
    there), with its standard library beside it and lakeprep installed."""
    with tarfile.open(archive) as packed:
        members = {posixpath.normpath(m.name): m for m in packed.getmembers()}
    problems = []
    name = posixpath.normpath(ENV_PYTHON.removeprefix("./environment/"))
    for _ in range(10):
        member = members.get(name)
        if member is None:
            problems.append(f"{archive.name}: no {name}: PYSPARK_PYTHON={ENV_PYTHON} would not exist")
            break
        if not member.issym():
            break
        if posixpath.isabs(member.linkname):
            problems.append(
                f"{archive.name}: {name} links to {member.linkname}, an interpreter of the machine that "
                "built the archive, absent from the EMR image: pack a self-contained Python "
                "(deploy/emr-serverless/Dockerfile, see docs/deployment.md)"
            )
            break
        link, name = name, posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if name.startswith("../"):
            problems.append(f"{archive.name}: {link} links outside the archive ({member.linkname})")
            break
    stdlib = sorted(n for n in members if re.fullmatch(r"lib/python3\.\d+/os\.py", n))
    if not stdlib:
        problems.append(f"{archive.name}: no standard library (lib/python3.X/os.py) beside the interpreter")
    elif not any(
        n.startswith(f"{stdlib[0][: -len('os.py')]}site-packages/lake/_bundle/jobs/") for n in members
    ):
        problems.append(
            f"{archive.name}: lakeprep is not installed in it (no site-packages/lake/_bundle/jobs)"
        )
    return problems


def serverless_request(
    config: DeployConfig, release: Release, job: str, application_id: str, extra: dict[str, str]
) -> dict[str, Any]:
    """The StartJobRun request (the client token makes a retried submit start one run, not two)."""
    monitoring: dict[str, Any] = {"logUri": release.logs}
    if config.kms_key_arn:
        monitoring["encryptionKeyArn"] = config.kms_key_arn
    return {
        "applicationId": application_id,
        "clientToken": str(uuid.uuid4()),
        "executionRoleArn": config.role_for(job),
        "name": f"lakeprep-{config.environment}-{job}",
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": release.script_uri(job),
                "entryPointArguments": _arguments(config, job, extra),
                "sparkSubmitParameters": serverless_parameters(config),
            }
        },
        "configurationOverrides": {"monitoringConfiguration": {"s3MonitoringConfiguration": monitoring}},
        "executionTimeoutMinutes": config.emr_serverless.timeout_minutes,
        "tags": {**config.tags_with_environment(), "lakeprep:release": release.release_id},
    }


def submit_serverless(
    client: EMRServerlessClient,
    config: DeployConfig,
    release: Release,
    job: str,
    application_id: str,
    extra: dict[str, str],
) -> str:
    request = serverless_request(config, release, job, application_id, extra)
    return client.start_job_run(**request)["jobRunId"]


def serverless_state(client: EMRServerlessClient, application_id: str, run_id: str) -> RunState:
    run = client.get_job_run(applicationId=application_id, jobRunId=run_id)["jobRun"]
    state = run["state"]
    return RunState(
        state,
        state in SERVERLESS_SUCCEEDED | SERVERLESS_FAILED,
        state in SERVERLESS_SUCCEEDED,
        run.get("stateDetails", ""),
    )


def serverless_logs(release: Release, application_id: str, run_id: str) -> list[str]:
    base = f"{release.logs}applications/{application_id}/jobs/{run_id}"
    return [
        f"driver logs: {base}/SPARK_DRIVER/ (stdout.gz, stderr.gz)",
        f"console:     EMR Studio > Applications > {application_id} > job run {run_id}",
    ]
