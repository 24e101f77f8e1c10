"""The ingest plan is pure: raw's app transactions, the ledger, the contract and the listing decide which
landed files a run reads and what becomes of the others; the probes and the read's counts decide the
rest. Plus the record numbering and one landed-layout transform on a five-line frame."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lake.columns import CORRUPT, EXTRA, SOURCE_FILE
from lake.contracts import Contract, parse_contract
from lake.contracts.implicit_rules import MALFORMED_RECORD, UNDECODABLE_RECORD
from lake.quality.rules import FAILED_RULES
from lake.zones.ingest.landed import BlockCount, LandedFile, LedgerEntry, Probe
from lake.zones.ingest.plan import (
    CHANGED_REJECTED,
    NO_NEW_FILES,
    FileCounts,
    choose_format,
    file_state,
    per_file,
    plan_commit,
    plan_ingest,
    plan_reads,
    transactions,
)
from lake.zones.ingest.transform import (
    UNDECODABLE,
    block_counts,
    json_records,
    record_bases,
    with_run_columns,
)

CONTRACT = """
name: things
drift: {{new_columns: {new}, missing_columns: fill_null}}
source: {{on_changed_file: {changed}}}
columns:
  - {{name: id, type: int, nullable: false}}
  - {{name: name, type: string}}
"""


def contract(new: str = "keep", changed: str = "reingest") -> Contract:
    return parse_contract(CONTRACT.format(new=new, changed=changed), "things.yaml")


def landed(name: str, checksum: str = "c1", mtime: int = 1_000, size: int = 10) -> LandedFile:
    return LandedFile(f"/lake/landing/things/{name}", f"things/{name}", "csv", size, mtime, checksum)


def in_raw(*files: LandedFile, mtime: int | None = None) -> dict[str, int | None]:
    """Raw's app transactions after ingesting ``files`` (without content ids: ``mtime`` given)."""
    recorded: dict[str, int | None] = {}
    for f in files:
        recorded[f.app_id] = f.mtime_ms if mtime is None else mtime
        recorded[f.content_app_id] = f.content_version if mtime is None else None
    return recorded


def asked(files: list[LandedFile], recorded: dict[str, int | None]) -> dict[str, int | None]:
    """Both app ids of every listed file, as ``Table.app_versions`` answers (None: never committed)."""
    return {app: recorded.get(app) for f in files for app in (f.app_id, f.content_app_id)}


def ledger_row(file: LandedFile, fingerprint: str = "") -> LedgerEntry:
    """The ledger's row of a file an earlier run held back."""
    return LedgerEntry(
        file.relative, file.size, file.checksum, "held_back", "new column(s) ['x']", fingerprint, "run-1"
    )


def test_a_file_is_new_unchanged_or_changed_by_raws_app_transactions() -> None:
    a, a_again = landed("a.csv"), landed("a.csv", checksum="c2", mtime=2_000)
    assert file_state(a, asked([a], {})) == "new"
    assert file_state(a, asked([a], in_raw(a))) == "unchanged"
    assert file_state(a_again, asked([a_again], in_raw(a))) == "changed"
    # Ingested before content ids were recorded: the modification time decides.
    assert file_state(a, asked([a], in_raw(a, mtime=1_000))) == "unchanged"
    assert file_state(a_again, asked([a_again], in_raw(a, mtime=1_000))) == "changed"


def test_new_and_changed_files_are_read_the_rest_is_in_raw_or_reported() -> None:
    things = contract()
    new, same, old = landed("new.csv"), landed("same.csv"), landed("changed.csv")
    changed = landed("changed.csv", checksum="c2")
    known, retried = landed("known.csv"), landed("retried.csv", checksum="fixed")
    files = [new, same, changed, known, retried]
    ledger = {
        known.relative: ledger_row(known, fingerprint=things.fingerprint),
        retried.relative: ledger_row(landed("retried.csv"), fingerprint=things.fingerprint),
    }
    plan = plan_ingest(files, asked(files, in_raw(same, old)), ledger, things, raw_exists=True)
    assert (plan.mode, plan.skipped) == ("incremental", None)
    assert [f.relative for f in plan.pending] == [
        "things/new.csv",
        "things/changed.csv",
        "things/retried.csv",
    ]
    assert (plan.changed, plan.files_new, plan.decided) == ((changed,), 2, ())
    assert plan.still == ("things/known.csv: still held back since run run-1: new column(s) ['x']",)


