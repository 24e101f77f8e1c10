"""What a person sees of a span and a box task in Label Studio, in a real headless Chromium: the
quotation with the entity labels to mark it with (and their hints), the handwritten digit actually
loaded with the rectangle labels to draw with. Screenshots are kept in
tests/artifacts/label_studio_regions/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from label_studio_sdk import LabelStudio
from playwright.sync_api import Page
from pyspark.sql import SparkSession

from labeling.campaign import Campaign
from lake.storage import Storage
from tests.labeling.conftest import LS_PASSWORD, LS_TOKEN, LS_USER, LabelStudioServer
from tests.labeling.test_label_studio_content import first_task
from tests.labeling.test_regions_label_studio import region_campaign
from tests.labeling.test_structured_tasks import ENTITIES, MARKS
from tests.support.browser import artifacts_dir, chromium_page, sign_in

HINTS = {"name": "A person's or a place's name"}
SPAN_QUESTION = "Mark every name, and words of four letters or more."
BOX_QUESTION = "Draw a box around the stroke of the digit."


@pytest.mark.label_studio
def test_people_see_the_text_to_mark_and_the_image_to_draw_on(
    spark: SparkSession, lake: Storage, ls_env: LabelStudioServer, unique: Callable[[str], str]
) -> None:
    client = LabelStudio(base_url=ls_env.url, api_key=LS_TOKEN)
    spans = region_campaign(
        spark,
        lake,
        ls_env.url,
        unique("ner-view"),
        "named_entity",
        instructions=SPAN_QUESTION,
        label_descriptions=HINTS,
    )
    boxes = region_campaign(
        spark, lake, ls_env.url, unique("box-view"), "bounding_box", instructions=BOX_QUESTION
    )
    spans.round()
    boxes.round()
    quote = first_task(client, spans, "b001")
    digit = first_task(client, boxes, "b001")

    shots = artifacts_dir("label_studio_regions")
    with chromium_page(shots) as page:
        sign_in(page, ls_env.url, LS_USER, LS_PASSWORD)

        open_task(page, ls_env.url, spans, quote, shots / "spans.png", ENTITIES)
        first_line = quote.data["text"].splitlines()[0].strip()
        assert page.get_by_text(first_line, exact=False).first.is_visible(), "the quotation is shown"
        assert page.get_by_text(SPAN_QUESTION).first.is_visible()
        assert not page.locator(".ant-checkbox-input").count(), "labels to mark with, not choices"
        label(page, "name").hover()
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "spans-hint.png"))
        assert page.get_by_text(HINTS["name"]).first.is_visible(), "the hint of 'name' shows on hover"

        open_task(page, ls_env.url, boxes, digit, shots / "boxes.png", MARKS)
        assert page.get_by_text(BOX_QUESTION).first.is_visible()
        sizes = page.eval_on_selector_all(
            "img",
            "imgs => imgs.filter(i => /^(blob|data):/.test(i.src)).map(i => [i.naturalWidth, i.naturalHeight])",
        )
        assert sizes, "the task shows the digit"
        assert all(w == h == 64 for w, h in sizes), f"the 64x64 digit loaded: natural sizes {sizes}"


def label(page: Page, name: str) -> Any:
    """The clickable label a person picks before marking a span or drawing a box."""
    return page.get_by_text(name, exact=True).first


def open_task(
    page: Page, url: str, campaign: Campaign, task: Any, shot: Any, labels: tuple[str, ...]
) -> None:
    """The task in the labelling view, once its region labels are on screen (and the image decoded)."""
    project = campaign.state().backend["project_id"]
    page.goto(f"{url}/projects/{project}/data?task={task.id}")
    for name in labels:
        label(page, name).wait_for(state="visible", timeout=120_000)
    page.wait_for_timeout(1500)  # images decode after the interface appears
    page.screenshot(path=str(shot))
