"""The Ground Truth backend: SageMaker calls checked by botocore's Stubber against the service model,
manifests and the campaign's lake on the local S3 server (SeaweedFS)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import liquid
import lxml.html
import polars as pl
import pytest
from botocore.model import StructureShape
from botocore.stub import Stubber
from pyspark.sql import SparkSession

from labeling import pool
from labeling.backends.base import BackendError, Progress, Task
from labeling.backends.ground_truth import (
    LAMBDA_ACCOUNTS,
    TASKS,
    GroundTruthBackend,
    builtin_lambdas,
    job_name,
)
from labeling.backends.ground_truth.tasks import render_template
from labeling.campaign import Campaign
from labeling.spec import Budget, CampaignSpec, ContentSpec, GroundTruthBackendSpec
from labeling.state import Batch, PlannedItem
from lake.storage import Storage
from tests.labeling.conftest import CANCER_LABELS, breast_cancer_table, cancer_campaign, cancer_truth
from tests.support.servers import S3Server

ROLE = "arn:aws:iam::123456789012:role/lakeprep-ground-truth"
WORKTEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/lakeprep-team"
LABELS = CANCER_LABELS
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
# The accounts hosting the built-in Lambdas, copied by hand from the SageMaker API reference
# (HumanTaskConfig.PreHumanTaskLambdaArn) for the two regions the tests use.
ACCOUNT = {"us-east-1": "432418664414", "eu-west-1": "568282634449"}


def expected_job(
    bucket: str,
    batch: str,
    items: int,
    campaign: str = "gt-cancer",
    builtin: str = "TextMultiClass",
    keyword: str = "Text classification",
    region: str = "us-east-1",
    workers: int = 1,
) -> dict[str, Any]:
    """The CreateLabelingJob request of a built-in task (by default text classification), written out
    by hand."""
    prefix = f"s3://{bucket}/gt/{campaign}"
    lambdas = f"arn:aws:lambda:{region}:{ACCOUNT[region]}:function"
    return {
        "LabelingJobName": f"lakeprep-{campaign}-{batch}",
        "LabelAttributeName": "lakeprep-label",
        "InputConfig": {
            "DataSource": {"S3DataSource": {"ManifestS3Uri": f"{prefix}/{batch}/input.manifest"}},
            "DataAttributes": {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]},
        },
        "OutputConfig": {"S3OutputPath": f"{prefix}/output/"},
        "RoleArn": ROLE,
        "LabelCategoryConfigS3Uri": f"{prefix}/config/label-categories.json",
        "HumanTaskConfig": {
            "WorkteamArn": WORKTEAM,
            "UiConfig": {"UiTemplateS3Uri": f"{prefix}/config/template.liquid.html"},
            "PreHumanTaskLambdaArn": f"{lambdas}:PRE-{builtin}",
            "TaskKeywords": ["lakeprep", keyword],
            "TaskTitle": "Classify the item",
            "TaskDescription": "Choose the label that fits the item best.",
            "NumberOfHumanWorkersPerDataObject": workers,
            "TaskTimeLimitInSeconds": 300,
            "TaskAvailabilityLifetimeInSeconds": 864000,
            "MaxConcurrentTaskCount": items,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": f"{lambdas}:ACS-{builtin}"},
        },
        "Tags": [
            {"Key": "lakeprep:campaign", "Value": campaign},
            {"Key": "lakeprep:batch", "Value": batch},
        ],
    }


def describe(
    request: dict[str, Any], status: str, labelled: int, total: int, output: str | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "LabelingJobStatus": status,
        "LabelCounters": {
            "TotalLabeled": labelled,
            "HumanLabeled": labelled,
            "MachineLabeled": 0,
            "FailedNonRetryableError": 0,
            "Unlabeled": total - labelled,
        },
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
        "JobReferenceCode": "ref-0001",
        "LabelingJobName": request["LabelingJobName"],
        "LabelingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{request['LabelingJobName']}",
        "LabelAttributeName": request["LabelAttributeName"],
        "InputConfig": request["InputConfig"],
        "OutputConfig": request["OutputConfig"],
        "RoleArn": ROLE,
        "HumanTaskConfig": request["HumanTaskConfig"],
    }
    if output:
        response["LabelingJobOutput"] = {"OutputDatasetS3Uri": output}
    return response


def read_manifest(s3: Any, uri: str) -> list[dict[str, Any]]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return [
        json.loads(line)
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]


def output_manifest(lines: list[dict[str, Any]], truth: dict[str, str], job: str, failed: str) -> str:
    """What Ground Truth writes when a text classification job completes (one item failed)."""
    out = []
    for line in lines:
        item = dict(line)
        if line["lakeprep-id"] == failed:
            item["lakeprep-label-metadata"] = {
                "failure-reason": "ClientError: task expired",
                "job-name": f"labeling-job/{job}",
            }
        else:
            label = truth[line["lakeprep-id"]]
            item["lakeprep-label"] = LABELS.index(label)
            item["lakeprep-label-metadata"] = {
                "class-name": label,
                "confidence": 0.93,
                "type": "groundtruth/text-classification",
                "job-name": f"labeling-job/{job}",
                "human-annotated": "yes",
                "creation-date": "2026-03-01T12:30:00.000000",
            }
        out.append(json.dumps(item))
    return "\n".join(out) + "\n"


@pytest.mark.s3
def test_ground_truth_campaign_on_s3(
    spark: SparkSession, s3_lake: Storage, s3_bucket: str, s3_env: S3Server
) -> None:
    table = breast_cancer_table(s3_lake)
    truth = cancer_truth()
    s3 = s3_env.client()
    spec = GroundTruthBackendSpec(s3_prefix=f"s3://{s3_bucket}/gt", role_arn=ROLE, workteam_arn=WORKTEAM)
    created = cancer_campaign(
        spark,
        s3_lake,
        table,
        "gt-cancer",
        spec,
        budget=Budget(max_items=40, cost_per_label=0.08),
        validation_fraction=0.25,
        prepare_backend=False,
        prelabel_above=0.5,  # binary: every query item's suggestion goes into the manifest
    )
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    backend = GroundTruthBackend(created.state().spec, {}, sagemaker=sagemaker)
    campaign = Campaign(s3_lake, "gt-cancer", spark=spark, backend=backend)

    with Stubber(sagemaker) as stub:
        first = expected_job(s3_bucket, "b001", 20)
        stub.add_response(
            "create_labeling_job",
            {"LabelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/b1"},
            first,
        )
        assert campaign.round().batch_id == "b001"
        categories = json.loads(
            s3.get_object(Bucket=s3_bucket, Key="gt/gt-cancer/config/label-categories.json")["Body"].read()
        )
        assert categories == {
            "document-version": "2018-11-28",
            "labels": [{"label": "malignant"}, {"label": "benign"}],
        }
        lines = read_manifest(s3, first["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"])
        assert len(lines) == 20
        assert all(line["source"].startswith("item ") and "lakeprep-prediction" not in line for line in lines)

        # pushed again after a crash: the job exists, nothing new is created
        stub.add_client_error(
            "create_labeling_job", service_error_code="ResourceInUse", expected_params=first
        )
        batch = campaign.state().batches["b001"]
        assert campaign.backend().push(batch, [])["created"] is False

        stub.add_response(
            "describe_labeling_job",
            describe(first, "InProgress", 7, 20),
            {"LabelingJobName": "lakeprep-gt-cancer-b001"},
        )
        waiting = campaign.sync()[0]
        assert (waiting.new, waiting.complete) == (0, False)

        output = (
            f"s3://{s3_bucket}/gt/gt-cancer/output/lakeprep-gt-cancer-b001/manifests/output/output.manifest"
        )
        failed = lines[3]["lakeprep-id"]
        s3.put_object(
            Bucket=s3_bucket,
            Key=output.split("/", 3)[3],
            Body=output_manifest(lines, truth, "lakeprep-gt-cancer-b001", failed).encode(),
        )
        stub.add_response(
            "describe_labeling_job",
            describe(first, "Completed", 19, 20, output),
            {"LabelingJobName": "lakeprep-gt-cancer-b001"},
        )
        done = campaign.sync()[0]
        assert (done.new, done.complete) == (19, True)
        assert any(failed in note for note in done.notes)
        assert campaign.state().batches["b001"].closed["unlabelled_items"] == [failed]  # type: ignore[index]

        second = expected_job(s3_bucket, "b002", 20)
        stub.add_response(
            "create_labeling_job",
            {"LabelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/b2"},
            second,
        )
        round_two = campaign.round()
        assert round_two.batch_id == "b002"
        stub.assert_no_pending_responses()

    lines = read_manifest(s3, second["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"])
    plan = campaign.state().batches["b002"]
    with_prediction = [line for line in lines if "lakeprep-prediction" in line]
    # every query item, and only those, carries the suggestion (the planner decides how many there are)
    assert len(with_prediction) == sum(1 for i in plan.items if i.purpose == "query") > 0
    for line in with_prediction:
        assert line["lakeprep-prediction"]["model-version"] == round_two.model_version
        assert line["lakeprep-prediction"]["label"] in LABELS
    # the item Ground Truth failed on has no label: it is back in the pool for a later batch
    unlabelled = pool.pool_frame(spark, s3_lake, campaign.state().spec, campaign.store.labels, salt=0)
    assert unlabelled.filter(unlabelled["example_id"] == failed).count() == 1

    labels = pl.read_delta(s3_lake.uri("labels", "gt-cancer"), storage_options=_polars_options(s3_env))
    assert labels.height == 19 == labels["example_id"].n_unique()
    assert (labels["annotator_id"] == "groundtruth:lakeprep-team").all()
    assert (labels["confidence"] == 0.93).all()
    assert labels["annotation_key"].str.starts_with("gt:lakeprep-gt-cancer-b001:").all()
    assert all(truth[i] == label for i, label in zip(labels["example_id"], labels["label"], strict=True))


def _polars_options(server: S3Server) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_REGION": server.region,
        "AWS_ALLOW_HTTP": "true",
    }


def test_job_names_are_valid_and_stable() -> None:
    pattern = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    assert job_name("flight_delay", "b001") == "lakeprep-flight-delay-b001"
    long = job_name("a" * 60, "review001")
    assert pattern.match(long)
    assert long == job_name("a" * 60, "review001")
    assert long != job_name("a" * 60, "review002")


# ------------------------------------------------------------------------------ every built-in task type
ANIMALS = ("cat", "dog", "bird")


def gt_spec(
    bucket: str, kind: str, task_type: str, region: str = "us-east-1", columns: tuple[str, ...] = ("body",)
) -> CampaignSpec:
    return CampaignSpec(
        name=f"gt-{kind}-{task_type}".replace("_", "-"),
        source="features/things",
        source_version=3,
        id_column="example_id",
        content=ContentSpec(kind=kind, columns=columns),
        labels=ANIMALS,
        instructions="Look at the whole item before answering.",
        label_descriptions={"bird": "anything with feathers"},
        feature_columns=("f00",),
        pool_size=10,
        backend=GroundTruthBackendSpec(
            s3_prefix=f"s3://{bucket}/gt",
            role_arn=ROLE,
            workteam_arn=WORKTEAM,
            region=region,
            task_type=task_type,
        ),
        budget=Budget(max_items=10),
    )


def gt_batch(ids: list[str], annotators: int) -> Batch:
    items = tuple(PlannedItem(i, "query", predicted="dog", score=0.61) for i in ids)
    return Batch("b001", 1, "round", "margin", "m-0001", annotators, items)


@dataclass
class PushedJob:
    """One batch pushed as a labeling job; ``stub`` stays open for the calls that follow."""

    backend: GroundTruthBackend
    stub: Stubber
    request: dict[str, Any]
    batch: Batch
    receipt: dict[str, Any]
    lines: list[dict[str, Any]]  # the input manifest as written to S3

    @property
    def job(self) -> str:
        return str(self.request["LabelingJobName"])

    def pull_completed(
        self, s3: Any, bucket: str, output: list[dict[str, Any]], responses: dict[str, list[dict[str, Any]]]
    ) -> Progress:
        """Write what Ground Truth writes when the job completes (the output manifest, each item's worker
        responses by manifest index), answer DescribeLabelingJob as completed, and pull the batch."""
        prefix = f"gt/{self.backend.spec.name}/output/{self.job}"
        uri = f"s3://{bucket}/{prefix}/manifests/output/output.manifest"
        body = "".join(json.dumps(line) + "\n" for line in output).encode()
        s3.put_object(Bucket=bucket, Key=uri.split("/", 3)[3], Body=body)
        for index, answers in responses.items():
            key = f"{prefix}/annotations/worker-response/iteration-1/{index}/2026-03-01_12:21:07.json"
            s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"answers": answers}).encode())
        labelled = sum("failure-reason" not in line.get("lakeprep-label-metadata", {}) for line in output)
        self.stub.add_response(
            "describe_labeling_job",
            describe(self.request, "Completed", labelled, len(output), uri),
            {"LabelingJobName": self.job},
        )
        progress = self.backend.pull(self.batch)
        self.stub.assert_no_pending_responses()
        return progress


@contextmanager
def pushed_job(
    spec: CampaignSpec, s3: Any, bucket: str, tasks: list[Task], builtin: str, keyword: str, annotators: int
) -> Iterator[PushedJob]:
    """Push ``tasks`` as batch b001 through botocore's Stubber: CreateLabelingJob must be exactly the
    request ``expected_job`` describes (checked against the service model too)."""
    assert isinstance(spec.backend, GroundTruthBackendSpec)
    region = spec.backend.region
    ids = [task.example_id for task in tasks]
    sagemaker = boto3.client("sagemaker", region_name=region)
    backend = GroundTruthBackend(
        spec, {}, sagemaker=sagemaker, s3=s3, storage=Storage.resolve(f"s3://{bucket}/lake")
    )
    request = expected_job(bucket, "b001", len(tasks), spec.name, builtin, keyword, region, annotators)
    batch = gt_batch(ids, annotators)
    with Stubber(sagemaker) as stub:
        arn = f"arn:aws:sagemaker:{region}:1:labeling-job/{request['LabelingJobName']}"
        stub.add_response("create_labeling_job", {"LabelingJobArn": arn}, request)
        receipt = backend.push(batch, tasks)
        lines = read_manifest(s3, request["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"])
        assert [line["lakeprep-id"] for line in lines] == ids
        yield PushedJob(backend, stub, request, batch, receipt, lines)


def metadata(job: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "job-name": f"labeling-job/{job}",
        "type": f"groundtruth/{kind}",
        "human-annotated": "yes",
        "creation-date": "2026-03-01T12:30:00.000000",
        **extra,
    }


def label_text(line: dict[str, Any], job: str) -> None:
    """Ground Truth's text classification answer (the documented output): index, class-name, confidence."""
    line["lakeprep-label"] = 2
    line["lakeprep-label-metadata"] = metadata(
        job, "text-classification", **{"class-name": "bird", "confidence": 0.81}
    )


