"""Where the benchmark keeps its data (git-ignored, written once) and its results (committed)."""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = BENCH / "data"
WORK = DATA / "work"  # scratch lakes and outputs of measured runs, wiped per run
RESULTS = BENCH / "results"  # the full run: committed, linked from the README
QUICK_RESULTS = DATA / "results-quick"  # `--quick`: never replaces the full report


def generated(size: str) -> Path:
    """Raw-layout Parquet files of the scaled flights (one file per replica)."""
    return DATA / "generated" / f"flights_{size}"


def lake(size: str) -> Path:
    """A lakeprep lake holding raw and cleaned flights of ``size`` rows, the real small tables, features."""
    return DATA / f"lake_{size}"


def pool(size: str) -> Path:
    return DATA / f"pool_{size}"


def scratch(name: str) -> Path:
    return WORK / name
