"""Both readers on the real engine: they agree, and a compose workload's containers all count."""
import os
import time

import pytest

from apps.metrics import queries
from apps.metrics.models import Sample
from apps.metrics.readers import ApiReader, CgroupReader, HostReader, choose_reader
from apps.metrics.sampler import Sampler, rates_between
from tests.metrics import containers
from tests.metrics.support import aligned_now, index_container

pytestmark = [pytest.mark.docker, pytest.mark.django_db]

MEASURE_SECONDS = 3
# The container can only get its half CPU when the host has some to spare; a window in which
# other processes saturated every core is measured again (until this deadline).
SPARE_CPU_PERCENT = 15
SATURATED_DEADLINE = 45


def measure_half_cpu_burner(burner):
    """(cgroup reader CPU %, API reader CPU %, host idle %) over one window of a few seconds."""
    by_cgroup, by_api, host = CgroupReader(), ApiReader(), HostReader()
    first = by_cgroup.read([burner]), by_api.read([burner]), host.read()
    started = time.monotonic()
    # Each stats API read waits for the daemon's 1-second tick, which paces this loop.
    while time.monotonic() - started < MEASURE_SECONDS:
        last = by_cgroup.read([burner]), by_api.read([burner]), host.read()
    by_cgroup.close()
    host_busy = rates_between(first[2], last[2]).cpu_percent
    return (rates_between(first[0][burner], last[0][burner]).cpu_percent,
            rates_between(first[1][burner], last[1][burner]).cpu_percent,
            (os.cpu_count() or 1) * 100 - host_busy), last


def test_both_readers_see_a_container_capped_at_half_a_cpu_at_50_percent(
    busybox_image, workload
):
    burner = containers.run_container(workload, "burner", containers.BURN_CPU, cpus=0.5)
    try:
        deadline = time.monotonic() + SATURATED_DEADLINE
        while True:
            (cgroup_cpu, api_cpu, host_idle), last = measure_half_cpu_burner(burner)
            if host_idle >= SPARE_CPU_PERCENT or time.monotonic() > deadline:
                break
        assert host_idle >= SPARE_CPU_PERCENT, (
            f"other processes kept every core busy (idle {host_idle:.0f} %); the container "
            f"could not get its half CPU (cgroup {cgroup_cpu}, API {api_cpu})")
        assert cgroup_cpu == pytest.approx(50, abs=5)
        assert api_cpu == pytest.approx(50, abs=5)
        assert last[0][burner].memory_limit == 0 == last[1][burner].memory_limit
    finally:
        containers.remove(burner)


def test_a_compose_workloads_two_containers_are_sampled_and_summed(busybox_image, workload):
    web = containers.run_container(workload, "web", memory="64m")
    db = containers.run_container(workload, "db")
    try:
        web_row = index_container(workload, docker_id=web, service="web")
        db_row = index_container(workload, docker_id=db, service="db")
        sampler = Sampler(reader=choose_reader())
        sampler.prime()
        tick = aligned_now()
        assert sampler.tick(tick) == 2
        stored = set(Sample.objects.values_list("container_id", flat=True))
        assert stored == {web_row.pk, db_row.pk}
        (point,) = queries.workload_series(workload.pk, "30m")
        assert point["ts"] == tick
        assert point["memory_usage"] > 0
        assert point["memory_limit"] == 64 * 2**20  # the largest limit; the other has none
        sampler.close()
    finally:
        containers.remove(web, db)
