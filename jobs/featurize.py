"""Build a features table from cleaned tables, as a feature spec (schemas/features/<spec>.yaml) says.

One row per example: `example_id`, `split` (train/validation/test from a hash of the id), the
label, one column per feature and, when the spec asks, the assembled `features` vector. The
pyspark.ml pipeline is fitted on the training split and saved beside the table; every commit
records the exact input versions, the spec hash and the pipeline, so a training set can be rebuilt.

    spark-submit jobs/featurize.py --lake .lake [--spec flight_delay] [--full-refresh]
    spark-submit jobs/featurize.py --rebuild-version 3 [--output flight_delay_v3]
    spark-submit jobs/featurize.py --apply --where "month = 12" --output flight_delay_scoring

Incremental by default: when the spec is unchanged and the base table only grew, only the new base
rows are featurized, with the saved pipeline (no refit); anything else rebuilds from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence

from lake.features.run import FeatureResult, featurize_all
from lake.runtime import JobRun

OPTIONS = {
    "spec": "feature spec(s) under <contracts>/features, comma-separated (default: all)",
    "full-refresh": "refit and rebuild the whole table even when only new base rows arrived",
    "rebuild-version": "rebuild features version N from the input versions and spec it recorded",
    "apply": "transform with a saved pipeline (no refit) and write --output; for inference data",
    "where": 'with --apply: SQL filter on the base table, e.g. "month = 12"',
    "pipeline": "with --apply: pipeline artifact URI (default: the latest features commit's)",
    "output": "features-zone table to write for --apply / --rebuild-version",
}


def main(argv: Sequence[str] | None = None) -> list[FeatureResult]:
    with JobRun("featurize", argv, OPTIONS, __doc__ or "") as run:
        return featurize_all(run)


if __name__ == "__main__":
    main()
