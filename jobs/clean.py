"""Clean raw tables into the cleaned zone: cast to contract types, trim and normalise, de-duplicate
on keys, validate every rule in one pass, quarantine rejected rows with their reasons, hash or drop
PII as the contract says. Every raw row ends up cleaned or quarantined; the counts are recorded.

Incremental by default: only raw files added since the last clean are processed (keys already in
the cleaned table count as duplicates). A changed contract, a rewritten raw table or
`--full-refresh` rebuilds the cleaned table from the whole raw snapshot.

    spark-submit jobs/clean.py --lake .lake [--dataset flights] [--full-refresh]
"""

from __future__ import annotations

from collections.abc import Sequence

from lake.runtime import JobRun
from lake.zones.clean.run import CleanResult, clean_all

OPTIONS = {
    "dataset": "comma-separated datasets to clean (default: every contract, referenced ones first)",
    "full-refresh": "rebuild from the whole raw snapshot instead of the files added since the last clean",
    "pii-salt-secret": "Secrets Manager id of the PII salt (default: $LAKEPREP_PII_SALT)",
}


def main(argv: Sequence[str] | None = None) -> list[CleanResult]:
    with JobRun("clean", argv, OPTIONS, __doc__ or "") as run:
        return clean_all(run)


if __name__ == "__main__":
    main()
