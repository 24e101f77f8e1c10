"""SageMaker Ground Truth: one labeling job per batch, input and output manifests on S3.

A batch becomes a JSON-lines input manifest (``source`` for text, ``source-ref`` for images, plus the
item id and the model's suggestion), a ``CreateLabelingJob`` with the built-in text or image
multi-class task (its pre-annotation and consolidation Lambdas), then ``DescribeLabelingJob`` polling
(``LabelCounters``) until the output manifest can be read: the label attribute (class index) and its
``-metadata`` (``class-name``, ``confidence``, ``human-annotated``). The job name derives from the
batch id, so a repeated push finds the existing job instead of creating a second one.

AWS closed Ground Truth to new customers in 2026; accounts that already used it keep it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
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
from labeling.spec import CampaignSpec, GroundTruthBackendSpec
from labeling.state import Batch

LABEL_ATTRIBUTE = "lakeprep-label"
ID_KEY, BATCH_KEY, PREDICTION_KEY = "lakeprep-id", "lakeprep-batch", "lakeprep-prediction"
# Accounts that host the built-in PRE-/ACS- Lambdas, per region (from the SageMaker API reference).
LAMBDA_ACCOUNTS = {
    "us-east-1": "432418664414",
    "us-east-2": "266458841044",
    "us-west-2": "081040173940",
    "ca-central-1": "918755190332",
    "eu-west-1": "568282634449",
    "eu-west-2": "487402164563",
    "eu-central-1": "203001061592",
    "ap-northeast-1": "477331159723",
    "ap-northeast-2": "845288260483",
    "ap-south-1": "565803892007",
    "ap-southeast-1": "377565633583",
    "ap-southeast-2": "454466003867",
}
TERMINAL = {"Completed", "Stopped", "Failed"}

TEXT_TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-classifier name="crowd-classifier" categories="{{ task.input.labels | to_json | escape }}"
                    header="{TITLE}">
    <classification-target>{{ task.input.taskObject }}</classification-target>
    <full-instructions header="Instructions">{DESCRIPTION}</full-instructions>
    <short-instructions>{DESCRIPTION}</short-instructions>
  </crowd-classifier>
</crowd-form>
"""
IMAGE_TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-image-classifier name="crowd-image-classifier" src="{{ task.input.taskObject | grant_read_access }}"
                          categories="{{ task.input.labels | to_json | escape }}" header="{TITLE}">
    <full-instructions header="Instructions">{DESCRIPTION}</full-instructions>
    <short-instructions>{DESCRIPTION}</short-instructions>
  </crowd-image-classifier>
</crowd-form>
"""


def job_name(campaign: str, batch_id: str) -> str:
    """A valid, deterministic labeling job name (``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``)."""
    raw = re.sub(r"[^a-zA-Z0-9]+", "-", f"lakeprep-{campaign}-{batch_id}").strip("-")
    if len(raw) <= 63:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{raw[:54].rstrip('-')}-{digest}"


def builtin_lambdas(region: str, image: bool) -> tuple[str, str]:
    """(pre-annotation, consolidation) Lambda ARNs of the built-in multi-class task."""
    account = LAMBDA_ACCOUNTS.get(region)
    if account is None:
        raise BackendError(f"Ground Truth built-in tasks are not available in {region}")
    task = "ImageMultiClass" if image else "TextMultiClass"
    base = f"arn:aws:lambda:{region}:{account}:function"
    return f"{base}:PRE-{task}", f"{base}:ACS-{task}"


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


class GroundTruthBackend(Backend):
    name = "ground_truth"

    def __init__(
        self, spec: CampaignSpec, state: dict[str, Any], sagemaker: Any = None, s3: Any = None
    ) -> None:
        super().__init__(spec, state)
        if not isinstance(spec.backend, GroundTruthBackendSpec):
            raise TypeError("GroundTruthBackend needs a ground_truth backend spec")
        self.config = spec.backend
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
        body = IMAGE_TEMPLATE if self.spec.content.kind == "image" else TEXT_TEMPLATE
        body = body.replace("{TITLE}", self.config.task_title).replace(
            "{DESCRIPTION}", self.config.task_description
        )
        self._put(template, body, "text/html")
        return {"label_categories": categories, "ui_template": template}

    def manifest_line(self, batch_id: str, task: Task) -> dict[str, Any]:
        line: dict[str, Any] = {ID_KEY: task.example_id, BATCH_KEY: batch_id}
        if self.spec.content.kind == "image":
            line["source-ref"] = str(task.data.get(self.spec.content.columns[0]))
        else:
            line["source"] = display_text(task.data, self.spec)
        if task.predicted is not None:
            line[PREDICTION_KEY] = {
                "label": task.predicted,
                "score": task.score,
                "model-version": task.model_version,
            }
        return line

    def create_job_request(self, batch: Batch, manifest: str) -> dict[str, Any]:
        config = self.state or self.prepare()
        pre, consolidation = builtin_lambdas(self.config.region, self.spec.content.kind == "image")
        human: dict[str, Any] = {
            "WorkteamArn": self.config.workteam_arn,
            "UiConfig": {"UiTemplateS3Uri": config["ui_template"]},
            "PreHumanTaskLambdaArn": pre,
            "TaskKeywords": ["lakeprep", "classification"],
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
        # a stopped or finished job will label nothing more: the batch is complete either way
        return Progress(annotations, len(batch.items), len(batch.items), notes)

    def parse_output(self, text: str, batch: Batch, name: str) -> tuple[list[Annotation], list[str]]:
        """Labels from an output manifest; items that failed or were machine-labelled by GT are noted, not kept."""
        annotations: list[Annotation] = []
        notes: list[str] = []
        wanted = set(batch.ids)
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            line = json.loads(raw)
            example_id = str(line.get(ID_KEY))
            if example_id not in wanted:
                notes.append(f"{name} line {number}: item {example_id!r} is not in batch {batch.batch_id}")
                continue
            metadata = line.get(f"{LABEL_ATTRIBUTE}-metadata") or {}
            if LABEL_ATTRIBUTE not in line or "failure-reason" in metadata:
                notes.append(
                    f"{name}: item {example_id} not labelled ({metadata.get('failure-reason', 'no label')})"
                )
                continue
            if str(metadata.get("human-annotated", "yes")).lower() != "yes":
                notes.append(f"{name}: item {example_id} was labelled by Ground Truth's own model; skipped")
                continue
            label = metadata.get("class-name")
            if label is None:
                index = int(line[LABEL_ATTRIBUTE])
                label = self.spec.labels[index] if 0 <= index < len(self.spec.labels) else str(index)
            annotations.append(
                Annotation(
                    example_id=example_id,
                    label=str(label),
                    annotator_id=f"groundtruth:{self.config.workteam_arn.rsplit('/', 1)[-1]}",
                    key=f"gt:{name}:{example_id}",
                    confidence=float(metadata["confidence"]) if "confidence" in metadata else None,
                    annotated_at=_utc(metadata.get("creation-date")),
                )
            )
        return annotations, notes


def _usd(amount: float) -> dict[str, int]:
    tenths = round(amount * 1000)
    return {"Dollars": tenths // 1000, "Cents": (tenths // 10) % 100, "TenthFractionsOfACent": tenths % 10}


def _utc(value: Any) -> dt.datetime | None:
    """Ground Truth writes naive ISO timestamps in UTC."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
