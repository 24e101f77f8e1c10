"""``lakeprep iam policy``: parsed and checked for least privilege, including against the files the
real jobs wrote."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from lake.deploy.config import DeployConfig, load_config
from lake.deploy.iam import job_role_policy
from lake.job_scripts import available_jobs
from lake.storage import Storage
from lakeprep.cli import app
from tests.deploy.conftest import KMS_KEY, REGION, SECRET, Aws
from tests.deploy.policy_eval import allowed

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def generated(path: Path, tmp_path: Path, *jobs: str) -> dict[str, Any]:
    out = tmp_path / "policy.json"
    args = ["iam", "policy", "--env", str(path), "--output", str(out)]
    for job in jobs:
        args += ["--job", job]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return dict(json.loads(out.read_text()))


def test_no_wildcard_resources_or_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    for env in ("dev", "prod"):
        policy = generated(Path(f"deploy/{env}.yaml"), tmp_path)
        assert policy["Version"] == "2012-10-17"
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            assert statement["Resource"], statement
            for resource in statement["Resource"]:
                assert resource != "*"
                assert resource.startswith("arn:aws:"), resource
            for action in statement["Action"]:
                service, _, name = action.partition(":")
                assert service in {"s3", "glue", "logs", "kms", "secretsmanager"}, action
                assert "*" not in name, action
        sids = [s["Sid"] for s in policy["Statement"]]
        assert len(sids) == len(set(sids))


def test_policy_covers_what_the_jobs_wrote_and_no_more(
    ran_lake: Storage, write_deployment: Callable[..., Path]
) -> None:
    """Every file the real ingest and clean runs wrote is writable under the policy; landed files are
    read-only; each per-job policy stays inside its own zones."""
    config = load_config(str(write_deployment("acme-lake")))
    union = job_role_policy(config, available_jobs())
    ingest = job_role_policy(config, ["ingest"])
    clean = job_role_policy(config, ["clean"])

    def arn(relative: str) -> str:
        return f"arn:aws:s3:::acme-lake/lake/{relative}"

    root = Path(ran_lake.root)
    written: dict[str, list[str]] = {}
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        written.setdefault(relative.split("/", 1)[0], []).append(relative)
    assert {"landing", "raw", "cleaned", "quarantine", "metrics"} <= set(written)
    assert any("/_delta_log/" in f for f in written["cleaned"])
    assert any("/_delta_log/" in f for f in written["quarantine"])
    for relative in [f for zone in ("raw", "cleaned", "quarantine", "metrics") for f in written[zone]]:
        assert allowed(union, "s3:PutObject", arn(relative)), relative
        assert allowed(union, "s3:GetObject", arn(relative)), relative
        assert not allowed(union, "s3:DeleteObject", arn(relative)), relative
        assert allowed(ingest, "s3:PutObject", arn(relative)) == relative.startswith(
            ("raw/", "quarantine/", "metrics/")
        )
    for relative in written["landing"]:
        assert allowed(union, "s3:GetObject", arn(relative))
        assert not allowed(union, "s3:PutObject", arn(relative))
        assert not allowed(union, "s3:DeleteObject", arn(relative))
        assert not allowed(clean, "s3:GetObject", arn(relative))
    assert allowed(clean, "s3:GetObject", arn(written["raw"][0]))
    assert not allowed(clean, "s3:PutObject", arn(written["raw"][0]))
    features_log = arn("features/flights/_delta_log/00000000000000000000.json")
    assert allowed(union, "s3:PutObject", features_log) == ("featurize" in available_jobs())
    assert not allowed(ingest, "s3:PutObject", features_log)
    if "featurize" in available_jobs():
        featurize = job_role_policy(config, ["featurize"])
        assert not allowed(featurize, "s3:GetObject", arn(written["raw"][0]))
        assert allowed(
            featurize, "s3:PutObject", arn("features/flights/_delta_log/00000000000000000000.json")
        )
    # Spark's output committer may clean its scratch keys; nothing else can be deleted.
    assert allowed(union, "s3:DeleteObject", arn("raw/flights/run-1/_temporary/0/part-0.parquet"))
    assert allowed(union, "s3:PutObject", arn("_lineage/ingest/run-1.json"))
    assert not allowed(union, "s3:GetObject", arn("_lineage/ingest/run-1.json"))

    bucket = "arn:aws:s3:::acme-lake"
    assert allowed(union, "s3:ListBucket", bucket, {"s3:prefix": "lake/raw/flights/_delta_log/"})
    assert allowed(union, "s3:ListBucket", bucket, {"s3:prefix": "lake/landing/flights/"})
    assert not allowed(union, "s3:ListBucket", bucket, {"s3:prefix": "lake/"})
    assert not allowed(union, "s3:ListBucket", bucket)
    assert not allowed(clean, "s3:ListBucket", bucket, {"s3:prefix": "lake/landing/flights/"})
    assert not allowed(union, "s3:PutObject", "arn:aws:s3:::acme-lake/elsewhere/x")


def test_artifacts_catalog_logs_and_secrets(write_deployment: Callable[..., Path]) -> None:
    config: DeployConfig = load_config(str(write_deployment("acme-lake", kms_key_arn=KMS_KEY)))
    policy = job_role_policy(config, available_jobs())
    releases = "arn:aws:s3:::acme-lake/lakeprep/test/releases/0.1.0-abc/jobs/ingest.py"
    assert allowed(policy, "s3:GetObject", releases)
    assert not allowed(policy, "s3:PutObject", releases)
    assert allowed(policy, "s3:PutObject", "arn:aws:s3:::acme-lake/lakeprep/test/tmp/partition-0")
    glue = f"arn:aws:glue:{REGION}:123456789012"
    assert allowed(policy, "glue:GetTable", f"{glue}:table/lakeprep_test_cleaned/flights")
    assert allowed(policy, "glue:GetDatabase", f"{glue}:database/default")
    assert not allowed(policy, "glue:UpdateTable", f"{glue}:table/lakeprep_test_cleaned/flights")
    assert not allowed(policy, "glue:GetTable", f"{glue}:table/finance/ledger")
    logs = f"arn:aws:logs:{REGION}:123456789012:log-group:/aws-glue/jobs/output:log-stream:jr_1"
    assert allowed(policy, "logs:PutLogEvents", logs)
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert allowed(policy, "kms:GenerateDataKey", KMS_KEY, via_s3)
    assert not allowed(
        policy, "kms:GenerateDataKey", KMS_KEY, {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}
    )
    assert allowed(policy, "secretsmanager:GetSecretValue", SECRET)
    # Only the job that hashes PII may read the salt.
    assert not allowed(job_role_policy(config, ["ingest"]), "secretsmanager:GetSecretValue", SECRET)


@pytest.mark.aws
def test_attach_puts_the_policy_on_the_role(
    aws: Aws, write_deployment: Callable[..., Path], tmp_path: Path
) -> None:
    """moto validates the policy grammar on PutRolePolicy, as IAM does."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(
        RoleName="lakeprep-test-jobs",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "glue.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    path = write_deployment("acme-lake", kms_key_arn=KMS_KEY)
    out = tmp_path / "policy.json"
    result = runner.invoke(
        app,
        ["iam", "policy", "--env", str(path), "--output", str(out), "--attach", "lakeprep-jobs"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    stored = iam.get_role_policy(RoleName="lakeprep-test-jobs", PolicyName="lakeprep-jobs")["PolicyDocument"]
    assert stored == json.loads(out.read_text())
