"""With the Docker engine unreachable, ticks record nothing and the history stays readable."""
import pytest
from django.test import override_settings

from apps.metrics.models import HostSample, Sample
from apps.metrics.readers import ApiReader, choose_reader
from apps.metrics.sampler import Sampler
from apps.workloads import engine
from tests.metrics.support import aligned_now, index_container, put_samples, ticks_back

pytestmark = pytest.mark.django_db

DEAD_SOCKET = "unix:///nonexistent/tinyforge-test/docker.sock"


@pytest.fixture
def engine_down():
    with override_settings(DOCKER_HOST=DEAD_SOCKET):
        engine.reset()
        yield
    engine.reset()


@pytest.mark.parametrize("reader", ["local", "api"])
def test_a_tick_records_nothing_and_logs_one_line(engine_down, workload, metrics_log, reader):
    index_container(workload)
    sampler = Sampler(reader=choose_reader() if reader == "local" else ApiReader())
    sampler.prime()
    metrics_log.clear()
    assert sampler.tick(aligned_now()) == 0
    assert not Sample.objects.exists() and not HostSample.objects.exists()
    assert len(metrics_log) == 1 and "nothing recorded" in metrics_log[0]


def test_the_stored_series_is_still_served(engine_down, as_viewer, workload):
    ticks = ticks_back(300)
    put_samples(index_container(workload), ticks, cpu=9.0)
    response = as_viewer.get(f"/workloads/{workload.pk}/stats/history?window=30m")
    assert response.status_code == 200
    assert [p["ts"] for p in response.data] == ticks


def test_a_workload_without_samples_is_an_empty_list_not_an_error(
    engine_down, as_viewer, workload
):
    for path in (f"/workloads/{workload.pk}/stats/history?window=2h",
                 f"/workloads/{workload.pk}/stats/deploys?window=2h", "/stats/history?window=2h",
                 "/stats/top?window=2h"):
        response = as_viewer.get(path)
        assert response.status_code == 200, path
