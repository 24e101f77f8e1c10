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
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lake import errors
from lake.errors import LakeNotFoundError, SparkContextDiedError, UsageError
from lake.lineage import DatasetIO, InputRef, RunContext, RunObserver
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
    "debug": "show Python and Java tracebacks on the terminal (default: one line, traceback in a log file)",
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
            raise UsageError(f"missing required argument --{name}")
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
            raise UsageError(f"--{name} must be an integer, got {value!r}") from None


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


def _on_glue(args: JobArgs) -> bool:
    if not args.get("JOB_NAME"):
        return False
    try:
        import awsglue  # noqa: F401
    except ImportError:
        return False
    return True


def _failure(exc: BaseException | None) -> BaseException | None:
    """The error a run ended with; ``SystemExit`` counts unless its status is 0."""
    if not isinstance(exc, SystemExit):
        return exc
    if exc.code in (0, None):
        return None
    return UsageError(exc.code) if isinstance(exc.code, str) else RuntimeError(f"exit status {exc.code}")


def spark_alive(spark: SparkSession) -> bool:
    """Whether a classic session's driver JVM answers; a killed JVM breaks the py4j gateway."""
    jsc = getattr(spark, "_jsc", None)
    if jsc is None:  # not a py4j session (Spark Connect): nothing to check from here
        return True
    try:
        return not bool(jsc.sc().isStopped())
    except Exception:
        return False


def require_lake(storage: Storage) -> None:
    """``--lake`` must exist (only ``lakeprep sample`` and ``demo`` create one): a typo fails in one line
    instead of running against a new empty lake."""
    if storage.exists(storage.root):
        return
    if storage.is_s3:
        bucket = storage.root[len("s3://") :].split("/", 1)[0]
        if not storage.exists(f"s3://{bucket}"):
            raise LakeNotFoundError(f"--lake {storage.root}: no bucket {bucket!r} at {errors.s3_endpoint()}")
    raise LakeNotFoundError(
        f"--lake {storage.root}: no lake there (`lakeprep sample --lake {storage.root}` creates one)"
    )


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
        # Run as a script (spark-submit, EMR): errors end the process with one line and an exit code.
        self._owns_process = argv is None

    # ------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> JobRun:
        if "help" in self.args.values or "-h" in self.argv:
            print(self.usage())
            raise SystemExit(0)
        if "debug" in self.args.values and self.args.flag("debug"):
            errors.enable_debug()
        try:
            self._start()
        except Exception as exc:
            self._end_process(exc)
            raise
        return self

    def _start(self) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("py4j").setLevel(logging.WARNING)
        if self.args.get("kms-key-id"):
            os.environ["LAKEPREP_KMS_KEY_ID"] = self.args.require("kms-key-id")
        self.storage = Storage.resolve(self.args.get("lake"))
        require_lake(self.storage)
        on_glue = _on_glue(self.args)
        self._owns_process = self._owns_process and not on_glue
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

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        error = _failure(exc)
        if not isinstance(error, SparkContextDiedError) and not self.spark_alive():
            # The root cause, whatever a later py4j call (an unpersist in a finally) raised on top.
            died = SparkContextDiedError(
                f"{self.job}: the Spark driver JVM died during the run (killed or out of memory); "
                "nothing more was committed"
            )
            died.__cause__ = error
            error = died
        for observer in self._observers or []:
            try:
                observer.finished(self, error)
            except Exception:  # lineage must never mask the job's own outcome
                log.exception("lineage observer failed")
        if error is None:
            if self._glue_job is not None:
                self._glue_job.commit()
            return
        if exc is None:
            self._end_process(error)
            raise error
        if not isinstance(exc, SystemExit):
            self._end_process(error)

    def _end_process(self, exc: BaseException) -> None:
        """Under spark-submit (the script owns the process): one line, the traceback in a log, exit.
        In-process callers (tests, notebooks) and Glue get the exception itself."""
        if not self._owns_process:
            return
        run = getattr(self, "run", None)
        name = f"{self.job}-{run.run_id}" if run is not None else self.job
        raise SystemExit(errors.report(exc, name)) from None

    def spark_alive(self) -> bool:
        """Whether the run's Spark driver JVM still answers (True when no session was started)."""
        return self._spark is None or spark_alive(self._spark)

    def require_spark(self, before: str) -> None:
        """Called right before each commit: a run whose JVM died commits nothing more."""
        if not self.spark_alive():
            raise SparkContextDiedError(
                f"{self.job}: the Spark driver JVM died (killed or out of memory) before {before} "
                "was committed; nothing more is committed, re-run the job"
            )

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
            raise UsageError(f"--dataset: no contract for {unknown}; known: {sorted(contracts)}")
        return contracts, names

    # ------------------------------------------------------------------------------ lineage
    def record_input(self, ref: InputRef, schema: pa.Schema | None = None, **facets: Any) -> None:
        self.inputs.append(DatasetIO(ref.table, ref.uri, ref.version, schema, dict(facets)))

    def record_output(
        self, table: str, uri: str, version: int | None, schema: pa.Schema | None = None, **facets: Any
    ) -> None:
        self.outputs.append(DatasetIO(table, uri, version, schema, dict(facets)))