def label_image(line: dict[str, Any], job: str) -> None:
    line["lakeprep-label"] = 0
    line["lakeprep-label-metadata"] = metadata(
        job, "image-classification", **{"class-name": "cat", "confidence": 0.0}
    )


def label_multi(kind: str) -> Any:
    def label(line: dict[str, Any], job: str) -> None:
        line["lakeprep-label"] = [1, 0]
        line["lakeprep-label-metadata"] = metadata(
            job,
            f"{kind}-classification-multilabel",
            **{"class-map": {"1": "dog", "0": "cat"}, "confidence-map": {"1": 0.95, "0": 0.77}},
        )

    return label


def label_boxes(line: dict[str, Any], job: str) -> None:
    line["lakeprep-label"] = {
        "image_size": [{"width": 64, "height": 48, "depth": 3}],
        "annotations": [
            {"class_id": 1, "left": 3, "top": 4, "width": 20, "height": 30},
            {"class_id": 2, "left": 40, "top": 5, "width": 10, "height": 8},
        ],
    }
    line["lakeprep-label-metadata"] = metadata(
        job,
        "object-detection",
        **{"objects": [{"confidence": 0.8}, {"confidence": 0.6}], "class-map": {"1": "dog", "2": "bird"}},
    )


def label_entities(line: dict[str, Any], job: str) -> None:
    text = line["source"]
    start = text.index("dog")
    line["lakeprep-label"] = {
        "annotations": {
            "labels": [{"label": label} for label in ANIMALS],
            "entities": [
                {"label": "dog", "startOffset": start, "endOffset": start + 3},
                {"label": "cat", "startOffset": 0, "endOffset": 3},
            ],
        }
    }
    line["lakeprep-label-metadata"] = metadata(
        job, "text-span", entities=[{"confidence": 0.5}, {"confidence": 0.0}]
    )


