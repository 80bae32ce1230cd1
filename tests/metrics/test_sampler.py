"""The sampler's arithmetic and bookkeeping, with readers that return made-up counters."""
import pytest

from apps.metrics.models import HostSample, Sample
from apps.metrics.readers import (
    Counters,
    counters_from_stats,
    parse_blkio_v1,
    parse_io_stat_v2,
    parse_net_dev,
    unlimited_as_zero,
    used_memory,
)
from apps.metrics.sampler import Sampler, rates_between
from apps.workloads import engine
from tests.metrics.support import index_container

SECOND = 10**9


def counters(at, cpu_ns, memory=100, limit=0, net=(0, 0), blk=(0, 0)):
    return Counters(clock_ns=at * SECOND, cpu_ns=cpu_ns, memory_usage=memory,
                    memory_limit=limit, net_rx=net[0], net_tx=net[1], blk_read=blk[0],
                    blk_write=blk[1])


def test_cpu_percent_is_cpu_time_over_wall_time_with_100_meaning_one_core():
    rates = rates_between(counters(0, 0), counters(10, 15 * SECOND))
    assert rates.cpu_percent == 150.0


def test_byte_counters_become_rates_per_second():
    rates = rates_between(counters(0, 0, net=(1000, 0), blk=(0, 500)),
                          counters(10, 0, net=(6000, 2000), blk=(4096, 500)))
    assert (rates.net_rx, rates.net_tx, rates.blk_read, rates.blk_write) == (500, 200, 410, 0)


def test_a_counter_that_goes_backwards_is_a_reset_not_a_negative_rate():
    rates = rates_between(counters(0, 50 * SECOND, net=(10**9, 0)),
                          counters(10, 2 * SECOND, net=(3000, 0)))
    assert rates.cpu_percent == 20.0 and rates.net_rx == 300


def test_no_time_between_two_reads_gives_no_rate():
    assert rates_between(counters(5, 0), counters(5, SECOND)) is None


def test_memory_is_usage_minus_inactive_file_cache_and_a_huge_limit_means_none():
    assert used_memory(1000, 300) == 700
    assert used_memory(1000, 5000) == 1000
    assert unlimited_as_zero(9223372036854771712, 8 * 2**30) == 0
    assert unlimited_as_zero(8 * 2**30, 8 * 2**30) == 0
    assert unlimited_as_zero(256 * 2**20, 8 * 2**30) == 256 * 2**20


def test_proc_and_cgroup_files_are_parsed_the_way_docker_stats_counts_them():
    net_dev = (
        "Inter-|   Receive    |  Transmit\n face |bytes packets|bytes packets\n"
        "    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n"
        "  eth0: 2326 35 0 0 0 0 0 0 120 2 0 0 0 0 0 0\n"
        "  eth1: 4 1 0 0 0 0 0 0 6 1 0 0 0 0 0 0\n"
    )
    assert parse_net_dev(net_dev) == (2330, 126)
    assert parse_blkio_v1("8:0 Read 4096\n8:0 Write 512\n8:0 Sync 9\nTotal 4608\n") == (4096, 512)
    assert parse_io_stat_v2("8:0 rbytes=10 wbytes=20 rios=1\n8:16 rbytes=1 wbytes=2\n") == (11, 22)


def test_a_stats_api_answer_becomes_counters_on_the_same_scale_as_the_cgroup_files():
    stats = {
        "cpu_stats": {"cpu_usage": {"total_usage": 5 * SECOND}, "system_cpu_usage": 40 * SECOND,
                      "online_cpus": 2},
        "memory_stats": {"usage": 1000, "limit": 8 * 2**30,
                         "stats": {"total_inactive_file": 400}},
        "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 20}},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"op": "Read", "value": 7}, {"op": "Write", "value": 9}, {"op": "Total", "value": 16}]},
    }
    found = counters_from_stats(stats, host_memory=8 * 2**30)
    assert found == Counters(clock_ns=20 * SECOND, cpu_ns=5 * SECOND, memory_usage=600,
                             memory_limit=0, net_rx=10, net_tx=20, blk_read=7, blk_write=9)


class ScriptedReader:
    """Returns the next prepared {docker_id: Counters} at each read."""

    name = "scripted"

    def __init__(self, *reads, host_memory=0):
        self.reads = list(reads)
        self.host_memory = host_memory

    def read(self, docker_ids):
        found = self.reads.pop(0)
        if isinstance(found, Exception):
            raise found
        return {k: v for k, v in found.items() if k in docker_ids}

    def close(self):
        pass


class ScriptedHost:
    def __init__(self, *reads):
        self.reads = list(reads)

    def read(self):
        return self.reads.pop(0)


