"""Headless Chromium for the admin browser tests (Debian's chromium; scripts/browser.sh).

In CI a missing browser fails the run instead of skipping. Screenshots go to test-artifacts/.
"""
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1366, "height": 768}
LOCALES = {"en": "en-US", "ru": "ru-RU"}
DEADLINE_MS = 20000
PASSWORD = "root-password-1"  # the admin_user fixture's


def _in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def chromium_or_skip():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = "the browser tests need chromium and playwright: run scripts/browser.sh"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextmanager
def admin_browser(language="en"):
    """A page at 1366x768 whose Accept-Language asks for ``language``."""
    with chromium_page(LOCALES[language]) as page:
        yield page


@contextmanager
def chromium_page(locale="en-US"):
    """A page at 1366x768 in a fresh browser whose Accept-Language and navigator language are
    ``locale`` (any BCP 47 tag)."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    # Playwright runs an event loop in this thread; the test's ORM calls stay synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                                 args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=VIEWPORT, locale=locale)
            try:
                yield context.new_page()
            finally:
                browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def log_in(page, base_url, user):
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")


def horizontal_overflow(page):
    """How many pixels the page is wider than the window (0: it fits)."""
    return page.evaluate(
        "() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")


def screenshot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
