"""Glue jobs: one per job script, created or updated in place (never duplicated), and runs followed
to the end; the pipeline as a Glue workflow (triggers chaining the jobs, started on demand, on a
schedule or by landed files through EventBridge) and its runs.

The job definition is a pure function of the deployment file and the release, so a second deploy
of the same release finds nothing to change, and a new release updates every job to point at it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lake.deploy.arguments import cluster_spark_conf, job_arguments
from lake.deploy.artifacts import Release, runtime_requirements, split_s3
from lake.deploy.aws import RunState
from lake.deploy.config import DeployConfig
from lake.pipeline import Pipeline, Stage
from lake.storage import LANDING

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


# ----------------------------------------------------------------------------------- workflow
LANDING_TARGET_ID = "lakeprep-glue-workflow"
WORKFLOW_FINISHED = frozenset({"COMPLETED", "STOPPED", "ERROR"})
_NEVER = dt.datetime.min.replace(tzinfo=dt.timezone.utc)  # sorts runs without a start time last


@dataclass(frozen=True)
class DeployedResource:
    kind: Literal["workflow", "trigger", "rule", "target"]
    name: str
    action: Action | Literal["deleted"]
    detail: str = ""


def workflow_arn(config: DeployConfig, name: str) -> str:
    return f"arn:{config.partition}:glue:{config.region}:{config.account_id}:workflow/{name}"


def _action(config: DeployConfig, stage: Stage) -> dict[str, Any]:
    arguments = stage.arguments()
    return {"JobName": config.glue_job_name(stage.job), **({"Arguments": arguments} if arguments else {})}


def trigger_definitions(config: DeployConfig, pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """Trigger name -> CreateTrigger request without Name/Tags: the start trigger (on demand, on a
    schedule, or on landed files) runs the first stage; each later stage has a conditional trigger
    that fires when the previous stage's job SUCCEEDED, so a failure stops the chain there."""
    workflow = config.workflow_name(pipeline.name)
    settings = config.pipeline
    first, *rest = pipeline.stages
    start: dict[str, Any] = {
        "WorkflowName": workflow,
        "Description": f"starts lakeprep pipeline {pipeline.name} with {first.job}",
        "Actions": [_action(config, first)],
    }
    if settings.schedule:
        start |= {"Type": "SCHEDULED", "Schedule": settings.schedule}
    elif settings.on_landing:
        batching = settings.on_landing
        start |= {
            "Type": "EVENT",
            "EventBatchingCondition": {
                "BatchSize": batching.batch_size,
                "BatchWindow": batching.batch_window_seconds,
            },
        }
    else:
        start |= {"Type": "ON_DEMAND"}
    triggers = {f"{workflow}-start": start}
    for previous, stage in zip(pipeline.stages, rest, strict=False):
        triggers[f"{workflow}-after-{previous.job}"] = {
            "WorkflowName": workflow,
            "Type": "CONDITIONAL",
            "Description": f"runs {stage.job} when {previous.job} succeeded",
            "Predicate": {
                "Logical": "AND",
                "Conditions": [
                    {
                        "LogicalOperator": "EQUALS",
                        "JobName": config.glue_job_name(previous.job),
                        "State": "SUCCEEDED",
                    }
                ],
            },
            "Actions": [_action(config, stage)],
        }
    return triggers


