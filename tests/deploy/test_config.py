"""Deployment files: the shipped examples load, and every mistake is named by file and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lake.deploy.config import DeployConfigError, load_config
from lake.deploy.jobs import JOB_ACCESS
from lake.job_scripts import available_jobs, job_options
from lake.paths import job_script
from tests.deploy.conftest import KMS_KEY, ROLE

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_shipped_deployment_files_are_valid(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    config = load_config(env)
    assert config.environment == env
    assert config.lake_root.startswith("s3://")
    assert config.glue_job_name("ingest") == f"lakeprep-{env}-ingest"
    assert config.account_id == config.job_role_arn.split(":")[4]


def test_env_variable_and_paths(
    write_deployment: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_deployment("bucket-a")
    monkeypatch.setenv("LAKEPREP_ENV", str(path))
    assert load_config(None).artifacts.bucket == "bucket-a"
    monkeypatch.delenv("LAKEPREP_ENV")
    with pytest.raises(DeployConfigError, match="pass --env"):
        load_config(None)
    monkeypatch.chdir(path.parent.parent)
    assert load_config("test").environment == "test"
    with pytest.raises(DeployConfigError, match=r"deploy/staging\.yaml"):
        load_config("staging")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"glue": {"worker_type": "G.3X"}}, "glue.worker_type", "G.1X"),
        ({"glue": {"worker_type": "G.025X"}}, "glue.worker_type", "only for Glue streaming jobs"),
        (
            {"glue": {"jobs": {"clean": {"worker_type": "G.025X"}}}},
            "glue.jobs.clean.worker_type",
            "lakeprep's jobs are batch (glueetl)",
        ),
        ({"glue": {"version": "4.0"}}, "glue.version", "5.0"),
        ({"glue": {"number_of_workers": 1}}, "glue.number_of_workers", "greater than or equal to 2"),
        ({"job_role_arn": "lakeprep-jobs"}, "job_role_arn", "not an IAM role ARN"),
        ({"lake_root": "/data/lake"}, "lake_root", "s3://"),
        (
            {"kms_key_arn": KMS_KEY.replace("us-east-1", "eu-west-1")},
            "kms_key_arn",
            "the key is in eu-west-1",
        ),
        ({"kms_key_arn": "alias/lake"}, "kms_key_arn", "aliases cannot scope"),
        ({"glue": {"arguments": {"--db-password": "hunter2"}}}, "glue.arguments", "looks like a secret"),
        ({"glue": {"arguments": {"lake": "x"}}}, "glue.arguments", "must start with '--'"),
        ({"glue": {"jobs": {"clean": {"role_arn": "x"}}}}, "glue.jobs.clean.role_arn", "not an IAM role ARN"),
        ({"catalog": {"databases": {"bronze": "x"}}}, "catalog.databases.bronze", "raw"),
        ({"tags": {"aws:owner": "me"}}, "tags", "reserved"),
        ({"glue": {"wokers": 2}}, "glue.wokers", "Extra inputs are not permitted"),
    ],
)
def test_mistakes_name_the_file_and_field(
    write_deployment: Callable[..., Path], overrides: dict[str, object], field: str, message: str
) -> None:
    path = write_deployment("bucket-a", **overrides)
    with pytest.raises(DeployConfigError) as error:
        load_config(str(path))
    text = str(error.value)
    assert text.startswith(f"{path}: ")
    assert field in text
    assert message in text


def test_not_yaml_or_not_a_mapping(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("environment: [dev\n")
    with pytest.raises(DeployConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config(str(broken))
    listed = tmp_path / "list.yaml"
    listed.write_text("- dev\n")
    with pytest.raises(DeployConfigError, match="must be a mapping"):
        load_config(str(listed))


def test_derived_names(write_deployment: Callable[..., Path]) -> None:
    config = load_config(
        str(
            write_deployment(
                "bucket-a",
                catalog={"database_prefix": "ml_", "databases": {"metrics": "ops_metrics"}},
                glue={"jobs": {"clean": {"role_arn": ROLE.replace("jobs", "clean")}}},
            )
        )
    )
    assert config.database("raw") == "ml_raw"
    assert config.database("metrics") == "ops_metrics"
    assert config.role_for("clean").endswith("lakeprep-test-clean")
    assert config.role_for("ingest") == ROLE
    assert config.artifacts_root == "s3://bucket-a/lakeprep/test"


def test_every_job_script_declares_its_lake_access() -> None:
    """A new job script must say what it reads and writes before it can be deployed."""
    assert set(available_jobs()) <= set(JOB_ACCESS), f"undeclared: {set(available_jobs()) - set(JOB_ACCESS)}"
    assert "pii-salt-secret" in job_options(job_script("clean"))
    assert "dataset" in job_options(job_script("ingest"))
