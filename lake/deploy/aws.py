"""AWS clients and the one loop that follows a run (Glue job run, EMR step, EMR Serverless job run).

Clients come from boto3's standard configuration: credentials from the usual chain and endpoints
from ``AWS_ENDPOINT_URL_<SERVICE>`` when set (how the tests reach moto and the local S3 server),
so nothing here knows about test servers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from rich.console import Console

from lake.deploy.config import DeployConfig

if TYPE_CHECKING:
    from mypy_boto3_emr import EMRClient
    from mypy_boto3_emr_serverless import EMRServerlessClient
    from mypy_boto3_glue import GlueClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient


@dataclass
class Clients:
    """Lazily created clients for one deployment's region."""

    region: str
    _cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_config(cls, config: DeployConfig) -> Clients:
        return cls(config.region)

    def _client(self, service: str) -> Any:
        if service not in self._cache:
            self._cache[service] = boto3.session.Session(region_name=self.region).client(service)  # type: ignore[call-overload]
        return self._cache[service]

    @property
    def s3(self) -> S3Client:
        return self._client("s3")

    @property
    def glue(self) -> GlueClient:
        return self._client("glue")

    @property
    def emr(self) -> EMRClient:
        return self._client("emr")

    @property
    def emr_serverless(self) -> EMRServerlessClient:
        return self._client("emr-serverless")

    @property
    def events(self) -> Any:  # EventBridge (no boto3 stubs installed for it)
        return self._client("events")

    @property
    def iam(self) -> IAMClient:
        return self._client("iam")

    @property
    def sts(self) -> STSClient:
        return self._client("sts")


@dataclass(frozen=True)
class RunState:
    """One observation of a run: its service-specific state and what it means."""

    state: str
    finished: bool
    succeeded: bool = False
    detail: str = ""


def follow(
    describe: Callable[[], RunState],
    what: str,
    console: Console,
    poll_seconds: float = 15.0,
    timeout_seconds: float | None = None,
) -> RunState:
    """Poll ``describe`` until the run finishes, showing the state and elapsed time as it goes.

    Each state change is printed as a line (so CI logs keep the history); the spinner shows the rest.
    """
    started = time.monotonic()
    last: str | None = None
    with console.status(f"{what}: submitted") as status:
        while True:
            current = describe()
            elapsed = time.monotonic() - started
            if current.state != last:
                console.print(f"{what}: [bold]{current.state}[/] after {_duration(elapsed)}", soft_wrap=True)
                last = current.state
            if current.finished:
                return current
            if timeout_seconds is not None and elapsed > timeout_seconds:
                return RunState(
                    current.state, finished=False, detail=f"still {current.state}: stopped following"
                )
            status.update(f"{what}: {current.state} ({_duration(elapsed)})")
            time.sleep(poll_seconds)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
