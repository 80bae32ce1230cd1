"""One sampler tick: read every indexed container and the host, turn counters into rates, store.

The sampler keeps the previous counters between ticks; a container's first read only primes
them (no rate yet). A counter that went backwards restarted (container restart, cgroup
recreated): its increase is taken from zero, never negative.
"""
import logging
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from apps.metrics.models import HostSample, RemoteHostSample, Sample
from apps.metrics.readers import Counters, HostReader, choose_reader
from apps.workloads import engine
from apps.workloads.models import Container, Host, Workload

log = logging.getLogger("tinyforge.metrics")


@dataclass(frozen=True)
class Rates:
    cpu_percent: float
    net_rx: int
    net_tx: int
    blk_read: int
    blk_write: int


def increase(before, after):
    """How much a cumulative counter grew; a counter that went backwards was reset to zero."""
    return after - before if after >= before else after


def rates_between(before: Counters, after: Counters):
    """Per-second rates between two reads; None when no time passed between them."""
    elapsed_ns = after.clock_ns - before.clock_ns
    if elapsed_ns <= 0:
        return None
    seconds = elapsed_ns / 1e9

    def per_second(name):
        return round(increase(getattr(before, name), getattr(after, name)) / seconds)

    return Rates(
        cpu_percent=round(increase(before.cpu_ns, after.cpu_ns) / elapsed_ns * 100, 3),
        net_rx=per_second("net_rx"), net_tx=per_second("net_tx"),
        blk_read=per_second("blk_read"), blk_write=per_second("blk_write"),
    )


@dataclass(frozen=True)
class Target:
    """A container from the index: what to read, and whose history the sample belongs to."""

    docker_id: str
    container_id: int
    workload_id: int


def indexed_containers(host=None):
    """The index's containers (of the workloads on ``host``, when given)."""
    rows = Container.objects.all()
    if host is not None:
        on_host = Q(workload__host=host)
        if host.is_local:
            on_host |= Q(workload__host__isnull=True)
        rows = rows.filter(on_host)
    return [Target(*row) for row in rows.values_list("docker_id", "pk", "workload_id")]


class Sampler:
    """Reads containers and the host at each tick and stores their rates.

    ``host_reader`` None means the host cannot be read here (a remote engine): the host series is
    then the sum of the sampled containers, with the engine's memory as its limit. ``host``: the
    Host whose workloads' containers it reads (None: every container in the index); create and
    tick it inside ``engine.using(host's target)`` (``FleetSampler`` does). A remote host's
    series goes to ``RemoteHostSample``.
    """

    def __init__(self, reader=None, host_reader="local", host=None):
        self.host = host
        self.reader = reader or choose_reader()
        if host_reader == "local":
            host_reader = HostReader() if engine.engine_is_local() else None
        self.host_reader = host_reader
        self.previous = {}
        self.previous_host = None

    @property
    def remote(self):
        return self.host is not None and not self.host.is_local

    def prime(self):
        """Read counters without storing, so the next tick has something to compare with."""
        targets = indexed_containers(self.host)
        try:
            self._remember(targets, *self.read_all(targets))
        except engine.EngineError as exc:
            log.warning("stats: could not prime the counters (%s)", exc.code)

    def tick(self, ts):
        """Sample everything at the aligned time ``ts``; returns the number of containers stored.

        An unreachable engine records nothing for this tick and logs one line.
        """
        targets = indexed_containers(self.host)
        try:
            current, host = self.read_all(targets)
        except engine.EngineDown as exc:
            log.warning("stats tick %s: Docker engine unreachable, nothing recorded (%s)", ts, exc)
            return 0
        except engine.EngineError as exc:
            log.warning("stats tick %s: engine error %s, nothing recorded", ts, exc.code)
            return 0
        samples = self._container_samples(ts, targets, current)
        host_sample = self._host_sample(ts, host, samples)
        if self.remote and host_sample is not None:
            fields = {f: getattr(host_sample, f) for f in HOST_SERIES_FIELDS}
            host_sample = RemoteHostSample(host=self.host, **fields)
        self._remember(targets, current, host)
        try:
            store(samples, host_sample)
        except IntegrityError:
            # A workload was deleted while this tick ran: keep the rows of those that remain.
            alive = set(Workload.objects.filter(
                pk__in={s.workload_id for s in samples}).values_list("pk", flat=True))
            samples = [s for s in samples if s.workload_id in alive]
            store(samples, host_sample)
        return len(samples)

    def read_all(self, targets):
        current = self.reader.read([t.docker_id for t in targets])
        host = self.host_reader.read() if self.host_reader else None
        return current, host

    def _remember(self, targets, current, host):
        # A container missing from one read keeps its older counters: its next rate then spans
        # both intervals instead of needing a fresh prime. Containers gone from the index go.
        wanted = {t.docker_id for t in targets}
        merged = {k: v for k, v in self.previous.items() if k in wanted}
        merged.update(current)
        self.previous = merged
        self.previous_host = host or self.previous_host

    def _container_samples(self, ts, targets, current):
        samples = []
        for target in targets:
            after = current.get(target.docker_id)
            before = self.previous.get(target.docker_id)
            rates = rates_between(before, after) if before and after else None
            if rates is None:
                continue
            samples.append(Sample(
                workload_id=target.workload_id, ts=ts, container_id=target.container_id,
                cpu_percent=rates.cpu_percent, memory_usage=after.memory_usage,
                memory_limit=after.memory_limit, net_rx=rates.net_rx, net_tx=rates.net_tx,
                blk_read=rates.blk_read, blk_write=rates.blk_write,
            ))
        return samples

    def _host_sample(self, ts, host, samples):
        if self.host_reader is None:
            return self._host_from_containers(ts, samples)
        rates = rates_between(self.previous_host, host) if self.previous_host else None
        if rates is None:
            return None
        return HostSample(
            ts=ts, cpu_percent=rates.cpu_percent, memory_usage=host.memory_usage,
            memory_limit=host.memory_limit, net_rx=rates.net_rx, net_tx=rates.net_tx,
            blk_read=rates.blk_read, blk_write=rates.blk_write,
        )

    def _host_from_containers(self, ts, samples):
        if not samples:
            return None
        return HostSample(
            ts=ts, cpu_percent=round(sum(s.cpu_percent for s in samples), 3),
            memory_usage=sum(s.memory_usage for s in samples),
            memory_limit=getattr(self.reader, "host_memory", 0) or 0,
            net_rx=sum(s.net_rx for s in samples), net_tx=sum(s.net_tx for s in samples),
            blk_read=sum(s.blk_read for s in samples), blk_write=sum(s.blk_write for s in samples),
        )

    def close(self):
        self.reader.close()


