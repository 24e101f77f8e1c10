"""jobs/ingest.py on crafted landing files: malformed records, unreadable files, drift, exactly-once."""

from __future__ import annotations

import base64
import gzip
import json
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lake.columns import REASONS, RECORD, SOURCE_FILE, STAGE
from lake.contracts.implicit_rules import MALFORMED_RECORD, UNDECODABLE_RECORD
from lake.runtime import JobFailedError
from lake.secrets import MissingSecretError
from lake.storage import Storage
from lake.table import Table
from lake.zones.ingest.landed import DriftError
from lake.zones.ingest.run import IngestResult
from tests.support.jobs import run_inprocess

pytestmark = pytest.mark.compat

CONTRACT = """
name: things
keys: [id]
drift: {new_columns: keep, missing_columns: fill_null}
columns:
  - {name: id, type: int, nullable: false}
  - {name: name, type: string}
  - {name: price, type: double}
"""


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "things.yaml").write_text(CONTRACT)
    return folder


def land(lake: Storage, name: str, data: bytes) -> None:
    lake.write_bytes(lake.uri("landing", "things", name), data)


def ingest(lake: Storage, contracts: Path) -> list[IngestResult]:
    return run_inprocess("ingest", ["--lake", lake.root, "--contracts", str(contracts)])


def raw_rows(lake: Storage) -> pl.DataFrame:
    return pl.read_delta(lake.uri("raw", "things")).sort("id")


def quarantine_rows(lake: Storage) -> pl.DataFrame:
    return pl.read_delta(lake.uri("quarantine", "things"))


def test_every_format_lands_as_text_and_broken_records_go_to_quarantine(
    spark: SparkSession, lake: Storage, contracts: Path
) -> None:
    land(lake, "a.csv", b'id,name,price\n1,apple,1.5\n2,pear\n3,plum,2.0,extra\n4,"fig,3\n')
    land(
        lake, "b.jsonl", b'{"id": 5, "name": "kiwi", "price": 0.5}\n{broken json\n\n{"id": 6, "name": null}\n'
    )
    land(lake, "c.json.gz", gzip.compress(b'{"id": 7, "name": "lime", "price": 1}\n'))
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": [8], "name": ["date"], "price": [9.25]}), sink)
    land(lake, "d.parquet", sink.getvalue().to_pybytes())

    [result] = ingest(lake, contracts)

    assert (result.rows_in, result.rows_out, result.rows_quarantined) == (9, 5, 4)
    raw = raw_rows(lake)
    assert raw["id"].to_list() == ["1", "5", "6", "7", "8"]  # text, exactly as landed
    assert raw.filter(pl.col("id") == "8")["price"].item() == "9.25"
    assert raw[SOURCE_FILE].str.ends_with(".csv").sum() == 1
    bad = quarantine_rows(lake)
    assert bad[STAGE].unique().to_list() == ["ingest"]
    assert all(r == [MALFORMED_RECORD] for r in bad[REASONS].to_list())
    by_file = dict(zip(bad[RECORD].to_list(), bad[SOURCE_FILE].to_list(), strict=True))
    assert by_file["2,pear"].endswith("landing/things/a.csv")  # the line, verbatim, with its file
    assert by_file["3,plum,2.0,extra"].endswith("a.csv")
    assert by_file["{broken json"].endswith("b.jsonl")
    # Accounting is in the commit's lineage tags too.
    lineage = DeltaTable(lake.uri("raw", "things")).history(1)[0]["lakeprep"]
    assert lineage["rows"] == {"in": 9, "out": 5, "quarantined": 4}
    assert sorted(lineage["source_files"]) == [
        "things/a.csv",
        "things/b.jsonl",
        "things/c.json.gz",
        "things/d.parquet",
    ]


def test_each_file_is_ingested_once_even_when_rerun(
    spark: SparkSession, lake: Storage, contracts: Path
) -> None:
    land(lake, "a.csv", b"id,name,price\n1,apple,1.5\n")
    ingest(lake, contracts)
    [again] = ingest(lake, contracts)
    assert again.files_new == 0
    land(lake, "b.csv", b"id,name,price\n2,pear,2\n")
    [third] = ingest(lake, contracts)
    assert (third.files_new, third.rows_in) == (1, 1)
    assert raw_rows(lake)["id"].to_list() == ["1", "2"]