@pytest.mark.django_db
def test_a_first_read_only_primes_and_the_next_tick_stores_rates(workload):
    web = index_container(workload)
    sampler = Sampler(
        reader=ScriptedReader({web.docker_id: counters(0, 0)},
                              {web.docker_id: counters(15, 3 * SECOND, memory=5000, limit=10**6)}),
        host_reader=ScriptedHost(counters(0, 0, memory=1), counters(15, 30 * SECOND, memory=2)),
    )
    sampler.prime()
    assert sampler.tick(1_800_000_000) == 1
    sample = Sample.objects.get()
    assert (sample.ts, sample.container_id, sample.workload_id) == (1_800_000_000, web.pk,
                                                                    workload.pk)
    assert (sample.cpu_percent, sample.memory_usage, sample.memory_limit) == (20.0, 5000, 10**6)
    assert HostSample.objects.get().cpu_percent == 200.0


@pytest.mark.django_db
def test_both_containers_of_a_compose_workload_count(workload):
    web = index_container(workload, service="web")
    db = index_container(workload, service="db")
    sampler = Sampler(reader=ScriptedReader(
        {web.docker_id: counters(0, 0), db.docker_id: counters(0, 0)},
        {web.docker_id: counters(10, SECOND, memory=300), db.docker_id: counters(10, 4 * SECOND,
                                                                                  memory=700)},
    ), host_reader=None)
    sampler.prime()
    sampler.tick(1_800_000_000)
    assert sorted(Sample.objects.values_list("container_id", "cpu_percent")) == sorted(
        [(web.pk, 10.0), (db.pk, 40.0)])


@pytest.mark.django_db
def test_with_a_remote_engine_the_host_series_is_the_sum_of_the_containers(workload):
    web, db = index_container(workload), index_container(workload)
    sampler = Sampler(reader=ScriptedReader(
        {web.docker_id: counters(0, 0), db.docker_id: counters(0, 0)},
        {web.docker_id: counters(10, SECOND, memory=300), db.docker_id: counters(10, SECOND,
                                                                                  memory=700)},
        host_memory=4096,
    ), host_reader=None)
    sampler.prime()
    sampler.tick(1_800_000_000)
    host = HostSample.objects.get()
    assert (host.cpu_percent, host.memory_usage, host.memory_limit) == (20.0, 1000, 4096)


@pytest.mark.django_db
def test_an_unreachable_engine_records_nothing_for_the_tick_and_logs_one_line(
    workload, metrics_log
):
    web = index_container(workload)
    sampler = Sampler(reader=ScriptedReader({web.docker_id: counters(0, 0)},
                                            engine.EngineDown("connection refused"),
                                            {web.docker_id: counters(30, 3 * SECOND)}),
                      host_reader=None)
    sampler.prime()
    assert sampler.tick(1_800_000_015) == 0
    assert not Sample.objects.exists() and not HostSample.objects.exists()
    assert len(metrics_log) == 1 and "unreachable" in metrics_log[0]
    # Back up: the rate spans the outage, from the counters read before it.
    assert sampler.tick(1_800_000_030) == 1
    assert Sample.objects.get().cpu_percent == 10.0


class DeletesAWorkloadWhileReading(ScriptedReader):
    def __init__(self, doomed, *reads):
        super().__init__(*reads)
        self.doomed = doomed

    def read(self, docker_ids):
        found = super().read(docker_ids)
        if len(self.reads) == 0:
            self.doomed.delete()
        return found


@pytest.mark.django_db(transaction=True)  # the foreign key is checked when store() commits
def test_a_workload_deleted_during_a_tick_does_not_cost_the_others_their_samples(make_workload):
    kept, doomed = make_workload(name="kept"), make_workload(name="doomed")
    a, b = index_container(kept), index_container(doomed)
    reads = ({a.docker_id: counters(0, 0), b.docker_id: counters(0, 0)},
             {a.docker_id: counters(10, SECOND), b.docker_id: counters(10, SECOND)})
    sampler = Sampler(reader=DeletesAWorkloadWhileReading(doomed, *reads), host_reader=None)
    sampler.prime()
    assert sampler.tick(1_800_000_000) == 1
    assert list(Sample.objects.values_list("workload_id", flat=True)) == [kept.pk]


def test_a_container_found_not_running_is_not_inspected_again_at_every_tick(monkeypatch):
    from apps.metrics.readers import CgroupReader

    lookups = []
    monkeypatch.setattr(engine, "ping", lambda: True)
    monkeypatch.setattr(engine, "container_pids", lambda ids: lookups.append(list(ids)) or {})
    reader = CgroupReader()
    assert reader.read(["stopped"]) == {}
    assert reader.read(["stopped"]) == {}
    assert reader.read(["stopped", "new"]) == {}
    assert lookups == [["stopped"], ["new"]]
