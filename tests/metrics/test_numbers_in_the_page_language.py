"""The chart's numbers follow the page's language (Intl.NumberFormat(document lang)): a
decimal comma in Russian, a point in English, in a real headless Chromium.

The browser's own locale is set to the other language each time, so only the page's lang
attribute can explain the result."""
import pytest

from apps.metrics.rollups import roll_up
from tests.metrics.support import aligned_now, index_container, put_host_samples, put_samples
from tests.support.browser import DEADLINE_MS, chromium_page, log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def busy_fleet(make_workload):
    end = aligned_now(60)
    ticks = list(range(end - 1800, end, 15))
    put_host_samples(ticks, cpu=30.0)
    put_samples(index_container(make_workload(name="api")), ticks, cpu=72.5,
                memory=int(150.5 * 2**20))
    roll_up(now=end + 60)


@pytest.mark.parametrize("page_language, browser_locale, cpu, memory", [
    ("ru", "en-US", "72,5", "150,5"),
    ("en", "ru-RU", "72.5", "150.5"),
])
def test_the_top_workloads_table_formats_numbers_for_the_page_language(
    live_server, admin_user, busy_fleet, page_language, browser_locale, cpu, memory
):
    with chromium_page(locale=browser_locale) as page:
        log_in(page, live_server.url, admin_user)
        # The language cookie decides the page's language, whatever the browser sends.
        page.context.add_cookies([{"name": "django_language", "value": page_language,
                                   "url": live_server.url}])
        page.goto(f"{live_server.url}/admin/")
        assert page.locator("html").get_attribute("lang") == page_language
        tables = page.locator("#tf-metrics-host .tf-metrics-top table")
        tables.first.locator("a").first.wait_for(timeout=DEADLINE_MS)
        by_cpu = tables.nth(0).inner_text()
        by_memory = tables.nth(1).inner_text()
    assert cpu in by_cpu and "%" in by_cpu
    assert memory in by_memory
