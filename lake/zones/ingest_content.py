"""Landing -> raw for content: image and other binary files, and text documents, one row per file.

A content dataset's raw row describes its landed file (``uri``, ``path`` below ``landing/``, ``size``,
``sha256``, and ``content_type``, ``width``, ``height``, ``channels`` for files, or the decoded ``text``
for a document) in the same landed layout as CSV or JSON records, so exactly-once ingestion,
quarantine, the landing-files ledger and lineage are the tabular ingest's own (``jobs/ingest.py``).
The bytes stay in landing; the row carries their URI and checksum.

Three steps: :func:`plan` (which attributes a contract asks for, pure), :func:`content_rows`
(DataFrame -> DataFrame, pure Spark SQL) and :func:`read_content` (the reads).

Everything runs in the JVM: Spark's ``binaryFile`` source gives the bytes (size, SHA-256, a content
type sniffed from the leading bytes), and its ``image`` source decodes each image with Java's ImageIO,
which both measures it and proves it is whole (a truncated PNG does not decode). A header parse in
SQL would measure a PNG but not see it cut short, and cannot find a JPEG's frame header reliably
(an EXIF thumbnail carries its own), so no Python UDF is needed or used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, DataFrameReader, SparkSession
from pyspark.sql import functions as F

from lake.contracts.model import CONTENT_FIELDS, Contract
from lake.zones.common import source_file_column
from lake.zones.ingest import LandedFile, _extra_map, _shape, decoded

UNREADABLE_IMAGE = "unreadable_image"
# Leading bytes (hex) -> content type; anything else is application/octet-stream.
MAGIC = {
    "89504E470D0A1A0A": "image/png",
    "FFD8FF": "image/jpeg",
    "474946383": "image/gif",
    "424D": "image/bmp",
    "25504446": "application/pdf",
    "504B0304": "application/zip",
    "1F8B": "application/gzip",
}
OCTET_STREAM = "application/octet-stream"
_IMAGE = "_image"  # the image source's measurements, joined to the bytes by file


@dataclass(frozen=True)
class ContentPlan:
    """What to compute for one group of landed files of a content dataset."""

    format: str  # image, binary or text
    fields: tuple[str, ...]  # the attributes the contract's columns name (landed names)
    landing_prefix: str  # the files' URIs start with it; ``path`` is the rest
    check_images: bool  # an image that does not decode is quarantined (image datasets)

    @property
    def measures_images(self) -> bool:
        wanted = bool({"width", "height", "channels"} & set(self.fields))
        return self.format != "text" and (self.check_images or wanted)


def plan(fmt: str, files: Sequence[LandedFile], contract: Contract) -> ContentPlan:
    """The attributes to compute, from the contract's columns (a file's bytes are hashed only when asked)."""
    wanted = {c.landed_name for c in contract.columns}
    fields = tuple(f for f in CONTENT_FIELDS[fmt] if f in wanted)
    prefixes = {f.uri[: len(f.uri) - len(f.relative)] for f in files}
    if len(prefixes) != 1:
        raise ValueError(
            f"{contract.name}: landed files under more than one landing root: {sorted(prefixes)}"
        )
    return ContentPlan(fmt, fields, prefixes.pop(), check_images=fmt == "image")


def content_type(data: Column) -> Column:
    """The type the leading bytes say (the name can lie: a ``.png`` holding a JPEG is ``image/jpeg``)."""
    magic = F.hex(F.substring(data, 1, 8))
    typed = F.lit(OCTET_STREAM)
    for prefix, kind in sorted(MAGIC.items(), key=lambda kv: len(kv[0])):
        typed = F.when(magic.startswith(prefix), F.lit(kind)).otherwise(typed)
    return typed


def content_rows(files: DataFrame, contract: Contract, content: ContentPlan) -> DataFrame:
    """Landed files (``content``, ``length``, ``_metadata`` and, for images, the ``_image`` struct of
    width, height and channels, NULL when it does not decode) as rows of the landed layout."""
    source = source_file_column()
    data = F.col("content")
    values: dict[str, Column] = {
        "uri": source,
        "path": source.substr(F.lit(len(content.landing_prefix) + 1), F.length(source)),
        "size": F.col("length").cast("string"),
        "sha256": F.sha2(data, 256),
    }
    corrupt = reason = undecodable = None
    if content.format == "text":
        text, valid = decoded(data, contract.source.encoding)
        values["text"] = F.regexp_replace(text, "^\ufeff", "")  # a byte order mark is not the document's
        undecodable = F.when(
            ~valid,
            F.struct(
                F.base64(data).alias("base64"), F.lit(None).cast("array<string>").alias("fields_base64")
            ),
        )
    else:
        kind = content_type(data)
        values["content_type"] = kind
        for name in ("width", "height", "channels"):
            values[name] = (
                F.col(f"{_IMAGE}.{name}").cast("string") if content.measures_images else F.lit(None)
            )
        if content.check_images:
            broken = F.col(f"{_IMAGE}.width").isNull()
            error = F.when(
                kind.startswith("image/"),
                F.concat(F.lit("does not decode as "), kind, F.lit(" (truncated or corrupt)")),
            ).otherwise(
                F.concat(F.lit("not an image: starts with 0x"), F.lower(F.hex(F.substring(data, 1, 8))))
            )
            record = F.struct(
                values["path"].alias("path"),
                F.col("length").alias("size"),
                values["sha256"].alias("sha256"),
                kind.alias("content_type"),
                error.alias("error"),
            )
            corrupt = F.when(broken, F.to_json(record))
            reason = F.when(broken, F.lit(UNREADABLE_IMAGE))
    chosen = {name: values[name] for name in content.fields}
    return files.select(
        *_shape(
            contract,
            chosen,
            _extra_map({}),
            corrupt if corrupt is not None else F.lit(None).cast("string"),
            undecodable,
            reason=reason,
        )
    )


def _files(
    reader: DataFrameReader, content: ContentPlan, files: Sequence[LandedFile], contract: Contract
) -> DataFrame:
    """The given files of the dataset's landing folder. The folder is listed once and the files are
    picked by name, which Spark applies to the listing (only those files are opened); given each path
    instead, Spark starts a listing task per path (minutes for a few thousand images)."""
    names = sorted({f.relative.rsplit("/", 1)[-1] for f in files})
    folder = reader.option("recursiveFileLookup", True).load(content.landing_prefix + contract.name)
    picked = folder.where(F.col("_metadata.file_name").isin(names))
    return picked.where(source_file_column().isin([f.uri for f in files]))  # the same name elsewhere


def read_content(spark: SparkSession, fmt: str, files: Sequence[LandedFile], contract: Contract) -> DataFrame:
    """Read a group of landed content files of one format as rows of the landed layout."""
    content = plan(fmt, files, contract)
    # ``_metadata`` as a plain column, so it survives the join with the image measurements.
    frame = _files(spark.read.format("binaryFile"), content, files, contract).select(
        "content", "length", F.col("_metadata")
    )
    if content.measures_images:
        measured = _files(
            spark.read.format("image").option("dropInvalid", False),  # one that does not decode: width -1
            content,
            files,
            contract,
        ).select(
            F.col("_metadata.file_path").alias("_measured"),
            F.when(
                F.col("image.width") >= 0,
                F.struct(
                    F.col("image.width").alias("width"),
                    F.col("image.height").alias("height"),
                    F.col("image.nChannels").alias("channels"),
                ),
            ).alias(_IMAGE),
        )
        frame = frame.join(measured, F.col("_metadata.file_path") == F.col("_measured"), "left")
    return content_rows(frame, contract, content)