def test_an_unreadable_file_is_named_once_and_the_others_are_ingested(
    spark: SparkSession, lake: Storage, contracts: Path
) -> None:
    land(lake, "good.csv", b"id,name,price\n1,apple,1.5\n")
    land(lake, "broken.parquet", b"this is not parquet")
    land(lake, "broken.csv.gz", b"not gzip at all")
    with pytest.raises(JobFailedError, match=r"(?s)things/broken\.csv\.gz: .*things/broken\.parquet: "):
        ingest(lake, contracts)
    assert raw_rows(lake)["id"].to_list() == ["1"]
    # The unreadable files were not marked ingested: a fixed copy is picked up next run, while the
    # one still broken is only warned about (it was named once, in the ledger).
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": [2], "name": ["pear"], "price": [2.0]}), sink)
    land(lake, "broken.parquet", sink.getvalue().to_pybytes())
    [result] = ingest(lake, contracts)
    assert result.files == {"things/broken.parquet": "ingested"}
    assert raw_rows(lake)["id"].to_list() == ["1", "2"]
    ledger = pl.read_delta(lake.uri("metrics", "landing_files")).sort("recorded_at")
    assert ledger.filter(pl.col("file") == "things/broken.csv.gz")["status"].to_list() == ["unreadable"]
    assert ledger.filter(pl.col("file") == "things/broken.parquet")["status"].to_list() == [
        "unreadable",
        "ingested",
    ]


def test_drift_policies(spark: SparkSession, lake: Storage, contracts: Path) -> None:
    land(lake, "new.csv", b"id,name,price,colour\n1,apple,1.5,red\n")
    land(lake, "missing.csv", b"id,name\n2,pear\n")
    [result] = ingest(lake, contracts)
    assert result.rows_out == 2
    raw = raw_rows(lake)
    assert raw["_extra"].to_list()[0] == {"colour": "red"}  # unknown columns kept, not lost
    assert raw["price"].to_list() == ["1.5", None]

    strict = contracts / "things.yaml"
    strict.write_text(
        CONTRACT.replace(
            "new_columns: keep, missing_columns: fill_null",
            "new_columns: fail, missing_columns: fail, type_changes: fail",
        )
    )
    land(lake, "newer.csv", b"id,name,price,size\n3,plum,2,L\n")
    with pytest.raises(DriftError, match=r"things/newer\.csv: new column\(s\) \['size'\]"):
        ingest(lake, contracts)
    ingest(lake, contracts)  # held back once: later runs warn, they do not fail again
    lake.delete_dir(lake.uri("landing", "things", "newer.csv"))
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": ["3"], "name": ["plum"], "price": ["two"]}), sink)
    land(lake, "typed.parquet", sink.getvalue().to_pybytes())
    with pytest.raises(DriftError, match=r"things/typed\.parquet: column id is string, contract says int"):
        ingest(lake, contracts)
    assert raw_rows(lake).height == 2  # nothing committed by the refused runs


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(
    spark: SparkSession, lake: Storage, contracts: Path
) -> None:
    land(lake, "bom.csv", b"\xef\xbb\xbfid,name,price\n1,apple,1.5\n")
    land(lake, "bom.jsonl", b'\xef\xbb\xbf{"id": 2, "name": "pear", "price": 2}\n')

    [result] = ingest(lake, contracts)

    assert (result.rows_in, result.rows_out, result.rows_quarantined) == (2, 2, 0)
    raw = raw_rows(lake)
    assert raw["id"].to_list() == ["1", "2"]
    assert raw["name"].to_list() == ["apple", "pear"]
    assert raw["_extra"].to_list() == [None, None]


def test_quoted_csv_fields_may_span_lines(spark: SparkSession, lake: Storage, contracts: Path) -> None:
    land(
        lake,
        "notes.csv",
        b'id,name,price\r\n1,"two\r\nlines",1.5\r\n2,"say ""hi""\nand, bye",2\r\n3,plain,3\r\n4,short\r\n',
    )

    [result] = ingest(lake, contracts)

    # Four records (seven physical lines): three land, the one with a missing field is quarantined.
    assert (result.rows_in, result.rows_out, result.rows_quarantined) == (4, 3, 1)
    raw = raw_rows(lake)
    assert raw["name"].to_list() == ["two\nlines", 'say "hi"\nand, bye', "plain"]
    assert raw["price"].to_list() == ["1.5", "2", "3"]
    assert quarantine_rows(lake)[RECORD].to_list() == ["4,short"]


