"""One way to end a failed run, for the jobs (``JobRun``) and the CLI (``lakeprep``) alike.

An error the user can act on (a bad contract or argument, a missing lake, an unreachable S3
endpoint, schema drift, a broken rule) ends with one or a few lines that name the file, field,
rule or endpoint, and exit code 2; anything else is a defect and exits 1. Either way the full
Python (and Java) traceback goes to a log file whose path is printed, or to the terminal with
``--debug``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path

DEBUG_ENV = "LAKEPREP_DEBUG"
USER_ERROR_EXIT = 2
DEFECT_EXIT = 1

# Exceptions whose message already names what to fix (defined across lake/; matched by name so
# this module imports nothing heavy and the CLI works without the job extras).
_ACTIONABLE = {
    "AccountingError",
    "ArgumentError",
    "CampaignError",
    "ContractError",
    "ContractViolationError",
    "DeployConfigError",
    "DriftError",
    "FeatureFitError",
    "JobFailedError",
    "LakeNotFoundError",
    "MissingPythonEnvError",
    "MissingSecretError",
    "SparkContextDiedError",
    "TableError",
    "UsageError",
}

# Spark's own errors about what the user wrote (``--where``, a feature spec's SQL): their first line.
_SPARK_ACTIONABLE = {"AnalysisException", "ParseException"}

# What an unreachable or refusing object store looks like from pyarrow, delta-rs, boto3 and S3A.
_S3_PATTERNS = (
    r"AWS Error [A-Z_]+",
    r"curlCode: \d+",
    r"Generic S3 error",
    r"error sending request for url",
    r"Unable to execute HTTP request",
    r"Could not connect to the endpoint URL",
    r"UnknownHostException",
    r"java\.net\.ConnectException",
    r"SdkClientException",
    r"NoSuchBucket",
    r"AmazonS3Exception",
    r"AccessDenied",
    r"InvalidAccessKeyId",
)
_S3_RE = re.compile("|".join(_S3_PATTERNS))


class UsageError(ValueError):
    """A bad argument; the message names the option."""


class LakeNotFoundError(FileNotFoundError):
    """``--lake`` names a folder or bucket that does not exist."""


class SparkContextDiedError(RuntimeError):
    """The Spark driver JVM is gone (killed, out of memory): the run must not commit."""


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").lower() in {"1", "true", "yes", "on"}


def enable_debug() -> None:
    """``--debug``: tracebacks on the terminal (also for the spark-submit children of the CLI)."""
    os.environ[DEBUG_ENV] = "1"


def s3_endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _first_line(text: str, limit: int = 300) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _s3_summary(text: str) -> str:
    """The informative part of a storage error: the S3 error name and its reason, not the stack."""
    for pattern in (
        r"(NoSuchBucket[^\n]{0,160})",
        r"(AccessDenied[^\n]{0,160})",
        r"(InvalidAccessKeyId[^\n]{0,160})",
        r"(Unable to execute HTTP request: [^\n]{0,160}?failed: [^:\n]{0,80})",
        r"(Unable to execute HTTP request: [^\n]{0,160})",
        r"(Couldn't connect to server|Connection refused|Could not resolve host[^\n]{0,80})",
        r"(UnknownHostException: [^\n]{0,120})",
        r"(AWS Error [A-Z_]+[^\n]{0,200})",
        r"(error sending request for url \([^)]{0,160}\))",
    ):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip()
    return _first_line(text)


def describe(exc: BaseException) -> str | None:
    """The one-line (or few-line) message for an error the user can act on; None for a defect."""
    for item in _chain(exc):
        name = type(item).__name__
        if name in _ACTIONABLE or isinstance(item, (UsageError, LakeNotFoundError, SparkContextDiedError)):
            return str(item).strip() or name
        if name in _SPARK_ACTIONABLE:
            return _first_line(str(item))
    text = "\n".join(str(item) for item in _chain(exc))
    if _S3_RE.search(text):
        return f"cannot use the object store ({s3_endpoint()}): {_s3_summary(text)}"
    for item in _chain(exc):
        if isinstance(item, (FileNotFoundError, PermissionError, IsADirectoryError)):
            return str(item)
    return None


def log_path(name: str) -> Path:
    """Where a run's traceback goes: ``$TMPDIR/lakeprep/<name>.log`` (local even for an S3 lake, which
    may be the thing that is unreachable)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    folder = Path(tempfile.gettempdir()) / "lakeprep"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{safe}.log"


def report(exc: BaseException, name: str) -> int:
    """Print what went wrong (short unless ``--debug``), keep the traceback in a log; the exit code."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    message = describe(exc)
    path: Path | None = None
    try:
        path = log_path(name)
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        path.write_text(f"{stamp} {' '.join(sys.argv)}\n{details}")
    except OSError:
        path = None
    if debug_enabled():
        sys.stderr.write(details)
    if message is None:
        head = _first_line(f"{type(exc).__name__}: {exc}")
        sys.stderr.write(f"error (a defect, please report it): {head}\n")
        code = DEFECT_EXIT
    else:
        sys.stderr.write(f"error: {message}\n")
        code = USER_ERROR_EXIT
    if path is not None and not debug_enabled():
        sys.stderr.write(f"(traceback in {path}; --debug shows it here)\n")
    sys.stderr.flush()
    return code
