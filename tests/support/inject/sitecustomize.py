"""Fault injection for job tests, outside the production code: put this folder first on the
PYTHONPATH of a ``spark-submit`` and set ``LAKEPREP_TEST_KILL_JVM_AFTER_STAGE=<zone>/<name>``.

The job's Python driver then SIGKILLs its parent (the driver JVM, as the OOM killer would) right
after staging that table, and writes its own pid to ``$LAKEPREP_TEST_PID_FILE`` so the test can
wait for the orphaned driver to finish.
"""

from __future__ import annotations

import os
import signal
import sys
import time

_TARGET = os.environ.get("LAKEPREP_TEST_KILL_JVM_AFTER_STAGE")


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


# Only in a job's driver (jobs/<name>.py), not in the Python workers Spark starts.
if _TARGET and sys.argv and sys.argv[0].endswith(".py") and "jobs" in sys.argv[0]:
    _install()
