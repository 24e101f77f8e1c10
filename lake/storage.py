"""One description of where the lake lives, for delta-rs, pyarrow and Spark alike.

Local folders and ``s3://`` prefixes are both first-class. Credentials are never stored here:
delta-rs, pyarrow and boto3 each take them from the standard AWS chain (environment, profile,
instance role), so nothing secret can leak into logs or commit metadata through this object.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from lake import paths

# Lake areas beside the Delta zones: files as they were delivered, and the runs' OpenLineage events.
LANDING = "landing"
LINEAGE_DIR = "_lineage"


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def normalize_uri(uri: str) -> str:
    """``s3a://``/``s3n://`` become ``s3://``; local paths become absolute; no trailing slash."""
    parsed = urlparse(uri)
    if parsed.scheme in {"s3", "s3a", "s3n"}:
        return f"s3://{parsed.netloc}{parsed.path}".rstrip("/")
    if parsed.scheme == "file":
        return str(Path(parsed.path).resolve())
    if parsed.scheme:
        raise ValueError(f"unsupported lake location {uri!r}: use a local path or s3://bucket/prefix")
    return str(Path(uri).expanduser().resolve())


def _hidden(name: str) -> bool:
    """Hidden or bookkeeping names (``.crc``, ``_SUCCESS``, ``_temporary``, ``_delta_log``); a hive
    partition folder such as ``_stage=clean`` is data, even when its column starts with ``_``."""
    return name.startswith(".") or (name.startswith("_") and "=" not in name)


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])


@dataclass(frozen=True)
class Storage:
    """Access to one lake root (a local folder or an S3 prefix)."""

    root: str

    @classmethod
    def resolve(cls, root: str | None = None) -> Storage:
        """``--lake``, then $LAKEPREP_LAKE, then ``.lake/`` in the checkout (or the working dir)."""
        chosen = root or os.environ.get("LAKEPREP_LAKE")
        if not chosen:
            base = paths.checkout_root() or Path.cwd()
            chosen = str(base / ".lake")
        return cls(normalize_uri(chosen))

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def uri(self, *parts: str) -> str:
        return join(self.root, *parts)

    # ------------------------------------------------------------------------------- delta-rs
    @cached_property
    def delta_options(self) -> dict[str, str]:
        """Storage options for delta-rs: endpoint and region only; credentials come from the AWS chain."""
        if not self.is_s3:
            return {}
        options = {"AWS_REGION": _region()}
        endpoint = _endpoint()
        if endpoint:
            options["AWS_ENDPOINT_URL"] = endpoint
            if endpoint.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        if os.environ.get("LAKEPREP_S3_UNSAFE_RENAME", "").lower() in {"1", "true", "yes"}:
            # Only for S3-compatible stores without conditional PUT and a single writer per table.
            options["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
        kms_key = os.environ.get("LAKEPREP_KMS_KEY_ID")
        if kms_key:
            # Delta log entries and driver-written tables use the lake's key, like Spark's writes.
            options["AWS_SERVER_SIDE_ENCRYPTION"] = "aws:kms"
            options["AWS_SSE_KMS_KEY_ID"] = kms_key
        return options

    # -------------------------------------------------------------------------------- pyarrow
    @cached_property
    def filesystem(self) -> pafs.FileSystem:
        if not self.is_s3:
            return pafs.LocalFileSystem()
        endpoint = _endpoint()
        kwargs: dict[str, object] = {"region": _region()}
        if endpoint:
            parsed = urlparse(endpoint)
            kwargs["endpoint_override"] = parsed.netloc
            kwargs["scheme"] = parsed.scheme or "https"
        return pafs.S3FileSystem(**kwargs)

    def fs_path(self, uri: str) -> str:
        """The path pyarrow's filesystem wants for a lake URI."""
        return uri[len("s3://") :] if uri.startswith("s3://") else uri

    def to_uri(self, fs_path: str) -> str:
        return f"s3://{fs_path}" if self.is_s3 else fs_path

    def exists(self, uri: str) -> bool:
        return self.filesystem.get_file_info(self.fs_path(uri)).type != pafs.FileType.NotFound

    def list_files(self, uri: str) -> Iterator[pafs.FileInfo]:
        """Files below ``uri`` (recursive), skipping hidden names and Spark's bookkeeping."""
        selector = pafs.FileSelector(self.fs_path(uri), recursive=True, allow_not_found=True)
        for info in self.filesystem.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            relative = info.path[len(self.fs_path(uri)) :].lstrip("/")
            if any(_hidden(part) for part in relative.split("/")):
                continue
            yield info

    def read_text(self, uri: str) -> str:
        with self.filesystem.open_input_stream(self.fs_path(uri)) as stream:
            return bytes(stream.read()).decode("utf-8")

    def write_bytes(self, uri: str, data: bytes) -> None:
        parent = self.fs_path(uri).rsplit("/", 1)[0]
        self.filesystem.create_dir(parent, recursive=True)
        # compression=None: pyarrow would otherwise gzip bytes again when the name ends in .gz
        with self.filesystem.open_output_stream(self.fs_path(uri), compression=None) as stream:
            stream.write(data)

    def delete_dir(self, uri: str) -> None:
        info = self.filesystem.get_file_info(self.fs_path(uri))
        if info.type == pafs.FileType.Directory:
            self.filesystem.delete_dir(self.fs_path(uri))
        elif info.type == pafs.FileType.File:
            self.filesystem.delete_file(self.fs_path(uri))
