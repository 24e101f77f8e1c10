"""What a person sees in Label Studio, in a real browser: a quotation, a handwritten digit that loads, a
flight record with readable names, the question, the choices with their hints, and no answer pre-selected
on an item the model is unsure about. Screenshots are kept in tests/artifacts/<test name>/."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from playwright.sync_api import Locator
from pyspark.sql import SparkSession

from labeling.backends.label_studio import ID_FIELD
from labeling.campaign import Campaign
from labeling.spec import Budget, ContentSpec, LabelStudioBackendSpec, Lookup
from lake.storage import Storage
from lake.table import Table
from tests.labeling.conftest import LS_PASSWORD, LS_TOKEN, LS_USER, LabelStudioServer
from tests.labeling.content_fixtures import FLIGHT_KEY, image_table, record_tables, text_table
from tests.labeling.test_label_studio import annotate, batch_tasks
from tests.support.browser import artifacts_dir, chromium_page, sign_in

TOPICS = ("computers", "love")
CHOICE = "input.ant-checkbox-input"  # Label Studio's choice boxes
QUESTION = "Which topic is this quotation about?"
HINTS = {"computers": "Machines, programs, programmers", "love": "Romance, affection, heartbreak"}


def campaign_for(
    spark: SparkSession, lake: Storage, table: Table, name: str, url: str, content: ContentSpec, **kw: Any
) -> Campaign:
    return Campaign.create(
        lake,
        name=name,
        source=table.ref,
        id_column="example_id",
        content=content,
        backend=LabelStudioBackendSpec(url=url),
        budget=Budget(max_items=40, cost_per_label=0.1),
        batch_size=10,
        autolabel=False,
        spark=spark,
        **kw,
    )


def first_task(client: LabelStudio, campaign: Campaign, batch: str, purpose: str | None = None) -> Any:
    project = int(campaign.state().backend["project_id"])
    plan = campaign.state().batches[batch]
    for task in sorted(batch_tasks(client, project, batch), key=lambda t: t.id):
        item = plan.item(task.data[ID_FIELD])
        if purpose is None or (item is not None and item.purpose == purpose):
            return task
    raise AssertionError(f"no {purpose} task in {batch}")


@pytest.mark.label_studio
def test_people_see_text_images_and_records_they_can_label(
    spark: SparkSession, lake: Storage, ls_env: LabelStudioServer, unique: Callable[[str], str]
) -> None:
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    quotes = text_table(lake, TOPICS)
    text = campaign_for(
        spark,
        lake,
        quotes,
        unique("fortunes"),
        ls_env.url,
        ContentSpec(kind="text", columns=("text",)),
        labels=TOPICS,
        feature_columns=["n_chars", "n_words"],
        instructions=QUESTION,
        label_descriptions=HINTS,
    )
    digits = campaign_for(
        spark,
        lake,
        image_table(lake),
        unique("digits"),
        ls_env.url,
        ContentSpec(kind="image", columns=("image",)),
        labels=("zero", "one"),
        feature_columns=[f"p{j:02d}" for j in range(64)],
        instructions="Which digit is written here?",
    )
    flights = campaign_for(
        spark,
        lake,
        record_tables(lake),
        unique("flights"),
        ls_env.url,
        ContentSpec(
            kind="record",
            columns=("carrier", "flight", "origin", "dest", "sched_dep_time", "distance"),
            table="cleaned/flights",
            key=f"concat_ws('|', {', '.join(FLIGHT_KEY)})",  # features/flight_delay's example_id
            lookups=(
                Lookup(column="carrier", table="cleaned/airlines", key="carrier", value="name"),
                Lookup(column="origin", table="cleaned/airports", key="faa", value="name"),
                Lookup(column="dest", table="cleaned/airports", key="faa", value="name"),
            ),
        ),
        labels=("on_time", "late"),
        feature_columns=["dep_delay", "distance"],
        instructions="Did this flight arrive more than 15 minutes late?",
    )
    project = client.projects.get(id=int(text.state().backend["project_id"]))
    assert project.expert_instruction == QUESTION
    assert project.show_instruction

    # text: a first batch answered, then a second one whose query items come from an unsure model
    text.round()
    truth = {f"{c}-{i:04d}": c for c in TOPICS for i in range(200)}
    annotate(client, batch_tasks(client, int(text.state().backend["project_id"]), "b001"), truth)
    text.sync()
    second = text.round()
    assert second.model_version
    assert any(i.predicted for i in text.state().batches["b002"].items)  # the model had an answer...
    query = first_task(client, text, "b002", "query")
    assert not query.predictions  # ...which is not shown below the campaign's prelabel confidence

    digits.round()
    flights.round()
    image = first_task(client, digits, "b001")
    record = first_task(client, flights, "b001")
    assert image.data["image"].startswith("data:image/png;base64,")

    shots = artifacts_dir("label_studio_content")
    with chromium_page(shots) as page:
        sign_in(page, ls_env.url, LS_USER, LS_PASSWORD)

        def open_task(campaign: Campaign, task: Any, shot: str) -> None:
            project_id = campaign.state().backend["project_id"]
            page.goto(f"{ls_env.url}/projects/{project_id}/data?task={task.id}")
            page.wait_for_selector(CHOICE, timeout=120_000)
            page.wait_for_timeout(1500)  # images decode after the interface appears
            page.screenshot(path=str(shots / f"{shot}.png"))

        def choice(label: str) -> Locator:
            return page.locator(f'label:has({CHOICE}[name="{label}"])')

        open_task(text, query, "text")
        first_line = query.data["text"].splitlines()[0].strip()
        assert page.get_by_text(first_line, exact=False).first.is_visible()
        assert page.get_by_text(QUESTION).first.is_visible()
        for topic, hint in HINTS.items():
            assert choice(topic).is_visible()
            choice(topic).hover()
            assert page.get_by_text(hint).first.is_visible(), f"the hint of {topic} shows on hover"
        page.screenshot(path=str(shots / "text-hint.png"))
        assert page.locator(f"{CHOICE}:checked").count() == 0, "no answer is pre-selected on a query item"

        open_task(digits, image, "image")
        widths = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => /^(blob|data):/.test(i.src)).map(i => i.naturalWidth)"
        )
        assert widths, "the task shows an image"
        assert all(w > 0 for w in widths), f"every image loaded: natural widths {widths}"
        assert choice("zero").is_visible()

        open_task(flights, record, "record")
        rows = page.eval_on_selector_all(
            "table.lakeprep-record tr",
            "rows => rows.map(r => Array.from(r.children).map(c => c.innerText.trim()))",
        )
        shown = {r[0]: r[1:] for r in rows}
        assert set(shown) == {"carrier", "flight", "origin", "dest", "sched_dep_time", "distance"}
        assert re.fullmatch(r".+ \([A-Z0-9]{2}\)", shown["carrier"][0]), shown["carrier"]
        assert shown["carrier"][1] == "Two-letter carrier code"
        assert re.fullmatch(r".+ \((EWR|JFK|LGA)\)", shown["origin"][0]), shown["origin"]
        assert shown["sched_dep_time"][1] == "Scheduled departure time (HHMM, local)"
        assert all("[" not in value for value, _ in shown.values()), "no vectors"
        assert choice("on_time").is_visible()
        assert choice("late").is_visible()
