"""The job scripts under Glue's command line: the arguments the deployed job definition gives them,
parsed as the real ``awsglue.utils.getResolvedOptions`` parses them, and a real run with them.

Marked ``compat``: these also run on pyspark 3.5 (the Spark of Glue 5 and EMR 7).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lake.deploy.artifacts import Release
from lake.deploy.config import load_config
from lake.deploy.glue import default_arguments
from lake.job_scripts import as_argv
from lake.runtime import parse_args
from lake.sample import land_sample
from lake.storage import Storage
from lake.table import Table
from tests.deploy.conftest import pip_install_target
from tests.support.jobs import job_module, run_inprocess

pytestmark = pytest.mark.compat

REPO = Path(__file__).resolve().parents[2]
AWSGLUE = "AWSGlueDataplanePython>=5,<6"  # the awsglue of Glue 5 (Python 3.11)
GLUE_INJECTED = ["--JOB_ID", "j_0123", "--JOB_RUN_ID", "jr_0123abc", "--JOB_NAME", "lakeprep-test-ingest"]


@pytest.fixture(scope="session")
def awsglue_path() -> Path:
    """The real awsglue package (pure-Python parts only), installed once into .cache, never imported here."""
    target = REPO / ".cache" / "awsglue"
    if not (target / "awsglue" / "utils.py").exists():
        pip_install_target(AWSGLUE, target)
    return target


def glue_argv(write_deployment: Callable[..., Path], job: str, lake: str) -> list[str]:
    """What Glue puts on the script's command line: DefaultArguments, run Arguments, its own ids."""
    config = load_config(str(write_deployment("bucket-a")))
    release = Release(
        config.artifacts_root, "0.1.0-abc", "lakeprep-0.1.0-py3-none-any.whl", ("ingest", "clean")
    )
    arguments = default_arguments(config, release, job) | {"--lake": lake, "--dataset": "airlines"}
    return [*as_argv(arguments), *GLUE_INJECTED]


def test_arguments_parse_like_get_resolved_options(
    awsglue_path: Path, write_deployment: Callable[..., Path]
) -> None:
    for job in ("ingest", "clean"):
        argv = glue_argv(write_deployment, job, "s3://bucket-a/lake")
        names = ["lake", "dataset", *(["pii-salt-secret"] if job == "clean" else [])]
        script = (
            "import json, sys\n"
            "from awsglue.utils import getResolvedOptions\n"
            "print(json.dumps(getResolvedOptions(sys.argv, json.loads(sys.argv.pop()))))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, *argv, json.dumps([*names, "JOB_NAME"])],
            env={"PYTHONPATH": str(awsglue_path), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        resolved = json.loads(out.stdout)
        ours = parse_args(argv)
        for name in [*names, "JOB_NAME", "JOB_RUN_ID", "TempDir"]:
            assert ours.get(name) == resolved[name.replace("-", "_")], name  # argparse dests use _
        assert ours.get("JOB_NAME") == "lakeprep-test-ingest"


def test_job_runs_with_the_deployed_arguments(
    write_deployment: Callable[..., Path], tmp_path: Path, spark: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Glue's extra arguments (--TempDir, --enable-metrics, --conf ...) are ignored; --JOB_NAME without
    awsglue runs plain Spark; the Glue run id becomes the lakeprep run id."""
    for key in ("AWS_ENDPOINT_URL",):
        monkeypatch.delenv(key, raising=False)
    storage = Storage.resolve(str(tmp_path / "lake"))
    land_sample(storage, ["airlines"])
    run_inprocess("ingest", glue_argv(write_deployment, "ingest", storage.root))
    history = Table(storage, "raw", "airlines").history(1)[0]
    assert history.tags["run_id"] == "jr_0123abc"
    assert history.tags["params"]["lake"] == storage.root
    assert "TempDir" not in history.tags["params"]


def test_job_help_lists_the_options_deploy_reads() -> None:
    """Deploy reads OPTIONS from the source; the script's own usage shows the same options."""
    from lake.job_scripts import job_options
    from lake.paths import job_script

    for job in ("ingest", "clean"):
        assert job_options(job_script(job)) == job_module(job).OPTIONS
