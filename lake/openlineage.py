"""OpenLineage run events (START, then COMPLETE or FAIL) for every job run.

Events are built with the openlineage-python client's typed model. By default they go to JSON
lines files in the lake (``<lake>/_lineage/<job>/<run id>.jsonl``: one file per run, rewritten
whole on each event, so it works on object stores that cannot append). When the standard
OpenLineage configuration is present (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG`` or an
``openlineage.yml``, e.g. HTTP to Marquez or the Amazon DataZone transport), events are sent there
too. Parameters are already redacted by the run context; nothing secret is added here.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    OutputDatasetFacet,
    column_lineage_dataset,
    data_quality_assertions_dataset,
    data_quality_metrics_dataset,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    processing_engine_run,
    schema_dataset,
    tags_run,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.transport import Transport

from lake import __version__
from lake.lineage import DatasetIO, ObservedRun, RunObserver, git_sha
from lake.storage import LINEAGE_DIR, Storage

if TYPE_CHECKING:
    import pyarrow as pa


log = logging.getLogger(__name__)

PRODUCER = "https://github.com/lakeprep/lakeprep"
DRIVER_TAG = "lakeprep.driver"  # host:pid of the run's driver: lets vacuum tell a killed run from a live one
_RUN_NAMESPACE = uuid.UUID("6f0c3c1e-6e2e-4b8f-9d1b-6c616b657072")


def run_uuid(run_id: str) -> str:
    """OpenLineage wants a UUID run id; derive a stable one from lakeprep's readable run id."""
    return str(uuid.uuid5(_RUN_NAMESPACE, run_id))