CASES = {
    "text-single": ("text", "classification", "TextMultiClass", "Text classification", label_text),
    "record-single": ("record", "classification", "TextMultiClass", "Text classification", label_text),
    "text-multi": (
        "text",
        "multi_label",
        "TextMultiClassMultiLabel",
        "Text classification",
        label_multi("text"),
    ),
    "image-single": ("image", "classification", "ImageMultiClass", "Image classification", label_image),
    "image-multi": (
        "image",
        "multi_label",
        "ImageMultiClassMultiLabel",
        "Image classification",
        label_multi("image"),
    ),
    "bounding-box": ("image", "bounding_box", "BoundingBox", "Bounding box", label_boxes),
    "named-entity": (
        "text",
        "named_entity",
        "NamedEntityRecognition",
        "Named entity recognition",
        label_entities,
    ),
}


@pytest.mark.s3
@pytest.mark.parametrize("annotators", [1, 2])
@pytest.mark.parametrize("case", list(CASES))
def test_each_builtin_task_type_round_trips_through_s3(
    case: str, annotators: int, s3_env: S3Server, s3_bucket: str
) -> None:
    """Push a batch (template, categories and manifest on the S3 server, CreateLabelingJob checked by the
    Stubber), then read the output manifest Ground Truth writes for that task type back as labels; with
    two workers per item, each worker's own answer from the worker-response files."""
    kind, task_type, builtin, keyword, answer = CASES[case]
    region = "eu-west-1" if kind == "image" else "us-east-1"
    columns = ("carrier", "dep_time", "distance") if kind == "record" else ("body",)
    spec = gt_spec(s3_bucket, kind, task_type, region, columns)
    s3 = s3_env.client()
    data: list[dict[str, Any]]
    if kind == "image":  # two images given as s3:// URIs, one as a path in the lake (on S3)
        data = [{"body": f"s3://{s3_bucket}/images/{n}.png"} for n in range(2)] + [
            {"body": "raw/images/2.png"}
        ]
    elif kind == "record":
        data = [
            {
                "carrier": f"United Air Lines Inc. (UA) #{n}",
                "dep_time": "2013-01-01T05:17:00Z",
                "distance": 1400.0,
            }
            for n in range(3)
        ]
    else:
        data = [{"body": f"cat and dog number {n} <b>&</b>"} for n in range(3)]
    ids = [f"item-{n}" for n in range(3)]
    tasks = [
        Task(i, "query", d, predicted="dog", score=0.61, model_version="m-0001")
        for i, d in zip(ids, data, strict=True)
    ]
    with pushed_job(spec, s3, s3_bucket, tasks, builtin, keyword, annotators) as pushed:
        assert pushed.receipt["created"]
        assert pushed.receipt["task_type"] == builtin
        job, lines = pushed.job, pushed.lines

        template = s3.get_object(Bucket=s3_bucket, Key=f"gt/{spec.name}/config/template.liquid.html")[
            "Body"
        ].read()
        assert f"<{CROWD_ELEMENT[builtin]}" in template.decode()
        if kind == "image":
            assert [line["source-ref"] for line in lines] == [
                f"s3://{s3_bucket}/images/0.png",
                f"s3://{s3_bucket}/images/1.png",
                f"s3://{s3_bucket}/lake/raw/images/2.png",
            ]
            assert not any("source" in line for line in lines)
        elif kind == "record":  # a person reads names and times, not codes or floats
            assert lines[0]["source"] == (
                "carrier: United Air Lines Inc. (UA) #0\ndep_time: 2013-01-01 05:17 UTC\ndistance: 1,400"
            )
        else:
            assert [line["source"] for line in lines] == [d["body"] for d in data]
        assert all(line["lakeprep-prediction"]["label"] == "dog" for line in lines)

        # Ground Truth's output: the input lines plus the label; the last item expired
        out = [dict(line) for line in lines]
        for line in out[:2]:
            answer(line, job)
        out[2]["lakeprep-label-metadata"] = {
            "failure-reason": "ClientError: task expired",
            "job-name": f"labeling-job/{job}",
        }
        # with two workers, both answered item-0; item-1's responses are missing
        responses = (
            {"0": [worker_answer(builtin, worker, lines[0]) for worker in ("wk-a", "wk-b")]}
            if annotators == 2
            else {}
        )
        progress = pushed.pull_completed(s3, s3_bucket, out, responses)

    assert progress.complete
    assert any("item-2 not labelled (ClientError: task expired)" in note for note in progress.notes)
    assert {a.example_id for a in progress.annotations} == {"item-0", "item-1"}
    assert len({a.key for a in progress.annotations}) == len(progress.annotations)  # keys are unique
    consolidated = [
        a for a in progress.annotations if a.example_id == ("item-1" if annotators == 2 else "item-0")
    ]
    assert all(a.annotator_id == "groundtruth:lakeprep-team" for a in consolidated)
    assert all(
        a.annotated_at == dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.timezone.utc) for a in consolidated
    )
    details = [json.loads(a.detail or "{}") for a in consolidated]
    assert all(d["job"] == job and d["task"] == builtin and d["consolidated"] for d in details)
    item = consolidated[0].example_id
    if task_type == "classification":
        expected = "bird" if kind != "image" else "cat"
        assert [(a.label, a.key) for a in consolidated] == [(expected, f"gt:{job}:{item}")]
    elif task_type == "multi_label":
        assert [(a.label, a.confidence) for a in consolidated] == [("cat", 0.77), ("dog", 0.95)]
        assert all(d["labels"] == ["cat", "dog"] for d in details)
    elif task_type == "bounding_box":
        assert [(a.label, a.confidence, d["box"]) for a, d in zip(consolidated, details, strict=True)] == [
            ("dog", 0.8, {"left": 3, "top": 4, "width": 20, "height": 30}),
            ("bird", 0.6, {"left": 40, "top": 5, "width": 10, "height": 8}),
        ]
        assert details[0]["image_size"] == {"width": 64, "height": 48, "depth": 3}
    else:
        spans = [
            (a.label, d["span"]["text"], a.confidence) for a, d in zip(consolidated, details, strict=True)
        ]
        assert spans == [("dog", "dog", 0.5), ("cat", "cat", 0.0)]
    if annotators == 1:
        return
    assert any("item-1 has no worker responses; its consolidated answer is kept" in n for n in progress.notes)
    workers = [a for a in progress.annotations if a.example_id == "item-0"]
    assert {a.annotator_id for a in workers} == {"groundtruth:wk-a", "groundtruth:wk-b"}
    assert all(
        a.annotated_at == dt.datetime(2026, 3, 1, 12, 20, 41, 139000, tzinfo=dt.timezone.utc) for a in workers
    )
    for a in workers:
        detail = json.loads(a.detail or "{}")
        worker = a.annotator_id.removeprefix("groundtruth:")
        assert a.key.startswith(f"gt:{job}:item-0:{worker}")
        assert (detail["consolidated"], detail["worker"], detail["worker_sub"], detail["seconds"]) == (
            False,
            worker,
            f"sub-{worker}",
            12.5,
        )
        if task_type == "bounding_box":
            assert (a.label, detail["box"]) == ("cat", {"left": 1, "top": 2, "width": 5, "height": 6})
        elif task_type == "named_entity":
            assert (a.label, detail["span"]["text"]) == ("dog", "dog")
    labels = sorted(a.label for a in workers)
    assert labels == (
        ["bird", "bird", "cat", "cat"] if task_type == "multi_label" else sorted([labels[0]] * 2)
    )
    if task_type == "classification":
        assert labels == ["dog", "dog"]


