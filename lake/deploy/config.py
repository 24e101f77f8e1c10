"""One deployment file per environment (``deploy/<env>.yaml``): where artifacts go, where the lake is,
which role runs the jobs, and how Glue / EMR run them.

Validation is strict (unknown keys are errors) and every message names the file and the field, so
a typo fails the deploy instead of silently deploying a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from lake import paths
from lake.contracts import parse_document
from lake.documents import StrictModel, find_document, is_document
from lake.lineage import redact
from lake.table import ZONES

ENV_VARIABLE = "LAKEPREP_ENV"
_PARTITION = r"aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"
ROLE_ARN = re.compile(rf"^arn:({_PARTITION}):iam::(\d{{12}}):role/[\w+=,.@/-]+$")
KMS_KEY_ARN = re.compile(rf"^arn:{_PARTITION}:kms:({_REGION}):\d{{12}}:key/(?:mrk-)?[0-9a-f-]{{32,36}}$")
SECRET_ARN = re.compile(rf"^arn:{_PARTITION}:secretsmanager:({_REGION}):\d{{12}}:secret:[\w/+=.@-]+$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Glue 5.x runs Spark 3.5 / Python 3.11, Glue 6 runs Spark 4: the versions lakeprep's jobs support.
GlueVersion = Literal["5.0", "5.1", "6.0"]
WorkerType = Literal[
    "G.025X", "G.1X", "G.2X", "G.4X", "G.8X", "G.12X", "G.16X", "R.1X", "R.2X", "R.4X", "R.8X"
]
# Glue allows these only for streaming jobs (Command.Name gluestreaming); lakeprep's jobs are batch (glueetl).
STREAMING_ONLY_WORKERS = frozenset({"G.025X"})


def _batch_worker(value: str) -> str:
    if value in STREAMING_ONLY_WORKERS:
        raise ValueError(
            f"{value} is only for Glue streaming jobs (gluestreaming); lakeprep's jobs are batch "
            "(glueetl): use G.1X or larger"
        )
    return value


BatchWorkerType = Annotated[WorkerType, AfterValidator(_batch_worker)]
Zone = Literal["raw", "cleaned", "features", "quarantine", "labels", "metrics"]


class DeployConfigError(ValueError):
    """A deployment file that cannot be used; the message names the file and the field."""


def _no_secrets(arguments: dict[str, str]) -> dict[str, str]:
    """Job arguments end up in the Glue console and in every run's parameters: never secrets."""
    for key, value in arguments.items():
        if not key.startswith("--"):
            raise ValueError(f"argument {key!r} must start with '--' (Glue passes '--name value')")
        if redact({key: value}) != {key: value}:
            raise ValueError(
                f"argument {key!r} looks like a secret; keep secrets in Secrets Manager "
                "(pii_salt_secret_arn) and pass only their ids"
            )
    return arguments


