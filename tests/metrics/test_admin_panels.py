"""The metrics panel on the workload page and the resources card on the admin index (HTML)."""
import re
from pathlib import Path

import pytest
from django.test import Client

import apps.metrics

pytestmark = pytest.mark.django_db

STATIC = Path(apps.metrics.__file__).parent / "static" / "metrics"


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def scripts_of(html):
    return re.findall(r'<script[^>]+src="([^"]+)"', html)


def test_the_workload_page_carries_the_metrics_panel(admin_client, workload):
    html = admin_client.get(f"/admin/workloads/workload/{workload.pk}/change/").content.decode()
    assert 'id="tf-metrics-workload"' in html
    assert f'data-history-url="/api/workloads/{workload.pk}/stats/history"' in html
    assert f'data-markers-url="/api/workloads/{workload.pk}/stats/deploys"' in html
    assert 'data-refresh-ms="15000"' in html
    for window in ("30m", "2h", "6h", "24h", "7d"):
        assert f'<option value="{window}"' in html
    assert "No samples yet" in html
    assert "Deploy now" in html  # the workloads app's own tools are still there


def test_the_admin_index_carries_the_system_resources_card(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert 'id="tf-metrics-host"' in html
    assert 'data-history-url="/api/stats/history"' in html
    assert 'data-top-url="/api/stats/top"' in html


def test_the_add_page_has_no_panel_because_there_is_nothing_to_chart(admin_client):
    html = admin_client.get("/admin/workloads/workload/add/").content.decode()
    assert "tf-metrics-workload" not in html


def test_nothing_loads_from_a_cdn_and_the_chart_library_is_vendored(admin_client, workload):
    html = admin_client.get(f"/admin/workloads/workload/{workload.pk}/change/").content.decode()
    sources = scripts_of(html)
    assert "/static/metrics/chart.umd.min.js" in sources
    assert all(src.startswith("/") for src in sources), sources
    assert "cdn" not in html.lower()


def test_vendored_files_reference_no_missing_source_map():
    """A sourceMappingURL without its .map breaks collectstatic with manifest storage."""
    for path in STATIC.glob("*.js"):
        text = path.read_text()
        if "sourceMappingURL=" in text:
            target = re.search(r"sourceMappingURL=(\S+)", text).group(1)
            assert (STATIC / target).exists(), path.name
    assert "Chart.js v4" in (STATIC / "chart.umd.min.js").read_text()[:200]