def test_records_that_do_not_decode_are_quarantined_with_their_bytes_wherever_they_are(
    spark: SparkSession, lake: Storage, contracts: Path
) -> None:
    filler = b"".join(b"%d,item %d,1.0\n" % (i, i) for i in range(10, 3010))  # ~50 kB: past any probe
    land(lake, "late.csv", b"id,name,price\n" + filler + b"3,caf\xe9,2\n4,ok \xef\xbf\xbd,1\n")
    land(lake, "early.csv", b"id,name,price\n1,caf\xe9,2\n2,fine,1\n")
    land(lake, "lines.jsonl", b'{"id": 5, "name": "kiwi"}\n\n{"id": 6, "name": "\xff"}\n')
    (contracts / "latin.yaml").write_text(
        CONTRACT.replace("things", "latin") + "source: {encoding: latin1}\n"
    )
    lake.write_bytes(lake.uri("landing", "latin", "a.csv"), b"id,name,price\n1,caf\xe9,2\n")

    things, latin = sorted(ingest(lake, contracts), key=lambda r: r.dataset != "things")

    assert (things.rows_in, things.rows_out, things.rows_quarantined) == (3006, 3003, 3)
    raw = raw_rows(lake)
    assert raw.filter(pl.col("id") == "4")["name"].item() == "ok \ufffd"  # a real U+FFFD is data
    assert raw.filter(pl.col("name").str.contains("caf")).height == 0
    bad = quarantine_rows(lake).sort(SOURCE_FILE)
    assert all(r == [UNDECODABLE_RECORD] for r in bad[REASONS].to_list())
    records = [json.loads(r) for r in bad[RECORD].to_list()]
    files = [Path(f).name for f in bad[SOURCE_FILE].to_list()]
    assert files == ["early.csv", "late.csv", "lines.jsonl"]
    # The original bytes are kept: each CSV field, or the whole JSON line; with the record number.
    assert [base64.b64decode(f) for f in records[0]["fields_base64"]] == [b"1", b"caf\xe9", b"2"]
    assert (records[0]["record"], records[1]["record"], records[2]["record"]) == (1, 3001, 2)
    assert [base64.b64decode(f) for f in records[1]["fields_base64"]] == [b"3", b"caf\xe9", b"2"]
    assert base64.b64decode(records[2]["base64"]) == b'{"id": 6, "name": "\xff"}'
    assert {r["encoding"] for r in records} == {"UTF-8"}
    # The contract's encoding is honoured: in ISO-8859-1 the same byte is a letter.
    assert (latin.rows_out, latin.rows_quarantined) == (1, 0)
    assert pl.read_delta(lake.uri("raw", "latin"))["name"].to_list() == ["café"]


def test_a_drifting_file_is_held_back_and_the_others_land(
    spark: SparkSession, lake: Storage, contracts: Path
) -> None:
    strict = CONTRACT.replace("missing_columns: fill_null", "missing_columns: fail")
    (contracts / "things.yaml").write_text(strict)
    land(lake, "good.csv", b"id,name,price\n1,apple,1.5\n")
    land(lake, "semicolons.csv", b"id;name;price\n2;pear;2\n")
    land(lake, "latin.csv", b"id,n\xe4me,price\n3,plum,2\n")
    land(lake, "good.jsonl", b'{"id": 4, "name": "fig"}\n')

    with pytest.raises(DriftError) as failure:
        ingest(lake, contracts)

    lines = str(failure.value).splitlines()
    [semicolons] = [line for line in lines if "semicolons.csv" in line]
    assert "drift.missing_columns: fail" in semicolons
    assert "looks like ';'-delimited" in semicolons
    [latin] = [line for line in lines if "latin.csv" in line]
    assert "not valid UTF-8" in latin
    assert "declare source.encoding" in latin
    assert raw_rows(lake)["id"].to_list() == ["1", "4"]  # the good files landed
    version = DeltaTable(lake.uri("raw", "things")).version()
    [again] = ingest(lake, contracts)  # named once: the next run warns and succeeds
    assert (again.files, again.held_back) == ({}, [])
    assert DeltaTable(lake.uri("raw", "things")).version() == version  # no empty commit
    ledger = pl.read_delta(lake.uri("metrics", "landing_files"))
    assert sorted(zip(ledger["file"], ledger["status"], strict=True)) == [
        ("things/good.csv", "ingested"),
        ("things/good.jsonl", "ingested"),
        ("things/latin.csv", "held_back"),
        ("things/semicolons.csv", "held_back"),
    ]


