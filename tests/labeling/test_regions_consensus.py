"""Region consensus with answers that mark nothing: a "(no regions)" answer is a vote against every
region and an answer to bill; ``status`` counts answers (not rows), regions drawn and agreed, and the
items per label from the consensus, and prints them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
from rich.console import Console

from labeling.backends.base import BackendError
from labeling.backends.label_studio import label_config
from labeling.regions import NO_REGIONS, annotator_agreement, item_consensus, region_summary
from labeling.report import compute_status, render_status
from labeling.spec import ContentSpec, LabelStudioBackendSpec
from labeling.state import CampaignState
from labeling.store import LABELS_SCHEMA
from tests.labeling.test_structured_tasks import spec_for


def answers(*rows: tuple[str, str, str, int | None, int | None]) -> pa.Table:
    """Labels-table rows of (item, annotator, label, span start, span end)."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    empty: dict[str, Any] = {f.name: None for f in LABELS_SCHEMA}
    return pa.Table.from_pylist(
        [
            empty
            | {
                "example_id": item,
                "annotator_id": who,
                "label": label,
                "label_index": None if label == NO_REGIONS else 0,
                "span_start": start,
                "span_end": end,
                "source": "human",
                "batch_id": "b001",
                "annotation_key": f"{item}:{who}:{n}",
                "labelled_at": now,
            }
            for n, (item, who, label, start, end) in enumerate(rows)
        ],
        schema=LABELS_SCHEMA,
    )


HUMAN = answers(
    ("t", "a", "word", 0, 5),
    ("t", "a", "name", 6, 9),  # only a: no consensus
    ("t", "b", "word", 0, 5),
    ("t", "c", NO_REGIONS, None, None),  # c saw nothing to mark: outvoted
    ("u", "a", NO_REGIONS, None, None),
    ("u", "b", NO_REGIONS, None, None),  # both agree there is nothing
    ("v", "a", "word", 0, 4),
    ("v", "b", NO_REGIONS, None, None),  # a tie: no region is agreed
)


def test_an_answer_marking_nothing_votes_against_every_region() -> None:
    items = {i.example_id: i for i in item_consensus(HUMAN)}
    assert [(r.label, r.geometry, r.votes, r.annotators) for r in items["t"].regions] == [
        ("word", (0.0, 5.0), 2, 3)
    ]
    assert items["t"].agreement == 1 / 3  # only b answered exactly the consensus
    assert (items["u"].regions, items["u"].agreement, items["u"].annotators) == ([], 1.0, ["a", "b"])
    assert (items["v"].regions, items["v"].agreement) == ([], 0.5)  # b's empty answer is the consensus
    people = annotator_agreement(list(items.values()))
    assert people.to_dict("records") == [  # exactly the consensus: a on u; b on t, u and v; c never
        {"annotator_id": "a", "labels": 3, "shared": 3, "agreement": 1 / 3},
        {"annotator_id": "b", "labels": 3, "shared": 3, "agreement": 1.0},
        {"annotator_id": "c", "labels": 1, "shared": 1, "agreement": 0.0},
    ]
    assert region_summary(HUMAN, list(items.values())) == {
        "regions": 4,
        "agreed_regions": 1,
        "unanimous_items": 1,
        "items_without_regions": 2,
    }


def test_status_of_a_span_campaign_counts_answers_and_agreed_regions() -> None:
    spec = spec_for(
        ContentSpec(kind="text", columns=("text",)),
        LabelStudioBackendSpec(url="http://ls:8080"),
        task_type="named_entity",
    )
    status = compute_status(CampaignState(spec=spec), HUMAN)
    assert HUMAN.num_rows == 8
    assert (status.human_items, status.human_annotations) == (3, 7)  # answers, not rows
    assert (status.regions, status.agreed_regions, status.unanimous_items) == (4, 1, 1)
    assert [(c.label, c.human_items) for c in status.classes] == [("word", 1), ("name", 0)]
    console = Console(width=160, record=True)
    console.print(render_status(status))
    assert "4 (1 agreed by most annotators; 1 items answered alike by all)" in console.export_text()


def test_the_no_regions_marker_cannot_be_a_label() -> None:
    spec = spec_for(
        ContentSpec(kind="text", columns=("text",)),
        LabelStudioBackendSpec(url="http://ls:8080"),
        task_type="named_entity",
    )
    label_config(spec)
    clash = spec.model_copy(update={"labels": ("word", NO_REGIONS)})
    with pytest.raises(BackendError, match=r"'\(no regions\)' marks an answer without regions, not a label"):
        label_config(clash)
