"""Aligned ticks under the sampler lease, on a fake clock (nothing here waits for real time)."""
import functools
import io

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from apps.metrics import ticker
from apps.metrics.apps import SCHEDULES, ensure_schedules
from apps.metrics.models import SamplerLease
from tests.metrics.support import FakeClock

pytestmark = pytest.mark.django_db

INTERVAL = 15


class RecordingSampler:
    """Remembers what it was asked to do; ``during_tick`` lets a test act mid-run."""

    def __init__(self, clock, tick_takes=0.2, during_tick=None):
        self.clock = clock
        self.tick_takes = tick_takes
        self.during_tick = during_tick
        self.primed = 0
        self.ticks = []
        self.closed = False

    def prime(self):
        self.primed += 1

    def tick(self, ts):
        assert self.clock.now() >= ts, "a tick ran before its time"
        self.ticks.append(ts)
        self.clock.now_value += self.tick_takes
        if self.during_tick:
            self.during_tick(ts)
        return 1

    def close(self):
        self.closed = True


def run(clock, sampler, **kwargs):
    kwargs.setdefault("interval", INTERVAL)
    return ticker.run_sampler(lambda: sampler, clock=clock.now, sleep=clock.sleep, **kwargs)


def test_ticks_fall_on_wall_clock_multiples_of_the_interval():
    clock = FakeClock(1_000_000_003.7)
    sampler = RecordingSampler(clock)
    assert run(clock, sampler, ticks=3) == [1_000_000_005, 1_000_000_020, 1_000_000_035]
    assert sampler.primed == 1 and sampler.closed


def test_ticks_missed_while_nothing_ran_are_not_replayed():
    SamplerLease.objects.create(pk=1, last_tick=999_990_000)
    clock = FakeClock(1_000_000_003.7)
    assert run(clock, RecordingSampler(clock), ticks=1) == [1_000_000_005]


def test_a_tick_that_overruns_skips_the_ticks_it_missed_and_stays_aligned():
    clock = FakeClock(1_000_000_001)
    sampler = RecordingSampler(clock, tick_takes=40)
    assert run(clock, sampler, ticks=2) == [1_000_000_005, 1_000_000_050]


def test_a_run_hands_over_to_the_next_scheduled_run_between_ticks():
    clock = FakeClock(1_000_000_001)
    newer = ticker.Lease(interval=INTERVAL, clock=clock.now)

    def next_run_arrives(ts):
        if ts == 1_000_000_020:
            assert not newer.try_take()  # the lease is held: it asks to be next

    sampler = RecordingSampler(clock, during_tick=next_run_arrives)
    done = run(clock, sampler)
    assert done == [1_000_000_005, 1_000_000_020]
    assert newer.held()
    assert newer.acquire(wait=0, sleep=clock.sleep)


def test_runs_never_overlap_a_second_run_gives_up_while_the_lease_is_held():
    clock = FakeClock(1_000_000_001)
    holder = ticker.Lease(interval=INTERVAL, clock=clock.now)
    assert holder.try_take()
    latecomer = RecordingSampler(clock)
    assert run(clock, latecomer, wait=5) == []
    assert latecomer.primed == 0 and latecomer.ticks == []


def test_after_a_restart_a_dead_runs_lease_expires_and_sampling_resumes():
    clock = FakeClock(1_000_000_001)
    SamplerLease.objects.create(pk=1, owner="worker-that-died", expires_at=clock.now() + 20)
    sampler = RecordingSampler(clock)
    done = run(clock, sampler, ticks=1)  # waits (on the fake clock) for the lease to expire
    assert done and done[0] > 1_000_000_021
    assert SamplerLease.objects.get(pk=1).owner == ""


def test_a_run_without_successor_stops_at_its_run_limit_and_frees_the_lease():
    clock = FakeClock(1_000_000_001)
    done = run(clock, RecordingSampler(clock), run_limit=60)
    assert len(done) == 5 and done[-1] - done[0] == 60
    assert SamplerLease.objects.get(pk=1).owner == ""


def test_by_default_a_run_stops_soon_after_the_schedule_stopped_firing():
    """A stopping cluster waits for the running sampler task: it must not take minutes."""
    clock = FakeClock(1_000_000_001)
    done = run(clock, RecordingSampler(clock))
    assert 60 < done[-1] - 1_000_000_001 <= 105


def test_a_run_whose_task_cluster_died_stops_at_once(monkeypatch):
    clock = FakeClock(1_000_000_001)
    sampler = RecordingSampler(clock, during_tick=lambda ts: monkeypatch.setattr(
        "apps.metrics.ticker.os.getppid", lambda: 1))
    assert run(clock, sampler) == [1_000_000_005]
    assert SamplerLease.objects.get(pk=1).owner == ""


def test_sample_stats_runs_the_requested_number_of_ticks_in_the_foreground(monkeypatch):
    clock = FakeClock(1_000_000_001)
    sampler = RecordingSampler(clock)
    monkeypatch.setattr(ticker, "run_sampler", functools.partial(
        ticker.run_sampler, clock=clock.now, sleep=clock.sleep))
    monkeypatch.setattr("apps.metrics.management.commands.sample_stats.Sampler", lambda: sampler)
    out = io.StringIO()
    call_command("sample_stats", "--ticks", "2", stdout=out)
    assert len(sampler.ticks) == 2
    assert out.getvalue().count("container(s) stored") == 2


def test_the_minute_schedules_exist_once_each_however_often_migrate_runs():
    ensure_schedules(sender=None)
    ensure_schedules(sender=None)
    for name, fields in SCHEDULES.items():
        schedule = Schedule.objects.get(name=name)
        assert schedule.func == fields["func"]
        assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (
            Schedule.MINUTES, 1, -1)


def test_a_database_error_loses_one_tick_not_the_run(metrics_log):
    from django.db import OperationalError

    clock = FakeClock(1_000_000_001)

    class FlakySampler(RecordingSampler):
        def tick(self, ts):
            if not self.ticks:
                self.ticks.append(ts)
                raise OperationalError("database is locked")
            return super().tick(ts)

    sampler = FlakySampler(clock)
    assert run(clock, sampler, ticks=3) == [1_000_000_005, 1_000_000_020, 1_000_000_035]
    assert len(metrics_log) == 1 and "database is locked" in metrics_log[0]


def test_a_run_ends_before_the_task_cluster_would_kill_it(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 100}
    assert ticker.default_run_limit(15) == 40
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 900}
    assert ticker.default_run_limit(15) == ticker.RUN_LIMIT
