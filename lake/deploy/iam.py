"""The least-privilege IAM policy a job role needs, generated from the deployment file and the jobs'
declared lake access (``lake.deploy.jobs.JOB_ACCESS``).

Every statement names its resources: lake areas a job only reads get GetObject alone, written
areas get PutObject, and deletes are limited to the scratch keys Spark's output committer removes
(``_temporary/``, ``_$folder$``). Listing is allowed on the bucket only for those prefixes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from lake.deploy.arguments import PII_SALT_OPTION, job_arguments
from lake.deploy.artifacts import split_s3
from lake.deploy.config import DeployConfig
from lake.deploy.jobs import access_of
from lake.storage import LINEAGE_DIR

POLICY_VERSION = "2012-10-17"
GLUE_LOG_GROUP = "/aws-glue/*"
SERVERLESS_LOG_GROUP = "/aws/emr-serverless*"
CATALOG_READ = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
)
# CloudWatch cannot scope PutMetricData to a resource; it stays out and is explained instead.
UNSCOPABLE_NOTE = (
    "Glue job metrics (--enable-metrics) need cloudwatch:PutMetricData, which AWS cannot scope to a "
    'resource. If you want them, attach separately: {"Effect": "Allow", "Action": '
    '"cloudwatch:PutMetricData", "Resource": "*", "Condition": {"StringEquals": '
    '{"cloudwatch:namespace": "Glue"}}}'
)


def _object_arn(config: DeployConfig, bucket: str, key: str) -> str:
    return f"arn:{config.partition}:s3:::{bucket}/{key}"


def _statement(sid: str, actions: Iterable[str], resources: Iterable[str], **extra: Any) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(set(actions)),
        "Resource": sorted(set(resources)),
        **extra,
    }


def _list_statement(config: DeployConfig, sid: str, bucket: str, prefixes: Iterable[str]) -> dict[str, Any]:
    allowed = sorted({p for prefix in prefixes for p in (prefix, f"{prefix}/*")})
    return _statement(
        sid,
        ["s3:ListBucket"],
        [f"arn:{config.partition}:s3:::{bucket}"],
        Condition={"StringLike": {"s3:prefix": allowed}},
    )


def lake_statements(config: DeployConfig, jobs: Iterable[str]) -> list[dict[str, Any]]:
    bucket, root = split_s3(config.lake_root)
    base = f"{root}/" if root else ""
    accesses = [access_of(job) for job in jobs]
    # Lineage events are written, never read back by a job; they are not Spark output either.
    readable = sorted({area for a in accesses for area in a.readable} - {LINEAGE_DIR})
    writable = sorted({area for a in accesses for area in a.writes})
    spark_written = [a for a in writable if a != LINEAGE_DIR]
    statements = [
        _statement(
            "ReadLake", ["s3:GetObject"], [_object_arn(config, bucket, f"{base}{a}/*") for a in readable]
        ),
        _statement(
            "WriteLake",
            ["s3:PutObject", "s3:AbortMultipartUpload"],
            [_object_arn(config, bucket, f"{base}{a}/*") for a in writable],
        ),
        _statement(
            "CleanSparkScratch",
            ["s3:DeleteObject"],
            [
                _object_arn(config, bucket, f"{base}{a}/{scratch}")
                for a in spark_written
                for scratch in ("*/_temporary/*", "*_$folder$")
            ],
        ),
        _list_statement(config, "ListLake", bucket, [f"{base}{a}" for a in readable]),
    ]
    return statements


def artifact_statements(config: DeployConfig) -> list[dict[str, Any]]:
    bucket, root = split_s3(config.artifacts_root)
    scratch = [f"{root}/{area}" for area in ("tmp", "sparkui", "logs")]
    return [
        _statement("ReadReleases", ["s3:GetObject"], [_object_arn(config, bucket, f"{root}/releases/*")]),
        _statement(
            "JobScratchAndLogs",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            [_object_arn(config, bucket, f"{prefix}/*") for prefix in scratch],
        ),
        _list_statement(config, "ListArtifacts", bucket, [f"{root}/releases", *scratch]),
    ]


def catalog_statement(config: DeployConfig) -> dict[str, Any]:
    """Read-only catalog access on the environment's databases (and ``default``, which Spark's
    catalog client looks up at start)."""
    prefix = f"arn:{config.partition}:glue:{config.region}:{config.account_id}"
    databases = sorted({*config.databases().values(), "default"})
    resources = [f"{prefix}:catalog"]
    resources += [f"{prefix}:database/{db}" for db in databases]
    resources += [f"{prefix}:table/{db}/*" for db in databases]
    return _statement("ReadCatalog", CATALOG_READ, resources)


def logs_statement(config: DeployConfig) -> dict[str, Any]:
    prefix = f"arn:{config.partition}:logs:{config.region}:{config.account_id}:log-group:"
    groups = [GLUE_LOG_GROUP, SERVERLESS_LOG_GROUP]
    resources = [f"{prefix}{g}" for g in groups] + [f"{prefix}{g}:log-stream:*" for g in groups]
    return _statement(
        "WriteLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], resources
    )


def kms_statement(config: DeployConfig) -> dict[str, Any] | None:
    """SSE-KMS: S3 asks KMS on the role's behalf, so the key is usable only through S3."""
    if not config.kms_key_arn:
        return None
    return _statement(
        "UseLakeKeyThroughS3",
        ["kms:Decrypt", "kms:GenerateDataKey"],
        [config.kms_key_arn],
        Condition={"StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}},
    )


def secret_statement(config: DeployConfig, jobs: Iterable[str]) -> dict[str, Any] | None:
    needed = any(f"--{PII_SALT_OPTION}" in job_arguments(config, job) for job in jobs)
    if not needed or not config.pii_salt_secret_arn:
        return None
    return _statement("ReadPiiSalt", ["secretsmanager:GetSecretValue"], [config.pii_salt_secret_arn])


def job_role_policy(config: DeployConfig, jobs: Iterable[str]) -> dict[str, Any]:
    """The policy document for a role that runs ``jobs`` (one job for a per-job role)."""
    chosen = sorted(set(jobs))
    if not chosen:
        raise ValueError("no jobs: a policy for nothing would grant nothing")
    statements = [
        *lake_statements(config, chosen),
        *artifact_statements(config),
        catalog_statement(config),
        logs_statement(config),
        kms_statement(config),
        secret_statement(config, chosen),
    ]
    return {"Version": POLICY_VERSION, "Statement": [s for s in statements if s is not None]}


def events_role_policy(config: DeployConfig, workflow: str) -> dict[str, Any]:
    """The role EventBridge assumes for ``pipeline.on_landing``: notify this one workflow, nothing else
    (its trust policy names the ``events.amazonaws.com`` principal)."""
    arn = f"arn:{config.partition}:glue:{config.region}:{config.account_id}:workflow/{workflow}"
    return {
        "Version": POLICY_VERSION,
        "Statement": [_statement("NotifyPipelineWorkflow", ["glue:notifyEvent"], [arn])],
    }


def policy_json(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2)