def worker_answer(builtin: str, worker: str, line: dict[str, Any]) -> dict[str, Any]:
    """One worker's entry in a worker-response file: the element's output under its name."""
    contents: dict[str, dict[str, Any]] = {
        "TextMultiClass": {"label": "dog"},
        "ImageMultiClass": {"label": "dog"},
        "TextMultiClassMultiLabel": {"labels": ["bird", "cat"]},
        "ImageMultiClassMultiLabel": {"labels": ["bird", "cat"]},
        "BoundingBox": {
            "boundingBoxes": [{"label": "cat", "left": 1, "top": 2, "width": 5, "height": 6}],
            "inputImageProperties": {"width": 64, "height": 48},
        },
    }
    content = contents.get(builtin) or {
        "entities": [
            {
                "label": "dog",
                "startOffset": line["source"].index("dog"),
                "endOffset": line["source"].index("dog") + 3,
            }
        ]
    }
    name = "boundingBox" if builtin == "BoundingBox" else CROWD_ELEMENT[builtin]  # the template's name=
    return {
        "acceptanceTime": "2026-03-01T12:20:28.639Z",
        "submissionTime": "2026-03-01T12:20:41.139Z",
        "timeSpentInSeconds": 12.5,
        "workerId": worker,
        "workerMetadata": {"identityData": {"identityProviderType": "Cognito", "sub": f"sub-{worker}"}},
        "answerContent": {name: content},
    }


