"""A real headless browser for tests of what people see: Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (installed by
``make setup-test``) with a fresh profile. Screenshots go to ``tests/artifacts/<test>/`` (git-ignored)
so a failing UI test leaves pictures of what the browser showed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("LAKEPREP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def artifacts_dir(name: str) -> Path:
    """A fresh folder for one test's screenshots, kept after the run."""
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@contextmanager
def chromium_page(artifacts: Path, width: int = 1280, height: int = 900) -> Iterator[Page]:
    """One page of a headless Chromium with a throw-away profile; skips the test when no browser is
    installed outside CI (in CI a missing browser is a set-up error and fails)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"{CHROMIUM} is missing: `make setup-test` installs Debian's chromium")
        pytest.skip(f"no browser at {CHROMIUM} (make setup-test installs it)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    artifacts.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=_FLAGS,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()


def sign_in(page: Page, server: str, email: str, password: str) -> None:
    """Log in to a Label Studio server through its login form, as an annotator would."""
    page.goto(f"{server}/user/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('button[type="submit"]')
