"""Browser tests: the committee's admin in real headless Chromium, driven by Playwright.

The browser is Debian's chromium (CHROMIUM_PATH, default /usr/bin/chromium); Playwright's own
browser download is not used. Under CI=true a missing browser (or a missing playwright package)
fails every browser test; elsewhere they are skipped with the reason, and -ra lists them.

Test modules here mark their tests `browser` (deselect them with -m "not browser"). Django serves
the pages from pytest-django's live_server: a thread of this process, on a transactional test database.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.services import unavailable

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
TIMEOUT_MS = 10_000  # auto-waiting assertions and actions give up after this; a page here takes well under 1 s


def _unavailable(reason: str) -> None:
    unavailable(reason, what="browser")


@pytest.fixture(scope="package")
def chromium():
    """One headless Chromium for the browser tests, stopped after them; each user gets a fresh context of it."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"needs Chromium at {CHROMIUM} (apt-get install chromium), which is missing")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("needs the playwright package (pip install -r requirements-dev.txt)")
    expect.set_options(timeout=TIMEOUT_MS)
    with pytest.MonkeyPatch.context() as patch:
        # While Playwright's sync API is started, this thread has a running event loop, and Django refuses
        # database access from it (SynchronousOnlyOperation) unless told it is deliberate: only here.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def login(chromium, live_server):
    """login(username, password) -> a Page in a fresh browser context, logged in through /admin/login/."""
    from playwright.sync_api import expect

    contexts = []

    def run(username: str, password: str):
        context = chromium.new_context(base_url=live_server.url, locale="en-GB", timezone_id="UTC")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto("/admin/login/?next=/admin/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#user-tools")).to_contain_text(username)
        return page

    yield run
    for context in contexts:
        context.close()
