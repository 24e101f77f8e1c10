"""moto in server mode on loopback for the AWS control planes that have no local server (Glue, EMR,
EMR Serverless, IAM, STS). S3 stays on the real local S3 server.

moto 5.2 does not implement Glue's UpdateJob; ``install_update_job`` adds it with the real API's
semantics (the JobUpdate replaces the job definition; runs, creation time and tags are kept), so
idempotent deploys are exercised through the same boto3 call they make against AWS.
``install_workflows`` does the same for UpdateTrigger, for workflow runs (see below) and for
EventBridge's TestEventPattern.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from moto.backends import get_backend
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.events.models import EventPattern
from moto.events.responses import EventsHandler
from moto.glue.models import GlueBackend
from moto.glue.responses import GlueResponse
from moto.glue.utils import Action, Predicate
from moto.server import ThreadedMotoServer

from tests.support.servers import free_port

ACCOUNT = "123456789012"  # moto's default account
MOTO_SERVICES = ("GLUE", "EMR", "EMR_SERVERLESS", "IAM", "STS", "EVENTBRIDGE")

# JobUpdate member -> moto FakeJob attribute (every JobUpdate member; absent ones are reset).
_JOB_FIELDS = {
    "Description": "description",
    "LogUri": "log_uri",
    "Role": "role",
    "ExecutionProperty": "execution_property",
    "Command": "command",
    "DefaultArguments": "default_arguments",
    "NonOverridableArguments": "non_overridable_arguments",
    "Connections": "connections",
    "MaxRetries": "max_retries",
    "AllocatedCapacity": "allocated_capacity",
    "Timeout": "timeout",
    "MaxCapacity": "max_capacity",
    "SecurityConfiguration": "security_configuration",
    "NotificationProperty": "notification_property",
    "GlueVersion": "glue_version",
    "NumberOfWorkers": "number_of_workers",
    "WorkerType": "worker_type",
    "CodeGenConfigurationNodes": "code_gen_configuration_nodes",
    "ExecutionClass": "execution_class",
    "SourceControlDetails": "source_control_details",
}


def _backend_update_job(self: GlueBackend, name: str, update: dict[str, Any]) -> None:
    job = self.get_job(name)  # EntityNotFoundException, as AWS answers for an unknown job
    for member, attribute in _JOB_FIELDS.items():
        setattr(job, attribute, update.get(member))
    job.execution_property = job.execution_property or {}
    job.default_arguments = job.default_arguments or {}
    job.execution_class = job.execution_class or "STANDARD"
    job.last_modified_on = utcnow()


def _response_update_job(self: GlueResponse) -> ActionResult:
    name = self._get_param("JobName")
    self.glue_backend.update_job(name, self._get_param("JobUpdate"))  # type: ignore[attr-defined]
    return ActionResult({"JobName": name})


def install_update_job() -> None:
    if not hasattr(GlueBackend, "update_job"):
        GlueBackend.update_job = _backend_update_job  # type: ignore[attr-defined]
        GlueResponse.update_job = _response_update_job  # type: ignore[attr-defined]


# ------------------------------------------------------------------------- Glue workflows
# moto 5.2 stores triggers and workflow runs but lacks UpdateTrigger, ignores IncludeGraph and never
# runs a workflow. What follows adds them with the real API's semantics, member names checked
# against botocore's service model (``check_against_botocore``): StartWorkflowRun fires the start
# trigger's actions; a CONDITIONAL trigger fires, once per workflow run, when its predicate holds on
# the job runs of that workflow run; the run is COMPLETED when nothing runs and nothing can fire.

_TRIGGER_UPDATE = ("Description", "Schedule", "Actions", "Predicate", "EventBatchingCondition")
_FINISHED = frozenset({"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR"})


def _backend_update_trigger(self: GlueBackend, name: str, update: dict[str, Any]) -> Any:
    trigger = self.get_trigger(name)  # EntityNotFoundException for an unknown trigger
    trigger.description = update.get("Description", trigger.description)
    trigger.schedule = update.get("Schedule", trigger.schedule)
    if "Actions" in update:
        trigger.actions = [Action(action) for action in update["Actions"]]
    if "Predicate" in update:
        trigger.predicate = Predicate(update["Predicate"])
    trigger.event_batching_condition = update.get("EventBatchingCondition", trigger.event_batching_condition)
    return trigger


def _response_update_trigger(self: GlueResponse) -> ActionResult:
    trigger = self.glue_backend.update_trigger(  # type: ignore[attr-defined]
        self._get_param("Name"), self._get_param("TriggerUpdate")
    )
    return ActionResult({"Trigger": trigger.as_dict()})


def _workflow_triggers(backend: GlueBackend, workflow: str) -> list[Any]:
    return [t for t in backend.triggers.values() if t.workflow_name == workflow]


def _fire(backend: GlueBackend, run: Any, trigger: Any) -> None:
    run.fired.add(trigger.name)
    for action in trigger.actions:
        run.job_runs[action.job_name] = backend.start_job_run(
            action.job_name, action.arguments, None, None, None, None, None, None, None, None
        )


def _job_run(backend: GlueBackend, job: str, run_id: str) -> Any:
    return backend.get_job_run(job, run_id)


def _holds(backend: GlueBackend, run: Any, predicate: Any) -> bool:
    met = [
        c.job_name in run.job_runs
        and _job_run(backend, c.job_name, run.job_runs[c.job_name]).status == c.state.value
        for c in predicate.conditions
    ]
    return all(met) if predicate.logical.value == "AND" else any(met)


def _advance(backend: GlueBackend, workflow: str, run: Any) -> None:
    """Fire what the job runs' states allow; complete the run when nothing runs or can fire."""
    if not hasattr(run, "job_runs"):
        run.job_runs, run.fired = {}, set()
    changed = True
    while changed:
        changed = False
        for trigger in _workflow_triggers(backend, workflow):
            waiting = trigger.trigger_type == "CONDITIONAL" and trigger.name not in run.fired
            if waiting and _holds(backend, run, trigger.predicate):
                _fire(backend, run, trigger)
                changed = True
    states = [_job_run(backend, job, rid).status for job, rid in run.job_runs.items()]
    if run.status == "RUNNING" and all(state in _FINISHED for state in states):
        run.status, run.completed_on = "COMPLETED", utcnow()


