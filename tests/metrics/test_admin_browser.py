"""The metrics panels in a real headless Chromium: the chart draws data and deploy markers.

Screenshots go to test-artifacts/. Chromium comes from Debian (scripts/browser.sh installs it);
in CI a missing browser fails the run instead of skipping.
"""
import math
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from apps.deploys.models import Deploy
from apps.metrics.rollups import roll_up
from tests.conftest import IN_CI
from tests.metrics.support import aligned_now, index_container, put_host_samples, put_samples

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DEADLINE_MS = 15000
VERSION = "sha256:" + "c0ffee" * 10 + "beef"
MIB = 2**20


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


@pytest.fixture
def browser_page(live_server):
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    # Playwright runs an event loop in this thread; the test's ORM calls are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        yield page
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def log_in(page, live_server, user):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", "root-password-1")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


def wait_for_chart(page, panel):
    page.wait_for_selector(f'#{panel}[data-state="ready"]', timeout=DEADLINE_MS)
    return page.locator(f"#{panel}")


def deploy_at(workload, status, minutes_ago, ref):
    finished = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return Deploy.objects.create(workload=workload, status=status, reason="api",
                                 source_kind="image", pinned_ref=ref, finished_at=finished)


def hover_first_marker(page, panel):
    """Move the mouse onto the first deploy marker; returns the tooltip's lines."""
    point = page.evaluate("""(panel) => {
        const canvas = document.querySelector('#' + panel + ' canvas');
        const marker = Chart.getChart(canvas).getDatasetMeta(2).data[0];
        const box = canvas.getBoundingClientRect();
        return {x: box.left + marker.x, y: box.top + marker.y};
    }""", panel)
    page.mouse.move(point["x"], point["y"])
    page.wait_for_function("""(panel) => {
        const chart = Chart.getChart(document.querySelector('#' + panel + ' canvas'));
        const points = chart.tooltip.dataPoints || [];
        return chart.tooltip.opacity > 0 && points.some(p => p.datasetIndex === 2);
    }""", arg=panel, timeout=DEADLINE_MS)
    return page.evaluate("""(panel) => {
        const tooltip = Chart.getChart(document.querySelector('#' + panel + ' canvas')).tooltip;
        return tooltip.body.flatMap(part => part.lines);
    }""", panel)


def test_the_workload_page_charts_cpu_and_memory_with_deploy_markers(
    browser_page, live_server, admin_user, make_workload
):
    workload = make_workload(name="shop")
    now = aligned_now()
    ticks = list(range(now - 6000, now + 1, 15))  # well inside the 2-hour window
    put_samples(index_container(workload), ticks,
                cpu=lambda ts: 40 + 30 * math.sin(ts / 900), memory=lambda ts: 96 * MIB)
    put_samples(index_container(workload, service="db"), ticks, cpu=5.0, memory=64 * MIB)
    deploy_at(workload, "succeeded", 80, VERSION)
    deploy_at(workload, "failed", 25, "")

    page = browser_page
    log_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/admin/workloads/workload/{workload.pk}/change/")
    panel = wait_for_chart(page, "tf-metrics-workload")
    assert panel.get_attribute("data-points") == str(len(ticks))
    assert panel.get_attribute("data-markers") == "2"
    assert page.locator("#tf-metrics-workload .tf-metrics-empty").is_hidden()
    tooltip = hover_first_marker(page, "tf-metrics-workload")
    assert any("Deploy #" in line and "c0ffeec0ffee" in line for line in tooltip), tooltip
    panel.screenshot(path=str(ARTIFACTS / "metrics-workload-panel.png"))
    page.screenshot(path=str(ARTIFACTS / "metrics-workload-page.png"), full_page=True)


def test_a_workload_without_samples_shows_the_empty_state_hint(
    browser_page, live_server, admin_user, make_workload
):
    workload = make_workload(name="fresh")
    page = browser_page
    log_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/admin/workloads/workload/{workload.pk}/change/")
    page.wait_for_selector('#tf-metrics-workload[data-state="empty"]', timeout=DEADLINE_MS)
    assert page.locator("#tf-metrics-workload .tf-metrics-empty").is_visible()


def test_the_admin_index_shows_host_resources_and_the_top_workloads(
    browser_page, live_server, admin_user, make_workload
):
    end = aligned_now(60)
    ticks = list(range(end - 1800, end, 15))
    put_host_samples(ticks, cpu=30.0)
    for name, cpu in (("api", 70.0), ("worker", 20.0)):
        put_samples(index_container(make_workload(name=name)), ticks, cpu=cpu)
    roll_up(now=end + 60)

    page = browser_page
    log_in(page, live_server, admin_user)
    panel = wait_for_chart(page, "tf-metrics-host")
    assert int(panel.get_attribute("data-points")) == len(ticks)
    first_by_cpu = page.locator("#tf-metrics-host .tf-metrics-top table").first
    first_by_cpu.locator("a").first.wait_for(timeout=DEADLINE_MS)
    assert first_by_cpu.locator("a").first.inner_text() == "api"
    panel.screenshot(path=str(ARTIFACTS / "metrics-admin-index.png"))
