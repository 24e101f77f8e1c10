"""Fault injection for tests, outside the production code: put this folder first on the PYTHONPATH
of a ``spark-submit`` (or of a ``lakeprep`` command run as ``python -c``) and set one of:

- ``LAKEPREP_TEST_KILL_JVM_AFTER_STAGE=<zone>/<name>``: the job's Python driver SIGKILLs its parent
  (the driver JVM, as the OOM killer would) right after staging that table, and writes its own pid to
  ``$LAKEPREP_TEST_PID_FILE`` so the test can wait for the orphaned driver to finish.
- ``LAKEPREP_TEST_KILL_BEFORE_COMMIT=<zone>/<name>`` (or ``*``): the process SIGKILLs itself right
  before committing that table (``Table.commit`` or ``Table.append_arrow``), as a crash between a
  run's writes and its commit would.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

_TARGET = os.environ.get("LAKEPREP_TEST_KILL_JVM_AFTER_STAGE")
_BEFORE_COMMIT = os.environ.get("LAKEPREP_TEST_KILL_BEFORE_COMMIT")


def _install() -> None:
    from lake.table import Table

    # ``staged`` is where every write path (``stage``, a split write's ``stage_split``) hands over its files.
    original = Table.staged

    def staged(self: Table, *args: object, **kwargs: object) -> object:
        write = original(self, *args, **kwargs)  # type: ignore[arg-type]
        if self.ref == _TARGET:
            jvm = os.getppid()
            with open(os.environ["LAKEPREP_TEST_PID_FILE"], "w") as handle:
                handle.write(str(os.getpid()))
            os.kill(jvm, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while os.getppid() == jvm and time.monotonic() < deadline:
                time.sleep(0.1)
        return write

    Table.staged = staged  # type: ignore[method-assign,assignment]


def _install_kill_before_commit(target: str) -> None:
    from lake.table import Table

    def killed_before(method: str) -> None:
        original = getattr(Table, method)

        def wrapper(self: Table, *args: object, **kwargs: object) -> object:
            if target in {self.ref, "*"}:
                logging.getLogger("lake.table").error(
                    "failpoint before_commit:%s reached: killing the driver", self.ref
                )
                logging.shutdown()
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, *args, **kwargs)

        setattr(Table, method, wrapper)

    killed_before("commit")
    killed_before("append_arrow")


# Only in a job's driver (jobs/<name>.py) or a command run as ``python -c``, not in the Python
# workers Spark starts.
_DRIVER = bool(sys.argv) and (sys.argv[0] == "-c" or (sys.argv[0].endswith(".py") and "jobs" in sys.argv[0]))
if _TARGET and _DRIVER:
    _install()
if _BEFORE_COMMIT and _DRIVER:
    _install_kill_before_commit(_BEFORE_COMMIT)
