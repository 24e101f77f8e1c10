"""The pipeline on AWS, against moto: ``deploy glue`` builds the Glue workflow (triggers chaining the
jobs, a start trigger on demand / on a schedule / on landed files with its EventBridge rule), a
second deploy changes nothing, ``pipeline status`` follows a workflow run stage by stage, and
``pipeline submit`` adds the stages to an EMR cluster as ordered steps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner, Result

from lake.deploy import glue
from lake.deploy.artifacts import BuiltWheel, publish_release
from lake.deploy.aws import Clients
from lake.deploy.config import load_config
from lake.pipeline import load_pipeline
from lakeprep.cli import app
from tests.deploy import moto_support
from tests.deploy.conftest import REGION, Aws
from tests.deploy.policy_eval import allowed
from tests.deploy.test_emr import cluster

pytestmark = [pytest.mark.aws, pytest.mark.s3]

runner = CliRunner()
EVENTS_ROLE = f"arn:aws:iam::{moto_support.ACCOUNT}:role/lakeprep-test-events"
WORKFLOW = "lakeprep-test-default"
CHANGES = ("Create", "Update", "Delete", "Put", "Remove", "Tag", "Start")


def lakeprep(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def glue_client() -> Any:
    return boto3.client("glue", region_name=REGION)


def triggers() -> dict[str, dict[str, Any]]:
    pages = glue_client().get_paginator("get_triggers").paginate()
    return {t["Name"]: t for page in pages for t in page["Triggers"] if t.get("WorkflowName") == WORKFLOW}


def recorded(clients: Clients) -> list[str]:
    """The operations these clients call from now on (botocore's before-call event)."""
    calls: list[str] = []
    for client in (clients.glue, clients.events):
        client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    return calls


@pytest.fixture
def release_and_config(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> Callable[..., tuple[Any, Any]]:
    """Publish once; then a config per call (deployment-file overrides), jobs deployed for it."""
    state: dict[str, Any] = {}

    def make(**overrides: Any) -> tuple[Any, Any]:
        config = load_config(str(write_deployment(s3_bucket, **overrides)))
        clients = Clients.for_config(config)
        if "release" not in state:
            state["release"] = publish_release(clients.s3, config, built_wheel)
        glue.deploy_jobs(clients.glue, config, state["release"])
        return config, clients

    return make


def test_deploy_glue_builds_the_workflow_and_a_second_deploy_changes_nothing(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> None:
    path = write_deployment(s3_bucket)
    first = lakeprep("deploy", "glue", "--env", str(path), "--wheel", str(built_wheel.path))
    assert first.exit_code == 0, first.output
    assert f"Glue workflow of pipeline {load_pipeline().name}" in first.output

    pipeline = load_pipeline()
    jobs = [f"lakeprep-test-{job}" for job in pipeline.jobs]
    workflow = glue_client().get_workflow(Name=WORKFLOW)["Workflow"]
    assert workflow["MaxConcurrentRuns"] == 1
    assert " -> ".join(pipeline.jobs) in workflow["Description"]
    arn = f"arn:aws:glue:{REGION}:{moto_support.ACCOUNT}:workflow/{WORKFLOW}"
    assert glue_client().get_tags(ResourceArn=arn)["Tags"] == {
        "team": "data-platform",
        "lakeprep:environment": "test",
    }

    found = triggers()
    start = found.pop(f"{WORKFLOW}-start")
    assert start["Type"] == "ON_DEMAND"  # neither a schedule nor on_landing configured
    assert [a["JobName"] for a in start["Actions"]] == jobs[:1]
    # One conditional trigger per later stage: the previous job SUCCEEDED -> the next job, with the
    # stage's arguments from the pipeline file.
    assert len(found) == len(jobs) - 1
    for previous, stage, job in zip(pipeline.stages, pipeline.stages[1:], jobs[1:], strict=False):
        trigger = found[f"{WORKFLOW}-after-{previous.job}"]
        assert trigger["Type"] == "CONDITIONAL"
        assert trigger["State"] == "ACTIVATED"
        assert trigger["Predicate"] == {
            "Logical": "AND",
            "Conditions": [
                {
                    "LogicalOperator": "EQUALS",
                    "JobName": f"lakeprep-test-{previous.job}",
                    "State": "SUCCEEDED",
                }
            ],
        }
        expected: dict[str, Any] = {"JobName": job}
        if stage.arguments():
            expected["Arguments"] = stage.arguments()
        assert trigger["Actions"] == [expected]
    assert found[f"{WORKFLOW}-after-clean"]["Actions"][0]["Arguments"] == {"--spec": "flight_delay"}

    config = load_config(str(path))
    clients = Clients.for_config(config)
    calls = recorded(clients)
    again = glue.deploy_workflow(clients.glue, clients.events, config, pipeline)
    assert {r.action for r in again} == {"unchanged"}
    assert calls
    assert not [c for c in calls if c.startswith(CHANGES)], calls

    second = lakeprep("deploy", "glue", "--env", str(path), "--wheel", str(built_wheel.path))
    assert second.exit_code == 0, second.output
    assert "created" not in second.output
    assert "updated" not in second.output
    assert len(triggers()) == len(jobs)


def test_changed_pipeline_updates_replaces_and_deletes_triggers(
    release_and_config: Callable[..., tuple[Any, Any]], tmp_path: Path
) -> None:
    config, clients = release_and_config()
    glue.deploy_workflow(clients.glue, clients.events, config, load_pipeline())

    # New stage arguments: the trigger is updated in place (UpdateTrigger), nothing else moves.
    changed = tmp_path / "nightly.yaml"
    data = yaml.safe_load(Path("pipelines/default.yaml").read_text())
    data["stages"][1] = {
        "job": "clean",
        "datasets": ["flights", "weather"],
        "options": {"full-refresh": True},
    }
    changed.write_text(yaml.safe_dump(data))
    config, clients = release_and_config(pipeline={"file": str(changed)})
    calls = recorded(clients)
    result = {
        r.name: r.action
        for r in glue.deploy_workflow(clients.glue, clients.events, config, load_pipeline(str(changed)))
    }
    assert result[f"{WORKFLOW}-start"] == "unchanged"
    assert result[f"{WORKFLOW}-after-ingest"] == "updated"
    assert result[f"{WORKFLOW}-after-clean"] == "unchanged"
    assert [c for c in calls if c.startswith(CHANGES)] == ["UpdateTrigger"]
    assert triggers()[f"{WORKFLOW}-after-ingest"]["Actions"] == [
        {
            "JobName": "lakeprep-test-clean",
            "Arguments": {"--dataset": "flights,weather", "--full-refresh": "true"},
        }
    ]

    # A schedule: the start trigger's type changes, which Glue cannot update: it is replaced.
    config, clients = release_and_config(pipeline={"file": str(changed), "schedule": "cron(0 5 * * ? *)"})
    result = {
        r.name: r.action
        for r in glue.deploy_workflow(clients.glue, clients.events, config, load_pipeline(str(changed)))
    }
    assert result[f"{WORKFLOW}-start"] == "created"
    start = triggers()[f"{WORKFLOW}-start"]
    assert (start["Type"], start["Schedule"], start["State"]) == (
        "SCHEDULED",
        "cron(0 5 * * ? *)",
        "ACTIVATED",
    )

    # A stage removed: its trigger goes.
    data["stages"] = data["stages"][:2]
    changed.write_text(yaml.safe_dump(data))
    deployed = glue.deploy_workflow(clients.glue, clients.events, config, load_pipeline(str(changed)))
    assert {r.name: r.action for r in deployed}[f"{WORKFLOW}-after-clean"] == "deleted"
    assert sorted(triggers()) == [f"{WORKFLOW}-after-ingest", f"{WORKFLOW}-start"]


def landed(bucket: str, key: str) -> str:
    """An S3 "Object Created" event as S3 sends it to EventBridge."""
    return json.dumps(
        {
            "id": "1",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": moto_support.ACCOUNT,
            "time": "2026-01-01T00:00:00Z",
            "region": REGION,
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 10}},
        }
    )


def test_landed_files_start_the_workflow_through_eventbridge(
    release_and_config: Callable[..., tuple[Any, Any]], s3_bucket: str
) -> None:
    landing = {"events_role_arn": EVENTS_ROLE, "batch_size": 5, "batch_window_seconds": 300}
    config, clients = release_and_config(pipeline={"on_landing": landing})
    pipeline = load_pipeline()
    first = {(r.kind, r.action) for r in glue.deploy_workflow(clients.glue, clients.events, config, pipeline)}
    assert ("rule", "created") in first
    assert ("target", "created") in first

    start = triggers()[f"{WORKFLOW}-start"]
    assert start["Type"] == "EVENT"
    assert start["EventBatchingCondition"] == {"BatchSize": 5, "BatchWindow": 300}
    events = boto3.client("events", region_name=REGION)
    rule = events.describe_rule(Name=f"{WORKFLOW}-landing")
    assert rule["State"] == "ENABLED"
    pattern = rule["EventPattern"]
    assert json.loads(pattern) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [s3_bucket]}, "object": {"key": [{"prefix": "lake/landing/"}]}},
    }
    # EventBridge's own matcher: files landing under the lake's landing/ match, nothing else does.
    assert events.test_event_pattern(
        EventPattern=pattern, Event=landed(s3_bucket, "lake/landing/flights/a.csv")
    )["Result"]
    assert not events.test_event_pattern(
        EventPattern=pattern, Event=landed(s3_bucket, "lake/raw/flights/x.parquet")
    )["Result"]
    assert not events.test_event_pattern(
        EventPattern=pattern, Event=landed("other-bucket", "lake/landing/a.csv")
    )["Result"]
    (target,) = events.list_targets_by_rule(Rule=f"{WORKFLOW}-landing")["Targets"]
    assert target["Arn"] == f"arn:aws:glue:{REGION}:{moto_support.ACCOUNT}:workflow/{WORKFLOW}"
    assert target["RoleArn"] == EVENTS_ROLE

    calls = recorded(clients)
    again = glue.deploy_workflow(clients.glue, clients.events, config, pipeline)
    assert {r.action for r in again} == {"unchanged"}
    assert not [c for c in calls if c.startswith(CHANGES)], calls

    # Back to on demand: the rule and its target are removed, the start trigger replaced.
    config, clients = release_and_config()
    gone = {
        (r.kind, r.name): r.action
        for r in glue.deploy_workflow(clients.glue, clients.events, config, pipeline)
    }
    assert gone[("rule", f"{WORKFLOW}-landing")] == "deleted"
    assert events.list_rules(NamePrefix=WORKFLOW)["Rules"] == []
    assert triggers()[f"{WORKFLOW}-start"]["Type"] == "ON_DEMAND"


