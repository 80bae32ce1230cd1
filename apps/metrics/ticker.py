"""Aligned ticks under a lease, so scheduled runs chain without overlapping.

django-q2 fires a schedule at most once a minute (and up to ~30 s late), so one scheduled run
samples several ticks. Ticks fall on wall-clock multiples of the interval. A run keeps ticking
until a newer run asks for the lease, then hands over between two ticks; the newer run reads
the counters once ("primes") and carries on with the next tick. Only the lease holder samples,
so runs never overlap. Ticks missed while nothing ran are skipped, not replayed. A lease whose
holder died expires after a few intervals, so the next run after a restart takes it. A run
also ends within one poll when ``serve`` is stopping (its stop flag), releasing the lease.
"""
import logging
import os
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q

from apps.metrics.models import SamplerLease
from apps.workloads.supervisor import stop_requested

log = logging.getLogger("tinyforge.metrics")

LEASE_ID = 1
POLL_SECONDS = 0.5
# A run hands over only with at least this much time before the next tick, so the newer run
# can prime its counters first.
HANDOVER_MARGIN = 2.5
# Without a successor a run stops after this: the schedule fires every minute, up to 30 s late,
# so a longer silence means the scheduler has stopped (the cluster is shutting down, and it
# waits for this task). A run also never outlives the django-q2 task timeout.
RUN_LIMIT = 90


def next_tick(after, interval):
    """The first wall-clock multiple of ``interval`` strictly after ``after``."""
    return (int(after) // interval + 1) * interval


def lease_ttl(interval):
    return 2 * interval + 30


@dataclass
class Lease:
    """This run's hold on the sampler lease (a compare-and-swap on one row)."""

    interval: int
    clock: object = time.time
    me: str = field(default_factory=lambda: uuid.uuid4().hex)

    def _rows(self):
        return SamplerLease.objects.filter(pk=LEASE_ID)

    def try_take(self):
        """Take the lease when it is free, expired or already ours; else ask to be next."""
        SamplerLease.objects.get_or_create(pk=LEASE_ID)
        now = self.clock()
        with transaction.atomic():
            rows = self._rows()
            taken = rows.filter(Q(owner="") | Q(expires_at__lt=now) | Q(owner=self.me)).update(
                owner=self.me, successor="", expires_at=now + lease_ttl(self.interval)
            )
            if not taken:
                rows.exclude(owner=self.me).update(successor=self.me)
        return bool(taken) or self.held()

    def acquire(self, wait, sleep=time.sleep):
        """Poll (up to ``wait`` seconds) until this run holds the lease."""
        deadline = self.clock() + wait
        while True:
            if self.try_take():
                return True
            if self.clock() >= deadline or stop_requested():
                return False
            sleep(POLL_SECONDS)

    def state(self):
        """(still ours, a successor is waiting)"""
        row = self._rows().values("owner", "successor").first()
        if row is None:
            return False, False
        return row["owner"] == self.me, bool(row["successor"]) and row["successor"] != self.me

    def held(self):
        return self.state()[0]

    def renew(self, tick):
        """Push the expiry on and record ``tick`` as sampled; False when the lease was lost."""
        return bool(self._rows().filter(owner=self.me).update(
            expires_at=self.clock() + lease_ttl(self.interval), last_tick=tick
        ))

    def last_tick(self):
        return self._rows().values_list("last_tick", flat=True).first() or 0

    def hand_over(self):
        """Give the lease to the waiting successor; False when there was none."""
        with transaction.atomic():
            row = self._rows().filter(owner=self.me).exclude(successor="").values(
                "successor").first()
            if row is None:
                return False
            self._rows().filter(owner=self.me).update(
                owner=row["successor"], successor="",
                expires_at=self.clock() + lease_ttl(self.interval),
            )
        return True

    def release(self):
        self._rows().filter(owner=self.me).update(owner="", expires_at=0)


@dataclass
class TickLoop:
    """Runs a sampler's ticks at aligned times while this run holds the lease.

    ``ticks`` None: keep going until a successor takes over or ``run_limit`` passes (the
    scheduled run). A number: exactly that many ticks, ignoring successors (the foreground
    command).
    """

    sampler: object
    lease: Lease
    interval: int
    ticks: int | None = None
    run_limit: float = RUN_LIMIT
    sleep: object = time.sleep
    on_tick: object = None  # called with (tick, containers stored) after each tick
    done: list = field(default_factory=list)
    parent: int = field(default_factory=os.getppid)

    @property
    def clock(self):
        return self.lease.clock

    def run(self):
        started = self.clock()
        tick = next_tick(max(self.clock(), self.lease.last_tick()), self.interval)
        while True:
            if not self._wait_for(tick):
                return self.done
            stored = self._tick(tick)
            self.done.append(tick)
            if self.on_tick:
                self.on_tick(tick, stored)
            if not self.lease.renew(tick):
                return self.done
            if self.ticks is not None and len(self.done) >= self.ticks:
                return self.done
            if self.ticks is None and self.clock() - started >= self.run_limit:
                return self.done
            # A tick that overran the interval skips the ticks it missed.
            tick = next_tick(max(self.clock(), tick), self.interval)

    def _tick(self, tick):
        try:
            return self.sampler.tick(tick)
        except DatabaseError as exc:
            # A busy or failing database loses this tick, not the whole run.
            log.warning("stats tick %s: not stored (%s)", tick, exc)
            return 0

    def _wait_for(self, tick):
        """Wait until ``tick``; False when the lease went to someone else meanwhile, or when the
        process that started this run (the task cluster) is gone."""
        while True:
            if os.getppid() != self.parent:
                log.info("stats: the task cluster is gone; this sampler run ends")
                return False
            if stop_requested():
                log.info("stats: TinyForge is stopping; this sampler run ends")
                return False
            remaining = tick - self.clock()
            if self.ticks is None:
                ours, successor_waiting = self.lease.state()
                if not ours:
                    return False
                if successor_waiting and remaining >= HANDOVER_MARGIN and self.lease.hand_over():
                    return False
            if remaining <= 0:
                return True
            self.sleep(min(POLL_SECONDS, remaining))


def default_run_limit(interval):
    """RUN_LIMIT, or less when the django-q2 task timeout would kill the run before that."""
    timeout = settings.Q_CLUSTER.get("timeout") or RUN_LIMIT * 2
    return max(interval, min(RUN_LIMIT, timeout - 2 * interval - 30))


def run_sampler(sampler_factory, *, ticks=None, interval=None, wait=None, clock=time.time,
                sleep=time.sleep, run_limit=None, on_tick=None):
    """Take the lease, prime a sampler and run aligned ticks; returns the ticks sampled.

    Returns [] without sampling when another run kept the lease for ``wait`` seconds.
    """
    interval = interval or settings.TINYFORGE_STATS_INTERVAL
    run_limit = run_limit if run_limit is not None else default_run_limit(interval)
    lease = Lease(interval=interval, clock=clock)
    if not lease.acquire(lease_ttl(interval) + 5 if wait is None else wait, sleep=sleep):
        log.info("stats: another sampler run holds the lease; this run ends")
        return []
    sampler = sampler_factory()
    try:
        sampler.prime()
        loop = TickLoop(sampler, lease, interval, ticks=ticks, run_limit=run_limit, sleep=sleep,
                        on_tick=on_tick)
        return loop.run()
    finally:
        lease.release()
        sampler.close()