SAMPLE_COLUMNS = ("workload_id", "ts", "container_id", "cpu_percent", "memory_usage",
                  "memory_limit", "net_rx", "net_tx", "blk_read", "blk_write")


def store(samples, host_sample=None):
    """Insert one tick's rows in one short transaction (a tick already stored is kept)."""
    table = Sample._meta.db_table
    columns = ", ".join(SAMPLE_COLUMNS)
    marks = ", ".join(["%s"] * len(SAMPLE_COLUMNS))
    rows = [tuple(getattr(s, c) for c in SAMPLE_COLUMNS) for s in samples]
    with transaction.atomic(), connection.cursor() as cursor:
        if rows:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows
            )
        if host_sample is not None:
            type(host_sample).objects.bulk_create([host_sample], ignore_conflicts=True)


HOST_SERIES_FIELDS = ("ts", "cpu_percent", "memory_usage", "memory_limit", "net_rx", "net_tx",
                      "blk_read", "blk_write")


class FleetSampler:
    """Every host's containers at each tick: one ``Sampler`` per host, each created and run
    with the engine calls going to its host (the cgroup fast path where the engine is local,
    the stats API elsewhere). Hosts marked down are skipped without a call (no tick waits on
    a dead host); a host that fails mid-tick records nothing for that tick, the others do.
    Same interface as ``Sampler`` (the ticker takes either)."""

    def __init__(self):
        self.samplers = {}  # host pk -> (EngineTarget, Sampler)

    def _hosts(self):
        for host in Host.objects.order_by("pk"):
            if host.is_down:
                continue
            target = host.engine_target()
            entry = self.samplers.get(host.pk)
            if entry is None or entry[0] != target:
                if entry is not None:
                    entry[1].close()
                try:
                    with engine.using(target):
                        entry = (target, Sampler(host=host))
                except engine.EngineError as exc:
                    log.warning("stats: host %s not sampled (%s)", host.name, exc.code)
                    continue
                self.samplers[host.pk] = entry
            entry[1].host = host
            yield target, entry[1]

    def prime(self):
        for target, sampler in self._hosts():
            with engine.using(target):
                sampler.prime()

    def tick(self, ts):
        stored = 0
        for target, sampler in self._hosts():
            with engine.using(target):
                stored += sampler.tick(ts)
        return stored

    def close(self):
        for _target, sampler in self.samplers.values():
            sampler.close()
        self.samplers.clear()