def test_schedule_and_landing_together_are_refused(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path]
) -> None:
    both = {"schedule": "cron(0 5 * * ? *)", "on_landing": {"events_role_arn": EVENTS_ROLE}}
    path = write_deployment(s3_bucket, pipeline=both)
    result = lakeprep("pipeline", "status", "--env", str(path))
    assert result.exit_code == 2
    assert f"{path}: pipeline: schedule and on_landing both start the workflow; choose one" in result.output
    bad = write_deployment(s3_bucket, pipeline={"schedule": "every day"})
    result = lakeprep("pipeline", "status", "--env", str(bad))
    assert result.exit_code == 2
    assert f"{bad}: pipeline.schedule: 'every day' is not a Glue schedule" in result.output


def test_status_follows_a_workflow_run_stage_by_stage(
    release_and_config: Callable[..., tuple[Any, Any]],
    aws: Aws,
    s3_bucket: str,
    write_deployment: Callable[..., Path],
) -> None:
    config, clients = release_and_config()
    pipeline = load_pipeline()
    glue.deploy_workflow(clients.glue, clients.events, config, pipeline)
    path = write_deployment(s3_bucket)
    empty = lakeprep("pipeline", "status", "--env", str(path))
    assert empty.exit_code == 0, empty.output
    assert "has no runs yet" in empty.output

    # Job runs stay RUNNING until the test ends them, as Glue ends them when the script returns.
    moto_support.set_transition(aws.moto, "glue::job_run", {"progression": "manual", "times": 10_000})
    started = lakeprep("pipeline", "start", "--env", str(path))
    assert started.exit_code == 0, started.output
    run_id = glue_client().get_workflow_runs(Name=WORKFLOW)["Runs"][0]["WorkflowRunId"]
    assert run_id in started.output

    backend = moto_support.glue_backend(REGION)

    def end(job: str, state: str) -> None:
        (run,) = backend.get_job(f"lakeprep-test-{job}").job_runs
        run.status = state

    status = glue.workflow_status(clients.glue, config, pipeline)
    assert [(s.job, s.state) for s in status[0].stages] == [
        ("ingest", "STARTING"),
        ("clean", "NOT STARTED"),
        ("featurize", "NOT STARTED"),
    ]
    assert status[0].status == "RUNNING"
    end("ingest", "SUCCEEDED")  # the conditional trigger starts clean
    status = glue.workflow_status(clients.glue, config, pipeline)
    assert [s.state for s in status[0].stages] == ["SUCCEEDED", "STARTING", "NOT STARTED"]
    end("clean", "FAILED")  # the chain stops: featurize never starts, the run completes
    status = glue.workflow_status(clients.glue, config, pipeline)
    assert [s.state for s in status[0].stages] == ["SUCCEEDED", "FAILED", "NOT STARTED"]
    assert status[0].status == "COMPLETED"
    assert [s.job for s in status[0].failed] == ["clean"]
    assert backend.get_job("lakeprep-test-featurize").job_runs == []

    shown = lakeprep("pipeline", "status", "--env", str(path))
    assert shown.exit_code == 0, shown.output
    assert "COMPLETED" in shown.output
    assert f"{run_id}: clean FAILED" in shown.output