def _statistics(backend: GlueBackend, workflow: str, run: Any) -> dict[str, int]:
    states = [_job_run(backend, job, rid).status for job, rid in run.job_runs.items()]
    actions = sum(len(t.actions) for t in _workflow_triggers(backend, workflow))
    return {
        "TotalActions": actions,
        "TimeoutActions": states.count("TIMEOUT"),
        "FailedActions": states.count("FAILED"),
        "StoppedActions": states.count("STOPPED"),
        "SucceededActions": states.count("SUCCEEDED"),
        "RunningActions": sum(s in {"STARTING", "RUNNING", "STOPPING"} for s in states),
        "ErroredActions": states.count("ERROR"),
        "WaitingActions": states.count("WAITING"),
    }


def _graph(backend: GlueBackend, workflow: str, run: Any) -> dict[str, Any]:
    """Triggers and jobs as nodes, edges trigger -> job it starts and job -> trigger it conditions."""
    nodes: dict[str, dict[str, Any]] = {}
    edges = []
    for trigger in _workflow_triggers(backend, workflow):
        trigger_id = f"trigger:{trigger.name}"
        nodes[trigger_id] = {
            "Type": "TRIGGER",
            "Name": trigger.name,
            "UniqueId": trigger_id,
            "TriggerDetails": {"Trigger": trigger.as_dict()},
        }
        jobs = [a.job_name for a in trigger.actions]
        jobs += [c.job_name for c in trigger.predicate.conditions] if trigger.predicate else []
        for job in jobs:
            job_runs = [_job_run(backend, job, run.job_runs[job]).as_dict()] if job in run.job_runs else []
            nodes[f"job:{job}"] = {
                "Type": "JOB",
                "Name": job,
                "UniqueId": f"job:{job}",
                "JobDetails": {"JobRuns": job_runs},
            }
        edges += [{"SourceId": trigger_id, "DestinationId": f"job:{a.job_name}"} for a in trigger.actions]
        if trigger.predicate:
            edges += [
                {"SourceId": f"job:{c.job_name}", "DestinationId": trigger_id}
                for c in trigger.predicate.conditions
            ]
    return {"Nodes": list(nodes.values()), "Edges": edges}


def _run_dict(backend: GlueBackend, workflow: str, run: Any, include_graph: bool) -> dict[str, Any]:
    _advance(backend, workflow, run)
    result = run.as_dict() | {"Statistics": _statistics(backend, workflow, run)}
    return result | ({"Graph": _graph(backend, workflow, run)} if include_graph else {})


def _response_start_workflow_run(self: GlueResponse) -> ActionResult:
    name = self._get_param("Name")
    backend = self.glue_backend
    run_id = backend.start_workflow_run(name, self._get_param("RunProperties"))
    run: Any = backend.workflows[name].get_run(run_id)
    run.job_runs, run.fired = {}, set()
    for trigger in _workflow_triggers(backend, name):
        if trigger.trigger_type != "CONDITIONAL":
            _fire(backend, run, trigger)
    return ActionResult({"RunId": run_id})


