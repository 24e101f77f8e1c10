"""The Ground Truth backend: SageMaker calls checked by botocore's Stubber against the service model,
manifests and the campaign's lake on the local S3 server (SeaweedFS)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
import polars as pl
import pytest
from botocore.stub import Stubber
from pyspark.sql import SparkSession

from labeling import pool
from labeling.backends.ground_truth import GroundTruthBackend, job_name
from labeling.campaign import Campaign
from labeling.spec import Budget, GroundTruthBackendSpec
from lake.storage import Storage
from tests.labeling.conftest import CANCER_LABELS, breast_cancer_table, cancer_campaign, cancer_truth
from tests.support.servers import S3Server

ROLE = "arn:aws:iam::123456789012:role/lakeprep-ground-truth"
WORKTEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/lakeprep-team"
LABELS = CANCER_LABELS
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def expected_job(bucket: str, batch: str, items: int) -> dict[str, Any]:
    """The CreateLabelingJob request a built-in text classification job needs, written out by hand."""
    prefix = f"s3://{bucket}/gt/gt-cancer"
    return {
        "LabelingJobName": f"lakeprep-gt-cancer-{batch}",
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
            "PreHumanTaskLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-TextMultiClass",
            "TaskKeywords": ["lakeprep", "classification"],
            "TaskTitle": "Classify the item",
            "TaskDescription": "Choose the label that fits the item best.",
            "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": 300,
            "TaskAvailabilityLifetimeInSeconds": 864000,
            "MaxConcurrentTaskCount": items,
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:ACS-TextMultiClass"
            },
        },
        "Tags": [
            {"Key": "lakeprep:campaign", "Value": "gt-cancer"},
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
    assert len(with_prediction) == sum(1 for i in plan.items if i.purpose == "query") == 15
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
    import re

    pattern = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    assert job_name("flight_delay", "b001") == "lakeprep-flight-delay-b001"
    long = job_name("a" * 60, "review001")
    assert pattern.match(long)
    assert long == job_name("a" * 60, "review001")
    assert long != job_name("a" * 60, "review002")