def _role_arn(value: str | None) -> str | None:
    if value is not None and not ROLE_ARN.match(value):
        raise ValueError(f"{value!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    return value


class Artifacts(StrictModel):
    """Where ``deploy`` puts the wheel, the job scripts and the contracts (``s3://bucket/prefix``)."""

    bucket: str
    prefix: str = "lakeprep"

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not BUCKET.match(value):
            raise ValueError(f"{value!r} is not an S3 bucket name (3-63 lowercase letters, digits, . and -)")
        return value

    @field_validator("prefix")
    @classmethod
    def _plain_prefix(cls, value: str) -> str:
        return value.strip("/")


class JobOverrides(StrictModel):
    """Per-job settings that differ from the environment's defaults."""

    worker_type: BatchWorkerType | None = None
    number_of_workers: int | None = Field(default=None, ge=2, le=1000)
    timeout_minutes: int | None = Field(default=None, ge=1, le=10080)
    role_arn: str | None = Field(default=None, description="A role for this job only (its own policy)")
    arguments: dict[str, str] = Field(default_factory=dict)

    _check_arguments = field_validator("arguments")(_no_secrets)
    _check_role = field_validator("role_arn")(_role_arn)


class GlueSettings(StrictModel):
    version: GlueVersion = "5.0"
    worker_type: BatchWorkerType = "G.1X"
    number_of_workers: int = Field(default=2, ge=2, le=1000)
    timeout_minutes: int = Field(default=120, ge=1, le=10080)
    max_retries: int = Field(default=0, ge=0, le=10)
    max_concurrent_runs: int = Field(default=1, ge=1, le=1000)
    job_name_prefix: str | None = Field(default=None, description="Default: lakeprep-<environment>-")
    metrics: bool = True
    spark_ui: bool = True
    python_modules: list[str] = Field(
        default_factory=list, description="Extra pip requirements installed next to the wheel"
    )
    arguments: dict[str, str] = Field(default_factory=dict)
    jobs: dict[str, JobOverrides] = Field(default_factory=dict)

    _check_arguments = field_validator("arguments")(_no_secrets)


class CatalogSettings(StrictModel):
    """Glue Data Catalog layout: one database per zone (``<prefix><zone>``) unless overridden."""

    database_prefix: str | None = Field(default=None, description="Default: lakeprep_<environment>_")
    databases: dict[Zone, str] = Field(default_factory=dict)

    @field_validator("databases")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for zone, name in value.items():
            if not re.match(r"^[a-z0-9_]{1,255}$", name):
                raise ValueError(f"database for {zone}: {name!r} must be lowercase letters, digits and _")
        return value


class EmrSettings(StrictModel):
    """EMR on EC2: the bootstrap action installs the wheel for this Python, or a packaged env is shipped."""

    python: str = "/usr/bin/python3.11"
    python_env: str | None = Field(
        default=None, description="s3:// self-contained Python archive (instead of bootstrap)"
    )
    action_on_failure: Literal["CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER"] = "CONTINUE"


class EmrServerlessSettings(StrictModel):
    python_env: str | None = Field(
        default=None, description="s3:// self-contained Python archive with lakeprep"
    )
    timeout_minutes: int = Field(default=120, ge=5, le=10080)


class LandingTrigger(StrictModel):
    """Start the pipeline when files land: an EventBridge rule (S3 Object Created under the lake's
    ``landing/``) notifies the Glue workflow, whose EVENT trigger starts a run once ``batch_size``
    objects arrived or ``batch_window_seconds`` passed since the first of them."""

    events_role_arn: str = Field(description="Role EventBridge assumes to call glue:NotifyEvent")
    batch_size: int = Field(default=10, ge=1, le=100)
    batch_window_seconds: int = Field(default=900, ge=1, le=900)

    _check_role = field_validator("events_role_arn")(_role_arn)


class PipelineSettings(StrictModel):
    """The pipeline deployed as a Glue workflow (and submitted as EMR steps): which file, what starts it."""

    file: str = Field(default="default", description="pipelines/<name>.yaml, or a path to a pipeline file")
    schedule: str | None = Field(default=None, description="Glue cron, e.g. cron(0 5 * * ? *)")
    on_landing: LandingTrigger | None = None
    max_concurrent_runs: int = Field(default=1, ge=1, le=1000)
    emr_action_on_failure: Literal["CONTINUE", "CANCEL_AND_WAIT"] = "CANCEL_AND_WAIT"

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"cron\((\S+ ){5}\S+\)", value.strip()):
            raise ValueError(
                f"{value!r} is not a Glue schedule: cron(<min> <hour> <day> <month> <weekday> <year>)"
            )
        return value.strip() if value else value

    @model_validator(mode="after")
    def _one_start(self) -> PipelineSettings:
        if self.schedule and self.on_landing:
            raise ValueError("schedule and on_landing both start the workflow; choose one")
        return self


