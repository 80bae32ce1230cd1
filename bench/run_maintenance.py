"""Maintenance benchmark: rollups and pruning at 250 containers (SQLite, or PostgreSQL with
``--database-url``).

    .venv/bin/python bench/run_maintenance.py --workloads 50 --per-workload 5 --minutes 90

State at time T: 48 h of raw 15-second samples (one day more than the 24 h kept), minute
rollups back to 7 days + 1 h, hour rollups back to 90 days + 1 day. Then:

1. catch-up: one prune at T deletes the expired day of raw samples (and the expired hour of
   minute rollups and day of hour rollups) in batches — total time and worst batch;
2. steady state: for ``--minutes`` simulated minutes, store that minute's 4 ticks (untimed),
   then time what the minute schedule does: roll_up + tally_deploys + prune.
"""
import argparse
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
from bench.run_query import HOST_COLUMNS, INTERVAL, make_index, sample_rows  # noqa: E402

DAY = 86400
LAG = 10


def insert_raw(index, ticks):
    from apps.metrics.sampler import SAMPLE_COLUMNS

    bulk_insert("metrics_sample", SAMPLE_COLUMNS,
                (row for workload_id, containers in index.items()
                 for row in sample_rows(workload_id, containers, ticks)))
    bulk_insert("metrics_hostsample", HOST_COLUMNS,
                ((ts, 30, 2**30, 16 * 2**30, 0, 0, 0, 0) for ts in ticks))


BUCKET = (1, 10, 1, 19, 1000, 1, 1999, 0, 0, 0, 0, 0)
BUCKET_COLUMNS = ("count", "cpu_sum", "cpu_min", "cpu_max", "memory_sum", "memory_min",
                  "memory_max", "memory_limit", "net_rx_sum", "net_tx_sum", "blk_read_sum",
                  "blk_write_sum")


def insert_buckets(index, resolution, start, end):
    """Synthetic rollup buckets (as if built long ago) for every workload and the host."""
    bulk_insert("metrics_rollup", ("workload_id", "resolution", "ts", *BUCKET_COLUMNS),
                ((workload_id, resolution, ts, *BUCKET) for workload_id in index
                 for ts in range(start, end, resolution)))
    bulk_insert("metrics_hostrollup", ("resolution", "ts", *BUCKET_COLUMNS),
                ((resolution, ts, *BUCKET) for ts in range(start, end, resolution)))


def set_watermarks(until):
    from apps.metrics.models import Watermark

    for name in ("minute", "hour", "host-minute", "host-hour"):
        Watermark.objects.update_or_create(name=name, defaults={"until": until})


def store_minute(index, minute):
    from apps.metrics.models import Sample
    from apps.metrics.sampler import store

    rows = [
        Sample(workload_id=wid, container_id=cid, ts=ts, cpu_percent=12.5,
               memory_usage=64 * 2**20, memory_limit=0)
        for wid, containers in index.items() for cid in containers
        for ts in range(minute, minute + 60, INTERVAL)
    ]
    store(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=50)
    parser.add_argument("--per-workload", type=int, default=5)
    parser.add_argument("--minutes", type=int, default=90)
    parser.add_argument("--keep-db", action="store_true")
    add_database_option(parser)
    options = parser.parse_args()

    db_path = setup_django(database_url=options.database_url)
    from apps.metrics import retention, rollups, tallies

    now = int(time.time()) // 3600 * 3600
    print(f"database {db_path}; {host_context()}")
    try:
        index = make_index(options.workloads, options.per_workload)
        began = time.perf_counter()
        insert_raw(index, range(now - 2 * DAY, now, INTERVAL))
        insert_buckets(index, 60, now - 7 * DAY - 3600, now - 2 * DAY)
        insert_buckets(index, 3600, now - 91 * DAY, now - 2 * DAY)
        set_watermarks(now - 2 * DAY)
        analyze()
        print(f"state built in {time.perf_counter() - began:.1f} s: "
              f"{options.workloads * options.per_workload} containers, 48 h raw")

        began = time.perf_counter()
        built = rollups.roll_up(now=now + LAG)
        print(f"rollup catch-up over 48 h of raw samples: {time.perf_counter() - began:.2f} s "
              f"{built}")

        batches = []
        began = time.perf_counter()
        removed = retention.prune(now=now, on_batch=lambda *b: batches.append(b))
        total = time.perf_counter() - began
        raw_time = sum(seconds for tier, _, seconds in batches if tier == "raw")
        worst = max(batches, key=lambda b: b[2])
        print(f"\ncatch-up prune: {removed}")
        print(f"  all tiers {ms(total)}; the expired day of raw samples {ms(raw_time)} "
              f"({'ok' if raw_time <= 2 else 'MISSED'}: <= 2 s) in "
              f"{sum(1 for b in batches if b[0] == 'raw')} batches")
        print(f"  worst batch {ms(worst[2])} ({worst[0]}, {worst[1]} rows)")

        minutes, steady_batches = [], []
        for m in range(options.minutes):
            minute = now + 60 * m
            store_minute(index, minute)
            started = time.perf_counter()
            rollups.roll_up(now=minute + 60 + LAG)
            tallies.tally_deploys(now=minute + 60 + LAG)
            retention.prune(now=minute + 60 + LAG,
                            on_batch=lambda *b: steady_batches.append(b))
            minutes.append(time.perf_counter() - started)
        worst_batch = max(b[2] for b in steady_batches + batches)
        p50, p95, top = percentile(minutes, 50), percentile(minutes, 95), max(minutes)
        print(f"\nsteady state, {options.minutes} minutes (rollup + deploy tally + prune):")
        print(f"  p50 {ms(p50)}  p95 {ms(p95)}  max {ms(top)} (the max includes an hour "
              f"rollup) — target <= 10 ms: {'ok' if p50 <= 0.010 else 'MISSED'}")
        print(f"  worst single prune batch overall {ms(worst_batch)} "
              f"({'ok' if worst_batch <= 0.1 else 'MISSED'}: <= 100 ms)")
    finally:
        if not options.keep_db:
            remove_db(db_path)


if __name__ == "__main__":
    main()
