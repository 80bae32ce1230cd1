"""Every host's resources can be read back: GET /api/hosts/{id}/stats/history, and a card per
host on the dashboard (another host's series is the sum of its sampled containers)."""
import pytest

from apps.metrics.models import RemoteHostSample
from apps.workloads import hosts
from apps.workloads.models import Host
from tests.metrics.support import put_host_samples, ticks_back

pytestmark = pytest.mark.django_db

MIB = 2**20


def far_host(name="far"):
    return Host.objects.create(name=name, engine_url="tcp://10.0.0.9:2376")


def put_remote_samples(host, ticks, cpu=20.0, memory=300 * MIB, limit=4096 * MIB):
    RemoteHostSample.objects.bulk_create([
        RemoteHostSample(host=host, ts=ts, cpu_percent=cpu, memory_usage=memory,
                         memory_limit=limit)
        for ts in ticks
    ])


def test_another_hosts_history_is_its_own_series_and_nobody_elses(as_viewer):
    far, near = far_host("far"), far_host("near")
    ticks = ticks_back(600)
    put_remote_samples(far, ticks, cpu=20.0)
    put_remote_samples(near, ticks, cpu=70.0)
    put_host_samples(ticks, cpu=5.0)
    points = as_viewer.get(f"/hosts/{far.pk}/stats/history?window=30m").data
    assert [p["ts"] for p in points] == ticks
    assert {p["cpu_percent"] for p in points} == {20.0}
    assert {(p["memory_usage"], p["memory_limit"]) for p in points} == {(300 * MIB, 4096 * MIB)}


def test_the_local_hosts_history_by_id_is_the_system_series(as_viewer):
    ticks = ticks_back(300)
    put_host_samples(ticks, cpu=5.0)
    local = hosts.local_host()
    by_id = as_viewer.get(f"/hosts/{local.pk}/stats/history?window=30m").data
    assert by_id == as_viewer.get("/stats/history?window=30m").data
    assert {p["cpu_percent"] for p in by_id} == {5.0}


def test_a_long_window_over_another_host_is_merged_into_a_bounded_series(as_viewer):
    far = far_host()
    ticks = ticks_back(24 * 3600)
    put_remote_samples(far, ticks)
    points = as_viewer.get(f"/hosts/{far.pk}/stats/history?window=7d").data
    assert 0 < len(points) <= 1500
    assert {p["cpu_percent"] for p in points} == {20.0}


def test_an_unknown_host_or_window_is_a_clear_error(as_viewer):
    far = far_host()
    assert as_viewer.get("/hosts/999999/stats/history").status_code == 404
    response = as_viewer.get(f"/hosts/{far.pk}/stats/history?window=3y")
    assert response.status_code == 422 and "window" in str(response.data["detail"])


def test_reading_a_hosts_history_needs_a_signed_in_user(as_anonymous):
    far = far_host()
    assert as_anonymous.get(f"/hosts/{far.pk}/stats/history").status_code == 401


def test_the_dashboard_has_a_resources_card_per_other_host(admin_client):
    far = far_host("build-box")
    html = admin_client.get("/admin/").content.decode()
    card = html[html.index(f'id="tf-metrics-host-{far.pk}"'):]
    assert f"/api/hosts/{far.pk}/stats/history" in card[:card.index("</div>")]
    assert "build-box" in card
    assert html.index('id="tf-metrics-host"') < html.index(f'id="tf-metrics-host-{far.pk}"')


def test_a_hosts_card_title_is_in_russian_on_a_russian_page(admin_client):
    far_host("build-box")
    html = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Ресурсы хоста build-box" in html