def _workflow_triggers(glue: GlueClient, workflow: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in glue.get_paginator("get_triggers").paginate():
        for trigger in page["Triggers"]:
            if trigger.get("WorkflowName") == workflow:
                found[trigger["Name"]] = dict(trigger)
    return found


def _ensure_workflow(glue: GlueClient, config: DeployConfig, pipeline: Pipeline) -> DeployedResource:
    name = config.workflow_name(pipeline.name)
    wanted: dict[str, Any] = {
        "Description": f"lakeprep pipeline {pipeline.name} ({config.environment}): "
        + " -> ".join(pipeline.jobs),
        "MaxConcurrentRuns": config.pipeline.max_concurrent_runs,
    }
    try:
        existing: dict[str, Any] = dict(glue.get_workflow(Name=name)["Workflow"])
    except glue.exceptions.EntityNotFoundException:
        glue.create_workflow(Name=name, Tags=config.tags_with_environment(), **wanted)
        return DeployedResource("workflow", name, "created", wanted["Description"])
    if _same(existing, wanted):
        return DeployedResource("workflow", name, "unchanged", wanted["Description"])
    glue.update_workflow(Name=name, **wanted)
    return DeployedResource("workflow", name, "updated", wanted["Description"])


def _trigger_detail(definition: dict[str, Any]) -> str:
    jobs = ", ".join(a["JobName"] for a in definition["Actions"])
    if definition["Type"] == "CONDITIONAL":
        after = definition["Predicate"]["Conditions"][0]["JobName"]
        return f"{after} SUCCEEDED -> {jobs}"
    start = {"SCHEDULED": definition.get("Schedule"), "EVENT": "landed files", "ON_DEMAND": "on demand"}
    return f"{start[definition['Type']]} -> {jobs}"


def _ensure_triggers(glue: GlueClient, config: DeployConfig, pipeline: Pipeline) -> list[DeployedResource]:
    """Create, update (UpdateTrigger) or replace (a trigger's type cannot change) each trigger, and
    delete the workflow's triggers the pipeline no longer has."""
    workflow = config.workflow_name(pipeline.name)
    existing = _workflow_triggers(glue, workflow)
    done: list[DeployedResource] = []
    for name, definition in trigger_definitions(config, pipeline).items():
        current = existing.pop(name, None)
        detail = _trigger_detail(definition)
        # ON_DEMAND triggers cannot be started; the others are activated as they are created.
        starts: dict[str, Any] = {} if definition["Type"] == "ON_DEMAND" else {"StartOnCreation": True}
        if current is not None and current.get("Type") != definition["Type"]:
            glue.delete_trigger(Name=name)
            current = None
        if current is None:
            glue.create_trigger(Name=name, Tags=config.tags_with_environment(), **starts, **definition)
            done.append(DeployedResource("trigger", name, "created", detail))
        elif _same(current, definition):
            done.append(DeployedResource("trigger", name, "unchanged", detail))
        else:
            update = {k: v for k, v in definition.items() if k not in {"WorkflowName", "Type"}}
            glue.update_trigger(Name=name, TriggerUpdate=update)  # type: ignore[arg-type]
            done.append(DeployedResource("trigger", name, "updated", detail))
    for name in existing:
        glue.delete_trigger(Name=name)
        done.append(DeployedResource("trigger", name, "deleted", "no longer a stage"))
    return done


def landing_rule_name(config: DeployConfig, pipeline: Pipeline) -> str:
    return f"{config.workflow_name(pipeline.name)}-landing"


def landing_event_pattern(config: DeployConfig) -> dict[str, Any]:
    """S3 "Object Created" events (EventBridge notifications) for keys under the lake's landing/."""
    bucket, root = split_s3(config.lake_root)
    prefix = "/".join(p for p in (root, LANDING) if p) + "/"
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket]}, "object": {"key": [{"prefix": prefix}]}},
    }


def _ensure_landing_rule(events: Any, config: DeployConfig, pipeline: Pipeline) -> list[DeployedResource]:
    """The EventBridge rule that notifies the workflow of landed files (removed when not configured)."""
    name = landing_rule_name(config, pipeline)
    try:
        existing: dict[str, Any] | None = events.describe_rule(Name=name)
    except events.exceptions.ResourceNotFoundException:
        existing = None
    landing = config.pipeline.on_landing
    if landing is None:
        if existing is None:
            return []
        targets = [t["Id"] for t in events.list_targets_by_rule(Rule=name)["Targets"]]
        if targets:
            events.remove_targets(Rule=name, Ids=targets)
        events.delete_rule(Name=name)
        return [DeployedResource("rule", name, "deleted", "on_landing is not configured")]

    pattern = landing_event_pattern(config)
    rule = {
        "EventPattern": json.dumps(pattern, sort_keys=True),
        "State": "ENABLED",
        "Description": f"landed files start lakeprep pipeline {pipeline.name} ({config.environment})",
    }
    detail = (
        f"s3://{pattern['detail']['bucket']['name'][0]}/{pattern['detail']['object']['key'][0]['prefix']}"
    )
    done: list[DeployedResource] = []
    if existing is None:
        tags = [{"Key": k, "Value": v} for k, v in config.tags_with_environment().items()]
        events.put_rule(Name=name, Tags=tags, **rule)
        done.append(DeployedResource("rule", name, "created", detail))
    elif (
        json.loads(existing.get("EventPattern", "{}")) == pattern
        and existing.get("State") == rule["State"]
        and existing.get("Description") == rule["Description"]
    ):
        done.append(DeployedResource("rule", name, "unchanged", detail))
    else:
        events.put_rule(Name=name, **rule)
        done.append(DeployedResource("rule", name, "updated", detail))

    workflow = config.workflow_name(pipeline.name)
    target = {
        "Id": LANDING_TARGET_ID,
        "Arn": workflow_arn(config, workflow),
        "RoleArn": landing.events_role_arn,
    }
    current = [t for t in events.list_targets_by_rule(Rule=name)["Targets"] if t["Id"] == LANDING_TARGET_ID]
    if current and _same(current[0], target):
        action: Action = "unchanged"
    else:
        events.put_targets(Rule=name, Targets=[target])
        action = "updated" if current else "created"
    done.append(
        DeployedResource("target", f"{name}/{LANDING_TARGET_ID}", action, f"Glue workflow {workflow}")
    )
    return done


