"""Build the lakeprep wheel and publish one immutable release (wheel, job scripts, contracts, EMR
bootstrap) under the environment's artifact prefix.

A release is addressed by the wheel's content hash, so deploying the same code twice lands on
the same release (an idempotent upload), and a Glue job always points at exactly the code it runs.
``current.json`` names the release the last deploy published; EMR submits read it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lake import __version__, paths
from lake.deploy.config import DeployConfig
from lake.documents import document_files
from lake.job_scripts import available_jobs
from lake.lineage import BUILD_INFO, git_sha

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUILD_INFO_PATH = f"lake/_bundle/{BUILD_INFO}"
CURRENT = "current.json"
# The Delta writer must be the version the jobs were tested with: pinned next to the wheel.
PINNED_RUNTIME = ("deltalake",)


class DeployError(RuntimeError):
    """A deployment step failed; the message says which and why."""


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


@dataclass(frozen=True)
class Release:
    """The S3 layout of one published release of an environment."""

    root: str  # s3://bucket/prefix/<environment>
    release_id: str
    wheel_name: str
    jobs: tuple[str, ...]
    git_sha: str | None = None

    @property
    def uri(self) -> str:
        return f"{self.root}/releases/{self.release_id}"

    @property
    def wheel_uri(self) -> str:
        return f"{self.uri}/{self.wheel_name}"

    def script_uri(self, job: str) -> str:
        return f"{self.uri}/jobs/{job}.py"

    @property
    def contracts_uri(self) -> str:
        return f"{self.uri}/schemas/"

    @property
    def bootstrap_uri(self) -> str:
        return f"{self.uri}/emr/bootstrap.sh"

    @property
    def temp_dir(self) -> str:
        return f"{self.root}/tmp/"

    @property
    def spark_ui_logs(self) -> str:
        return f"{self.root}/sparkui/"

    @property
    def logs(self) -> str:
        return f"{self.root}/logs/"

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "jobs": list(self.jobs)}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Release:
        data: dict[str, Any] = json.loads(text)
        return cls(**{**data, "jobs": tuple(data["jobs"])})


@dataclass(frozen=True)
class BuiltWheel:
    path: Path
    sha256: str
    git_sha: str | None

    @property
    def release_id(self) -> str:
        return f"{__version__}-{self.sha256[:12]}"


# ------------------------------------------------------------------------------------ build
def build_wheel(out_dir: Path) -> BuiltWheel:
    """``pip wheel`` the checkout (hatchling, reproducible), then bake the code version into it."""
    root = paths.checkout_root()
    if root is None:
        raise DeployError("building the wheel needs a lakeprep checkout; pass --wheel <file> instead")
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q"]
    result = subprocess.run(
        [*command, "--wheel-dir", str(out_dir), str(root)], capture_output=True, text=True, check=False
    )
    wheels = sorted(out_dir.glob("lakeprep-*.whl"))
    if result.returncode != 0 or not wheels:
        raise DeployError(f"pip wheel failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return stamp_wheel(wheels[-1], git_sha())


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def stamp_wheel(wheel: Path, sha: str | None) -> BuiltWheel:
    """Add ``lake/_bundle/build_info.json`` (the git sha) to the wheel and its RECORD.

    Entries keep their timestamps, so the stamped wheel is as reproducible as hatchling's."""
    info = json.dumps({"git_sha": sha, "version": __version__}, sort_keys=True).encode()
    stamped = wheel.with_suffix(".stamped")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(stamped, "w", zipfile.ZIP_DEFLATED) as target:
        names = source.namelist()
        record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
        stamp_time = source.getinfo(record_name).date_time
        for item in source.infolist():
            if item.filename in {record_name, BUILD_INFO_PATH}:
                continue
            target.writestr(item, source.read(item.filename))
        entry = zipfile.ZipInfo(BUILD_INFO_PATH, date_time=stamp_time)
        entry.external_attr = 0o644 << 16
        target.writestr(entry, info, zipfile.ZIP_DEFLATED)
        record = [
            line
            for line in source.read(record_name).decode().splitlines()
            if line and not line.startswith(f"{BUILD_INFO_PATH},")
        ]
        record.insert(len(record) - 1, f"{BUILD_INFO_PATH},{_record_hash(info)},{len(info)}")
        record_entry = zipfile.ZipInfo(record_name, date_time=stamp_time)
        record_entry.external_attr = 0o644 << 16
        target.writestr(record_entry, "\n".join(record) + "\n", zipfile.ZIP_DEFLATED)
    stamped.replace(wheel)
    return BuiltWheel(wheel, hashlib.sha256(wheel.read_bytes()).hexdigest(), sha)


