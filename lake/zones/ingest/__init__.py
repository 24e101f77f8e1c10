"""The ingest stage, landing -> raw, in flow order:

- ``landed``: what landed (a file, what a probe of its first bytes found, what became of it); the
  types every part shares.
- ``plan``: which files a run reads (new, changed and re-ingested or held back, already in raw; full,
  incremental or up to date), then which probed files are read and which read files are committed,
  from raw's app transactions, the ledger, the contract and the listing; pure.
- ``transform``: landed records and content as rows of one landed layout, the run's columns, the
  per-file counts and the quarantine record; DataFrame -> DataFrame.
- ``landing``: the landing folder's I/O (list with checksums, probe, read with Spark).
- ``ledger``: ``metrics/landing_files``, one row per decision about a landed file.
- ``run``: the I/O between them: read, commit quarantine then raw, the ledger, metrics and lineage.

``jobs/ingest.py`` is the entry point (arguments, session) that calls ``run.ingest_all``.
"""
