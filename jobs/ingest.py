"""Ingest landed files (CSV, JSON lines, Parquet; images, any binary file, text documents) into the raw
zone, each file's content exactly once.

Raw keeps the landed text losslessly, plus `_source_file`, `_ingested_at`, `_run_id` and unknown
columns in `_extra`. A content dataset (source.formats image, binary or text) gets one row per
file: its URI, path, size, SHA-256 and content type, width and height for images, or the document's
text. Broken records, images that do not decode and text that does not decode go to the quarantine
table with their file. A file re-delivered with new content replaces its earlier rows in raw (or is held back
under `source.on_changed_file: reject`). A file that drifts from the contract or cannot be read is
held back while the others are ingested; the run names it once (in `metrics/landing_files`) and
fails; later runs only warn until the file or the contract changes. Empty files are recorded, not errors.

    spark-submit jobs/ingest.py --lake .lake [--dataset flights,weather]
"""

from __future__ import annotations

from collections.abc import Sequence

from lake.runtime import JobRun
from lake.zones.ingest.run import IngestResult, ingest_all

OPTIONS = {"dataset": "comma-separated datasets to ingest (default: every contract)"}


def main(argv: Sequence[str] | None = None) -> list[IngestResult]:
    with JobRun("ingest", argv, OPTIONS, __doc__ or "") as run:
        return ingest_all(run)


if __name__ == "__main__":
    main()