CROWD_ELEMENT = {
    "TextMultiClass": "crowd-classifier",
    "TextMultiClassMultiLabel": "crowd-classifier-multi-select",
    "ImageMultiClass": "crowd-image-classifier",
    "ImageMultiClassMultiLabel": "crowd-image-classifier-multi-select",
    "BoundingBox": "crowd-bounding-box",
    "NamedEntityRecognition": "crowd-entity-annotation",
}


def test_builtin_lambdas_are_the_ones_the_api_reference_lists() -> None:
    """Every ARN the backend can build is listed in the API reference botocore ships, and every region
    the reference lists for these tasks is known."""
    model = botocore.session.get_session().get_service_model("sagemaker")

    def documentation(shape: str, member: str) -> str:
        structure = model.shape_for(shape)
        assert isinstance(structure, StructureShape)
        return str(structure.members[member].documentation)

    docs = documentation("HumanTaskConfig", "PreHumanTaskLambdaArn") + documentation(
        "AnnotationConsolidationConfig", "AnnotationConsolidationLambdaArn"
    )
    listed = set(re.findall(r"arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[A-Z]+-[A-Za-z]+", docs))
    built = {
        arn for region in LAMBDA_ACCOUNTS for task in TASKS.values() for arn in builtin_lambdas(region, task)
    }
    assert len(built) == 2 * len(TASKS) * len(LAMBDA_ACCOUNTS)
    assert built <= listed, sorted(built - listed)
    names = {f"{p}-{t.name}" for t in TASKS.values() for p in ("PRE", "ACS")}
    assert {arn for arn in listed if arn.rsplit(":", 1)[1] in names} == built
    assert set(CROWD_ELEMENT) == {t.name for t in TASKS.values()}
    assert all(CROWD_ELEMENT[t.name] == t.element for t in TASKS.values())