def dataset_name(uri: str) -> tuple[str, str]:
    """OpenLineage dataset naming: ``s3://bucket`` + key path, or ``file`` + absolute path."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://") :].partition("/")
        return f"s3://{bucket}", key
    return "file", uri


def events_uri(storage: Storage, job: str, run_id: str) -> str:
    return storage.uri(LINEAGE_DIR, job, f"{run_id}.jsonl")


class LakeTransport(Transport):
    """JSON lines in the lake: one file per run holding its events in order."""

    kind = "lakeprep-lake"

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._written: dict[str, list[str]] = {}

    def emit(self, event: Any) -> None:
        target = events_uri(self.storage, event.job.name, _lakeprep_run_id(event))
        lines = self._written.setdefault(target, [])
        lines.append(Serde.to_json(event))
        self.storage.write_bytes(target, ("\n".join(lines) + "\n").encode())


def _lakeprep_run_id(event: RunEvent) -> str:
    for tag in getattr((event.run.facets or {}).get("tags"), "tags", None) or []:
        if tag.key == "lakeprep.run_id":
            return str(tag.value)
    return str(event.run.runId)


def _configured_elsewhere() -> bool:
    return bool(
        os.environ.get("OPENLINEAGE_URL")
        or os.environ.get("OPENLINEAGE_CONFIG")
        or any(k.startswith("OPENLINEAGE__TRANSPORT") for k in os.environ)
        or Path("openlineage.yml").exists()
    )


# ------------------------------------------------------------------------------------ facets
def schema_facet(schema: pa.Schema) -> schema_dataset.SchemaDatasetFacet:
    fields = []
    for field in schema:
        comment = (field.metadata or {}).get(b"comment")
        fields.append(
            schema_dataset.SchemaDatasetFacetFields(
                name=field.name, type=str(field.type), description=comment.decode() if comment else None
            )
        )
    return schema_dataset.SchemaDatasetFacet(fields=fields)


def _dataset_facets(item: DatasetIO) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if item.schema is not None:
        facets["schema"] = schema_facet(item.schema)
    if item.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(item.version)
        )
    quality = item.facets.get("quality")
    if quality:
        facets["dataQualityMetrics"] = data_quality_metrics_dataset.DataQualityMetricsDatasetFacet(
            rowCount=int(quality["rows_out"]),
            columnMetrics={
                column: data_quality_metrics_dataset.ColumnMetrics(nullCount=int(count))
                for column, count in quality.get("null_counts", {}).items()
            },
        )
        facets["dataQualityAssertions"] = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=[
                data_quality_assertions_dataset.Assertion(
                    assertion=name,
                    success=count == 0,
                    severity=quality.get("severities", {}).get(name),
                    actual=str(count),
                    expected="0",
                )
                for name, count in quality.get("failures", {}).items()
            ]
        )
    lineage = item.facets.get("column_lineage")
    if lineage:
        facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                column: column_lineage_dataset.Fields(
                    inputFields=[
                        column_lineage_dataset.InputField(
                            namespace=dataset_name(source_uri)[0],
                            name=dataset_name(source_uri)[1],
                            field=source_field,
                            transformations=[
                                column_lineage_dataset.Transformation(type=kind, subtype=subtype)
                            ],
                        )
                        for source_uri, source_field, kind, subtype in sources
                    ]
                )
                for column, sources in lineage.items()
            }
        )
    return facets


def input_dataset(item: DatasetIO) -> InputDataset:
    namespace, name = dataset_name(item.uri)
    return InputDataset(namespace=namespace, name=name, facets=_dataset_facets(item))


def output_dataset(item: DatasetIO) -> OutputDataset:
    namespace, name = dataset_name(item.uri)
    rows = item.facets.get("rows")
    output_facets: dict[str, OutputDatasetFacet] = {}
    if rows is not None:
        output_facets["outputStatistics"] = (
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=int(rows))
        )
    return OutputDataset(
        namespace=namespace, name=name, facets=_dataset_facets(item), outputFacets=output_facets
    )


def _dedupe(items: Sequence[DatasetIO]) -> list[DatasetIO]:
    latest: dict[str, DatasetIO] = {}
    for item in items:
        latest[item.uri] = item  # one dataset once per event, with its last recorded state
    return list(latest.values())


class OpenLineageObserver:
    """Emits START when the run begins and COMPLETE / FAIL with its inputs and outputs at the end."""

    def __init__(
        self, storage: Storage, namespace: str | None = None, client: OpenLineageClient | None = None
    ) -> None:
        self.storage = storage
        self.namespace = namespace or os.environ.get("LAKEPREP_OPENLINEAGE_NAMESPACE", "lakeprep")
        self.clients = [client or OpenLineageClient(transport=LakeTransport(storage))]
        if client is None and _configured_elsewhere():
            self.clients.append(OpenLineageClient())  # its own configuration: env, openlineage.yml

    def _emit(self, event: RunEvent) -> None:
        for client in self.clients:
            client.emit(event)

    def _run(self, run: ObservedRun, error: BaseException | None = None) -> Run:
        facets: dict[str, Any] = {
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=_spark_version(run), name="spark", openlineageAdapterVersion=__version__
            ),
            "tags": tags_run.TagsRunFacet(
                tags=[
                    tags_run.TagsRunFacetFields(
                        key="lakeprep.run_id", value=run.run.run_id, source="lakeprep"
                    ),
                    tags_run.TagsRunFacetFields(
                        key="lakeprep.runtime", value=run.run.runtime, source="lakeprep"
                    ),
                    tags_run.TagsRunFacetFields(
                        key=DRIVER_TAG, value=f"{socket.gethostname()}:{os.getpid()}", source="lakeprep"
                    ),
                    *(
                        [tags_run.TagsRunFacetFields(key="lakeprep.git_sha", value=sha, source="lakeprep")]
                        if (sha := git_sha())
                        else []
                    ),
                ]
            ),
        }
        if error is not None:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=f"{type(error).__name__}: {error}"[:4000], programmingLanguage="python"
            )
        return Run(runId=run_uuid(run.run.run_id), facets=facets)

    def _job(self, run: ObservedRun) -> Job:
        return Job(
            namespace=self.namespace,
            name=run.job,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="SPARK", jobType="JOB"
                )
            },
        )

    def started(self, run: ObservedRun) -> None:
        self._emit(
            RunEvent(
                eventType=RunState.START,
                eventTime=_now(),
                run=self._run(run),
                job=self._job(run),
                producer=PRODUCER,
            )
        )

    def finished(self, run: ObservedRun, error: BaseException | None) -> None:
        self._emit(
            RunEvent(
                eventType=RunState.FAIL if error is not None else RunState.COMPLETE,
                eventTime=_now(),
                run=self._run(run, error),
                job=self._job(run),
                producer=PRODUCER,
                inputs=[input_dataset(i) for i in _dedupe(run.inputs)],
                outputs=[output_dataset(o) for o in _dedupe(run.outputs)],
            )
        )


def _spark_version(run: ObservedRun) -> str:
    """The pyspark version: asking the session would start one for a run that failed before needing
    Spark, and would fail when its JVM is gone."""
    import pyspark

    return str(pyspark.__version__)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def default_observers(storage: Storage) -> list[RunObserver]:
    if os.environ.get("LAKEPREP_OPENLINEAGE", "on").lower() in {"off", "0", "false"}:
        return []
    return [OpenLineageObserver(storage)]


def read_events(storage: Storage, job: str, run_id: str) -> list[Mapping[str, Any]]:
    """The events one run emitted, oldest first (for the summary and for tests)."""
    import json

    text = storage.read_text(events_uri(storage, job, run_id))
    return [json.loads(line) for line in text.splitlines() if line.strip()]
