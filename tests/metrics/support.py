"""Metrics test helpers: indexed containers and stored samples without an engine, a fake clock."""
import itertools
import time

from apps.metrics.models import HostSample, Sample
from apps.metrics.sampler import store
from apps.workloads.models import Container

INTERVAL = 15
_ids = itertools.count(1)


def index_container(workload, docker_id=None, service=""):
    """A container-index row for ``workload`` (the engine is not involved)."""
    n = next(_ids)
    return Container.objects.create(
        workload=workload, docker_id=docker_id or f"{n:064x}", name=f"{workload.name}-{n}",
        service=service, image="busybox", state="running",
    )


def aligned_now(interval=INTERVAL):
    return int(time.time()) // interval * interval


def put_samples(container, ticks, cpu=10.0, memory=100 * 2**20, limit=0):
    """Store one sample of ``container`` at each ts in ``ticks`` (values may be callables)."""
    rows = [
        Sample(
            workload_id=container.workload_id, container_id=container.pk, ts=ts,
            cpu_percent=cpu(ts) if callable(cpu) else cpu,
            memory_usage=memory(ts) if callable(memory) else memory,
            memory_limit=limit,
        )
        for ts in ticks
    ]
    store(rows)
    return rows


def put_host_samples(ticks, cpu=25.0, memory=2**30, limit=8 * 2**30):
    HostSample.objects.bulk_create([
        HostSample(ts=ts, cpu_percent=cpu, memory_usage=memory, memory_limit=limit)
        for ts in ticks
    ])


def ticks_back(seconds, end=None, interval=INTERVAL):
    """Aligned ticks in the ``seconds`` before ``end`` (default: now), oldest first."""
    end = end if end is not None else aligned_now(interval) + interval
    return list(range(end - seconds, end, interval))


class FakeClock:
    """Wall time that moves only when someone sleeps; sleeping never waits for real."""

    def __init__(self, start):
        self.now_value = float(start)
        self.slept = []

    def now(self):
        return self.now_value

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now_value += seconds
