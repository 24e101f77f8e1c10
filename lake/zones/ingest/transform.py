"""Ingest, the transforms: landed records (CSV, JSON lines, Parquet) and landed content (images, any
binary file, text documents) as rows of one landed layout, then the run's columns, the per-file counts
and the quarantine record. DataFrame -> DataFrame in Spark SQL; the reads that give the input frames
are ``landing``'s.

The landed layout is the contract's columns as text plus ``_extra`` (unknown columns),
``_corrupt_record`` (a record that does not parse, verbatim), ``_source_file`` and where the record
sits; every reader projects onto it with :func:`shape`, so one frame carries all files of a run.

Content runs in the JVM too: Spark's ``binaryFile`` source gives the bytes (size, SHA-256, a content
type sniffed from the leading bytes), and its ``image`` source decodes each image with Java's ImageIO,
which both measures it and proves it is whole (a truncated PNG does not decode). A header parse in
SQL would measure a PNG but not see it cut short, and cannot find a JPEG's frame header reliably
(an EXIF thumbnail carries its own), so no Python UDF is needed or used.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lake.columns import CORRUPT, EXTRA, INGESTED_AT, RUN_ID, SOURCE_FILE
from lake.contracts.implicit_rules import MALFORMED_RECORD, UNDECODABLE_RECORD, UNREADABLE_IMAGE
from lake.contracts.model import CONTENT_FIELDS, Contract
from lake.quality.rules import FAILED_RULES
from lake.spark_columns import source_file_column, timestamp_literal
from lake.zones.ingest.landed import BlockCount, LandedFile

# A record whose bytes do not decode in the contract's encoding keeps them, base64-encoded: the whole
# record (a JSON line, a malformed CSV record) or each CSV field.
UNDECODABLE = "_undecodable"
_UNDECODABLE_TYPE = T.StructType(
    [T.StructField("base64", T.StringType()), T.StructField("fields_base64", T.ArrayType(T.StringType()))]
)
# Where a record sits: ``POSITION`` increases record by record within a file's ``BLOCK`` (the byte
# offset of the split that read it), so the record number is its rank among the file's records.
POSITION = "_position"
BLOCK = "_block"
# The rule a record in ``_corrupt_record`` broke when it is not ``malformed_record`` (e.g. an image
# that does not decode); NULL for records read from CSV, JSON lines or Parquet.
REJECT_REASON = "_reject_reason"
RECORD_NUMBER = "_record_number"
# Read CSV bytes one-to-one as characters: delimiters, quotes and line ends are ASCII in every
# supported encoding, so records split the same, and each field's exact bytes can be decoded in SQL.
BYTES_AS_TEXT = "ISO-8859-1"


def landed_schema(contract: Contract) -> T.StructType:
    fields = [T.StructField(c.name, T.StringType()) for c in contract.columns]
    fields += [
        T.StructField(EXTRA, T.MapType(T.StringType(), T.StringType())),
        T.StructField(CORRUPT, T.StringType()),
        T.StructField(SOURCE_FILE, T.StringType()),
        T.StructField(UNDECODABLE, _UNDECODABLE_TYPE),
        T.StructField(POSITION, T.LongType()),
        T.StructField(BLOCK, T.LongType()),
        T.StructField(REJECT_REASON, T.StringType()),
    ]
    return T.StructType(fields)


def shape(
    contract: Contract,
    values: dict[str, Column],
    extra: Column,
    corrupt: Column,
    undecodable: Column | None = None,
    positioned: bool = True,
    reason: Column | None = None,
) -> list[Column]:
    """Project one file group onto the landed layout (same columns, same order for every group)."""
    out = [values.get(c.landed_name, F.lit(None).cast("string")).alias(c.name) for c in contract.columns]
    return [
        *out,
        extra.alias(EXTRA),
        corrupt.alias(CORRUPT),
        source_file_column().alias(SOURCE_FILE),
        (undecodable if undecodable is not None else F.lit(None).cast(_UNDECODABLE_TYPE)).alias(UNDECODABLE),
        (F.monotonically_increasing_id() if positioned else F.lit(None).cast("long")).alias(POSITION),
        F.col("_metadata.file_block_start").alias(BLOCK),
        (reason if reason is not None else F.lit(None).cast("string")).alias(REJECT_REASON),
    ]


def extra_map(extras: dict[str, Column]) -> Column:
    if not extras:
        return F.lit(None).cast("map<string,string>")
    return F.create_map(*[item for name, value in sorted(extras.items()) for item in (F.lit(name), value)])


def _valid_utf8(data: Column) -> Column:
    """Whether binary is well-formed UTF-8 (Spark 4 has a function; Spark 3.5's ``decode`` replaces
    what does not decode, so the bytes no longer round-trip)."""
    if hasattr(F, "is_valid_utf8"):
        return F.is_valid_utf8(data.cast("string"))
    return F.encode(F.decode(data, "UTF-8"), "UTF-8") == data


def decoded(data: Column, encoding: str) -> tuple[Column, Column]:
    """Bytes as text in the contract's encoding, and whether they decode (NULL bytes decode to NULL)."""
    if encoding == "ISO-8859-1":  # every byte is a character
        return F.decode(data, encoding), F.lit(True)
    valid = _valid_utf8(data)
    if encoding == "US-ASCII":
        valid = valid & ~data.cast("string").rlike("[^\\x00-\\x7F]")
    return F.when(valid, data.cast("string")), data.isNull() | valid


