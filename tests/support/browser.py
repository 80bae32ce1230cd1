"""Headless Chromium for admin tests (Debian's chromium through playwright)."""
import os
import shutil
from contextlib import contextmanager

import pytest

from tests.conftest import IN_CI

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DEADLINE_MS = 15000


def chromium_or_skip():
    """Chromium's path; fails in CI (never a silent pass), skips elsewhere."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = "the browser tests need chromium and playwright: run scripts/browser.sh"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextmanager
def chromium_page(locale="en-US", width=1366, height=768):
    """A page in a fresh browser whose Accept-Language and navigator language are ``locale``."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    # Playwright runs an event loop in this thread; the test's ORM calls stay synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                                 args=CHROMIUM_ARGS)
            try:
                yield browser.new_page(locale=locale,
                                       viewport={"width": width, "height": height})
            finally:
                browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def log_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
