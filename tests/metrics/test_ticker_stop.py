"""A sampler run ends within one poll when `serve` is stopping, and lets its lease go."""
import pytest

from apps.metrics import ticker
from apps.metrics.models import SamplerLease
from apps.workloads import supervisor
from tests.metrics.support import FakeClock

pytestmark = pytest.mark.django_db

INTERVAL = 15


@pytest.fixture(autouse=True)
def own_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


class CountingSampler:
    def __init__(self, clock, during_tick=None):
        self.clock, self.during_tick, self.ticks = clock, during_tick, []

    def prime(self):
        pass

    def tick(self, ts):
        self.ticks.append(ts)
        if self.during_tick:
            self.during_tick()
        return 1

    def close(self):
        pass


def run(clock, sampler, **kwargs):
    return ticker.run_sampler(lambda: sampler, interval=INTERVAL, clock=clock.now,
                              sleep=clock.sleep, **kwargs)


def test_a_scheduled_run_ends_after_the_tick_in_progress_once_serve_is_stopping():
    clock = FakeClock(1_000_000_001)
    sampler = CountingSampler(clock, during_tick=supervisor.request_stop)
    done = run(clock, sampler)
    assert done == [1_000_000_005]
    assert clock.now() - 1_000_000_005 <= ticker.POLL_SECONDS
    assert SamplerLease.objects.get(pk=1).owner == ""


def test_a_run_waiting_for_a_held_lease_gives_up_at_once_when_serve_is_stopping():
    clock = FakeClock(1_000_000_001)
    ticker.Lease(interval=INTERVAL, clock=clock.now).try_take()
    supervisor.request_stop()
    assert run(clock, CountingSampler(clock)) == []
    assert clock.now() - 1_000_000_001 <= ticker.POLL_SECONDS


def test_a_stop_flag_left_by_a_serve_that_was_killed_is_ignored():
    (supervisor.run_dir() / "stopping").write_text("999999999")  # above any pid_max: dead
    assert not supervisor.stop_requested()
    clock = FakeClock(1_000_000_001)
    assert run(clock, CountingSampler(clock), ticks=2) == [1_000_000_005, 1_000_000_020]
    supervisor.clear_stop()
    assert not (supervisor.run_dir() / "stopping").exists()