def test_emr_submit_adds_the_stages_as_ordered_steps(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> None:
    path = write_deployment(s3_bucket, pipeline={"emr_action_on_failure": "CANCEL_AND_WAIT"})
    published = lakeprep("deploy", "artifacts", "--env", str(path), "--wheel", str(built_wheel.path))
    assert published.exit_code == 0, published.output
    cluster_id = cluster()
    result = lakeprep("pipeline", "submit", "--env", str(path), "--cluster-id", cluster_id, "--from", "clean")
    assert result.exit_code == 0, result.output
    emr = boto3.client("emr", region_name=REGION)
    summaries = emr.list_steps(ClusterId=cluster_id)["Steps"]  # newest first
    steps = [emr.describe_step(ClusterId=cluster_id, StepId=s["Id"])["Step"] for s in reversed(summaries)]
    scripts = [next(a for a in s["Config"]["Args"] if a.endswith(".py")).rsplit("/", 1)[1] for s in steps]
    assert scripts == ["clean.py", "featurize.py"]  # in pipeline order, from --from on
    assert {s["ActionOnFailure"] for s in steps} == {"CANCEL_AND_WAIT"}
    featurize_args = steps[1]["Config"]["Args"]
    assert featurize_args[featurize_args.index("--spec") + 1] == "flight_delay"
    for step in steps:
        assert step["Id"] in result.output

    cont = write_deployment(s3_bucket, pipeline={"emr_action_on_failure": "CONTINUE"})
    again = lakeprep("pipeline", "submit", "--env", str(cont), "--cluster-id", cluster_id)
    assert again.exit_code == 0, again.output
    newest = emr.list_steps(ClusterId=cluster_id)["Steps"][:3]
    assert [
        emr.describe_step(ClusterId=cluster_id, StepId=s["Id"])["Step"]["ActionOnFailure"] for s in newest
    ] == ["CONTINUE"] * 3


def test_moto_additions_match_botocore() -> None:
    moto_support.check_against_botocore()


def test_events_role_policy_allows_notifying_only_this_workflow(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_deployment(s3_bucket, pipeline={"on_landing": {"events_role_arn": EVENTS_ROLE}})
    boto3.client("iam").create_role(
        RoleName="lakeprep-test-events", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )
    out = tmp_path / "events.json"
    args = ("iam", "policy", "--env", str(path), "--events-role", "--output", str(out))
    result = lakeprep(*args, "--attach", "notify-pipeline")
    assert result.exit_code == 0, result.output
    policy = json.loads(out.read_text())
    workflow = f"arn:aws:glue:{REGION}:{moto_support.ACCOUNT}:workflow/{WORKFLOW}"
    assert allowed(policy, "glue:NotifyEvent", workflow)
    assert not allowed(policy, "glue:NotifyEvent", f"{workflow}-other")
    assert not allowed(
        policy, "glue:StartJobRun", f"arn:aws:glue:{REGION}:{moto_support.ACCOUNT}:job/lakeprep-test-ingest"
    )
    attached = boto3.client("iam").get_role_policy(
        RoleName="lakeprep-test-events", PolicyName="notify-pipeline"
    )
    assert attached["PolicyDocument"] == policy

    without = write_deployment(s3_bucket)
    refused = lakeprep("iam", "policy", "--env", str(without), "--events-role")
    assert refused.exit_code == 2
    assert "--events-role: the deployment file has no pipeline.on_landing" in refused.output


def test_emr_submit_wait_stops_at_the_first_failed_step(
    aws: Aws, s3_bucket: str, write_deployment: Callable[..., Path], built_wheel: BuiltWheel
) -> None:
    path = write_deployment(s3_bucket)
    published = lakeprep("deploy", "artifacts", "--env", str(path), "--wheel", str(built_wheel.path))
    assert published.exit_code == 0, published.output
    cluster_id = cluster()
    backend = moto_support.emr_backend(REGION)
    # The cluster failing the first step (ingest), as when its spark-submit exits non-zero.
    failer = moto_support.when_started(lambda: backend.clusters[cluster_id].steps, "state", "FAILED")
    result = lakeprep(
        "pipeline",
        "submit",
        "--env",
        str(path),
        "--cluster-id",
        cluster_id,
        "--wait",
        "--poll-seconds",
        "0.05",
    )
    failer.join()
    assert result.exit_code == 1, result.output
    assert "ingest (" in result.output
    assert "FAILED after" in result.output
    assert "run ended FAILED" in result.output
    assert "clean (" not in result.output  # not followed past the failed stage
