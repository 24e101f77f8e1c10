"""Measurement 4: the Delta commit path (``Table.stage`` + ``Table.commit``: Spark writes Parquet, the
driver reads the footers and commits with delta-rs) against a plain Parquet write of the same frame,
and the commit's latency as the number of files grows.

Both run in one process over the cached cleaned flights frame, interleaved repeat by repeat (the
order alternates) so neither gets a warmer cache. For the latency curve the same 200k rows are
staged as 10 ... 1,000 files into an existing table and only the commit (footers already read) is
timed, as an append to a table with history.
"""

from __future__ import annotations

import shutil
from functools import partial
from typing import Any

from bench import paths
from bench.timing import timed

LATENCY_ROWS = 200_000


def commit_path(params: dict[str, Any]) -> dict[str, Any]:
    from bench.spark import session
    from lake.storage import Storage
    from lake.table import Table, arrow_schema_of

    spark = session("bench-commit")
    scratch = paths.scratch("commit")
    shutil.rmtree(scratch, ignore_errors=True)
    storage = Storage.resolve(str(scratch))
    frame = Table(Storage.resolve(str(params["lake"])), "cleaned", "flights").read(spark).cache()
    rows = frame.count()
    schema = arrow_schema_of(frame.schema)
    tags = {"job": "bench.commit"}
    parquet, stage, commit, files = [], [], [], []
    for repeat in range(int(params["repeats"])):
        table = Table(storage, "features", f"path_{repeat}")

        def plain(repeat: int = repeat) -> None:
            target = str(scratch / f"parquet_{repeat}")
            parquet.append(timed(lambda: frame.write.mode("overwrite").parquet(target))[0])

        def delta(table: Table = table) -> None:
            seconds, staged = timed(lambda: table.stage(frame, (), "bench", rows))
            stage.append(seconds)
            seconds, result = timed(lambda: table.commit(staged, schema=schema, mode="overwrite", tags=tags))
            commit.append(seconds)
            files.append(result.files)

        for action in (plain, delta) if repeat % 2 == 0 else (delta, plain):
            action()
    return {
        "seconds": sum(parquet),
        "rows": rows,
        "parquet_seconds": parquet,
        "stage_seconds": stage,
        "commit_seconds": commit,
        "delta_seconds": [s + c for s, c in zip(stage, commit, strict=True)],
        "files": files,
    }


def commit_latency(params: dict[str, Any]) -> dict[str, Any]:
    from bench.spark import session
    from lake.storage import Storage
    from lake.table import Table, arrow_schema_of

    spark = session("bench-commit-latency")
    scratch = paths.scratch("commit_latency")
    shutil.rmtree(scratch, ignore_errors=True)
    storage = Storage.resolve(str(scratch))
    source = Table(Storage.resolve(str(params["lake"])), "cleaned", "flights").read(spark)
    frame = source.limit(LATENCY_ROWS).cache()
    frame.count()
    schema = arrow_schema_of(frame.schema)
    tags = {"job": "bench.commit"}
    out: dict[str, Any] = {"stage_seconds": {}, "commit_seconds": {}, "parquet_seconds": {}}
    for count in params["files"]:
        table = Table(storage, "features", f"files_{count}")
        first = table.stage(frame.repartition(1), (), "bench")
        table.commit(first, schema=schema, mode="overwrite", tags=tags)
        stages, commits, plain = [], [], []
        for repeat in range(int(params["repeats"])):
            parts = frame.repartition(count)
            target = str(scratch / f"plain_{count}_{repeat}")
            plain.append(timed(partial(parts.write.parquet, target))[0])
            seconds, staged = timed(partial(table.stage, parts, (), "bench"))
            stages.append(seconds)
            assert len(staged.adds) == count, (len(staged.adds), count)
            commits.append(timed(partial(table.commit, staged, schema=schema, mode="append", tags=tags))[0])
        out["stage_seconds"][str(count)] = stages
        out["commit_seconds"][str(count)] = commits
        out["parquet_seconds"][str(count)] = plain
    out["seconds"] = sum(sum(v) for v in out["commit_seconds"].values())
    return out
