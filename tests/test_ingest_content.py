"""jobs/ingest.py on landed content: image files, any binary file, text documents per file and per
JSON-lines record, with the sample's real digits and fortunes. Tables are read back with polars and
delta-rs; image sizes with Pillow, checksums with hashlib, JSON with the standard library."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from PIL import Image
from pyspark.sql import SparkSession

from lake.columns import REASONS, RECORD, SOURCE_FILE
from lake.contracts import ContractError, parse_contract
from lake.contracts.implicit_rules import UNDECODABLE_RECORD, UNREADABLE_IMAGE
from lake.sample import FORTUNES, TRUTH, digit_pngs, land_sample, read_truth, truth_uri
from lake.storage import Storage
from lake.zones.ingest.run import IngestResult
from tests.support.jobs import run_inprocess
from tests.support.servers import S3Server

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
DIGITS = 24

NOTES = """
name: notes
source: {formats: [text], encoding: UTF-8}
columns:
  - {name: path, type: string, nullable: false, normalize: none}
  - {name: sha256, type: string, normalize: none}
  - {name: size, type: long}
  - {name: body, type: string, source_name: text, normalize: none}
"""
BLOBS = """
name: blobs
source: {formats: [binary]}
columns:
  - {name: path, type: string, nullable: false, normalize: none}
  - {name: uri, type: string, normalize: none}
  - {name: size, type: long}
  - {name: sha256, type: string, normalize: none}
  - {name: content_type, type: string, normalize: none}
  - {name: width, type: int}
  - {name: height, type: int}