def undecodable_whole(data: Column, valid: Column) -> Column:
    """The ``_undecodable`` struct of a record kept whole (its bytes in base64) where it does not decode."""
    return F.when(
        ~valid,
        F.struct(F.base64(data).alias("base64"), F.lit(None).cast("array<string>").alias("fields_base64")),
    )


# ------------------------------------------------------------------------------------ records
def csv_records(frame: DataFrame, names: Sequence[str], contract: Contract) -> DataFrame:
    """CSV read with positional string columns ``c0..cN`` (the header's ``names``) and ``_corrupt_record``,
    in ``BYTES_AS_TEXT``: each field decoded in the contract's encoding, the landed layout."""
    source = contract.source
    fields = [F.encode(F.col(f"c{i}"), BYTES_AS_TEXT) for i in range(len(names))]
    pairs = [decoded(b, source.encoding) for b in fields]
    texts, valid = [text for text, _ in pairs], [ok for _, ok in pairs]
    record = F.encode(F.col(CORRUPT), BYTES_AS_TEXT)
    corrupt, corrupt_valid = decoded(record, source.encoding)
    if not source.csv_header and texts:  # with a header the mark is on the header line, skipped here
        texts[0] = F.regexp_replace(texts[0], "^\ufeff", "")
    broken = F.col(CORRUPT).isNotNull()
    undecodable = F.when(
        ~functools.reduce(lambda a, b: a & b, [corrupt_valid, *valid]),
        F.struct(
            F.when(broken, F.base64(record)).alias("base64"),
            F.when(~broken, F.array(*[F.base64(b) for b in fields])).alias("fields_base64"),
        ),
    )
    expected = {c.landed_name for c in contract.columns}
    values = {name: texts[i] for i, name in enumerate(names) if name in expected}
    extras = {name: texts[i] for i, name in enumerate(names) if name not in expected}
    return frame.select(*shape(contract, values, extra_map(extras), corrupt, undecodable))


def json_records(lines: DataFrame, contract: Contract) -> DataFrame:
    """JSON lines (a text read: ``value``, ``_metadata``) as bytes decoded in the contract's encoding and
    parsed to a string map: any key set fits, broken lines survive."""
    data = lines.select(F.col("value").cast("binary").alias("data"), F.col("_metadata"))
    text, valid = decoded(F.col("data"), contract.source.encoding)
    decoded_lines = data.select(
        F.regexp_replace(text, "^\ufeff", "").alias("value"), valid.alias("valid"), "data", "_metadata"
    )
    # Blank lines are not records (a line that does not decode is one).
    decoded_lines = decoded_lines.where(~F.col("valid") | (F.trim(F.col("value")) != ""))
    parsed = decoded_lines.select(
        F.col("value"),
        F.col("valid"),
        F.col("data"),
        F.from_json(F.col("value"), "map<string,string>").alias("m"),
        F.col("_metadata"),
    )
    expected = [c.landed_name for c in contract.columns]
    values = {name: F.col("m").getItem(name) for name in expected}
    extra = F.map_filter(F.col("m"), lambda k, _v: ~k.isin(expected))
    return parsed.select(
        *shape(
            contract,
            values,
            F.when(F.size(extra) > 0, extra),
            F.when(F.col("valid") & F.col("m").isNull(), F.col("value")),
            undecodable_whole(F.col("data"), F.col("valid")),
        )
    )


def parquet_records(frame: DataFrame, columns: Sequence[str], contract: Contract) -> DataFrame:
    """A Parquet read's ``columns`` cast to text, the landed layout (Parquet records have no position)."""
    expected = {c.landed_name for c in contract.columns}
    values = {n: F.col(f"`{n}`").cast("string") for n in columns if n in expected}
    extras = {n: F.col(f"`{n}`").cast("string") for n in columns if n not in expected}
    return frame.select(
        *shape(contract, values, extra_map(extras), F.lit(None).cast("string"), positioned=False)
    )


# ------------------------------------------------------------------------------------ content
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
IMAGE = "_image"  # the image source's measurements, joined to the bytes by file


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