def test_a_ledger_entry_of_another_contract_is_retried() -> None:
    things, known = contract(), landed("known.csv")
    plan = plan_ingest([known], asked([known], {}), {known.relative: ledger_row(known)}, things, True)
    assert (plan.pending, plan.still) == ((known,), ())


def test_a_changed_file_under_reject_is_held_back_unread() -> None:
    old, changed = landed("a.csv"), landed("a.csv", checksum="c2")
    plan = plan_ingest([changed], asked([changed], in_raw(old)), {}, contract(changed="reject"), True)
    assert (plan.mode, plan.skipped, plan.pending, plan.changed) == ("skip", NO_NEW_FILES, (), ())
    assert [(o.file, o.status, o.reason) for o in plan.decided] == [(changed, "held_back", CHANGED_REJECTED)]


@pytest.mark.parametrize(
    ("raw_exists", "ingested", "mode", "skipped"),
    [(False, False, "full", None), (True, False, "incremental", None), (True, True, "skip", NO_NEW_FILES)],
)
def test_full_incremental_or_up_to_date(
    raw_exists: bool, ingested: bool, mode: str, skipped: str | None
) -> None:
    a = landed("a.csv")
    plan = plan_ingest([a], asked([a], in_raw(a) if ingested else {}), {}, contract(), raw_exists)
    assert (plan.mode, plan.skipped, len(plan.pending)) == (mode, skipped, 0 if ingested else 1)


def test_a_changed_files_transaction_moves_forward_and_names_its_content() -> None:
    old, changed = landed("a.csv", mtime=5_000), landed("a.csv", checksum="c2", mtime=3_000)
    file_txn, content_txn = transactions(changed, asked([changed], in_raw(old)))
    assert (file_txn.app_id, file_txn.version) == ("ingest:things/a.csv", 5_001)  # older mtime, still later
    assert (content_txn.app_id, content_txn.version) == (
        "ingest-content:things/a.csv",
        changed.content_version,
    )
    assert transactions(old, asked([old], {}))[0].version == 5_000
    assert changed.content_version != old.content_version


def test_file_names_pick_the_format_a_binary_dataset_takes_any() -> None:
    things = contract()
    assert choose_format("things/a.CSV.gz", "a.CSV.gz", things) == ("csv", None)
    assert choose_format("things/a.png", "a.png", things) == (
        None,
        "things/a.png: image is not an accepted format of things (['csv', 'json', 'parquet'])",
    )
    assert choose_format("things/a.xls", "a.xls", things)[1] == (
        "things/a.xls: not a CSV, JSON lines, Parquet, image or text file name"
    )
    blobs = parse_contract(
        "name: blobs\nsource: {formats: [binary]}\ncolumns:\n  - {name: uri, type: string}\n", "blobs.yaml"
    )
    assert choose_format("blobs/a.xls", "a.xls", blobs) == ("binary", None)


def test_probes_decide_unreadable_empty_held_back_and_drift() -> None:
    ok, wide, bad, empty, header = (landed(n) for n in ("ok.csv", "wide.csv", "bad.csv", "e.csv", "h.csv"))
    probes = [
        Probe(ok, ("id", "name")),
        Probe(wide, ("id", "name", "x")),
        Probe(bad, error="OSError: gone"),
        Probe(empty, empty=True),
        Probe(header, held_back="the first line is blank, not a CSV header"),
    ]
    kept = plan_reads(probes, contract(new="keep"))
    assert [p.file for p in kept.readable] == [ok, wide]
    assert [(o.file, o.status) for o in kept.outcomes] == [
        (bad, "unreadable"),
        (empty, "empty"),
        (header, "held_back"),
    ]
    assert kept.drift.new_columns == {"things/wide.csv": ["x"]}

    failed = plan_reads(probes, contract(new="fail"))
    assert [p.file for p in failed.readable] == [ok]
    assert failed.outcomes[-1].file == wide
    assert (
        failed.outcomes[-1].reason == "new column(s) ['x'] not in contract things (drift.new_columns: fail)"
    )


