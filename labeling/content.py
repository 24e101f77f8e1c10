"""What people see of an item: its text, its image, or a record with readable values.

Feature tables hold what the model reads (vectors, indexes, one-hot columns); nobody can label those.
A campaign's content names the columns a person reads instead, possibly from another lake table joined
on the item id (e.g. ``cleaned/flights``), with codes replaced by names from lookup tables (carrier
``UA`` -> ``United Air Lines Inc. (UA)``). Every table is pinned at ``create``; the descriptions shown
beside record values come from the tables' schemas (the contracts' column descriptions, which the
zone jobs write into the Delta schema as ``comment``).

Images are shown to Label Studio as URLs it can load: a presigned GET URL when the image is on S3 (the
lake on S3, or an ``s3://`` URI), a ``data:`` URI for an image in a local lake (at most
``MAX_INLINE_IMAGE`` bytes), an http(s) URL as it is.
"""

from __future__ import annotations

import base64
import datetime as dt
import mimetypes
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labeling import pool
from labeling.spec import CampaignSpec, ContentSpec
from lake.documents import IDENTIFIER_PATTERN
from lake.storage import Storage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MAX_INLINE_IMAGE = 2 * 1024 * 1024
PRESIGN_SECONDS = 7 * 24 * 3600  # the longest S3 allows for SigV4
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


class ContentError(ValueError):
    """The content cannot be shown (a missing column or table, an image nobody can load)."""


@dataclass(frozen=True)
class RecordField:
    name: str
    description: str | None


def describe_columns(storage: Storage, table: str, version: int, columns: Sequence[str]) -> dict[str, str]:
    """Column descriptions from the table's schema (``comment`` metadata), for the columns that have one."""
    schema = pool.source_table(storage, table).arrow_schema(version)
    out = {}
    for name in columns:
        if name not in schema.names:
            raise ContentError(f"{table}@{version} has no column {name!r}")
        metadata = schema.field(name).metadata or {}
        comment = metadata.get(b"comment")
        if comment:
            out[name] = comment.decode("utf-8")
    return out


def pin(
    storage: Storage, content: ContentSpec, source: str, source_version: int, id_column: str
) -> ContentSpec:
    """The content with every table's version pinned and its column descriptions filled in."""
    versions = dict(content.versions)
    for table in [content.table, *(lookup.table for lookup in content.lookups)]:
        if table and table not in versions:
            found = pool.source_table(storage, table)
            if not found.exists():
                raise ContentError(f"no table {table} in {storage.root}")
            versions[table] = int(found.version() or 0)
    holder = content.table or source
    version = versions[content.table] if content.table else source_version
    key = content.key or id_column
    plain_key = [key] if _IDENTIFIER.match(key) else []  # an expression is checked when it is first used
    descriptions = describe_columns(storage, holder, version, [*content.columns, *plain_key])
    for lookup in content.lookups:
        describe_columns(storage, lookup.table, versions[lookup.table], [lookup.key, lookup.value])
    return content.model_copy(
        update={"versions": versions, "descriptions": descriptions | content.descriptions}
    )


def record_fields(spec: CampaignSpec) -> list[RecordField]:
    return [RecordField(c, spec.content.descriptions.get(c)) for c in spec.content.columns]


def content_rows(
    spark: SparkSession, storage: Storage, spec: CampaignSpec, ids: Sequence[str], extra: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """Each chosen item's content columns (codes replaced by their looked-up names), plus ``extra``
    columns of the source, keyed by id.

    Only the chosen rows are read back (a broadcast join on their ids); lookup tables are small
    reference tables, joined as broadcasts too."""
    from pyspark.sql import functions as F

    content = spec.content
    if not ids:
        return {}
    if content.table is None and not content.lookups:  # one read of the source
        return pool.rows_for(spark, storage, spec, ids, [*content.columns, *extra])
    key = "_lakeprep_item"
    if content.table is None:
        frame = pool.read_source(spark, storage, spec).withColumn(key, F.col(spec.id_column))
    else:
        table = pool.source_table(storage, content.table).read(spark, content.versions[content.table])
        frame = table.withColumn(key, F.expr(content.key or spec.id_column).cast("string"))
    frame = frame.join(F.broadcast(pool.ids_frame(spark, key, ids)), key)
    frame = _with_lookups(spark, storage, content, frame)
    rows = pool.json_rows(frame.select(key, *content.columns), key)
    if extra:
        for item, values in pool.rows_for(spark, storage, spec, ids, extra).items():
            rows.setdefault(item, {}).update({c: values.get(c) for c in extra})
    return rows


def _with_lookups(spark: SparkSession, storage: Storage, content: ContentSpec, frame: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    for n, lookup in enumerate(content.lookups):
        names = (
            pool.source_table(storage, lookup.table)
            .read(spark, content.versions[lookup.table])
            .select(F.col(lookup.key).alias(f"_k{n}"), F.col(lookup.value).alias(f"_v{n}"))
            .dropDuplicates([f"_k{n}"])
        )
        code = F.col(lookup.column)
        frame = (
            frame.join(F.broadcast(names), code == F.col(f"_k{n}"), "left")
            .withColumn(
                lookup.column,
                F.when(F.col(f"_v{n}").isNull(), code.cast("string")).otherwise(
                    F.concat(F.col(f"_v{n}"), F.lit(" ("), code.cast("string"), F.lit(")"))
                ),
            )
            .drop(f"_k{n}", f"_v{n}")
        )
    return frame


def readable(value: Any) -> str:
    """A value as a person reads it: no float noise, timestamps as ``YYYY-MM-DD HH:MM UTC``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _ISO.match(text):
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.utcoffset() == dt.timedelta(0) else "")
    return text


def image_url(storage: Storage, value: str, expires: int = PRESIGN_SECONDS) -> str:
    """A URL a browser can load for an image: presigned on S3, inline for a local lake, http(s) as is."""
    if value.startswith(("http://", "https://", "data:")):
        return value
    if value.startswith(("s3://", "s3a://")):
        return _presigned(value, expires)
    uri = value if os.path.isabs(value) else storage.uri(value)  # a lake path is relative to its root
    return _presigned(uri, expires) if uri.startswith("s3://") else _data_uri(storage, uri)


def _presigned(uri: str, expires: int) -> str:
    import boto3

    bucket, _, key = uri.split("://", 1)[1].partition("/")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    client = boto3.client("s3", endpoint_url=endpoint)
    return str(
        client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
    )


def _data_uri(storage: Storage, uri: str) -> str:
    info = storage.filesystem.get_file_info(storage.fs_path(uri))
    if info.size is None:
        raise ContentError(f"image {uri} not found")
    if info.size > MAX_INLINE_IMAGE:
        raise ContentError(
            f"image {uri} is {info.size:,} bytes: a local lake inlines images up to {MAX_INLINE_IMAGE:,}; "
            "put the lake (or the images) on S3 for presigned URLs"
        )
    with storage.filesystem.open_input_stream(storage.fs_path(uri)) as stream:
        data = bytes(stream.read())
    kind = mimetypes.guess_type(uri)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