"""


def png(width: int, height: int, mode: str = "L") -> bytes:
    sink = io.BytesIO()
    Image.new(mode, (width, height), color=7).save(sink, format="PNG")
    return sink.getvalue()


def jpeg(width: int, height: int) -> bytes:
    sink = io.BytesIO()
    Image.new("RGB", (width, height), color=(200, 10, 10)).save(sink, format="JPEG")
    return sink.getvalue()


def ingest(lake: Storage, contracts: Path) -> list[IngestResult]:
    return run_inprocess("ingest", ["--lake", lake.root, "--contracts", str(contracts)])


def landed_bytes(lake: Storage, relative: str) -> bytes:
    return Path(lake.uri("landing", relative)).read_bytes()


@pytest.fixture(scope="module")
def content_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One lake holding every kind of content, ingested twice (the second run must add nothing)."""
    if not (FORTUNES / "computers").is_file():
        pytest.fail(f"{FORTUNES} is missing: run `make setup-test` (it installs Debian's fortunes)")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAKEPREP_PII_SALT", "content-salt")
    root = tmp_path_factory.mktemp("content")
    contracts = root / "contracts"
    contracts.mkdir()
    for name in ("digits", "fortunes"):
        shutil.copy(SCHEMAS / f"{name}.yaml", contracts)
    (contracts / "notes.yaml").write_text(NOTES)
    (contracts / "blobs.yaml").write_text(BLOBS)
    lake = Storage.resolve(str(root / "lake"))
    land_sample(lake, ["digits", "fortunes"], limit=DIGITS)
    put = lake.write_bytes
    put(lake.uri("landing", "digits", "photo.jpg"), jpeg(40, 30))
    put(lake.uri("landing", "digits", "cut_short.png"), png(16, 16)[:45])  # a header, then nothing
    put(lake.uri("landing", "digits", "not_an_image.png"), b"<html>not found</html>")
    # A corpus of one document per JSON-lines record with one record in Latin-1 among UTF-8 ones.
    put(
        lake.uri("landing", "fortunes", "extra.jsonl"),
        b'{"id": "x-1", "text": "caf\xc3\xa9 cr\xc3\xa8me"}\n{"id": "x-2", "text": "caf\xe9"}\n'
        b'{"id": "x-3", "text": "  indented\\n\\tpoem  "}\n',
    )
    put(lake.uri("landing", "notes", "plain.txt"), b"One document,\nover two lines.\n")
    put(lake.uri("landing", "notes", "bom.md"), b"\xef\xbb\xbf# Title\n\nbody\n")
    put(lake.uri("landing", "notes", "latin1.txt"), b"na\xefve r\xe9sum\xe9\n")
    put(lake.uri("landing", "notes", "blank.txt"), b"\n  \n")
    put(lake.uri("landing", "blobs", "scan.png"), png(9, 5, "RGB"))
    put(lake.uri("landing", "blobs", "report.pdf"), b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    put(lake.uri("landing", "blobs", "data.bin"), bytes(range(256)))
    first = {r.dataset: r for r in ingest(lake, contracts)}
    versions = {n: DeltaTable(lake.uri("raw", n)).version() for n in first}
    second = {r.dataset: r for r in ingest(lake, contracts)}
    yield {"lake": lake, "contracts": contracts, "first": first, "second": second, "versions": versions}
    mp.undo()


def raw(lake: Storage, name: str) -> pl.DataFrame:
    return pl.read_delta(lake.uri("raw", name)).sort("path" if name != "fortunes" else "id")


def quarantined(lake: Storage, name: str) -> pl.DataFrame:
    return pl.read_delta(lake.uri("quarantine", name)).sort(SOURCE_FILE)


def test_images_land_with_their_size_checksum_and_dimensions(content_lake: dict) -> None:
    lake: Storage = content_lake["lake"]
    result = content_lake["first"]["digits"]
    assert (result.rows_in, result.rows_out, result.rows_quarantined) == (DIGITS + 3, DIGITS + 1, 2)
    table = raw(lake, "digits")
    assert table.height == DIGITS + 1
    assert set(table.columns) >= {"path", "uri", "size", "sha256", "content_type", "width", "height"}
    for row in table.iter_rows(named=True):
        data = landed_bytes(lake, row["path"])
        with Image.open(io.BytesIO(data)) as image:  # an independent reader of the same file
            assert (row["width"], row["height"]) == (str(image.width), str(image.height)), row["path"]
            assert row["content_type"] == Image.MIME[image.format or ""]
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert row["size"] == str(len(data))
        assert row["uri"] == row[SOURCE_FILE] == lake.uri("landing", row["path"])
    # The sample's digits are 8x8 scans written as 32x32 greyscale PNGs; raw keeps text as landed.
    digits = table.filter(pl.col("path").str.starts_with("digits/digit_"))
    assert digits.height == DIGITS
    assert set(zip(digits["width"], digits["height"], digits["channels"], strict=True)) == {("32", "32", "1")}
    assert table.filter(pl.col("path") == "digits/photo.jpg")["content_type"].item() == "image/jpeg"
    # Clean-ready: the cleaned zone types them (the same contract).
    lineage = DeltaTable(lake.uri("raw", "digits")).history(1)[0]["lakeprep"]
    assert lineage["rows"] == {"in": DIGITS + 3, "out": DIGITS + 1, "quarantined": 2}
    assert "digits/digit_0000.png" in lineage["source_files"]


def test_a_corrupt_image_is_quarantined_with_its_reason_and_file(content_lake: dict) -> None:
    lake: Storage = content_lake["lake"]
    bad = quarantined(lake, "digits")
    assert bad[SOURCE_FILE].to_list() == [
        lake.uri("landing", "digits", "cut_short.png"),
        lake.uri("landing", "digits", "not_an_image.png"),
    ]
    assert bad[REASONS].to_list() == [[UNREADABLE_IMAGE], [UNREADABLE_IMAGE]]
    cut, html = (json.loads(r) for r in bad[RECORD].to_list())
    assert cut["error"] == "does not decode as image/png (truncated or corrupt)"
    assert cut["sha256"] == hashlib.sha256(landed_bytes(lake, "digits/cut_short.png")).hexdigest()
    assert (cut["path"], cut["size"]) == ("digits/cut_short.png", 45)
    assert html["error"] == "not an image: starts with 0x" + b"<html>no".hex()
    assert html["content_type"] == "application/octet-stream"


def test_any_binary_file_lands_and_images_among_them_are_measured(content_lake: dict) -> None:
    lake: Storage = content_lake["lake"]
    table = raw(lake, "blobs")
    assert table.select("path", "content_type", "width", "height").rows() == [
        ("blobs/data.bin", "application/octet-stream", None, None),
        ("blobs/report.pdf", "application/pdf", None, None),
        ("blobs/scan.png", "image/png", "9", "5"),
    ]
    for row in table.iter_rows(named=True):
        assert row["sha256"] == hashlib.sha256(landed_bytes(lake, row["path"])).hexdigest()
    assert not DeltaTable(lake.uri("raw", "blobs")).history(1)[0]["lakeprep"]["rows"]["quarantined"]


def test_a_text_file_is_one_document_and_one_that_does_not_decode_is_quarantined(content_lake: dict) -> None:
    lake: Storage = content_lake["lake"]
    table = raw(lake, "notes")
    assert table.select("path", "body").rows() == [
        ("notes/bom.md", "# Title\n\nbody\n"),  # the byte order mark is not the document's
        ("notes/plain.txt", "One document,\nover two lines.\n"),  # exactly as landed
    ]
    bad = quarantined(lake, "notes")
    assert bad[SOURCE_FILE].to_list() == [lake.uri("landing", "notes", "latin1.txt")]
    assert bad[REASONS].to_list() == [[UNDECODABLE_RECORD]]
    record = json.loads(bad[RECORD].item())
    assert (record["record"], record["encoding"]) == (1, "UTF-8")
    assert base64.b64decode(record["base64"]) == landed_bytes(lake, "notes/latin1.txt")
    ledger = pl.read_delta(lake.uri("metrics", "landing_files")).filter(pl.col("dataset") == "notes")
    assert dict(zip(ledger["file"], ledger["status"], strict=True)) == {
        "notes/plain.txt": "ingested",
        "notes/bom.md": "ingested",
        "notes/latin1.txt": "ingested",  # the file was read; its one record went to quarantine
        "notes/blank.txt": "empty",
    }


def test_a_corpus_lands_one_row_per_json_lines_record(content_lake: dict) -> None:
    lake: Storage = content_lake["lake"]
    table = raw(lake, "fortunes")
    landed: dict[str, str] = {}
    for path in sorted(Path(lake.uri("landing", "fortunes")).glob("fortunes_*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            landed[record["id"]] = record["text"]
    assert len(landed) == DIGITS  # the sample's limit applies to fortunes too
    expected = {**landed, "x-1": "café crème", "x-3": "  indented\n\tpoem  "}  # text kept as written
    assert dict(zip(table["id"], table["text"], strict=True)) == expected
    bad = quarantined(lake, "fortunes")
    assert bad[SOURCE_FILE].to_list() == [lake.uri("landing", "fortunes", "extra.jsonl")]
    assert bad[REASONS].to_list() == [[UNDECODABLE_RECORD]]
    assert json.loads(bad[RECORD].item())["record"] == 2


def test_rerunning_ingests_nothing_twice(content_lake: dict) -> None:
    lake: Storage = content_lake["lake"]
    for name, result in content_lake["second"].items():
        assert (result.files_new, result.files_changed, result.rows_in) == (0, 0, 0), name
        assert DeltaTable(lake.uri("raw", name)).version() == content_lake["versions"][name], name
    assert raw(lake, "digits")["path"].is_unique().all()
    assert quarantined(lake, "digits").height == 2


def test_a_redelivered_image_replaces_its_row(spark: SparkSession, lake: Storage, tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    shutil.copy(SCHEMAS / "digits.yaml", contracts)
    land_sample(lake, ["digits"], limit=3)
    ingest(lake, contracts)
    replacement = png(20, 10)
    lake.write_bytes(lake.uri("landing", "digits", "digit_0001.png"), replacement)

    [result] = ingest(lake, contracts)

    assert (result.files_new, result.files_changed, result.rows_in) == (0, 1, 1)
    table = raw(lake, "digits")
    assert table["path"].to_list() == [f"digits/digit_{i:04d}.png" for i in range(3)]
    changed = table.filter(pl.col("path") == "digits/digit_0001.png").row(0, named=True)
    assert (changed["width"], changed["height"]) == ("20", "10")
    assert changed["sha256"] == hashlib.sha256(replacement).hexdigest()


def test_the_sample_keeps_the_truth_outside_landing(lake: Storage) -> None:
    landed = land_sample(lake, ["digits"], limit=50)
    assert [(s.dataset, s.rows, s.files) for s in landed] == [("digits", 50, 50)]
    truth = read_truth(lake, "digits")
    assert not truth_uri(lake, "digits").startswith(lake.uri("landing"))
    assert truth_uri(lake, "digits") == lake.uri(TRUTH, "digits.csv")
    from sklearn.datasets import load_digits

    target = load_digits().target
    assert truth == {f"digits/digit_{i:04d}.png": str(target[i]) for i in range(50)}
    # The PNG shows the scan: its darkest 4x4 blocks are the scan's highest ink values.
    name, data, _ = next(digit_pngs(1))
    with Image.open(io.BytesIO(data)) as image:
        pixels = image.load()
        scan = load_digits().images[0]
        assert pixels is not None
        for row, col in ((0, 0), (3, 4), (7, 7)):
            assert pixels[col * 4 + 3, row * 4 + 3] == round(255 - scan[row][col] * 255 / 16), name
    assert all(p.suffix == ".png" for p in Path(lake.uri("landing", "digits")).iterdir())


def test_content_contracts_say_what_is_wrong() -> None:
    with pytest.raises(ContractError, match=r"x\.yaml: .*\['colour'\] are not known of a landed image file"):
        parse_contract(
            "name: x\nsource: {formats: [image]}\ncolumns: [{name: colour, type: string}]\n", "x.yaml"
        )
    with pytest.raises(ContractError, match=r"x\.yaml: source\.formats: .*mixes kinds"):
        parse_contract(
            "name: x\nsource: {formats: [csv, text]}\ncolumns: [{name: text, type: string}]\n", "x.yaml"
        )
    for name in ("digits", "fortunes"):  # the shipped ones parse
        assert parse_contract((SCHEMAS / f"{name}.yaml").read_text(), name).name == name


@pytest.mark.s3
@pytest.mark.slow
def test_images_on_s3_land_with_s3_uris(
    spark: SparkSession, s3_lake: Storage, s3_env: S3Server, tmp_path: Path
) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    shutil.copy(SCHEMAS / "digits.yaml", contracts)
    land_sample(s3_lake, ["digits"], limit=3)
    s3_lake.write_bytes(s3_lake.uri("landing", "digits", "cut_short.png"), png(16, 16)[:45])

    [result] = ingest(s3_lake, contracts)

    assert (result.rows_in, result.rows_out, result.rows_quarantined) == (4, 3, 1)
    options = {**s3_lake.delta_options, **s3_env.env()}
    table = pl.read_delta(s3_lake.uri("raw", "digits"), storage_options=options).sort("path")
    bucket, _, _ = s3_lake.root[len("s3://") :].partition("/")
    for row in table.iter_rows(named=True):
        assert row["uri"] == f"{s3_lake.uri('landing')}/{row['path']}"
        key = row["uri"][len(f"s3://{bucket}/") :]
        data = s3_env.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert (row["width"], row["height"]) == ("32", "32")
    bad = pl.read_delta(s3_lake.uri("quarantine", "digits"), storage_options=options)
    assert bad.select(SOURCE_FILE, REASONS).rows() == [
        (s3_lake.uri("landing", "digits", "cut_short.png"), [UNREADABLE_IMAGE])
    ]
    assert ingest(s3_lake, contracts)[0].files_new == 0  # known by their ETags
