"""Sampling benchmark: one sampler tick (cgroup path and stats-API path) against
``docker stats --no-stream`` on the same labelled busybox containers, in the same run.

    .venv/bin/python bench/run_sampling.py --sizes 100 300 --ticks 5

Starts the containers (a FROM-scratch busybox image, labelled ``tinyforge.instance=<bench id>``),
indexes them under one workload per five containers, times ``--ticks`` steady ticks per path
(the first read, which opens files and looks up pids, is reported apart), then removes every
container and the image. Needs root (cgroup files) and a local Docker engine.
"""
import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    host_context,
    measured,
    median,
    ms,
    pids_named,
    remove_db,
    setup_django,
)

IMAGE = "tinyforge-bench-busybox:latest"
PER_WORKLOAD = 5
START_THREADS = 8


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def build_image():
    from tests.support import dockerlab

    dockerlab.build_base_image(IMAGE, tempfile.mkdtemp(prefix="tf-bench-image-"))


def start_containers(count, first_index, instance):
    def start(index):
        return docker(
            "run", "-d", "--name", f"{instance}-{index}",
            "--label", f"tinyforge.instance={instance}", "--label", "tinyforge.test=1",
            "--label", f"tinyforge.service=s{index}",
            "--network", "none", IMAGE, "sleep", "86400",
        ).stdout.strip()

    with ThreadPoolExecutor(START_THREADS) as pool:
        return list(pool.map(start, range(first_index, first_index + count)))


def index_containers(ids, first_index):
    from apps.workloads.models import Container, Workload

    for offset, docker_id in enumerate(ids):
        number = first_index + offset
        name = f"bench-w{number // PER_WORKLOAD}"
        workload, _ = Workload.objects.get_or_create(name=name, defaults={
            "kind": "image", "spec": {"image": IMAGE, "local": True}})
        Container.objects.create(workload=workload, docker_id=docker_id, name=f"c{number}",
                                 service=f"s{number}", image=IMAGE, state="running")


def time_sampler(reader, ticks, engine_pids):
    """(first read, [steady tick measurements]) for a sampler using ``reader``."""
    from apps.metrics.sampler import Sampler

    sampler = Sampler(reader=reader)
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


def time_docker_stats(ids, runs, engine_pids):
    results = []
    for _ in range(runs):
        with measured(results, engine_pids):
            docker("stats", "--no-stream", "--format", "{{.ID}} {{.CPUPerc}}", *ids)
    return results


def summarize(label, results):
    wall = median([r["wall"] for r in results])
    cpu = median([r["cpu"] for r in results])
    engine = median([r["engine_cpu"] for r in results])
    print(f"  {label:<34} wall {ms(wall):>10}  CPU {ms(cpu):>10}  engine CPU {ms(engine):>10}")
    return wall


def bench_size(ids, ticks, engine_pids):
    from apps.metrics.readers import ApiReader, CgroupReader, FallbackReader

    count = len(ids)
    print(f"\n{count} containers (median of {ticks} runs each); {host_context()}")
    first, cgroup = time_sampler(FallbackReader(CgroupReader(), ApiReader()), ticks, engine_pids)
    assert all(r["stored"] == count for r in cgroup), cgroup
    print(f"  {'cgroup path, first read (opens files)':<34} wall {ms(first['wall']):>10}")
    cgroup_wall = summarize("cgroup path, one tick", cgroup)
    api_first, api = time_sampler(ApiReader(), ticks, engine_pids)
    assert all(r["stored"] == count for r in api), api
    api_wall = summarize("stats API path, one tick", api)
    stats_wall = summarize("docker stats --no-stream", time_docker_stats(ids, ticks, engine_pids))
    print(f"  ratio docker stats / cgroup tick:  {stats_wall / cgroup_wall:8.1f}x")
    print(f"  ratio docker stats / API tick:     {stats_wall / api_wall:8.1f}x")
    return {"count": count, "cgroup": cgroup_wall, "api": api_wall, "docker_stats": stats_wall}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument("--keep-db", action="store_true")
    options = parser.parse_args()

    db_path = setup_django()
    from django.conf import settings

    instance = settings.TINYFORGE_INSTANCE
    engine_pids = pids_named("dockerd", "containerd")
    print(f"bench instance {instance}; database {db_path}")
    build_image()
    started = []
    results = []
    try:
        for size in sorted(options.sizes):
            more = size - len(started)
            began = time.perf_counter()
            ids = start_containers(more, len(started), instance)
            index_containers(ids, len(started))
            started += ids
            print(f"\nstarted {more} containers in {time.perf_counter() - began:.1f} s")
            results.append(bench_size(started, options.ticks, engine_pids))
    finally:
        leftover = docker("ps", "-aq", "--filter", f"label=tinyforge.instance={instance}").stdout
        if leftover.split():
            docker("rm", "--force", *leftover.split(), check=False)
        docker("image", "rm", "--force", IMAGE, check=False)
        if not options.keep_db:
            remove_db(db_path)
    print("\nsummary")
    for r in results:
        fast = r["cgroup"] < 0.1 and r["docker_stats"] / r["cgroup"] >= 20
        verdict_cgroup = "ok" if fast else "MISSED"
        verdict_api = "ok" if r["api"] < 2 else "MISSED"
        print(f"  {r['count']:>4} containers: cgroup {ms(r['cgroup'])} ({verdict_cgroup}: <100 ms, "
              f">=20x), API {ms(r['api'])} ({verdict_api}: <2 s), docker stats "
              f"{ms(r['docker_stats'])}")


if __name__ == "__main__":
    main()