@pytest.mark.parametrize("key", list(TASKS), ids=[task.name for task in TASKS.values()])
def test_worker_templates_render_as_workers_see_them(key: tuple[str, bool]) -> None:
    """Each template rendered with a real Liquid engine (Ground Truth's own filters stubbed as it
    documents them): the crowd element with the object, the labels, the title and escaped instructions."""
    task_type, image = key
    task = TASKS[key]
    spec = gt_spec("bucket", "image" if image else "text", task_type).model_copy(
        update={"instructions": "Never guess {{ task.input }} <script>alert(1)</script>"}
    )
    body = render_template(task, spec)
    env = liquid.Environment(autoescape=True)  # Ground Truth escapes every value by default
    env.filters["to_json"] = json.dumps
    env.filters["grant_read_access"] = lambda uri: (
        f"https://presigned.example/{uri.removeprefix('s3://')}?X-Amz-Signature=1"
    )
    shown = 'The cat said "meow" <b>loud</b>' if not image else "s3://bucket/images/0.png"
    labels: list[Any] = (
        [{"label": label} for label in ANIMALS] if task.name == "NamedEntityRecognition" else list(ANIMALS)
    )
    page = env.from_string(body).render(task={"input": {"taskObject": shown, "labels": labels}})
    root = lxml.html.fromstring(page)
    (element,) = root.iter(task.element)
    assert element.get("name") == task.answer  # the key of each worker's answer
    assert element.get("header") == "Classify the item"
    assert json.loads(element.get("categories") or element.get("labels") or "") == labels
    if image:
        assert element.get("src") == "https://presigned.example/bucket/images/0.png?X-Amz-Signature=1"
    elif task.name == "NamedEntityRecognition":
        assert element.get("text") == shown  # offsets of the answer count in this text
    else:
        (target,) = element.iter("classification-target")
        assert target.text_content() == shown
    if task.name == "NamedEntityRecognition":
        assert not list(root.iter("crowd-form"))  # the element submits itself
    else:
        assert element.getparent().tag == "crowd-form"
    full = " ".join(element.find("full-instructions").itertext())
    assert "Never guess {{ task.input }} <script>alert(1)</script>" in full  # shown as text, never run
    assert "bird" in full
    assert "anything with feathers" in full
    assert not list(root.iter("script"))[1:]  # only crowd-html-elements.js


