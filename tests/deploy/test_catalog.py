"""``lakeprep catalog register``: the Delta tables the real jobs wrote, registered in moto's Glue catalog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from lake.columns import EXTRA, INGESTED_AT, REASONS, RUN_ID, SOURCE_FILE, STAGE
from lake.contracts import load_contracts
from lake.deploy.aws import Clients
from lake.deploy.catalog import CatalogError, glue_type, register_tables
from lake.deploy.config import load_config
from lake.paths import contracts_dir
from lake.storage import Storage
from lake.table import Table
from lakeprep.cli import app
from tests.deploy.conftest import REGION, Aws

pytestmark = [pytest.mark.aws, pytest.mark.compat]

runner = CliRunner()


def catalog_table(database: str, name: str) -> dict[str, Any]:
    return dict(boto3.client("glue", region_name=REGION).get_table(DatabaseName=database, Name=name)["Table"])


def test_register_every_zone_table(
    aws: Aws, ran_lake: Storage, write_deployment: Callable[..., Path]
) -> None:
    path = write_deployment("bucket-a")
    result = runner.invoke(
        app, ["catalog", "register", "--env", str(path), "--lake", ran_lake.root], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    glue = boto3.client("glue", region_name=REGION)
    databases = {d["Name"]: d for d in glue.get_databases()["DatabaseList"]}
    assert set(databases) == {
        "lakeprep_test_raw",
        "lakeprep_test_cleaned",
        "lakeprep_test_quarantine",
        "lakeprep_test_metrics",
    }
    assert databases["lakeprep_test_cleaned"]["LocationUri"] == ran_lake.uri("cleaned")
    names = {d: sorted(t["Name"] for t in glue.get_tables(DatabaseName=d)["TableList"]) for d in databases}
    assert names["lakeprep_test_cleaned"] == ["airlines", "airports", "flights", "planes"]
    assert names["lakeprep_test_metrics"] == ["landing_files", "quality"]  # the landing ledger too

    contract = load_contracts(contracts_dir())["flights"]
    flights = catalog_table("lakeprep_test_cleaned", "flights")
    table = Table(ran_lake, "cleaned", "flights")
    assert flights["TableType"] == "EXTERNAL_TABLE"
    assert flights["Parameters"]["table_type"] == "DELTA"
    assert flights["Parameters"]["spark.sql.sources.provider"] == "delta"
    assert flights["Parameters"]["lakeprep.delta_version"] == str(table.version())
    assert flights["Parameters"]["lakeprep.contract"] == f"flights@{contract.fingerprint}"
    assert flights["Description"] == contract.description
    descriptor = flights["StorageDescriptor"]
    assert descriptor["Location"] == table.uri
    # The contract's columns (with descriptions and PII flags), then lakeprep's metadata columns.
    assert descriptor["Columns"][: len(contract.glue_columns())] == contract.glue_columns()
    assert [c["Name"] for c in descriptor["Columns"][-3:]] == [SOURCE_FILE, INGESTED_AT, RUN_ID]
    tailnum = next(c for c in descriptor["Columns"] if c["Name"] == "tailnum")
    assert tailnum["Parameters"] == {"pii": "hash"}
    assert flights["PartitionKeys"] == contract.glue_partition_keys()
    # Same columns as the Delta log, whatever the source.
    log_names = table.arrow_schema().names
    assert sorted(c["Name"] for c in descriptor["Columns"] + flights["PartitionKeys"]) == sorted(log_names)

    raw = catalog_table("lakeprep_test_raw", "flights")["StorageDescriptor"]["Columns"]
    assert {c["Type"] for c in raw[: len(contract.columns)]} == {"string"}
    assert next(c for c in raw if c["Name"] == EXTRA)["Type"] == "map<string,string>"

    # Tables without a contract take their columns from the Delta log.
    quarantine = catalog_table("lakeprep_test_quarantine", "flights")
    assert [k["Name"] for k in quarantine["PartitionKeys"]] == [STAGE]
    reasons = next(c for c in quarantine["StorageDescriptor"]["Columns"] if c["Name"] == REASONS)
    assert reasons["Type"] == "array<string>"


def test_register_is_idempotent_and_follows_new_versions(
    aws: Aws, ran_lake: Storage, write_deployment: Callable[..., Path]
) -> None:
    config = load_config(str(write_deployment("bucket-a")))
    glue = Clients.for_config(config).glue
    contracts = load_contracts(contracts_dir())
    first = register_tables(glue, config, ran_lake, contracts, ("cleaned",))
    second = register_tables(glue, config, ran_lake, contracts, ("cleaned",))
    assert {r.action for r in first} == {"created"}
    assert {r.action for r in second} == {"unchanged"}
    assert len(glue.get_tables(DatabaseName="lakeprep_test_cleaned")["TableList"]) == len(first)

    # A new commit (here a metrics append, the smallest real one) moves the registered version.
    metrics = Table(ran_lake, "metrics", "quality")
    register_tables(glue, config, ran_lake, contracts, ("metrics",))
    metrics.append_arrow(metrics.to_arrow().slice(0, 1), tags={"job": "test"})
    actions = {r.name: r.action for r in register_tables(glue, config, ran_lake, contracts, ("metrics",))}
    assert actions == {"quality": "updated", "landing_files": "unchanged"}  # only the table that moved
    assert catalog_table("lakeprep_test_metrics", "quality")["Parameters"]["lakeprep.delta_version"] == str(
        metrics.version()
    )


def test_shared_database_prefixes_zone(
    aws: Aws, ran_lake: Storage, write_deployment: Callable[..., Path]
) -> None:
    config = load_config(
        str(write_deployment("bucket-a", catalog={"databases": {"raw": "ml", "cleaned": "ml"}}))
    )
    registered = register_tables(
        Clients.for_config(config).glue, config, ran_lake, load_contracts(contracts_dir()), ("raw", "cleaned")
    )
    assert {(r.database, r.name) for r in registered if r.ref.endswith("/planes")} == {
        ("ml", "raw_planes"),
        ("ml", "cleaned_planes"),
    }


def test_contract_out_of_step_with_the_log_is_refused(
    aws: Aws, tmp_path: Path, ran_lake: Storage, write_deployment: Callable[..., Path]
) -> None:
    """A contract changed after the last clean: registering would describe columns the table lacks."""
    changed = tmp_path / "schemas"
    changed.mkdir()
    text = (contracts_dir() / "airlines.yaml").read_text()
    (changed / "airlines.yaml").write_text(
        text.replace("columns:\n", "columns:\n  - {name: alliance, type: string}\n", 1)
    )
    config = load_config(str(write_deployment("bucket-a")))
    with pytest.raises(CatalogError, match=r"cleaned/airlines: the Delta log has columns"):
        register_tables(
            Clients.for_config(config).glue, config, ran_lake, load_contracts(changed), ("cleaned",)
        )


def test_glue_types_of_arrow_types() -> None:
    assert glue_type(pa.int64()) == "bigint"
    assert glue_type(pa.timestamp("us", tz="UTC")) == "timestamp"
    assert glue_type(pa.decimal128(10, 2)) == "decimal(10,2)"
    assert (
        glue_type(pa.struct([("a", pa.int32()), ("b", pa.list_(pa.string()))]))
        == "struct<a:int,b:array<string>>"
    )
    with pytest.raises(CatalogError, match="no Glue type"):
        glue_type(pa.duration("s"))
