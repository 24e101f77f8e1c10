"""The Ground Truth backend: one labeling job per batch, input and output manifests on S3.

``prepare`` writes the label categories and the worker template of the campaign's built-in task under
``<s3_prefix>/<campaign>/config/``; ``push`` writes the batch's input manifest and calls
``CreateLabelingJob`` with that task's pre-annotation and consolidation Lambdas; ``pull`` calls
``DescribeLabelingJob`` (``LabelCounters``) until the job has ended, then reads its output manifest. The
job name derives from the batch id, so a repeated push finds the existing job instead of creating a
second one.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from labeling.backends.base import (
    Annotation,
    Backend,
    BackendError,
    BackendUnavailableError,
    Progress,
    Task,
    display_text,
)
from labeling.backends.ground_truth.manifests import (
    BATCH_KEY,
    ID_KEY,
    LABEL_ATTRIBUTE,
    PREDICTION_KEY,
    READABLE,
    parse_line,
    response_annotations,
)
from labeling.backends.ground_truth.names import job_name
from labeling.backends.ground_truth.tasks import builtin_lambdas, builtin_task, render_template
from labeling.spec import CampaignSpec, GroundTruthBackendSpec
from labeling.state import Batch
from lake.storage import Storage

TERMINAL = {"Completed", "Stopped", "Failed"}


class GroundTruthBackend(Backend):
    name = "ground_truth"

    def __init__(
        self,
        spec: CampaignSpec,
        state: dict[str, Any],
        sagemaker: Any = None,
        s3: Any = None,
        storage: Storage | None = None,
    ) -> None:
        super().__init__(spec, state)
        if not isinstance(spec.backend, GroundTruthBackendSpec):
            raise TypeError("GroundTruthBackend needs a ground_truth backend spec")
        self.config = spec.backend
        self.task = builtin_task(spec)
        self.storage = storage  # the lake, to find images given as lake paths
        self._sagemaker = sagemaker
        self._s3 = s3

    # ---------------------------------------------------------------------------- AWS clients
    @property
    def sagemaker(self) -> Any:
        if self._sagemaker is None:
            import boto3

            self._sagemaker = boto3.client("sagemaker", region_name=self.config.region)
        return self._sagemaker

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3")
        return self._s3

    def _uri(self, *parts: str) -> str:
        return "/".join([self.config.s3_prefix, self.spec.name, *parts])

    def _put(self, uri: str, body: str, content_type: str) -> None:
        bucket, key = _split(uri)
        self.s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType=content_type)

    def _get(self, uri: str) -> str:
        bucket, key = _split(uri)
        return str(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8"))

    # ---------------------------------------------------------------------------- the backend
    def prepare(self) -> dict[str, Any]:
        """Label categories and the worker template, written once per campaign (rewriting is harmless)."""
        categories = self._uri("config", "label-categories.json")
        template = self._uri("config", "template.liquid.html")
        self._put(
            categories,
            json.dumps(
                {"document-version": "2018-11-28", "labels": [{"label": label} for label in self.spec.labels]}
            ),
            "application/json",
        )
        self._put(template, render_template(self.task, self.spec), "text/html")
        return {"label_categories": categories, "ui_template": template, "task": self.task.name}

    def manifest_line(self, batch_id: str, task: Task) -> dict[str, Any]:
        """One input line: ``source-ref`` (an image on S3) or ``source`` (the text a worker reads)."""
        line: dict[str, Any] = {ID_KEY: task.example_id, BATCH_KEY: batch_id}
        if self.task.image:
            line["source-ref"] = self.image_ref(task)
        else:
            line["source"] = display_text(task.data, self.spec)
        if task.predicted is not None:
            line[PREDICTION_KEY] = {
                "label": task.predicted,
                "score": task.score,
                "model-version": task.model_version,
            }
        return line

    def image_ref(self, task: Task) -> str:
        """The item's image as the ``s3://`` URI Ground Truth reads (it reads nothing else): an S3 URI as
        it is, a lake path in a lake on S3 as its URI, and a file of a local lake (or a local path)
        copied once under ``<prefix>/<campaign>/images/`` by its SHA-256."""
        value = str(task.data.get(self.spec.content.columns[0]) or "")
        if value.startswith("s3a://"):
            value = "s3://" + value.removeprefix("s3a://")
        local = bool(value) and not urlparse(value).scheme
        if local and not value.startswith("/") and self.storage is not None:
            value = self.storage.uri(value)  # a path in the lake: on S3 when the lake is
            local = not value.startswith("s3://")
        if local:
            return self._upload_image(task.example_id, value)
        if not value.startswith("s3://"):
            raise BackendError(
                f"item {task.example_id}: image {value or '(empty)'!r} is not on S3 nor a local file; "
                "Ground Truth reads images from s3:// URIs only"
            )
        return value

    def _upload_image(self, example_id: str, path: str) -> str:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise BackendError(f"item {example_id}: image {path!r} cannot be read ({exc.strerror})") from exc
        suffix = Path(path).suffix.lower()
        uri = self._uri("images", hashlib.sha256(data).hexdigest() + suffix)
        bucket, key = _split(uri)
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        self.s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=kind)
        return uri

    def create_job_request(self, batch: Batch, manifest: str) -> dict[str, Any]:
        config = self.state or self.prepare()
        pre, consolidation = builtin_lambdas(self.config.region, self.task)
        human: dict[str, Any] = {
            "WorkteamArn": self.config.workteam_arn,
            "UiConfig": {"UiTemplateS3Uri": config["ui_template"]},
            "PreHumanTaskLambdaArn": pre,
            "TaskKeywords": ["lakeprep", self.task.keyword],
            "TaskTitle": self.config.task_title,
            "TaskDescription": self.config.task_description,
            "NumberOfHumanWorkersPerDataObject": batch.annotators,
            "TaskTimeLimitInSeconds": self.config.task_time_limit_seconds,
            "TaskAvailabilityLifetimeInSeconds": self.config.task_availability_seconds,
            "MaxConcurrentTaskCount": min(1000, max(1, len(batch.items))),
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": consolidation},
        }
        if self.config.price_usd is not None:
            human["PublicWorkforceTaskPrice"] = {"AmountInUsd": _usd(self.config.price_usd)}
        return {
            "LabelingJobName": job_name(self.spec.name, batch.batch_id),
            "LabelAttributeName": LABEL_ATTRIBUTE,
            "InputConfig": {
                "DataSource": {"S3DataSource": {"ManifestS3Uri": manifest}},
                "DataAttributes": {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]},
            },
            "OutputConfig": {"S3OutputPath": self._uri("output") + "/"},
            "RoleArn": self.config.role_arn,
            "LabelCategoryConfigS3Uri": config["label_categories"],
            "HumanTaskConfig": human,
            "Tags": [
                {"Key": "lakeprep:campaign", "Value": self.spec.name},
                {"Key": "lakeprep:batch", "Value": batch.batch_id},
            ],
        }

    def push(self, batch: Batch, tasks: list[Task]) -> dict[str, Any]:
        from botocore.exceptions import ClientError, EndpointConnectionError

        manifest = self._uri(batch.batch_id, "input.manifest")
        lines = "".join(
            json.dumps(self.manifest_line(batch.batch_id, t), sort_keys=True) + "\n" for t in tasks
        )
        self._put(manifest, lines, "application/jsonlines")
        request = self.create_job_request(batch, manifest)
        try:
            self.sagemaker.create_labeling_job(**request)
            created = True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUse":
                raise BackendError(f"CreateLabelingJob {request['LabelingJobName']}: {exc}") from exc
            created = False  # pushed before (a re-run after a crash): the job exists already
        except EndpointConnectionError as exc:
            raise BackendUnavailableError(f"SageMaker is unreachable: {exc}") from exc
        return {
            "job_name": request["LabelingJobName"],
            "manifest": manifest,
            "tasks": len(tasks),
            "created": created,
            "task_type": self.task.name,
        }

    def pull(self, batch: Batch) -> Progress:
        from botocore.exceptions import ClientError, EndpointConnectionError

        name = (batch.receipt or {}).get("job_name") or job_name(self.spec.name, batch.batch_id)
        try:
            job = self.sagemaker.describe_labeling_job(LabelingJobName=name)
        except EndpointConnectionError as exc:
            raise BackendUnavailableError(f"SageMaker is unreachable: {exc}") from exc
        except ClientError as exc:
            raise BackendError(f"DescribeLabelingJob {name}: {exc}") from exc
        status = job["LabelingJobStatus"]
        counters = job.get("LabelCounters", {})
        if status == "Failed":
            raise BackendError(f"labeling job {name} failed: {job.get('FailureReason', 'no reason given')}")
        output = job.get("LabelingJobOutput", {}).get("OutputDatasetS3Uri")
        if status not in TERMINAL or not output:
            done = int(counters.get("TotalLabeled", 0)) + int(counters.get("FailedNonRetryableError", 0))
            return Progress([], min(done, len(batch.items) - 1), len(batch.items), [f"{name}: {status}"])
        annotations, notes = self.parse_output(self._get(output), batch, name)
        if batch.annotators > 1:  # lakeprep's consensus wants each worker's answer, not ACS-<task>'s
            annotations = self.worker_annotations(output, batch, name, annotations, notes)
        # a stopped or finished job will label nothing more: the batch is complete either way
        return Progress(annotations, len(batch.items), len(batch.items), notes)

    def stop(self, batch: Batch) -> dict[str, Any]:
        """Stop the batch's job (``StopLabelingJob``) so no worker takes its open tasks after the batch is
        closed; a job that has already ended is left as it is."""
        from botocore.exceptions import ClientError, EndpointConnectionError

        name = (batch.receipt or {}).get("job_name") or job_name(self.spec.name, batch.batch_id)
        try:
            self.sagemaker.stop_labeling_job(LabelingJobName=name)
        except EndpointConnectionError as exc:
            raise BackendUnavailableError(f"SageMaker is unreachable: {exc}") from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            return {"stopped_job": None, "stop_refused": f"{error.get('Code')}: {error.get('Message')}"}
        return {"stopped_job": name}

    def parse_output(self, text: str, batch: Batch, name: str) -> tuple[list[Annotation], list[str]]:
        """Labels from an output manifest, per task type; items that failed or that Ground Truth labelled
        with its own model are noted, not kept (lakeprep does its own auto-labelling)."""
        annotations: list[Annotation] = []
        notes: list[str] = []
        wanted = set(batch.ids)
        annotator = f"groundtruth:{self.config.workteam_arn.rsplit('/', 1)[-1]}"
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError as exc:
                notes.append(f"{name} output line {number}: not JSON ({exc.msg})")
                continue
            parsed = parse_line(line, self.task, self.spec.labels, annotator)
            if parsed.example_id not in wanted:
                notes.append(
                    f"{name} line {number}: item {parsed.example_id!r} is not in batch {batch.batch_id}"
                )
            elif parsed.problem:
                notes.append(f"{name}: item {parsed.example_id} {parsed.problem}")
            else:
                annotations.extend(parsed.annotations)
        return annotations, notes

    def worker_annotations(
        self, output: str, batch: Batch, job: str, consolidated: list[Annotation], notes: list[str]
    ) -> list[Annotation]:
        """Each worker's answers to the items the job labelled, from the worker-response files next to
        the output manifest, each worker as its own annotator; an item without them keeps its
        consolidated answer (noted)."""
        labelled = {a.example_id for a in consolidated}
        inputs = [
            json.loads(raw)
            for raw in self._get(self._uri(batch.batch_id, "input.manifest")).splitlines()
            if raw.strip()
        ]
        by_index = {str(n): line for n, line in enumerate(inputs)}
        bucket, prefix = _split(output.split("/manifests/", 1)[0] + "/annotations/worker-response/")
        found: dict[str, list[Annotation]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                key = str(entry["Key"])
                parts = key.removeprefix(prefix).split("/")  # iteration-<n>/<index>/<time>.json
                line = by_index.get(parts[1]) if len(parts) == 3 and key.endswith(".json") else None
                if line is None or str(line[ID_KEY]) not in labelled:
                    continue
                example_id = str(line[ID_KEY])
                try:
                    response = json.loads(self._get(f"s3://{bucket}/{key}"))
                    answers = response_annotations(
                        self.task, response, example_id, job, str(line.get("source", ""))
                    )
                except (json.JSONDecodeError, *READABLE) as exc:
                    notes.append(f"{job}: worker response {key}: unreadable ({exc!r})")
                    continue
                found.setdefault(example_id, []).extend(answers)
        kept = [a for a in consolidated if a.example_id not in found]
        for example_id in sorted({a.example_id for a in kept}):
            notes.append(f"{job}: item {example_id} has no worker responses; its consolidated answer is kept")
        return kept + [a for answers in found.values() for a in answers]


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def _usd(amount: float) -> dict[str, int]:
    tenths = round(amount * 1000)
    return {"Dollars": tenths // 1000, "Cents": (tenths // 10) % 100, "TenthFractionsOfACent": tenths % 10}
