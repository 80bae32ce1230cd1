"""Multi-host sampling benchmark: one ``FleetSampler`` tick over containers split across two
engines — the local one (cgroup fast path) and a second engine reached over TCP with TLS (the
stats API) — against ``docker stats --no-stream`` on each engine, in the same run.

    .venv/bin/python bench/run_multihost.py --total 300 --ticks 5      # as root

Starts a second ``dockerd`` on this machine (tests/support/second_engine.py: own bridge, TLS
certificates made with openssl), starts half the busybox containers on each engine, indexes them
under workloads of the two hosts, times the ticks, then removes everything it started.
"""
import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import host_context, measured, median, ms, pids_named, remove_db, setup_django  # noqa: E402,I001

IMAGE = "tinyforge-bench-busybox:latest"
PER_WORKLOAD = 5
START_THREADS = 8


def start_containers(docker, count, prefix, instance):
    def start(index):
        return docker("run", "-d", "--name", f"{prefix}-{index}",
                      "--label", f"tinyforge.instance={instance}",
                      "--label", "tinyforge.test=1", "--network", "none",
                      IMAGE, "sleep", "86400").strip()

    with ThreadPoolExecutor(START_THREADS) as pool:
        return list(pool.map(start, range(count)))


def index_containers(ids, host, prefix):
    from apps.workloads.models import Container, Workload

    for number, docker_id in enumerate(ids):
        workload, _ = Workload.objects.get_or_create(
            name=f"{prefix}-w{number // PER_WORKLOAD}",
            defaults={"kind": "image", "spec": {"image": IMAGE, "local": True}, "host": host})
        Container.objects.create(workload=workload, docker_id=docker_id, name=f"c{number}",
                                 service="", image=IMAGE, state="running")


def time_ticks(sampler_factory, ticks, engine_pids, target=None):
    from apps.workloads import engine

    with engine.using(target):
        sampler = sampler_factory()
        first = []
        with measured(first, engine_pids):
            sampler.prime()
        steady = []
        now = int(time.time())
        for n in range(ticks):
            with measured(steady, engine_pids):
                stored = sampler.tick(now + 15 * (n + 1))
            steady[-1]["stored"] = stored
        sampler.close()
    return first[0], steady


def summarize(label, results):
    wall = median([r["wall"] for r in results])
    cpu = median([r["cpu"] for r in results])
    engine_cpu = median([r["engine_cpu"] for r in results])
    print(f"  {label:<44} wall {ms(wall):>10}  CPU {ms(cpu):>10}  engines CPU {ms(engine_cpu):>10}")
    return wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=300)
    parser.add_argument("--ticks", type=int, default=5)
    options = parser.parse_args()

    db_path = setup_django()
    from django.conf import settings

    from apps.metrics.sampler import FleetSampler, Sampler
    from apps.workloads import hosts
    from tests.support import dockerlab
    from tests.support.second_engine import SecondEngine

    instance = settings.TINYFORGE_INSTANCE
    half = options.total // 2
    lab = SecondEngine()
    try:
        lab.start_engine()
        engine_pids = pids_named("dockerd", "containerd")  # both engines' daemons

        def local_docker(*args):
            return subprocess.run(["docker", *args], capture_output=True, text=True,
                                  check=True).stdout

        def far_docker(*args):
            return lab.docker(*args).stdout.decode()

        dockerlab.build_base_image(IMAGE, tempfile.mkdtemp(prefix="tf-bench-image-"))
        lab.load_image(IMAGE)
        began = time.perf_counter()
        local_ids = start_containers(local_docker, half, f"{instance}-l", instance)
        far_ids = start_containers(far_docker, options.total - half, f"{instance}-f", instance)
        print(f"bench instance {instance}; started {len(local_ids)} + {len(far_ids)} containers "
              f"in {time.perf_counter() - began:.1f} s; {host_context()}")
        local = hosts.local_host()
        far = hosts.create_host({"name": "far", "engine_url": lab.tcp_url, "tls_ca": lab.tls_ca,
                                 "tls_cert": lab.tls_cert, "tls_key": lab.tls_key})
        index_containers(local_ids, local, "local")
        index_containers(far_ids, far, "far")

        print(f"\n{options.total} containers, {len(local_ids)} local + {len(far_ids)} on the "
              f"second engine over TCP+TLS (median of {options.ticks} ticks)")
        first, fleet = time_ticks(FleetSampler, options.ticks, engine_pids)
        assert all(r["stored"] == options.total for r in fleet), fleet
        print(f"  {'fleet tick, first read (primes both)':<44} wall {ms(first['wall']):>10}")
        fleet_wall = summarize("FleetSampler tick (both hosts)", fleet)
        _, local_only = time_ticks(lambda: Sampler(host=local), options.ticks, engine_pids)
        local_wall = summarize("  of which local host (cgroup files)", local_only)
        _, far_only = time_ticks(lambda: Sampler(host=far), options.ticks, engine_pids,
                                 far.engine_target())
        far_wall = summarize("  of which second host (stats API, TLS)", far_only)

        stats = []
        for _ in range(options.ticks):
            with measured(stats, engine_pids):
                local_docker("stats", "--no-stream", "--format", "{{.ID}} {{.CPUPerc}}",
                             *local_ids)
                far_docker("stats", "--no-stream", "--format", "{{.ID}} {{.CPUPerc}}", *far_ids)
        stats_wall = summarize("docker stats --no-stream on each engine", stats)
        print(f"  ratio docker stats (both) / fleet tick: {stats_wall / fleet_wall:8.1f}x")
        print(f"\nsummary: fleet tick {ms(fleet_wall)} (local {ms(local_wall)}, second host "
              f"{ms(far_wall)}); docker stats on both engines {ms(stats_wall)}")
    finally:
        for docker_ids in (subprocess.run(
                ["docker", "ps", "-aq", "--filter", f"label=tinyforge.instance={instance}"],
                capture_output=True, text=True).stdout.split(),):
            if docker_ids:
                subprocess.run(["docker", "rm", "-f", *docker_ids], capture_output=True)
        subprocess.run(["docker", "image", "rm", "-f", IMAGE], capture_output=True)
        lab.close()
        remove_db(db_path)


if __name__ == "__main__":
    main()
