"""The admin index as a dashboard: a card per workload with state, version, a sparkline from
the rollups and the last deploy; bounded queries for a fleet of 50; no engine call."""
import pytest

from apps.metrics.dashboard import SPARK_WINDOW, sparklines
from apps.metrics.rollups import roll_up
from apps.workloads import engine
from apps.workloads.engine import client as engine_client
from tests.metrics.support import aligned_now, index_container, put_samples
from tests.support.fleet import seed_fleet

pytestmark = pytest.mark.django_db

INDEX_MAX = 9  # measured 7 for 1 and 50 workloads: session, user, the cards (4), the host card


@pytest.fixture
def no_engine(monkeypatch):
    calls = []

    def refuse(**kwargs):
        calls.append(1)
        raise AssertionError("the index asked the Docker engine")

    engine.reset()
    monkeypatch.setattr(engine_client, "_connect", refuse)
    yield calls
    engine.reset()


@pytest.mark.parametrize("count", [1, 50])
def test_the_dashboard_shows_a_card_per_workload_in_the_same_few_queries(
        count, admin_client, admin_user, no_engine, django_assert_max_num_queries):
    workloads = seed_fleet(count, deploys_each=3, user=admin_user)
    with django_assert_max_num_queries(INDEX_MAX):
        response = admin_client.get("/admin/")
    html = response.content.decode()
    assert response.status_code == 200 and no_engine == []
    assert f'data-cards="{count}"' in html
    assert html.index('id="tf-dashboard"') < html.index('id="tf-metrics-host"')
    first = workloads[0]
    assert f'data-workload="{first.name}"' in html
    newest = first.deploys.order_by("-id").first()
    assert f">#{newest.pk}</a>" in html


def test_a_card_draws_the_last_hour_from_the_minute_rollups(admin_client, make_workload):
    workload = make_workload(name="sparky")
    end = aligned_now(60)
    ticks = list(range(end - SPARK_WINDOW + 60, end, 15))
    put_samples(index_container(workload), ticks, cpu=lambda ts: 10 + (ts % 600) / 20,
                memory=64 * 2**20)
    roll_up(now=end + 60)
    series = sparklines([workload.pk], now=end)
    assert 10 <= len(series[workload.pk]) <= 13
    html = admin_client.get("/admin/").content.decode()
    card = html[html.index('data-workload="sparky"'):]
    card = card[:card.index('class="tf-card-deploy"')]
    assert "<polyline" in card and "64.0 MiB" in card


def test_a_workload_without_metrics_says_so_on_its_card(admin_client, make_workload):
    make_workload(name="quiet")
    html = admin_client.get("/admin/").content.decode()
    card = html[html.index('data-workload="quiet"'):]
    assert "no metrics in the last hour" in card[:2000]
    assert "never deployed" in card[:2000]
