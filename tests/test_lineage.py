"""Lineage tags and OpenLineage transport: secrets redacted, events sent over HTTP when configured."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lake.lineage import REDACTED, RowCounts, RunContext, redact
from lake.openlineage import read_events
from lake.storage import Storage
from lake.tags import ContractRef
from tests.support.jobs import run_inprocess


def test_redact_by_name_and_by_shape() -> None:
    params = {
        "lake": "s3://bucket/lake",
        "pii-salt-secret": "arn:aws:secretsmanager:eu-west-1:1:secret:salt",
        "api_token": "abc",
        "endpoint": "https://user:hunter2@example.com/x",
        "key_id": "AKIAABCDEFGHIJKLMNOP",
        "nested": {"password": "p", "ok": 1},
    }
    assert redact(params) == {
        "lake": "s3://bucket/lake",
        "pii-salt-secret": REDACTED,
        "api_token": REDACTED,
        "endpoint": REDACTED,
        "key_id": REDACTED,
        "nested": {"password": REDACTED, "ok": 1},
    }


def test_tags_carry_rows_contract_and_no_secret() -> None:
    run = RunContext.start("clean", {"lake": "/tmp/x", "pii-salt-secret": "my-secret-id"})
    tags = run.tags(
        inputs=[], rows=RowCounts(10, 7, 2, 1), contract=ContractRef("flights", "abc"), extra={"token": "t"}
    ).as_dict()
    assert tags["rows"] == {"in": 10, "out": 7, "quarantined": 2, "excluded": 1}
    assert tags["contract"] == {"name": "flights", "hash": "abc"}
    assert "my-secret-id" not in json.dumps(tags)
    assert tags["token"] == REDACTED
    assert RowCounts(10, 7, 2, 1).balanced
    assert not RowCounts(10, 7, 2).balanced  # a row that went nowhere is caught


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def lineage_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_events_also_go_to_a_configured_http_endpoint(
    spark: SparkSession, lake: Storage, tmp_path: Path, lineage_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OPENLINEAGE_URL (as for Marquez) sends the same events over HTTP; the lake copy stays."""
    monkeypatch.setenv("OPENLINEAGE_URL", lineage_server)
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "things.yaml").write_text("name: things\ncolumns: [{name: id, type: int}]\n")
    lake.write_bytes(lake.uri("landing", "things", "a.csv"), b"id\n1\n2\n")
    run_inprocess(
        "ingest", ["--lake", lake.root, "--contracts", str(contracts), "--run-id", "ingest-http-test"]
    )

    posted = [body for path, body in _Collector.received if path == "/api/v1/lineage"]
    assert [e["eventType"] for e in posted] == ["START", "COMPLETE"]
    stored = read_events(lake, "ingest", "ingest-http-test")
    assert [e["run"]["runId"] for e in stored] == [e["run"]["runId"] for e in posted]
    [output] = [o for o in posted[1]["outputs"] if o["name"].endswith("raw/things")]
    assert output["facets"]["version"]["datasetVersion"] == str(
        DeltaTable(lake.uri("raw", "things")).version()
    )
