"""Query benchmark: per-workload history queries over 10 million stored samples.

    .venv/bin/python bench/run_query.py --workloads 50 --per-workload 5 --days 7 --queries 300

Generates ``days`` of 15-second samples for ``workloads × per-workload`` containers (the
defaults give 250 containers and 10,080,000 samples) in a fresh SQLite file (or, with
``--database-url``, a fresh PostgreSQL database) with the production layout and settings,
builds the rollups the minute schedule would have built, then times the API's own query
function (``queries.workload_series``) for random workloads and reports p50/p95.
"""
import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    add_database_option,
    analyze,
    bulk_insert,
    host_context,
    ms,
    percentile,
    remove_db,
    setup_django,
)

INTERVAL = 15
MIB = 2**20
TARGETS = {"6h": 0.025, "7d": 0.050}
HOST_COLUMNS = ("ts", "cpu_percent", "memory_usage", "memory_limit", "net_rx", "net_tx",
                "blk_read", "blk_write")


def make_index(workloads, per_workload):
    from apps.workloads.models import Container, Workload

    index = {}
    for w in range(workloads):
        workload = Workload.objects.create(name=f"bench-{w}", kind="image",
                                           spec={"image": "busybox", "local": True})
        index[workload.pk] = [
            Container.objects.create(workload=workload, docker_id=f"{w:032x}{c:032x}",
                                     name=f"bench-{w}-{c}", image="busybox").pk
            for c in range(per_workload)
        ]
    return index


def sample_rows(workload_id, containers, ticks):
    """Rows in key order (workload, ts, container): the cheapest way into a clustered table."""
    for ts in ticks:
        for n, container_id in enumerate(containers):
            cpu = (ts // INTERVAL * (n + 3)) % 97 / 2
            yield (workload_id, ts, container_id, cpu, 40 * MIB + (ts % 977) * 4096,
                   256 * MIB if n == 0 else 0, 1000, 500, 0, 4096)


def generate(index, ticks):
    from apps.metrics.sampler import SAMPLE_COLUMNS

    total = 0
    for workload_id, containers in index.items():  # one transaction per workload
        bulk_insert("metrics_sample", SAMPLE_COLUMNS, sample_rows(workload_id, containers, ticks))
        total += len(containers) * len(ticks)
    bulk_insert("metrics_hostsample", HOST_COLUMNS,
                ((ts, 30.0, 8 * 2**30, 16 * 2**30, 0, 0, 0, 0) for ts in ticks))
    return total


def time_queries(workload_ids, window, count, now):
    from apps.metrics import queries

    rng = random.Random(window)
    seconds, points = [], 0
    for _ in range(count):
        workload_id = rng.choice(workload_ids)
        started = time.perf_counter()
        series = queries.workload_series(workload_id, window, now=now)
        seconds.append(time.perf_counter() - started)
        points = max(points, len(series))
    return seconds, points


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=50)
    parser.add_argument("--per-workload", type=int, default=5)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep-db", action="store_true")
    add_database_option(parser)
    options = parser.parse_args()

    db_path = setup_django(database_url=options.database_url)
    from apps.metrics.rollups import roll_up

    end = int(time.time()) // 3600 * 3600
    ticks = range(end - options.days * 86400, end, INTERVAL)
    print(f"database {db_path}; {host_context()}")
    try:
        index = make_index(options.workloads, options.per_workload)
        began = time.perf_counter()
        total = generate(index, ticks)
        print(f"generated {total:,} samples ({options.workloads * options.per_workload} "
              f"containers, {len(ticks):,} ticks) in {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        built = roll_up(now=end + 60)
        print(f"built rollups {built} in {time.perf_counter() - began:.1f} s")
        if db_path.vendor == "postgresql":
            began = time.perf_counter()
            analyze()
            print(f"VACUUM ANALYZE (what autovacuum does after a load) in "
                  f"{time.perf_counter() - began:.1f} s")
        size = db_path.size()
        print(f"database size {size / 2**30:.2f} GiB")
        print(f"\nper-workload history queries ({options.queries} each, random workloads)")
        for window in ("30m", "6h", "24h", "7d", "30d"):
            seconds, points = time_queries(list(index), window, options.queries, end)
            p50, p95 = percentile(seconds, 50), percentile(seconds, 95)
            target = TARGETS.get(window)
            verdict = "" if target is None else (
                f"  target p95 <= {ms(target)}: {'ok' if p95 <= target else 'MISSED'}")
            print(f"  {window:>4}: p50 {ms(p50):>9}  p95 {ms(p95):>9}  max points {points:>5}"
                  f"{verdict}")
    finally:
        if not options.keep_db:
            remove_db(db_path)


if __name__ == "__main__":
    main()
