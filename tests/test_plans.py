"""The stages' plans are pure: the last commit's tags, the input versions, the contract or spec and the
flags decide what a run does."""

from __future__ import annotations

import pytest

from lake.features.plan import UP_TO_DATE as FEATURES_UP_TO_DATE
from lake.features.plan import plan_features
from lake.tags import CleanTags, CommitTags, ContractRef, FeatureTags, InputRef
from lake.zones.clean.plan import NO_NEW_ROWS, NO_RAW, UP_TO_DATE, plan_clean

LAST = CommitTags(contract=ContractRef("flights", "abc"), stage=CleanTags(raw_version=3, mode="full"))


class RawLog:
    """Raw's log as the plan sees it: the files added since a version (None: rewritten since)."""

    def __init__(self, files: list[str] | None) -> None:
        self.files = files
        self.asked: list[int] = []

    def __call__(self, version: int) -> list[str] | None:
        self.asked.append(version)
        return self.files


def test_only_raw_files_added_since_the_last_clean_are_read() -> None:
    since = RawLog(["a.parquet"])
    plan = plan_clean(LAST, 5, "abc", False, since)
    assert (plan.mode, plan.files, plan.since, plan.raw_version) == ("incremental", ["a.parquet"], 3, 5)
    assert since.asked == [3]


@pytest.mark.parametrize(
    ("last", "fingerprint", "full_refresh", "files"),
    [
        (LAST, "changed", False, ["a"]),  # another contract
        (LAST, "abc", True, ["a"]),  # asked for
        (CommitTags(), "abc", False, ["a"]),  # nothing cleaned yet
        (LAST, "abc", False, None),  # raw was rewritten since: its added files do not say it all
    ],
)
def test_a_full_rebuild(
    last: CommitTags, fingerprint: str, full_refresh: bool, files: list[str] | None
) -> None:
    plan = plan_clean(last, 5, fingerprint, full_refresh, RawLog(files))
    assert (plan.mode, plan.files, plan.skipped) == ("full", None, None)


@pytest.mark.parametrize(
    ("raw_version", "files", "reason"), [(None, ["a"], NO_RAW), (3, ["a"], UP_TO_DATE), (5, [], NO_NEW_ROWS)]
)
def test_skips_say_why(raw_version: int | None, files: list[str], reason: str) -> None:
    since = RawLog(files)
    plan = plan_clean(LAST, raw_version, "abc", False, since)
    assert (plan.mode, plan.skipped) == ("skip", reason)
    assert since.asked == ([3] if reason == NO_NEW_ROWS else [])


BUILT = CommitTags(
    inputs=(InputRef("cleaned/flights", "u", 4), InputRef("cleaned/weather", "u", 2)),
    stage=FeatureTags(mode="full", spec=ContractRef("delay", "abc"), pipeline="s3://p/run-1"),
)


def test_features_up_to_date_with_the_same_inputs_and_spec() -> None:
    log = RawLog(["a"])
    plan = plan_features(BUILT, "abc", "flights", {"flights": 4, "weather": 2}, False, log)
    assert (plan.mode, plan.skipped, log.asked) == ("skip", FEATURES_UP_TO_DATE, [])


def test_features_of_new_base_rows_only_reuse_the_recorded_pipeline() -> None:
    log = RawLog(["new.parquet"])
    plan = plan_features(BUILT, "abc", "flights", {"flights": 5, "weather": 2}, False, log)
    assert (plan.mode, plan.pipeline, plan.base_files, log.asked) == (
        "incremental",
        "s3://p/run-1",
        ["new.parquet"],
        [4],
    )


@pytest.mark.parametrize(
    ("fingerprint", "versions", "full_refresh", "files"),
    [
        ("changed", {"flights": 5, "weather": 2}, False, ["a"]),  # another spec
        ("abc", {"flights": 5, "weather": 3}, False, ["a"]),  # a joined table changed
        ("abc", {"flights": 5, "weather": 2}, False, None),  # the base was rewritten
        ("abc", {"flights": 5, "weather": 2}, True, ["a"]),  # asked for
    ],
)
def test_features_full_rebuild(
    fingerprint: str, versions: dict[str, int], full_refresh: bool, files: list[str] | None
) -> None:
    plan = plan_features(BUILT, fingerprint, "flights", versions, full_refresh, RawLog(files))
    assert (plan.mode, plan.pipeline, plan.base_files) == ("full", None, None)
