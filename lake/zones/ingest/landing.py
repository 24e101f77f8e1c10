"""Ingest, the landing folder's I/O: list a dataset's landed files with their checksums, probe their
first bytes, and read them with Spark onto the landed layout (``transform`` shapes what is read).

The contract decides the columns (no inference); only tiny per-file probes run on the driver (a CSV
header line, a Parquet footer) to detect drift and unreadable files up front. Content files are read
by Spark's ``binaryFile`` and ``image`` sources; the bytes stay in landing.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pyarrow.parquet as pq
from pyspark.sql import DataFrame, DataFrameReader, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lake.columns import CORRUPT
from lake.contracts.model import CONTENT_FIELDS, Contract, Format
from lake.spark_columns import source_file_column
from lake.storage import LANDING, Storage
from lake.zones.ingest.landed import LandedFile, Probe, landing_uri
from lake.zones.ingest.plan import choose_format
from lake.zones.ingest.transform import (
    BYTES_AS_TEXT,
    ContentPlan,
    content_rows,
    csv_records,
    image_measurements,
    json_records,
    landed_schema,
    parquet_records,
    plan_content,
)

BOM = "\ufeff".encode()  # a UTF-8 byte order mark: not part of the first column name or value


def discover(storage: Storage, dataset: str, contract: Contract) -> tuple[list[LandedFile], list[str]]:
    """Landed files of a dataset in a format the contract accepts, with their content checksums, and the
    names skipped (with why)."""
    base = landing_uri(storage, dataset)
    landing_root = storage.fs_path(storage.uri(LANDING))
    found, skipped = [], []
    for info in storage.list_files(base):
        relative = info.path[len(landing_root) :].lstrip("/")
        fmt, why = choose_format(relative, info.base_name, contract)
        if fmt is None:
            skipped.append(str(why))
            continue
        mtime = int(info.mtime_ns // 1_000_000) if info.mtime_ns else 0
        found.append(LandedFile(storage.to_uri(info.path), relative, fmt, int(info.size or 0), mtime))
    sums = _etags(storage, base) if storage.is_s3 else None
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(
            pool.map(
                lambda f: replace(
                    f, checksum=sums.get(storage.fs_path(f.uri)) if sums is not None else _sha256(storage, f)
                ),
                found,
            )
        )
    return sorted(found, key=lambda f: f.relative), skipped


def _sha256(storage: Storage, landed: LandedFile) -> str | None:
    """The file's bytes hashed as they stream by (a local read; never held in memory)."""
    digest = hashlib.sha256()
    try:
        with storage.filesystem.open_input_stream(storage.fs_path(landed.uri), compression=None) as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _etags(storage: Storage, base: str) -> dict[str, str]:
    """S3 ETags of the objects below ``base`` from the listing (no download): a new upload of different
    bytes always has a new ETag, so it identifies the content as a checksum would."""
    import boto3

    bucket, _, prefix = storage.fs_path(base).partition("/")
    options = storage.delta_options  # endpoint and region as every other client of the lake uses them
    client = boto3.client(
        "s3", endpoint_url=options.get("AWS_ENDPOINT_URL"), region_name=options["AWS_REGION"]
    )
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            found[f"{bucket}/{item['Key']}"] = "etag:" + item["ETag"].strip('"')
    return found


def probe(storage: Storage, landed: LandedFile, contract: Contract) -> Probe:
    """Read only what is needed to check a file: the header line, or the Parquet footer."""
    path = storage.fs_path(landed.uri)
    if landed.checksum is None:
        return Probe(landed, error="cannot be read (no checksum)")
    if landed.format in ("image", "binary"):  # read whole in Spark; nothing to check up front
        return Probe(landed, empty=landed.size == 0)
    try:
        if landed.format == "parquet":
            if landed.size == 0:
                return Probe(landed, empty=True)
            schema = pq.read_schema(path, filesystem=storage.filesystem)
            return Probe(landed, tuple(schema.names), tuple(str(t) for t in schema.types))
        first, blank = _first_line(storage, path)
        if blank:
            return Probe(landed, empty=True)
        if landed.format in ("json", "text") or not contract.source.csv_header:
            return Probe(landed)
        encoding = contract.source.encoding
        try:
            line = first.decode(encoding)
        except UnicodeDecodeError as exc:
            return Probe(
                landed,
                held_back=f"the header line is not valid {encoding} (byte {first[exc.start]:#04x} at offset "
                f"{exc.start}); declare source.encoding",
            )
        header = _split_header(line, contract)
        if not header:
            return Probe(landed, held_back="the first line is blank, not a CSV header")
        return Probe(landed, header, header=line)
    except (OSError, ValueError) as exc:
        return Probe(landed, error=f"{type(exc).__name__}: {exc}")


