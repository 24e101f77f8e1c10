"""Job arguments and Spark settings shared by every runtime (Glue, EMR step, EMR Serverless).

Arguments use the Glue convention (``--name value``) that ``lake.runtime.parse_args`` reads, so the
same dictionary feeds Glue's DefaultArguments and an EMR step's spark-submit command line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lake import paths
from lake.deploy.config import DeployConfig
from lake.job_scripts import job_options
from lake.lineage import redact

PII_SALT_OPTION = "pii-salt-secret"
# spark-defaults.conf settings that size a laptop run; clusters size themselves.
LOCAL_ONLY = frozenset(
    {
        "spark.driver.memory",
        "spark.ui.enabled",
        "spark.ui.showConsoleProgress",
        "spark.sql.shuffle.partitions",
    }
)


class ArgumentError(ValueError):
    pass


def job_arguments(config: DeployConfig, job: str) -> dict[str, str]:
    """What every run of ``job`` in this environment gets: the lake, secret ids, configured extras."""
    arguments = {"--lake": config.lake_root}
    if config.kms_key_arn:
        arguments["--kms-key-id"] = config.kms_key_arn  # delta-rs commits use the lake's key too
    if config.pii_salt_secret_arn and PII_SALT_OPTION in job_options(paths.job_script(job)):
        arguments[f"--{PII_SALT_OPTION}"] = config.pii_salt_secret_arn
    override = config.glue.jobs.get(job)
    if override:
        arguments.update(override.arguments)
    return arguments


def parse_run_arguments(items: Iterable[str]) -> dict[str, str]:
    """``--arg dataset=flights`` (or ``--arg --dataset=flights``) to ``{"--dataset": "flights"}``."""
    parsed: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().lstrip("-")
        if not sep or not name:
            raise ArgumentError(f"--arg {item!r}: use name=value, e.g. --arg dataset=flights")
        if redact({name: value}) != {name: value}:
            raise ArgumentError(
                f"--arg {name}: looks like a secret; job arguments are visible in the console and "
                "in run history. Store it in Secrets Manager and pass its id"
            )
        parsed[f"--{name}"] = value
    return parsed


def cluster_spark_conf() -> dict[str, str]:
    """The repo's spark-defaults.conf minus laptop sizing: Glue and EMR do not read that file, but the
    jobs rely on its semantics (UTC session, INT64 micros timestamps that every Delta reader agrees on)."""
    from lake.spark import read_properties

    return {k: v for k, v in read_properties(paths.spark_defaults()).items() if k not in LOCAL_ONLY}


def conf_flags(settings: Mapping[str, str]) -> list[str]:
    flags: list[str] = []
    for key, value in settings.items():
        flags += ["--conf", f"{key}={value}"]
    return flags