def _response_get_workflow_run(self: GlueResponse) -> ActionResult:
    name = self._get_param("Name")
    backend = self.glue_backend
    backend.get_workflow_run(name, self._get_param("RunId"))  # EntityNotFoundException as AWS
    run = backend.workflows[name].get_run(self._get_param("RunId"))
    return ActionResult({"Run": _run_dict(backend, name, run, bool(self._get_param("IncludeGraph")))})


def _response_get_workflow_runs(self: GlueResponse) -> ActionResult:
    name = self._get_param("Name")
    backend = self.glue_backend
    backend.get_workflow(name)  # EntityNotFoundException as AWS
    include = self._get_param("IncludeGraph", True)  # the API's default is to include the graph
    runs = [_run_dict(backend, name, r, include) for r in backend.workflows[name].runs.values()]
    limit = self._get_int_param("MaxResults") or 100
    return ActionResult({"Runs": runs[-limit:]})


def _response_test_event_pattern(self: EventsHandler) -> tuple[str, dict[str, Any]]:
    """EventBridge's TestEventPattern (moto 5.2 answers nothing) with moto's own rule matcher."""
    pattern = EventPattern.load(self._get_param("EventPattern"))
    return json.dumps({"Result": pattern.matches_event(json.loads(self._get_param("Event")))}), {}


def check_against_botocore() -> None:
    """Every member these additions read or write exists in botocore's Glue service model."""
    import botocore.session

    model: Any = botocore.session.get_session().get_service_model("glue")

    def members(shape: str) -> set[str]:
        return set(model.shape_for(shape).members)

    assert set(_TRIGGER_UPDATE) <= members("TriggerUpdate")
    assert set(_JOB_FIELDS) <= members("JobUpdate")
    assert {"Name", "TriggerUpdate"} == set(model.operation_model("UpdateTrigger").input_shape.members)
    assert {"Name", "RunId", "IncludeGraph"} == set(
        model.operation_model("GetWorkflowRun").input_shape.members
    )
    assert {"Statistics", "Graph", "Status", "CompletedOn"} <= members("WorkflowRun")
    assert {
        "TotalActions",
        "TimeoutActions",
        "FailedActions",
        "StoppedActions",
        "SucceededActions",
        "RunningActions",
        "ErroredActions",
        "WaitingActions",
    } == members("WorkflowRunStatistics")
    assert {"Nodes", "Edges"} == members("WorkflowGraph")
    assert {"Type", "Name", "UniqueId", "TriggerDetails", "JobDetails"} <= members("Node")
    assert {"SourceId", "DestinationId"} == members("Edge")
    assert {"JobRuns"} == members("JobNodeDetails")
    assert {"Trigger"} == members("TriggerNodeDetails")
    assert set(model.shape_for("WorkflowRunStatus").enum) >= {"RUNNING", "COMPLETED"}
    events: Any = botocore.session.get_session().get_service_model("events")
    test_pattern = events.operation_model("TestEventPattern")
    assert set(test_pattern.input_shape.members) == {"EventPattern", "Event"}
    assert set(test_pattern.output_shape.members) == {"Result"}


def install_workflows() -> None:
    if not hasattr(GlueBackend, "update_trigger"):
        GlueBackend.update_trigger = _backend_update_trigger  # type: ignore[attr-defined]
        GlueResponse.update_trigger = _response_update_trigger  # type: ignore[attr-defined]
    GlueResponse.start_workflow_run = _response_start_workflow_run  # type: ignore[method-assign]
    GlueResponse.get_workflow_run = _response_get_workflow_run  # type: ignore[method-assign]
    GlueResponse.get_workflow_runs = _response_get_workflow_runs  # type: ignore[method-assign]
    EventsHandler.test_event_pattern = _response_test_event_pattern  # type: ignore[method-assign,assignment]


@contextmanager
def moto_server() -> Iterator[str]:
    install_update_job()
    install_workflows()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def reset(endpoint: str) -> None:
    requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()


def set_transition(endpoint: str, model: str, transition: dict[str, Any]) -> None:
    """moto's state manager: e.g. advance a Glue job run one state per describe ("manual", times 1)."""
    body = {"model_name": model, "transition": transition}
    requests.post(
        f"{endpoint}/moto-api/state-manager/set-transition", json=body, timeout=30
    ).raise_for_status()


def glue_backend(region: str) -> GlueBackend:
    return get_backend("glue")[ACCOUNT][region]


def emr_backend(region: str) -> Any:
    return get_backend("emr")[ACCOUNT][region]


def when_started(items: Callable[[], list[Any]], attribute: str, state: str) -> threading.Thread:
    """In the background, set the first run/step that appears to ``state``: what the service does
    when the job ends (moto never ends them by itself). Join the thread after the call under test."""

    def settle() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = items()
            if found:
                setattr(found[0], attribute, state)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=settle)
    thread.start()
    return thread