def test_empty_and_header_only_files_are_recorded_and_clean_has_nothing_new(
    spark: SparkSession, lake: Storage, contracts: Path
) -> None:
    land(lake, "a.csv", b"id,name,price\n1,apple,1.5\n")
    ingest(lake, contracts)
    clean = ["--lake", lake.root, "--contracts", str(contracts)]
    run_inprocess("clean", clean)
    version = DeltaTable(lake.uri("raw", "things")).version()
    land(lake, "zero.csv", b"")
    land(lake, "header.csv", b"id,name,price\n")
    land(lake, "blank.jsonl", b"\n\n")

    [result] = ingest(lake, contracts)  # not an error

    assert result.files == {
        "things/blank.jsonl": "empty",
        "things/header.csv": "empty",
        "things/zero.csv": "empty",
    }
    assert DeltaTable(lake.uri("raw", "things")).version() == version  # nothing to commit: no version
    ingest(lake, contracts)
    assert pl.read_delta(lake.uri("metrics", "landing_files")).height == 4  # recorded once
    # A file whose every record is malformed commits its app transaction but no rows: clean says so.
    land(lake, "bad.csv", b"id,name,price\n2,pear\n")
    ingest(lake, contracts)
    [cleaned] = run_inprocess("clean", clean)
    assert cleaned.skipped == "no new raw rows"


def test_a_file_redelivered_with_new_content_replaces_its_rows(
    spark: SparkSession, lake: Storage, contracts: Path
) -> None:
    land(lake, "a.csv", b"id,name,price\n1,apple,1.5\n2,pear,2\n")
    land(lake, "b.csv", b"id,name,price\n3,plum,3\n")
    ingest(lake, contracts)

    land(lake, "a.csv", b"id,name,price\n1,apple,1.5\n2,pear,2\n4,fig,4\nbroken\n")  # rows appended
    [result] = ingest(lake, contracts)

    assert (result.files_new, result.files_changed) == (0, 1)
    assert (result.rows_in, result.rows_out, result.rows_quarantined) == (4, 3, 1)
    assert raw_rows(lake)["id"].to_list() == ["1", "2", "3", "4"]  # a.csv's rows once, b.csv's kept
    assert ingest(lake, contracts)[0].files == {}  # ingested exactly once

    # Same size, bytes changed, modification time put back: still a new content.
    path = Path(lake.uri("landing", "things", "a.csv"))
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"pear", b"PEAR"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    ingest(lake, contracts)
    raw = raw_rows(lake)
    assert raw["name"].to_list() == ["apple", "PEAR", "plum", "fig"]

    # The contract may refuse changed files instead: raw keeps the earlier rows, the run says why.
    (contracts / "things.yaml").write_text(CONTRACT + "source: {on_changed_file: reject}\n")
    land(lake, "a.csv", b"id,name,price\n9,kiwi,1\n")
    with pytest.raises(DriftError, match=r"things/a\.csv: .*source\.on_changed_file: reject"):
        ingest(lake, contracts)
    assert raw_rows(lake)["name"].to_list() == ["apple", "PEAR", "plum", "fig"]


def test_a_changed_file_on_s3_is_known_by_its_etag(
    spark: SparkSession, s3_lake: Storage, contracts: Path
) -> None:
    land(s3_lake, "a.csv", b"id,name,price\n1,apple,1.5\n")
    ingest(s3_lake, contracts)
    assert ingest(s3_lake, contracts)[0].files == {}  # the same ETag: nothing to do
    land(s3_lake, "a.csv", b"id,name,price\n1,apple,1.5\n2,pear,2\n")
    [result] = ingest(s3_lake, contracts)
    assert result.files_changed == 1
    raw = pl.from_arrow(Table(s3_lake, "raw", "things").to_arrow())
    assert isinstance(raw, pl.DataFrame)
    assert sorted(raw["id"].to_list()) == ["1", "2"]


def test_a_missing_pii_salt_stops_clean_before_any_dataset_is_cleaned(
    spark: SparkSession, lake: Storage, contracts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Datasets cleaned ahead of the one that hashes PII used to run first (minutes on a real lake),
    then the job failed on the missing salt with some tables cleaned and others not."""
    (contracts / "visitors.yaml").write_text(
        "name: visitors\ncolumns:\n  - {name: id, type: int}\n  - {name: email, type: string, pii: hash}\n"
    )
    land(lake, "a.csv", b"id,name,price\n1,apple,1.5\n")
    lake.write_bytes(lake.uri("landing", "visitors", "v.csv"), b"id,email\n1,a@example.com\n")
    ingest(lake, contracts)
    monkeypatch.delenv("LAKEPREP_PII_SALT", raising=False)

    with pytest.raises(MissingSecretError, match="LAKEPREP_PII_SALT"):
        run_inprocess("clean", ["--lake", lake.root, "--contracts", str(contracts)])

    assert not lake.exists(lake.uri("cleaned", "things"))  # "things" comes first, and waits for the salt
