"""Glue jobs: one per job script, created or updated in place (never duplicated), and runs followed
to the end.

The job definition is a pure function of the deployment file and the release, so a second deploy
of the same release finds nothing to change, and a new release updates every job to point at it.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lake.deploy.arguments import cluster_spark_conf, job_arguments
from lake.deploy.artifacts import Release, runtime_requirements
from lake.deploy.aws import RunState
from lake.deploy.config import DeployConfig

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient

SUCCEEDED = frozenset({"SUCCEEDED"})
FAILED = frozenset({"FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED"})
DEFAULT_LOG_GROUP = "/aws-glue/jobs"

Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class DeployedJob:
    job: str
    name: str
    action: Action
    script: str


def security_configuration_name(config: DeployConfig) -> str | None:
    """Security configurations cannot be updated, so the name carries the key it encrypts with."""
    if not config.kms_key_arn:
        return None
    digest = hashlib.sha256(config.kms_key_arn.encode()).hexdigest()[:8]
    return f"lakeprep-{config.environment}-{digest}"


def ensure_security_configuration(glue: GlueClient, config: DeployConfig) -> str | None:
    """SSE-KMS with the environment's key for everything the jobs' Spark writes to S3."""
    name = security_configuration_name(config)
    if name is None:
        return None
    try:
        glue.get_security_configuration(Name=name)
    except glue.exceptions.EntityNotFoundException:
        glue.create_security_configuration(
            Name=name,
            EncryptionConfiguration={
                "S3Encryption": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": config.kms_key_arn or ""}],
                "CloudWatchEncryption": {"CloudWatchEncryptionMode": "DISABLED"},
                "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "DISABLED"},
            },
        )
    return name


def default_arguments(config: DeployConfig, release: Release, job: str) -> dict[str, str]:
    """Glue's special parameters for a lakeprep job, then the job's own arguments."""
    settings = config.glue
    spark_conf = " --conf ".join(f"{k}={v}" for k, v in cluster_spark_conf().items())
    arguments = {
        "--job-language": "python",
        "--additional-python-modules": ",".join(runtime_requirements(config, release)),
        "--enable-glue-datacatalog": "true",
        "--TempDir": release.temp_dir,
        "--enable-continuous-cloudwatch-log": "true",
        # lakeprep's jobs track what they processed in the Delta log (app transactions), not bookmarks.
        "--job-bookmark-option": "job-bookmark-disable",
        "--conf": spark_conf,
    }
    if settings.metrics:
        arguments |= {"--enable-metrics": "true", "--enable-observability-metrics": "true"}
    if settings.spark_ui:
        arguments |= {"--enable-spark-ui": "true", "--spark-event-logs-path": release.spark_ui_logs}
    return {**arguments, **settings.arguments, **job_arguments(config, job)}


def job_definition(
    config: DeployConfig, release: Release, job: str, security_configuration: str | None
) -> dict[str, Any]:
    """The CreateJob request without Name (exactly UpdateJob's JobUpdate)."""
    settings = config.glue
    override = settings.jobs.get(job)
    definition: dict[str, Any] = {
        "Description": f"lakeprep {job} ({config.environment}), release {release.release_id}",
        "Role": config.role_for(job),
        "ExecutionProperty": {"MaxConcurrentRuns": settings.max_concurrent_runs},
        "Command": {"Name": "glueetl", "ScriptLocation": release.script_uri(job), "PythonVersion": "3"},
        "DefaultArguments": default_arguments(config, release, job),
        "MaxRetries": settings.max_retries,
        "Timeout": (override.timeout_minutes if override else None) or settings.timeout_minutes,
        "GlueVersion": settings.version,
        "WorkerType": (override.worker_type if override else None) or settings.worker_type,
        "NumberOfWorkers": (override.number_of_workers if override else None) or settings.number_of_workers,
    }
    if security_configuration:
        definition["SecurityConfiguration"] = security_configuration
    return definition


def _same(existing: dict[str, Any], definition: dict[str, Any]) -> bool:
    return all(existing.get(key) == value for key, value in definition.items())


def job_arn(config: DeployConfig, name: str) -> str:
    return f"arn:{config.partition}:glue:{config.region}:{config.account_id}:job/{name}"


def deploy_jobs(glue: GlueClient, config: DeployConfig, release: Release) -> list[DeployedJob]:
    """Create each job the first time; afterwards update it in place (UpdateJob keeps its run history)."""
    security_configuration = ensure_security_configuration(glue, config)
    tags = config.tags_with_environment()
    deployed = []
    for job in release.jobs:
        name = config.glue_job_name(job)
        definition = job_definition(config, release, job, security_configuration)
        try:
            existing: dict[str, Any] | None = dict(glue.get_job(JobName=name)["Job"])
        except glue.exceptions.EntityNotFoundException:
            existing = None
        action: Action
        if existing is None:
            glue.create_job(Name=name, Tags=tags, **definition)
            action = "created"
        elif _same(existing, definition):
            action = "unchanged"
        else:
            glue.update_job(JobName=name, JobUpdate=definition)  # type: ignore[arg-type]
            glue.tag_resource(ResourceArn=job_arn(config, name), TagsToAdd=tags)
            action = "updated"
        deployed.append(DeployedJob(job, name, action, release.script_uri(job)))
    return deployed


# --------------------------------------------------------------------------------------- runs
def start_run(glue: GlueClient, config: DeployConfig, job: str, arguments: dict[str, str]) -> str:
    name = config.glue_job_name(job)
    try:
        glue.get_job(JobName=name)
    except glue.exceptions.EntityNotFoundException:
        raise LookupError(
            f"no Glue job {name!r}: run `lakeprep deploy glue --env {config.environment}` first"
        ) from None
    return glue.start_job_run(JobName=name, Arguments=arguments)["JobRunId"]


def run_state(glue: GlueClient, name: str, run_id: str) -> RunState:
    run = glue.get_job_run(JobName=name, RunId=run_id, PredecessorsIncluded=False)["JobRun"]
    state = run.get("JobRunState", "UNKNOWN")
    detail = run.get("ErrorMessage", "")
    if state in SUCCEEDED:
        detail = f"execution time {run.get('ExecutionTime', 0)}s"
    return RunState(state, finished=state in SUCCEEDED | FAILED, succeeded=state in SUCCEEDED, detail=detail)


def log_locations(config: DeployConfig, name: str, run_id: str, log_group: str | None = None) -> list[str]:
    """Where a run's logs are: CloudWatch groups and streams, and the console page of the run."""
    group = log_group or DEFAULT_LOG_GROUP
    console = (
        f"https://{config.region}.console.aws.amazon.com/gluestudio/home?region={config.region}"
        f"#/job/{urllib.parse.quote(name, safe='')}/run/{run_id}"
    )
    return [
        f"driver output: CloudWatch {group}/output, stream {run_id}",
        f"errors:        CloudWatch {group}/error, stream {run_id}",
        f"continuous:    CloudWatch {group}/logs-v2, streams {run_id}*",
        f"console:       {console}",
    ]


def run_log_group(glue: GlueClient, name: str, run_id: str) -> str | None:
    return glue.get_job_run(JobName=name, RunId=run_id)["JobRun"].get("LogGroupName")
