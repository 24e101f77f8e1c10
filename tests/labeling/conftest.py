"""Fixtures for the labelling tests: features tables built from scikit-learn data, and a real Label Studio.

Label Studio runs from its own virtualenv (``make test`` builds it and sets $LAKEPREP_LABEL_STUDIO).
It is started once per session on a free loopback port with a temporary data directory; the resume
test stops and restarts it on the same directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession
from sklearn.datasets import load_breast_cancer, make_classification

from labeling.campaign import Campaign
from labeling.spec import BackendSpec, ContentSpec
from lake.storage import Storage
from lake.table import Table
from tests.support.servers import free_port, wait_for

CANCER_LABELS = ("malignant", "benign")  # the breast-cancer target: 0 = malignant, 1 = benign
LS_USER, LS_PASSWORD = "lakeprep@example.com", "lakeprep-test-password"
LS_TOKEN = "lakeprep0test0token0123456789abcdef0123"
ROOT = Path(__file__).resolve().parents[2]


def features_table(
    storage: Storage, name: str, features: np.ndarray, labels: np.ndarray, *, seed: int = 0
) -> Table:
    """A features table shaped like ``features/flight_delay``: example_id, numeric features, label, split,
    plus a ``text`` column a human would read."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    columns: dict[str, object] = {"example_id": [f"{name}-{i:06d}" for i in range(n)]}
    for j in range(features.shape[1]):
        columns[f"f{j:02d}"] = features[:, j].astype(np.float64)
    columns["label"] = labels.astype(np.int32)
    columns["split"] = rng.choice(["train", "validation", "test"], size=n, p=[0.8, 0.1, 0.1])
    columns["text"] = [
        f"item {i}: " + ", ".join(f"{v:.2f}" for v in row[:3]) for i, row in enumerate(features)
    ]
    table = Table(storage, "features", name)
    table.append_arrow(pa.table(columns), tags={"job": "test-fixture"})
    return table


@pytest.fixture
def separable_features(lake: Storage) -> Table:
    """3,000 rows of an easy binary problem without label noise (machine labels can reach 95%)."""
    x, y = make_classification(
        n_samples=3000, n_features=6, n_informative=4, class_sep=2.0, flip_y=0.0, random_state=7
    )
    return features_table(lake, "separable", x, y)


def breast_cancer_table(storage: Storage) -> Table:
    """The first eight breast-cancer features as ``features/cancer`` (f00..f07, label, split, text)."""
    data = load_breast_cancer()
    return features_table(storage, "cancer", data.data[:, :8], data.target)


@pytest.fixture
def cancer_features(lake: Storage) -> Table:
    return breast_cancer_table(lake)


def cancer_truth() -> dict[str, str]:
    """example_id of ``breast_cancer_table`` -> the label name an honest annotator gives."""
    return {f"cancer-{i:06d}": CANCER_LABELS[v] for i, v in enumerate(load_breast_cancer().target)}


def cancer_campaign(
    spark: SparkSession, storage: Storage, table: Table, name: str, backend: BackendSpec, **settings: Any
) -> Campaign:
    """A campaign over ``breast_cancer_table`` as the backend tests run it: 8 features, batches of 20."""
    return Campaign.create(
        storage,
        name=name,
        source=table.ref,
        id_column="example_id",
        content=ContentSpec(columns=("text",)),
        labels=CANCER_LABELS,
        backend=backend,
        feature_columns=[f"f{j:02d}" for j in range(8)],
        batch_size=20,
        spark=spark,
        **settings,
    )


@dataclass
class LabelStudioServer:
    """A real Label Studio process; ``restart`` keeps its data directory (projects, tasks, annotations)."""

    binary: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """What the server prints: a user who starts it as the docs show sees this in their terminal."""
        return self.data_dir.parent / "label-studio.log"

    def launch(self) -> None:
        """Start the process without waiting (it takes tens of seconds: other tests run meanwhile)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log, "ab")  # noqa: SIM115 - owned by the process
        env = {k: v for k, v in os.environ.items() if k != "HOST"}  # LS reads HOST as its own URL
        env.update(LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true", LATEST_VERSION_CHECK="false")
        self.process = subprocess.Popen(
            [
                self.binary,
                "start",
                "--no-browser",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--username",
                LS_USER,
                "--password",
                LS_PASSWORD,
                "--user-token",
                LS_TOKEN,
                "--data-dir",
                str(self.data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        """Ready means answering on *our* port (Label Studio moves silently to another one if it is taken)."""

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"label-studio exited with {self.process.returncode}; see its log")
            response = httpx.get(
                f"{self.url}/api/projects", headers={"Authorization": f"Token {LS_TOKEN}"}, timeout=5
            )
            return response.status_code == 200

        wait_for(ready, 600, f"Label Studio on port {self.port}")

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # its own session: the server and its children
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def label_studio_binary() -> str | None:
    """$LAKEPREP_LABEL_STUDIO (set by `make test`), else the checkout's .venv-label-studio."""
    configured = os.environ.get("LAKEPREP_LABEL_STUDIO")
    candidate = Path(configured) if configured else ROOT / ".venv-label-studio" / "bin" / "label-studio"
    return str(candidate) if candidate.exists() else shutil.which("label-studio")


_EARLY: dict[str, LabelStudioServer] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Launch Label Studio as soon as a selected test needs it, so its start overlaps the Spark tests."""
    del config
    binary = label_studio_binary()
    if binary and "server" not in _EARLY and any(item.get_closest_marker("label_studio") for item in items):
        base = Path(tempfile.mkdtemp(prefix="lakeprep-label-studio-"))
        server = LabelStudioServer(binary, base / "data")
        server.launch()
        _EARLY["server"] = server


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    del session, exitstatus
    server = _EARLY.pop("server", None)
    if server is not None:
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> LabelStudioServer:
    server = _EARLY.get("server")
    if server is None:  # not launched at collection: start it now
        binary = label_studio_binary()
        if binary is None:
            pytest.fail("Label Studio not installed: run `make test` (it builds .venv-label-studio)")
        server = LabelStudioServer(binary, tmp_path_factory.mktemp("label-studio") / "data")
        server.launch()
        _EARLY["server"] = server
    server.wait_ready()
    return server


@pytest.fixture
def ls_env(label_studio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch) -> LabelStudioServer:
    monkeypatch.setenv("LAKEPREP_LABEL_STUDIO_TOKEN", LS_TOKEN)
    return label_studio


@pytest.fixture
def unique() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:6]}"
