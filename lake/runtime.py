"""What every job script needs, the same under spark-submit, AWS Glue and EMR.

Arguments follow Glue's convention (``--name value``; unknown ones such as ``--JOB_ID`` or
``--TempDir`` are ignored), so one script runs everywhere. On Glue the real ``awsglue`` module
(``Job.init`` / ``job.commit``) is used; elsewhere it is not needed.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from lake.lineage import InputRef, RunContext
from lake.storage import Storage

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from lake.contracts import Contract

log = logging.getLogger("lakeprep")

# Arguments every job accepts, on top of its own.
COMMON_OPTIONS: dict[str, str] = {
    "lake": "lake root: a local folder or s3://bucket/prefix (default: $LAKEPREP_LAKE or ./.lake)",
    "contracts": "folder of dataset contracts (default: the bundled schemas/)",
    "run-id": "run id to record (default: generated; on Glue the JOB_RUN_ID)",
    "kms-key-id": "KMS key for the Delta log and driver-written files on S3 (default: $LAKEPREP_KMS_KEY_ID)",
    "JOB_NAME": "set by AWS Glue; enables awsglue Job.init/commit",
}


class JobFailedError(RuntimeError):
    """The job finished its commits but must report failure (e.g. a landed file was unreadable)."""


@dataclass(frozen=True)
class JobArgs:
    values: dict[str, str]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name, default)

    def require(self, name: str) -> str:
        value = self.values.get(name)
        if not value:
            raise SystemExit(f"missing required argument --{name}")
        return value

    def flag(self, name: str) -> bool:
        return self.values.get(name, "false").lower() in {"true", "1", "yes", ""}

    def list(self, name: str) -> list[str]:
        value = self.values.get(name)
        return [v.strip() for v in value.split(",") if v.strip()] if value else []

    def integer(self, name: str) -> int | None:
        value = self.values.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise SystemExit(f"--{name} must be an integer, got {value!r}") from None


def parse_args(argv: Sequence[str]) -> JobArgs:
    """Glue-style arguments: ``--name value``, ``--name=value`` or a bare ``--flag`` (value "")."""
    values: dict[str, str] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if not token.startswith("--"):
            continue  # positional leftovers (Glue passes none) are ignored, like unknown options
        name = token[2:]
        if "=" in name:
            name, value = name.split("=", 1)
        elif index < len(argv) and not argv[index].startswith("--"):
            value = argv[index]
            index += 1
        else:
            value = ""
        values[name] = value
    return JobArgs(values)


@dataclass
class DatasetIO:
    """An input or output of a run, as OpenLineage and the run summary see it."""

    table: str
    uri: str
    version: int | None
    schema: pa.Schema | None = None
    facets: dict[str, Any] = field(default_factory=dict)


class RunObserver(Protocol):
    def started(self, run: JobRun) -> None: ...

    def finished(self, run: JobRun, error: BaseException | None) -> None: ...


def _on_glue(args: JobArgs) -> bool:
    if not args.get("JOB_NAME"):
        return False
    try:
        import awsglue  # noqa: F401
    except ImportError:
        return False
    return True


class JobRun:
    """Context of one job run: arguments, session, lake, run identity, lineage observers."""

    def __init__(
        self,
        job: str,
        argv: Sequence[str] | None,
        options: Mapping[str, str],
        doc: str = "",
        observers: Sequence[RunObserver] | None = None,
    ) -> None:
        self.job = job
        self.argv = list(sys.argv[1:] if argv is None else argv)
        self.options = {**options, **COMMON_OPTIONS}
        self.doc = doc
        self.args = parse_args(self.argv)
        self.inputs: list[DatasetIO] = []
        self.outputs: list[DatasetIO] = []
        self.summary: dict[str, Any] = {}
        self._observers = list(observers) if observers is not None else None
        self._glue_job: Any = None
        self._spark: SparkSession | None = None

    # ------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> JobRun:
        if "help" in self.args.values or "-h" in self.argv:
            print(self.usage())
            raise SystemExit(0)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("py4j").setLevel(logging.WARNING)
        if self.args.get("kms-key-id"):
            os.environ["LAKEPREP_KMS_KEY_ID"] = self.args.require("kms-key-id")
        self.storage = Storage.resolve(self.args.get("lake"))
        on_glue = _on_glue(self.args)
        params = {k: v for k, v in self.args.values.items() if k in self.options and k != "JOB_NAME"}
        run_id = self.args.get("run-id") or self.args.get("JOB_RUN_ID")
        self.run = RunContext.start(self.job, params, run_id=run_id, runtime="glue" if on_glue else "spark")
        if on_glue:
            self._init_glue()
        if self._observers is None:
            from lake.openlineage import default_observers

            self._observers = default_observers(self.storage)
        for observer in self._observers:
            observer.started(self)
        log.info("%s run %s on lake %s", self.job, self.run.run_id, self.storage.root)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        error = exc if exc_type is not None and not issubclass(exc_type, SystemExit) else None
        for observer in self._observers or []:
            try:
                observer.finished(self, error)
            except Exception:  # lineage must never mask the job's own outcome
                log.exception("lineage observer failed")
        if error is None and self._glue_job is not None:
            self._glue_job.commit()

    def _init_glue(self) -> None:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext

        glue_context = GlueContext(SparkContext.getOrCreate())
        self._spark = glue_context.spark_session
        self._glue_job = Job(glue_context)
        self._glue_job.init(self.args.require("JOB_NAME"), dict(self.args.values))

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from lake.spark import get_spark

            self._spark = get_spark(f"lakeprep-{self.job}")
        return self._spark

    def usage(self) -> str:
        width = max(len(n) for n in self.options) + 4
        lines = [
            f"usage: spark-submit jobs/{self.job}.py [--option value ...]",
            "",
            self.doc.strip(),
            "",
            "options:",
        ]
        lines += [f"  --{name:<{width}}{text}" for name, text in self.options.items()]
        return "\n".join(lines)

    def contracts(self) -> tuple[dict[str, Contract], list[str]]:
        """All contracts (from ``--contracts`` or the bundle) and the ``--dataset`` selection (default: all)."""
        from lake.contracts import load_contracts
        from lake.paths import contracts_dir

        contracts = load_contracts(contracts_dir(self.args.get("contracts")))
        names = self.args.list("dataset") or sorted(contracts)
        unknown = sorted(set(names) - set(contracts))
        if unknown:
            raise SystemExit(f"no contract for dataset(s) {unknown}; known: {sorted(contracts)}")
        return contracts, names

    # ------------------------------------------------------------------------------ lineage
    def record_input(self, ref: InputRef, schema: pa.Schema | None = None, **facets: Any) -> None:
        self.inputs.append(DatasetIO(ref.table, ref.uri, ref.version, schema, dict(facets)))

    def record_output(
        self, table: str, uri: str, version: int | None, schema: pa.Schema | None = None, **facets: Any
    ) -> None:
        self.outputs.append(DatasetIO(table, uri, version, schema, dict(facets)))