class DeployConfig(StrictModel):
    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    region: str = Field(pattern=rf"^{_REGION}$")
    lake_root: str
    artifacts: Artifacts
    job_role_arn: str
    kms_key_arn: str | None = None
    pii_salt_secret_arn: str | None = None
    glue: GlueSettings = Field(default_factory=GlueSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    emr: EmrSettings = Field(default_factory=EmrSettings)
    emr_serverless: EmrServerlessSettings = Field(default_factory=EmrServerlessSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("lake_root")
    @classmethod
    def _s3_lake(cls, value: str) -> str:
        if not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$", value):
            raise ValueError(f"{value!r} must be an s3://bucket/prefix URI (the jobs run in AWS)")
        return value.rstrip("/")

    _check_role = field_validator("job_role_arn")(_role_arn)

    @field_validator("pii_salt_secret_arn")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not SECRET_ARN.match(value):
            raise ValueError(f"{value!r} is not a Secrets Manager secret ARN")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = [k for k in value if k.lower().startswith("aws:")]
        if reserved:
            raise ValueError(f"tag keys starting with 'aws:' are reserved by AWS: {reserved}")
        return value

    @model_validator(mode="after")
    def _same_region(self) -> DeployConfig:
        if self.kms_key_arn is not None:
            match = KMS_KEY_ARN.match(self.kms_key_arn)
            if not match:
                raise ValueError(
                    f"kms_key_arn: {self.kms_key_arn!r} is not a KMS key ARN "
                    "(arn:aws:kms:<region>:<account>:key/<id>; aliases cannot scope IAM policies)"
                )
            if match.group(1) != self.region:
                raise ValueError(
                    f"kms_key_arn: the key is in {match.group(1)}, the deployment in {self.region}"
                )
        for name, value in (
            ("emr.python_env", self.emr.python_env),
            ("emr_serverless.python_env", self.emr_serverless.python_env),
        ):
            if value is not None and not value.startswith("s3://"):
                raise ValueError(f"{name}: {value!r} must be an s3:// URI of a Python environment archive")
        return self

    # ------------------------------------------------------------------------------ derived
    @property
    def partition(self) -> str:
        """The AWS partition (aws, aws-cn, aws-us-gov) of the account, from the role ARN."""
        return ROLE_ARN.match(self.job_role_arn).group(1)  # type: ignore[union-attr]

    @property
    def account_id(self) -> str:
        return ROLE_ARN.match(self.job_role_arn).group(2)  # type: ignore[union-attr]

    @property
    def job_name_prefix(self) -> str:
        return self.glue.job_name_prefix or f"lakeprep-{self.environment}-"

    def glue_job_name(self, job: str) -> str:
        return f"{self.job_name_prefix}{job}"

    def workflow_name(self, pipeline: str) -> str:
        return f"{self.job_name_prefix}{pipeline}"

    def role_for(self, job: str) -> str:
        override = self.glue.jobs.get(job)
        return override.role_arn if override and override.role_arn else self.job_role_arn

    def database(self, zone: str) -> str:
        if zone in self.catalog.databases:
            return self.catalog.databases[zone]  # type: ignore[index,unused-ignore]
        prefix = self.catalog.database_prefix or f"lakeprep_{self.environment.replace('-', '_')}_"
        return f"{prefix}{zone}"

    def databases(self) -> dict[str, str]:
        return {zone: self.database(zone) for zone in ZONES}

    @property
    def artifacts_root(self) -> str:
        """``s3://bucket/prefix/<environment>``: every artifact of this environment lives below it."""
        prefix = "/".join(p for p in (self.artifacts.prefix, self.environment) if p)
        return f"s3://{self.artifacts.bucket}/{prefix}"

    def tags_with_environment(self) -> dict[str, str]:
        return {**self.tags, "lakeprep:environment": self.environment}


def parse_config(text: str, source: str) -> DeployConfig:
    return parse_document(text, source, DeployConfig, "deployment file", DeployConfigError)


def config_path(env: str) -> Path:
    """``--env dev`` is ``deploy/dev.yaml`` (in the working directory, then the checkout); a path is itself."""
    candidate = Path(env)
    if is_document(candidate) or candidate.is_file():
        return candidate
    bases = [Path.cwd(), *([root] if (root := paths.checkout_root()) else [])]
    found = find_document(env, [base / "deploy" for base in bases])
    if found is not None:
        return found
    raise DeployConfigError(
        f"no deployment file for environment {env!r}: looked for deploy/{env}.yaml in "
        + ", ".join(str(b) for b in bases)
    )


def load_config(env: str | None) -> DeployConfig:
    chosen = env or os.environ.get(ENV_VARIABLE)
    if not chosen:
        raise DeployConfigError(
            f"no environment: pass --env <name> (deploy/<name>.yaml) or set ${ENV_VARIABLE}"
        )
    path = config_path(chosen)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeployConfigError(f"{path}: cannot read deployment file: {exc.strerror}") from exc
    return parse_config(text, str(path))
