"""The clean stage, raw -> cleaned, in flow order:

- ``plan``: what a run does to a dataset (full, incremental from which raw files, or skip and why),
  from the last commit's tags, raw's version, the contract and the flags; pure.
- ``transform``: normalise, cast, flag duplicates and rule failures, treat PII, split by outcome;
  DataFrame -> DataFrame, each covered by five-row tests.
- ``run``: the I/O: read raw, validate, commit quarantine then cleaned, metrics and lineage.

``jobs/clean.py`` is the entry point (arguments, session) that calls ``run.clean_all``.
"""