def test_delimiter_hint_names_the_separator_that_splits_the_header() -> None:
    semi = landed("semi.csv")
    plan = plan_reads([Probe(semi, ("id;name",), header="id;name")], contract(new="fail"))
    assert plan.outcomes[0].reason is not None
    assert plan.outcomes[0].reason.endswith("; looks like ';'-delimited (source.csv_delimiter is ',')")


def test_counts_decide_which_read_files_are_committed() -> None:
    csv, header_only, keys = landed("a.csv"), landed("h.csv"), landed("k.jsonl")
    blocks = [
        BlockCount(csv.uri, 0, 3, 1, 0, 0, 0),
        BlockCount(csv.uri, 4096, 2, 1, 1, 0, 10),
        BlockCount(keys.uri, 0, 2, 0, 0, 1, 0),
    ]
    counts = per_file(blocks)
    assert counts == {csv.uri: FileCounts(5, 2, 1, 0), keys.uri: FileCounts(2, 0, 0, 1)}
    probes = [Probe(csv), Probe(header_only), Probe(keys)]
    kept, outcomes = plan_commit(probes, counts, contract(new="keep"))
    assert (kept, [(o.file, o.status) for o in outcomes]) == ([csv, keys], [(header_only, "empty")])
    kept, outcomes = plan_commit(probes, counts, contract(new="fail"))
    assert kept == [csv]
    assert [(o.file, o.status, o.reason) for o in outcomes] == [
        (header_only, "empty", "no records (a header only)"),
        (keys, "held_back", "1 record(s) with keys not in contract things (drift.new_columns: fail)"),
    ]


def test_record_numbers_continue_across_a_files_splits() -> None:
    # File a: split 0 holds 3 records at positions 0..2, split 4096 holds 2 at positions 7..8.
    blocks = [
        BlockCount("a", 4096, 2, 0, 0, 0, 7),
        BlockCount("a", 0, 3, 0, 0, 0, 0),
        BlockCount("b", 0, 4, 0, 0, 0, 100),
        BlockCount("p", None, 9, 0, 0, 0, None),  # Parquet: no positions, no numbers
    ]
    bases = record_bases(blocks)
    assert bases == [("a", 0, 1), ("a", 4096, 3 - 7 + 1), ("b", 0, 0 - 100 + 1)]
    assert 8 + bases[1][2] == 5  # the last record of a is its fifth


def test_json_lines_land_as_text_with_broken_and_undecodable_records_kept(spark: SparkSession) -> None:
    lines = [
        b'{"id": 1, "name": "apple"}',
        b'{"id": 2, "extra": "x"}',
        b"{broken",
        b"   ",
        b'{"id": 5, "name": "caf\xe9"}',  # Latin-1, not UTF-8
    ]
    meta = T.StructType(
        [T.StructField("file_path", T.StringType()), T.StructField("file_block_start", T.LongType())]
    )
    schema = T.StructType([T.StructField("value", T.BinaryType()), T.StructField("_metadata", meta)])
    frame = spark.createDataFrame([(line, ("file:///l/things/a.jsonl", 0)) for line in lines], schema)
    landed_rows = with_run_columns(
        json_records(frame, contract()), dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), "r1"
    )
    rows = sorted(landed_rows.collect(), key=lambda r: (r["id"] is None, r["id"] or "", r[CORRUPT] is None))
    assert [(r["id"], r["name"], r[EXTRA]) for r in rows] == [
        ("1", "apple", None),
        ("2", None, {"extra": "x"}),
        (None, None, None),
        (None, None, None),
    ]
    broken, undecodable = rows[2], rows[3]
    assert (broken[CORRUPT], broken[FAILED_RULES]) == ("{broken", [MALFORMED_RECORD])
    assert undecodable[UNDECODABLE]["base64"] == base64.b64encode(lines[4]).decode()
    assert undecodable[FAILED_RULES] == [UNDECODABLE_RECORD]
    assert {r[SOURCE_FILE] for r in rows} == {"/l/things/a.jsonl"}
    [count] = block_counts(landed_rows).collect()
    assert (count["rows"], count["rejected"], count["undecodable"], count["with_extra"]) == (4, 2, 1, 1)
