"""Errors a user can act on end in one line naming the file, field, path or endpoint, for the jobs
(under spark-submit) and the CLI alike; the traceback goes to a log file, or to the terminal with
``--debug``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.jobs import spark_submit
from tests.support.servers import S3Server

LAKEPREP = str(Path(sys.executable).with_name("lakeprep"))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable_s3(port: int) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LAKEPREP, *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def error_lines(output: str) -> list[str]:
    """What the run said about its failure (its INFO log lines aside)."""
    return [ln for ln in output.splitlines() if ln.strip() and not re.match(r"^\d{4}-\d\d-\d\d .* INFO ", ln)]


def assert_short(output: str, *names: str, most: int = 4) -> None:
    lines = error_lines(output)
    assert "Traceback" not in output, output[-3000:]
    assert len(lines) <= most, "\n".join(lines)
    for name in names:
        assert name in output, output[-3000:]


def logged_traceback(output: str) -> str:
    match = re.search(r"traceback in (\S+\.log);", output)
    assert match, output
    return Path(match.group(1)).read_text()


# ------------------------------------------------------------------------------------------- CLI
def test_cli_missing_lake_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    result = cli("tables", "--lake", str(missing))
    assert result.returncode == 2
    assert_short(result.stderr, str(missing), "no lake there")
    assert not missing.exists()


def test_cli_unreachable_s3_names_the_endpoint_and_debug_shows_the_traceback() -> None:
    port = closed_port()
    result = cli("tables", "--lake", "s3://lake-bucket/lake", env=unreachable_s3(port))
    assert result.returncode == 2
    assert_short(result.stderr, f"http://127.0.0.1:{port}")
    assert "Traceback" in logged_traceback(result.stderr)

    debug = cli("tables", "--lake", "s3://lake-bucket/lake", "--debug", env=unreachable_s3(port))
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr
    assert f"http://127.0.0.1:{port}" in debug.stderr


def test_cli_missing_bucket_names_bucket_and_endpoint(s3_env: S3Server) -> None:
    result = cli("tables", "--lake", "s3://no-such-bucket-here/lake")
    assert result.returncode == 2
    assert_short(result.stderr, "no-such-bucket-here", s3_env.endpoint)


# ------------------------------------------------------------------------------------------ jobs
@pytest.mark.slow
def test_job_bad_contract_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "things.yaml").write_text("name: things\ncolumns: [{name: id, type: strnig}]\n")
    lake = tmp_path / "lake"
    lake.mkdir()
    result = spark_submit("ingest", ["--lake", str(lake), "--contracts", str(contracts)])
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    # One line for the error, one for where the traceback is (plus the JVM's own start-up notice).
    assert_short(output, "things.yaml: columns[0].type: unknown type 'strnig'")
    assert "ContractError" in logged_traceback(output)


@pytest.mark.slow
def test_job_unreachable_s3_names_the_endpoint_without_java_noise() -> None:
    port = closed_port()
    result = spark_submit("ingest", ["--lake", "s3://lake-bucket/lake"], env=unreachable_s3(port))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert_short(output, f"http://127.0.0.1:{port}")


@pytest.mark.slow
def test_job_missing_lake_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    result = spark_submit("clean", ["--lake", str(missing)])
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert_short(output, f"--lake {missing}: no lake there")
    assert not missing.exists()


@pytest.mark.slow
def test_job_s3_outage_mid_run_is_a_few_lines_not_the_java_stack(
    s3_env: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    """The lake answers when the run starts (the driver's check passes), then Spark's S3A cannot
    reach the store: the run fails with the endpoint named, not with the Java stacks."""
    from lake.sample import land_sample
    from lake.storage import Storage

    lake = Storage.resolve(f"s3://{s3_bucket}/lake")
    land_sample(lake, datasets=["airlines"])
    port = closed_port()
    result = spark_submit(
        "ingest",
        ["--lake", lake.root, "--dataset", "airlines"],
        conf={
            "spark.hadoop.fs.s3a.endpoint": f"http://127.0.0.1:{port}",
            "spark.hadoop.fs.s3a.attempts.maximum": "1",
            "spark.hadoop.fs.s3a.retry.limit": "1",
            "spark.hadoop.fs.s3a.connection.establish.timeout": "2000",
        },
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert_short(output, f"127.0.0.1:{port}", most=6)