def test_a_task_type_the_content_cannot_take_is_refused_in_one_line() -> None:
    s3_bucket = "bucket"
    with pytest.raises(BackendError, match="bounding_box task needs image content, not text"):
        GroundTruthBackend(gt_spec(s3_bucket, "text", "bounding_box"), {})
    with pytest.raises(BackendError, match="named_entity task needs text or record content, not image"):
        GroundTruthBackend(gt_spec(s3_bucket, "image", "named_entity"), {})
    backend = GroundTruthBackend(gt_spec(s3_bucket, "image", "classification"), {})
    for image, shown in [
        ("data:image/png;base64,iVBORw0KGgo=", "'data:image/png;base64,iVBORw0KGgo='"),
        ("https://example.com/a.png", "'https://example.com/a.png'"),
        ("", "'(empty)'"),
    ]:
        with pytest.raises(BackendError, match=re.escape(f"item a: image {shown} is not on S3")):
            backend.manifest_line("b001", Task("a", "query", {"body": image}))
    local = GroundTruthBackend(backend.spec, {}, storage=Storage.resolve("/tmp/no-such-lake"))
    with pytest.raises(BackendError, match=r"item a: image '/tmp/no-such-lake/raw/a.png' cannot be read"):
        local.manifest_line("b001", Task("a", "query", {"body": "raw/a.png"}))
    with pytest.raises(BackendError, match="no built-in task Lambdas in sa-east-1"):
        builtin_lambdas("sa-east-1", TASKS[("classification", False)])