def deploy_workflow(
    glue: GlueClient, events: Any, config: DeployConfig, pipeline: Pipeline
) -> list[DeployedResource]:
    """The pipeline as a Glue workflow over the deployed jobs, compared field by field with what
    exists: a second deploy of the same pipeline and settings changes nothing."""
    return [
        _ensure_workflow(glue, config, pipeline),
        *_ensure_triggers(glue, config, pipeline),
        *_ensure_landing_rule(events, config, pipeline),
    ]


# ---------------------------------------------------------------------------- workflow runs
@dataclass(frozen=True)
class StageStatus:
    job: str
    state: str
    started_on: dt.datetime | None = None
    detail: str = ""


@dataclass(frozen=True)
class WorkflowRunStatus:
    run_id: str
    status: str
    started_on: dt.datetime | None
    completed_on: dt.datetime | None
    stages: list[StageStatus]

    @property
    def failed(self) -> list[StageStatus]:
        return [s for s in self.stages if s.state in FAILED]


def _stage_states(config: DeployConfig, pipeline: Pipeline, graph: dict[str, Any]) -> list[StageStatus]:
    """Each stage's latest job run in the run's graph (no job run: the stage has not started)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for node in graph.get("Nodes", []):
        if node.get("Type") == "JOB":
            runs[node["Name"]] = list((node.get("JobDetails") or {}).get("JobRuns") or [])
    stages = []
    for job in pipeline.jobs:
        found = runs.get(config.glue_job_name(job), [])
        if not found:
            stages.append(StageStatus(job, "NOT STARTED"))
            continue
        latest = max(found, key=lambda r: r.get("StartedOn") or _NEVER)
        state = latest.get("JobRunState", "UNKNOWN")
        stages.append(StageStatus(job, state, latest.get("StartedOn"), latest.get("ErrorMessage", "")))
    return stages


def workflow_status(
    glue: GlueClient, config: DeployConfig, pipeline: Pipeline, limit: int = 5
) -> list[WorkflowRunStatus]:
    """The last ``limit`` workflow runs, newest first, with each stage's state (GetWorkflowRun with
    its graph: the job runs of that workflow run)."""
    name = config.workflow_name(pipeline.name)
    try:
        runs = glue.get_workflow_runs(Name=name, IncludeGraph=False, MaxResults=min(max(limit, 1), 1000))[
            "Runs"
        ]
    except glue.exceptions.EntityNotFoundException:
        raise LookupError(
            f"no Glue workflow {name!r}: run `lakeprep deploy glue --env {config.environment}` first"
        ) from None
    newest = sorted(runs, key=lambda r: r.get("StartedOn") or _NEVER, reverse=True)[:limit]
    statuses = []
    for summary in newest:
        run = glue.get_workflow_run(Name=name, RunId=summary["WorkflowRunId"], IncludeGraph=True)["Run"]
        statuses.append(
            WorkflowRunStatus(
                run["WorkflowRunId"],
                run.get("Status", "UNKNOWN"),
                run.get("StartedOn"),
                run.get("CompletedOn"),
                _stage_states(config, pipeline, dict(run.get("Graph") or {})),
            )
        )
    return statuses


def start_workflow(glue: GlueClient, config: DeployConfig, pipeline: Pipeline) -> str:
    name = config.workflow_name(pipeline.name)
    try:
        return glue.start_workflow_run(Name=name)["RunId"]
    except glue.exceptions.EntityNotFoundException:
        raise LookupError(
            f"no Glue workflow {name!r}: run `lakeprep deploy glue --env {config.environment}` first"
        ) from None


def workflow_run_state(glue: GlueClient, config: DeployConfig, pipeline: Pipeline, run_id: str) -> RunState:
    """A workflow run as ``follow`` sees it: finished when Glue says so, succeeded when every stage did."""
    name = config.workflow_name(pipeline.name)
    run = glue.get_workflow_run(Name=name, RunId=run_id, IncludeGraph=True)["Run"]
    stages = _stage_states(config, pipeline, dict(run.get("Graph") or {}))
    status = run.get("Status", "UNKNOWN")
    finished = status in WORKFLOW_FINISHED
    succeeded = finished and all(s.state in SUCCEEDED for s in stages)
    detail = "; ".join(f"{s.job} {s.state}" + (f": {s.detail}" if s.detail else "") for s in stages)
    return RunState(status, finished=finished, succeeded=succeeded, detail=detail)
