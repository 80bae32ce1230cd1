"""Aligned ticks under a lease, so two samplers never sample at once.

The standing sampler (``sample_stats --forever``, a process of its own that ``serve`` starts
next to the web server and the task cluster, so sampling never holds a deploy worker) ticks at
wall-clock multiples of the interval for as long as it runs. A foreground run
(``sample_stats --ticks N``) asks for the lease; the standing sampler hands over between two
ticks, the foreground run reads the counters once ("primes") and carries on with the next tick,
and when it is done the standing sampler takes the lease back. Only the lease holder samples.
Ticks missed while nothing ran are skipped, not replayed. A lease whose holder died expires
after a few intervals, so a sampler started after a crash takes it then. Every run ends within
one poll when ``serve`` is stopping (its stop flag) or its own ``stop`` says so, releasing the
lease.
"""
import logging
import math
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Q

from apps.metrics.models import SamplerLease
from apps.workloads.supervisor import stop_requested

log = logging.getLogger("tinyforge.metrics")

LEASE_ID = 1
POLL_SECONDS = 0.5
# A run hands over only with at least this much time before the next tick, so the newer run
# can prime its counters first.
HANDOVER_MARGIN = 2.5
# The standing sampler's pause after an unexpected error, before it tries again.
RETRY_SECONDS = 5


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

    def try_take(self, queue=True):
        """Take the lease when it is free, expired or already ours; else (with ``queue``) ask
        to be next, which makes a holder that yields hand over between two ticks."""
        SamplerLease.objects.get_or_create(pk=LEASE_ID)
        now = self.clock()
        with transaction.atomic():
            rows = self._rows()
            taken = rows.filter(Q(owner="") | Q(expires_at__lt=now) | Q(owner=self.me)).update(
                owner=self.me, successor="", expires_at=now + lease_ttl(self.interval)
            )
            if not taken and queue:
                rows.exclude(owner=self.me).update(successor=self.me)
        return bool(taken) or self.held()

    def acquire(self, wait, sleep=time.sleep, stop=stop_requested, queue=True):
        """Poll (up to ``wait`` seconds) until this run holds the lease."""
        deadline = self.clock() + wait
        while True:
            if self.try_take(queue):
                return True
            if self.clock() >= deadline or stop():
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

    ``ticks`` None: keep going until a successor takes over, ``run_limit`` passes or ``stop()``
    (the standing sampler). A number: exactly that many ticks, ignoring successors (the
    foreground command).
    """

    sampler: object
    lease: Lease
    interval: int
    ticks: int | None = None
    run_limit: float = math.inf
    sleep: object = time.sleep
    on_tick: object = None  # called with (tick, containers stored) after each tick
    stop: object = stop_requested
    done: list = field(default_factory=list)

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
        """Wait until ``tick``; False when the lease went to someone else meanwhile, or when
        this run is told to stop."""
        while True:
            if self.stop():
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


def _stopping(stop):
    """The stop flag of a stopping ``serve``, or else ``stop()``."""
    if stop is None:
        return stop_requested
    return lambda: stop_requested() or stop()


def run_sampler(sampler_factory, *, ticks=None, interval=None, wait=None, clock=time.time,
                sleep=time.sleep, run_limit=math.inf, on_tick=None, stop=None, queue=True):
    """Take the lease, prime a sampler and run aligned ticks; returns the ticks sampled.

    Returns [] without sampling when another run kept the lease for ``wait`` seconds. With
    ``queue`` it asks the holder to hand over; without, it only takes a lease left free.
    """
    interval = interval or settings.TINYFORGE_STATS_INTERVAL
    stopping = _stopping(stop)
    lease = Lease(interval=interval, clock=clock)
    if not lease.acquire(lease_ttl(interval) + 5 if wait is None else wait, sleep=sleep,
                         stop=stopping, queue=queue):
        if not stopping():
            log.info("stats: another sampler run holds the lease; this run ends")
        return []
    try:
        sampler = sampler_factory()
    except BaseException:
        lease.release()
        raise
    try:
        sampler.prime()
        loop = TickLoop(sampler, lease, interval, ticks=ticks, run_limit=run_limit, sleep=sleep,
                        on_tick=on_tick, stop=stopping)
        return loop.run()
    finally:
        lease.release()
        sampler.close()


def sample_forever(sampler_factory, *, stop=None, interval=None, clock=time.time,
                   sleep=time.sleep, on_tick=None):
    """The standing sampler: sample every tick until ``stop()`` or ``serve`` stops.

    While a foreground run holds the lease it waits, without asking for it, and takes it back
    once it is free; so two standing samplers (two ``serve`` of one install) never take turns
    either: the second one waits. Returns how many ticks it sampled.
    """
    stopping = _stopping(stop)
    done = 0
    while not stopping():
        try:
            done += len(run_sampler(sampler_factory, interval=interval, wait=math.inf,
                                    clock=clock, sleep=sleep, on_tick=on_tick, stop=stop,
                                    queue=False))
        except Exception:
            # This process is the only sampler: an error it did not expect (a locked or lost
            # database while it handled the lease, a bug) loses some ticks, never the sampler.
            log.exception("stats: the sampler failed; it starts again in %s s", RETRY_SECONDS)
            # Outside a request nothing else replaces a broken database connection.
            connections.close_all()
            resume = clock() + RETRY_SECONDS
            while clock() < resume and not stopping():
                sleep(POLL_SECONDS)
    return done