def test_closing_a_batch_stops_its_labeling_job() -> None:
    """close-batch withdraws the open tasks: StopLabelingJob on the batch's job (checked by the Stubber);
    a job that already ended is left alone and the refusal recorded, never raised."""
    spec = gt_spec("bucket", "text", "classification")
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    backend = GroundTruthBackend(spec, {}, sagemaker=sagemaker)
    batch = gt_batch(["item-0"], 1)
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "stop_labeling_job", {}, {"LabelingJobName": "lakeprep-gt-text-classification-b001"}
        )
        assert backend.stop(batch) == {"stopped_job": "lakeprep-gt-text-classification-b001"}
        stub.add_client_error(
            "stop_labeling_job",
            service_error_code="ValidationException",
            service_message="Job is already Completed",
            expected_params={"LabelingJobName": "lakeprep-gt-text-classification-b001"},
        )
        assert backend.stop(batch) == {
            "stopped_job": None,
            "stop_refused": "ValidationException: Job is already Completed",
        }
        stub.assert_no_pending_responses()


@pytest.mark.s3
def test_images_of_a_local_lake_are_copied_to_s3_once(
    tmp_path: Path, s3_env: S3Server, s3_bucket: str
) -> None:
    """Ground Truth reads only S3: a local lake's image goes under the campaign's prefix, named by its
    content, and the manifest points there."""
    image = tmp_path / "lake" / "raw" / "images" / "digit-7.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"\x89PNG\r\n\x1a\n not really a png, but bytes all the same")
    s3 = s3_env.client()
    spec = gt_spec(s3_bucket, "image", "classification")
    backend = GroundTruthBackend(spec, {}, s3=s3, storage=Storage.resolve(str(tmp_path / "lake")))
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    expected = f"s3://{s3_bucket}/gt/{spec.name}/images/{digest}.png"
    for value in ("raw/images/digit-7.png", str(image)):  # a lake path, an absolute path
        line = backend.manifest_line("b001", Task("a", "query", {"body": value}))
        assert line["source-ref"] == expected
    stored = s3.get_object(Bucket=s3_bucket, Key=expected.split("/", 3)[3])
    assert stored["Body"].read() == image.read_bytes()
    assert stored["ContentType"] == "image/png"