def _first_line(storage: Storage, path: str, limit: int = 1 << 20) -> tuple[bytes, bool]:
    """The first line's bytes (decompressed, without a UTF-8 byte order mark or line end), and whether
    the file holds nothing but blank lines."""
    data = b""
    ended = False
    with storage.filesystem.open_input_stream(path, compression="detect") as stream:
        while not (ended or (b"\n" in data.lstrip() and data.strip()) or len(data) >= limit):
            chunk = stream.read(1 << 16)
            ended = not chunk
            data += chunk
    data = data.removeprefix(BOM)
    return data.split(b"\n", 1)[0].rstrip(b"\r"), ended and not data.strip()


def _split_header(line: str, contract: Contract) -> tuple[str, ...]:
    rows = list(
        csv.reader(
            [line.rstrip("\r\n")],
            delimiter=contract.source.csv_delimiter,
            quotechar=contract.source.csv_quote,
        )
    )
    return tuple(name.strip() for name in rows[0]) if rows and any(rows[0]) else ()


# ------------------------------------------------------------------------------------ reading
def read_landed(spark: SparkSession, probes: Sequence[Probe], contract: Contract) -> DataFrame:
    """All readable probed files as one frame: contract columns as text, ``_extra``, ``_corrupt_record``
    (the verbatim line when the record is malformed) and ``_source_file``."""
    groups: dict[tuple[Format, tuple[str, ...] | None, tuple[str, ...] | None], list[str]] = defaultdict(list)
    for item in probes:
        if item.error is None:
            groups[(item.file.format, item.columns, item.types)].append(item.file.uri)
    frames = []
    for (fmt, columns, _types), uris in sorted(groups.items(), key=lambda kv: kv[1][0]):
        if fmt == "csv":
            frames.append(_read_csv(spark, uris, columns, contract))
        elif fmt == "json":
            frames.append(json_records(spark.read.text(uris), contract))
        elif fmt in CONTENT_FIELDS:
            wanted = set(uris)
            frames.append(
                read_content(spark, fmt, [p.file for p in probes if p.file.uri in wanted], contract)
            )
        else:
            frames.append(parquet_records(spark.read.parquet(*uris), columns or (), contract))
    if not frames:
        return spark.createDataFrame([], landed_schema(contract))
    return functools.reduce(lambda a, b: a.unionByName(b), frames)


def _read_csv(
    spark: SparkSession, uris: list[str], header: tuple[str, ...] | None, contract: Contract
) -> DataFrame:
    names = list(header) if header is not None else [c.landed_name for c in contract.columns]
    # Positional placeholder names: header text can hold spaces, dots or duplicates.
    schema = T.StructType([T.StructField(f"c{i}", T.StringType()) for i in range(len(names))])
    schema = schema.add(CORRUPT, T.StringType())
    source = contract.source
    frame = (
        spark.read.schema(schema)
        .option("header", source.csv_header)
        .option("sep", source.csv_delimiter)
        .option("quote", source.csv_quote)
        .option("encoding", BYTES_AS_TEXT)
        # RFC 4180: a quoted field may hold line breaks (read as \n) and doubled quotes.
        .option("multiLine", True)
        .option("escape", source.csv_quote)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        # Keep text exactly as landed: no null token, no whitespace trimming (clean does that).
        .option("nullValue", None)
        .option("ignoreLeadingWhiteSpace", False)
        .option("ignoreTrailingWhiteSpace", False)
        .csv(uris)
    )
    return csv_records(frame, names, contract)


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
    content = plan_content(fmt, files, contract)
    # ``_metadata`` as a plain column, so it survives the join with the image measurements.
    frame = _files(spark.read.format("binaryFile"), content, files, contract).select(
        "content", "length", F.col("_metadata")
    )
    if content.measures_images:
        images = spark.read.format("image").option("dropInvalid", False)  # one that does not decode: width -1
        measured = image_measurements(_files(images, content, files, contract))
        frame = frame.join(measured, F.col("_metadata.file_path") == F.col("_measured"), "left")
    return content_rows(frame, contract, content)
