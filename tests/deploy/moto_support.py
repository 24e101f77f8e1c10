"""moto in server mode on loopback for the AWS control planes that have no local server (Glue, EMR,
EMR Serverless, IAM, STS). S3 stays on the real local S3 server.

moto 5.2 does not implement Glue's UpdateJob; ``install_update_job`` adds it with the real API's
semantics (the JobUpdate replaces the job definition; runs, creation time and tags are kept), so
idempotent deploys are exercised through the same boto3 call they make against AWS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from moto.backends import get_backend
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.glue.models import GlueBackend
from moto.glue.responses import GlueResponse
from moto.server import ThreadedMotoServer

from tests.support.servers import free_port

ACCOUNT = "123456789012"  # moto's default account
MOTO_SERVICES = ("GLUE", "EMR", "EMR_SERVERLESS", "IAM", "STS")

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


@contextmanager
def moto_server() -> Iterator[str]:
    install_update_job()
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