def use_wheel(path: Path) -> BuiltWheel:
    """A wheel built elsewhere (CI): deployed as is, its build_info read back when present."""
    with zipfile.ZipFile(path) as archive:
        sha = (
            json.loads(archive.read(BUILD_INFO_PATH)).get("git_sha")
            if BUILD_INFO_PATH in archive.namelist()
            else None
        )
    return BuiltWheel(path, hashlib.sha256(path.read_bytes()).hexdigest(), sha)


def runtime_requirements(config: DeployConfig, release: Release) -> list[str]:
    """What Glue's pip installs: the wheel (it pulls its own dependencies), pinned writers, extras."""
    pins = []
    for name in PINNED_RUNTIME:
        try:
            pins.append(f"{name}=={installed_version(name)}")
        except PackageNotFoundError:
            continue
    return [release.wheel_uri, *pins, *config.glue.python_modules]


def bootstrap_script(config: DeployConfig, release: Release) -> str:
    """EMR on EC2 bootstrap action: install this release's wheel for the Python the steps use."""
    python = config.emr.python
    wheel = release.wheel_name
    return "\n".join(
        [
            "#!/bin/bash",
            f"# lakeprep {release.release_id} ({config.environment}): install the wheel on every node.",
            "set -euo pipefail",
            f'PYTHON="{python}"',
            'if ! command -v "$PYTHON" >/dev/null 2>&1; then',
            "  sudo dnf install -y python3.11 python3.11-pip",
            "fi",
            f'aws s3 cp "{release.wheel_uri}" "/tmp/{wheel}"',
            f'sudo "$PYTHON" -m pip install --quiet "/tmp/{wheel}" '
            + " ".join(f'"{r}"' for r in runtime_requirements(config, release)[1:]),
            "",
        ]
    )


# ----------------------------------------------------------------------------------- upload
def encryption_args(config: DeployConfig) -> dict[str, str]:
    """SSE-KMS with the environment's key for every upload, when it has one."""
    if not config.kms_key_arn:
        return {}
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": config.kms_key_arn}


def _put(s3: S3Client, uri: str, body: bytes, config: DeployConfig, content_type: str) -> None:
    bucket, key = split_s3(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, **encryption_args(config))  # type: ignore[arg-type]


def publish_release(s3: S3Client, config: DeployConfig, built: BuiltWheel) -> Release:
    """Upload wheel, job scripts, contracts and the EMR bootstrap; then point ``current.json`` at it."""
    jobs = available_jobs()
    release = Release(
        root=config.artifacts_root,
        release_id=built.release_id,
        wheel_name=built.path.name,
        jobs=tuple(jobs),
        git_sha=built.git_sha,
    )
    _put(s3, release.wheel_uri, built.path.read_bytes(), config, "application/zip")
    for job in jobs:
        _put(s3, release.script_uri(job), paths.job_script(job).read_bytes(), config, "text/x-python")
    for contract in document_files(paths.contracts_dir()):
        _put(s3, f"{release.contracts_uri}{contract.name}", contract.read_bytes(), config, "text/yaml")
    _put(s3, release.bootstrap_uri, bootstrap_script(config, release).encode(), config, "text/x-shellscript")
    manifest = release.to_json().encode()
    _put(s3, f"{release.uri}/release.json", manifest, config, "application/json")
    _put(s3, f"{release.root}/{CURRENT}", manifest, config, "application/json")
    return release


def current_release(s3: S3Client, config: DeployConfig) -> Release:
    """The release the last ``deploy`` published for this environment."""
    bucket, key = split_s3(f"{config.artifacts_root}/{CURRENT}")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise DeployError(
            f"nothing deployed yet: no s3://{bucket}/{key}; run `lakeprep deploy artifacts --env "
            f"{config.environment}` (or `deploy glue`) first"
        ) from None
    return Release.from_json(body.decode())


def build_or_use(wheel: Path | None) -> tuple[BuiltWheel, Path | None]:
    """The wheel to deploy, and the temporary folder to remove afterwards (None for a given wheel)."""
    if wheel is not None:
        return use_wheel(wheel), None
    workdir = Path(tempfile.mkdtemp(prefix="lakeprep-wheel-"))
    try:
        return build_wheel(workdir), workdir
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
