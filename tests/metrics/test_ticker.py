"""Aligned ticks under the sampler lease, on a fake clock (nothing here waits for real time)."""
import functools
import io
import os
import signal

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from apps.metrics import ticker
from apps.metrics.apps import RETIRED_SCHEDULES, SCHEDULES, ensure_schedules
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


def test_a_run_hands_over_to_a_run_that_asks_for_the_lease_between_ticks():
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


def forever(clock, sampler_factory, stop_at, **kwargs):
    """The standing sampler on the fake clock, told to stop once the clock reaches ``stop_at``."""
    return ticker.sample_forever(sampler_factory, interval=INTERVAL, clock=clock.now,
                                 stop=lambda: clock.now() >= stop_at, **kwargs)


def test_the_standing_sampler_yields_to_a_foreground_run_and_takes_the_lease_back():
    clock = FakeClock(1_000_000_001)
    foreground = ticker.Lease(interval=INTERVAL, clock=clock.now)
    seen_while_waiting = []

    def foreground_arrives(ts):
        if ts == 1_000_000_020:
            assert not foreground.try_take()  # held by the standing sampler: asks to be next

    def sleep(seconds):
        clock.sleep(seconds)
        if foreground.held():
            seen_while_waiting.append(SamplerLease.objects.get(pk=1).successor)
            if clock.now() >= 1_000_000_050:  # the foreground run is done
                foreground.release()

    samplers = []

    def factory():
        samplers.append(RecordingSampler(clock, during_tick=foreground_arrives))
        return samplers[-1]

    done = forever(clock, factory, stop_at=1_000_000_081, sleep=sleep)
    assert [s.ticks for s in samplers] == [[1_000_000_005, 1_000_000_020],
                                           [1_000_000_065, 1_000_000_080]]
    assert done == 4
    assert seen_while_waiting and set(seen_while_waiting) == {""}, "it asked for the lease back"
    assert all(s.primed == 1 and s.closed for s in samplers)
    assert SamplerLease.objects.get(pk=1).owner == ""


def test_a_second_standing_sampler_waits_until_the_first_ones_lease_expires():
    clock = FakeClock(1_000_000_001)
    first = ticker.Lease(interval=INTERVAL, clock=clock.now)
    assert first.try_take()

    def sleep(seconds):
        clock.sleep(seconds)
        if clock.now() < 1_000_000_100:  # the first one renews, then dies at 100 s
            first.renew(0)

    sampler = RecordingSampler(clock)
    done = forever(clock, lambda: sampler, stop_at=1_000_000_200, sleep=sleep)
    assert SamplerLease.objects.get(pk=1).successor == ""
    expiry = 1_000_000_100 + ticker.lease_ttl(INTERVAL)
    assert sampler.ticks and expiry < sampler.ticks[0] <= expiry + INTERVAL
    assert done == len(sampler.ticks)


def test_the_standing_sampler_ends_within_one_poll_of_its_stop_and_frees_the_lease():
    clock = FakeClock(1_000_000_001)
    stopped = []
    sampler = RecordingSampler(clock, during_tick=lambda ts: ts == 1_000_000_020 and stopped.append(
        clock.now()))
    done = ticker.sample_forever(lambda: sampler, interval=INTERVAL, clock=clock.now,
                                 sleep=clock.sleep, stop=lambda: bool(stopped))
    assert done == 2
    assert clock.now() - stopped[0] <= ticker.POLL_SECONDS
    assert SamplerLease.objects.get(pk=1).owner == ""


# After an error the sampler closes its database connections (a real close on PostgreSQL), which
# would end a test's wrapping transaction: this test commits for real.
@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_costs_the_standing_sampler_some_ticks_not_its_life(metrics_log):
    clock = FakeClock(1_000_000_001)
    sampler = RecordingSampler(clock)
    attempts = []

    def factory():
        attempts.append(clock.now())
        if len(attempts) == 1:
            raise RuntimeError("the readers could not start")
        return sampler

    done = forever(clock, factory, stop_at=1_000_000_040, sleep=clock.sleep)
    assert attempts[1] - attempts[0] >= ticker.RETRY_SECONDS
    assert done == len(sampler.ticks) >= 1
    assert any("the sampler failed" in line for line in metrics_log)
    assert SamplerLease.objects.get(pk=1).owner == ""


def test_sample_stats_forever_stops_on_sigterm_and_restores_the_signal_handlers(monkeypatch):
    clock = FakeClock(1_000_000_001)
    sampler = RecordingSampler(clock, during_tick=lambda ts: ts == 1_000_000_020 and os.kill(
        os.getpid(), signal.SIGTERM))
    monkeypatch.setattr(ticker, "sample_forever", functools.partial(
        ticker.sample_forever, clock=clock.now, sleep=clock.sleep))
    monkeypatch.setattr("apps.metrics.management.commands.sample_stats.FleetSampler",
                        lambda: sampler)
    before = signal.getsignal(signal.SIGTERM)
    out = io.StringIO()
    call_command("sample_stats", "--forever", stdout=out)
    assert sampler.ticks == [1_000_000_005, 1_000_000_020]
    assert "Sampler stopped." in out.getvalue()
    assert signal.getsignal(signal.SIGTERM) is before
    assert SamplerLease.objects.get(pk=1).owner == ""


def test_sample_stats_runs_the_requested_number_of_ticks_in_the_foreground(monkeypatch):
    clock = FakeClock(1_000_000_001)
    sampler = RecordingSampler(clock)
    monkeypatch.setattr(ticker, "run_sampler", functools.partial(
        ticker.run_sampler, clock=clock.now, sleep=clock.sleep))
    monkeypatch.setattr("apps.metrics.management.commands.sample_stats.FleetSampler",
                        lambda: sampler)
    out = io.StringIO()
    call_command("sample_stats", "--ticks", "2", stdout=out)
    assert len(sampler.ticks) == 2
    assert out.getvalue().count(": 1 container stored.") == 2  # ngettext: one, not "(s)"


def test_the_minute_schedules_exist_once_each_however_often_migrate_runs():
    ensure_schedules(sender=None)
    ensure_schedules(sender=None)
    for name, fields in SCHEDULES.items():
        schedule = Schedule.objects.get(name=name)
        assert schedule.func == fields["func"]
        assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (
            Schedule.MINUTES, 1, -1)


def test_migrate_removes_the_sampler_schedule_of_earlier_versions():
    """It held a task worker for a minute out of every minute."""
    Schedule.objects.create(name="tinyforge-stats-sampler", func="apps.metrics.tasks.gone",
                            schedule_type=Schedule.MINUTES, minutes=1, repeats=-1)
    ensure_schedules(sender=None)
    assert not Schedule.objects.filter(name__in=RETIRED_SCHEDULES).exists()
    assert not Schedule.objects.filter(func__contains="sample").exists()


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