def plan_content(fmt: str, files: Sequence[LandedFile], contract: Contract) -> ContentPlan:
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


def image_measurements(images: DataFrame) -> DataFrame:
    """An ``image`` source read as ``_measured`` (the file) and the ``_image`` struct of width, height
    and channels, NULL for a file that does not decode (the source gives it width -1)."""
    return images.select(
        F.col("_metadata.file_path").alias("_measured"),
        F.when(
            F.col("image.width") >= 0,
            F.struct(
                F.col("image.width").alias("width"),
                F.col("image.height").alias("height"),
                F.col("image.nChannels").alias("channels"),
            ),
        ).alias(IMAGE),
    )


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
        undecodable = undecodable_whole(data, valid)
    else:
        kind = content_type(data)
        values["content_type"] = kind
        for name in ("width", "height", "channels"):
            values[name] = F.col(f"{IMAGE}.{name}").cast("string") if content.measures_images else F.lit(None)
        if content.check_images:
            broken = F.col(f"{IMAGE}.width").isNull()
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
        *shape(
            contract,
            chosen,
            extra_map({}),
            corrupt if corrupt is not None else F.lit(None).cast("string"),
            undecodable,
            reason=reason,
        )
    )


# ------------------------------------------------------------------------------------ the run's rows
def malformed() -> Column:
    return F.col(CORRUPT).isNotNull()


def undecodable() -> Column:
    return F.col(UNDECODABLE).isNotNull()


def rejected() -> Column:
    """A landed record bound for quarantine: it does not parse, or does not decode."""
    return malformed() | undecodable()


def with_run_columns(landed: DataFrame, moment: dt.datetime, run_id: str) -> DataFrame:
    """The landed layout plus ``_ingested_at``, ``_run_id`` and the rules each record broke."""
    return landed.select(
        "*",
        timestamp_literal(moment).alias(INGESTED_AT),
        F.lit(run_id).alias(RUN_ID),
        F.filter(
            F.array(
                F.when(malformed(), F.coalesce(F.col(REJECT_REASON), F.lit(MALFORMED_RECORD))),
                F.when(undecodable(), F.lit(UNDECODABLE_RECORD)),
            ),
            lambda reason: reason.isNotNull(),
        ).alias(FAILED_RULES),
    )


def block_counts(frame: DataFrame) -> DataFrame:
    """One aggregation: row, rejected, undecodable and unknown-column counts per file split (the
    columns of :class:`~lake.zones.ingest.landed.BlockCount`)."""
    return frame.groupBy(SOURCE_FILE, BLOCK).agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(rejected().cast("long")).alias("rejected"),
        F.sum(undecodable().cast("long")).alias("undecodable"),
        F.sum(F.col(EXTRA).isNotNull().cast("long")).alias("with_extra"),
        F.min(POSITION).alias("first"),
    )


def record_bases(blocks: Sequence[BlockCount]) -> list[tuple[str, int | None, int]]:
    """Per file split, what turns a record's position into its 1-based number in the file: the
    record counts of the file's earlier splits, less the split's first position."""
    bases: list[tuple[str, int | None, int]] = []
    seen: dict[str, int] = {}
    for b in sorted(blocks, key=lambda b: (b.source_file, b.block or 0)):
        if b.first is None:  # Parquet: records have no position
            continue
        before = seen.get(b.source_file, 0)
        bases.append((b.source_file, b.block, before - b.first + 1))
        seen[b.source_file] = before + b.rows
    return bases


def with_record_numbers(rows: DataFrame, blocks: Sequence[BlockCount]) -> DataFrame:
    """``_record_number``: each row's 1-based rank among its file's records (in file order)."""
    schema = f"{SOURCE_FILE} string, {BLOCK} long, _base long"
    base = F.broadcast(rows.sparkSession.createDataFrame(record_bases(blocks), schema))
    numbered = rows.join(base, [SOURCE_FILE, BLOCK], "left")
    return numbered.withColumn(RECORD_NUMBER, F.col(POSITION) + F.col("_base"))


def without_record_numbers(rows: DataFrame) -> DataFrame:
    return rows.withColumn(RECORD_NUMBER, F.lit(None).cast("long"))


def quarantine_record(encoding: str) -> Column:
    """What quarantine keeps of a rejected record: the verbatim record, or for one that does not decode
    its number in the file, the encoding and its bytes in base64."""
    return F.when(
        undecodable(),
        F.to_json(
            F.struct(
                F.col(RECORD_NUMBER).alias("record"),
                F.lit(encoding).alias("encoding"),
                F.col(f"{UNDECODABLE}.base64").alias("base64"),
                F.col(f"{UNDECODABLE}.fields_base64").alias("fields_base64"),
            )
        ),
    ).otherwise(F.col(CORRUPT))
