"""The lake's site at scale: ``lakeprep site`` over 50 tables of 1,000 versions each.

The lake is built once with delta-rs: one cleaned table receives 1,000 small appends carrying the tags
a clean run writes (rows in/out/quarantined, rule failures), and is copied to the other tables (a
copy of a Delta table is a Delta table; the site reads each log on its own). Measured, in the
benchmark's own process (the site needs no Spark): the first build, a rebuild with nothing new
(only each log's head is read), and a rebuild after one new commit on one table.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, write_deltalake

from bench import paths
from bench.markdown import table
from lake.site.build import build_site
from lake.storage import Storage
from lake.tags import LINEAGE_KEY

TABLES = 50
VERSIONS = 1_000


def _tags(version: int) -> dict[str, Any]:
    quarantined = version % 7
    return {
        "job": "clean",
        "run_id": f"clean-bench-{version}",
        "inputs": [{"table": "raw/trips", "uri": "raw/trips", "version": version}],
        "rows": {"in": 100, "out": 100 - quarantined, "quarantined": quarantined},
        "rule_failures": {"city_known": {"rows": quarantined, "severity": "quarantine"}},
        "dataset_rules": {"has_rows": True},
        "anomalies": [],
    }


def _append(uri: str, version: int) -> None:
    data = pa.table({"trip_id": [f"t{version}"], "city": ["paris"]})
    properties = CommitProperties(custom_metadata={LINEAGE_KEY: _tags(version)})
    write_deltalake(uri, data, mode="append", commit_properties=properties)


def prepare_lake(tables: int, versions: int) -> Storage:
    """``tables`` cleaned tables of ``versions`` versions each (built once, kept under bench/data)."""
    root = paths.DATA / f"site-lake-{tables}x{versions}"
    storage = Storage.resolve(str(root))
    done = root / ".complete"
    if done.exists():
        return storage
    shutil.rmtree(root, ignore_errors=True)
    first = storage.uri("cleaned", "t00")
    for version in range(versions):
        _append(first, version)
    for index in range(1, tables):
        shutil.copytree(first, storage.uri("cleaned", f"t{index:02d}"))
    done.touch()
    return storage


def measure(tables: int = TABLES, versions: int = VERSIONS) -> dict[str, Any]:
    began = time.perf_counter()
    storage = prepare_lake(tables, versions)
    built_in = time.perf_counter() - began
    out = Path(storage.root) / "_site"
    shutil.rmtree(out, ignore_errors=True)
    first = build_site(storage, out, contracts={})
    unchanged = build_site(storage, out, contracts={})
    _append(storage.uri("cleaned", "t00"), versions)
    one_new = build_site(storage, out, contracts={})
    shutil.rmtree(Path(storage.uri("cleaned", "t00")), ignore_errors=True)
    (Path(storage.root) / ".complete").unlink(missing_ok=True)  # t00 changed: rebuild the lake next time
    return {
        "tables": tables,
        "versions": versions,
        "lake_build_seconds": built_in,
        "first_build_seconds": first.seconds,
        "pages_written_first": len(first.written),
        "rebuild_unchanged_seconds": unchanged.seconds,
        "pages_kept_unchanged": len(unchanged.kept),
        "rebuild_one_commit_seconds": one_new.seconds,
        "pages_written_one_commit": len(one_new.written),
    }


def section(result: dict[str, Any], folder: Path) -> tuple[str, list[list[str]]]:
    scale = f"{result['tables']} tables x {result['versions']:,} versions"
    rows = [
        ["first build", f"{result['first_build_seconds']:.1f} s", f"{result['pages_written_first']} written"],
        [
            "rebuild, nothing new",
            f"{result['rebuild_unchanged_seconds']:.1f} s",
            f"{result['pages_kept_unchanged']} kept",
        ],
        [
            "rebuild after one new commit",
            f"{result['rebuild_one_commit_seconds']:.1f} s",
            f"{result['pages_written_one_commit']} written",
        ],
    ]
    text = "\n".join(
        [
            "## 9. The lake's site",
            "",
            f"`lakeprep site` over {scale} (delta-rs commits carrying clean's tags; no Spark). Each build "
            "reads the Delta logs; a rebuild reads only the commits newer than its cache and renders only "
            "the pages whose table changed.",
            "",
            table(["build", "time", "pages"], rows),
            "",
        ]
    )
    return text, [[f"site, {scale}", f"{result['first_build_seconds']:.1f} s first build", "-"]]


if __name__ == "__main__":
    import json

    measured = measure()
    (paths.RESULTS / "site.json").write_text(json.dumps(measured, indent=1))
    print(json.dumps(measured, indent=1))
