"""Rollups: per-workload (and host) buckets of 1 minute built from raw ticks, and of 1 hour built
from the minute buckets.

A bucket holds sum, count, min and max of the per-tick totals (a workload's containers summed at
each tick), so an average over any set of buckets is exact. Each kind of bucket has a watermark:
every bucket starting before it is built. A bucket is built once it has ended ``LAG`` seconds
ago (its last tick is stored by then) and never rebuilt; catching up after downtime goes in
chunks, each its own short transaction.
"""
import time

from django.db import connection, transaction

from apps.metrics.models import HOUR, MINUTE, HostRollup, HostSample, Rollup, Sample, Watermark
from apps.workloads.models import Workload

LAG = 10
CHUNK = {MINUTE: 3600, HOUR: 86400}  # how much time one catch-up statement covers

BUCKET_COLUMNS = ("count, cpu_sum, cpu_min, cpu_max, memory_sum, memory_min, memory_max, "
                  "memory_limit, net_rx_sum, net_tx_sum, blk_read_sum, blk_write_sum")

# Aggregates over per-tick rows (cpu, mem, lim, rx, tx, br, bw) into one bucket.
FROM_TICKS = ("COUNT(*), SUM(cpu), MIN(cpu), MAX(cpu), SUM(mem), MIN(mem), MAX(mem), MAX(lim), "
              "SUM(rx), SUM(tx), SUM(br), SUM(bw)")
# Aggregates over finer buckets into one coarser bucket.
FROM_BUCKETS = ("SUM(count), SUM(cpu_sum), MIN(cpu_min), MAX(cpu_max), SUM(memory_sum), "
                "MIN(memory_min), MAX(memory_max), MAX(memory_limit), SUM(net_rx_sum), "
                "SUM(net_tx_sum), SUM(blk_read_sum), SUM(blk_write_sum)")
WORKLOADS = Workload._meta.db_table
SAMPLES = Sample._meta.db_table
ROLLUPS = Rollup._meta.db_table
HOST_SAMPLES = HostSample._meta.db_table
HOST_ROLLUPS = HostRollup._meta.db_table

# Workload minute buckets: sum each tick over the workload's containers, then bucket the ticks.
# The CROSS JOIN makes the database walk workloads and range-scan each one's clustered key.
WORKLOAD_MINUTES = f"""
INSERT INTO {ROLLUPS} (workload_id, resolution, ts, {BUCKET_COLUMNS})
SELECT workload_id, {MINUTE}, (ts / {MINUTE}) * {MINUTE}, {FROM_TICKS}
FROM (
    SELECT s.workload_id AS workload_id, s.ts AS ts, SUM(s.cpu_percent) AS cpu,
           SUM(s.memory_usage) AS mem, MAX(s.memory_limit) AS lim, SUM(s.net_rx) AS rx,
           SUM(s.net_tx) AS tx, SUM(s.blk_read) AS br, SUM(s.blk_write) AS bw
    FROM {WORKLOADS} w CROSS JOIN {SAMPLES} s
    WHERE s.workload_id = w.id AND s.ts >= %s AND s.ts < %s
    GROUP BY s.workload_id, s.ts
) per_tick
GROUP BY workload_id, ts / {MINUTE}
ON CONFLICT DO NOTHING
"""

WORKLOAD_HOURS = f"""
INSERT INTO {ROLLUPS} (workload_id, resolution, ts, {BUCKET_COLUMNS})
SELECT r.workload_id, {HOUR}, (r.ts / {HOUR}) * {HOUR}, {FROM_BUCKETS}
FROM {WORKLOADS} w CROSS JOIN {ROLLUPS} r
WHERE r.workload_id = w.id AND r.resolution = {MINUTE} AND r.ts >= %s AND r.ts < %s
GROUP BY r.workload_id, r.ts / {HOUR}
ON CONFLICT DO NOTHING
"""

HOST_MINUTES = f"""
INSERT INTO {HOST_ROLLUPS} (resolution, ts, {BUCKET_COLUMNS})
SELECT {MINUTE}, (ts / {MINUTE}) * {MINUTE}, {FROM_TICKS}
FROM (
    SELECT ts, cpu_percent AS cpu, memory_usage AS mem, memory_limit AS lim, net_rx AS rx,
           net_tx AS tx, blk_read AS br, blk_write AS bw
    FROM {HOST_SAMPLES} WHERE ts >= %s AND ts < %s
) per_tick
GROUP BY ts / {MINUTE}
ON CONFLICT DO NOTHING
"""

HOST_HOURS = f"""
INSERT INTO {HOST_ROLLUPS} (resolution, ts, {BUCKET_COLUMNS})
SELECT {HOUR}, (ts / {HOUR}) * {HOUR}, {FROM_BUCKETS}
FROM {HOST_ROLLUPS} WHERE resolution = {MINUTE} AND ts >= %s AND ts < %s
GROUP BY ts / {HOUR}
ON CONFLICT DO NOTHING
"""


def oldest_ts(table, resolution=None):
    """The oldest ``ts`` in a workload-keyed table, one index probe per workload."""
    extra = f" AND t.resolution = {int(resolution)}" if resolution else ""
    sql = (f"SELECT MIN((SELECT t.ts FROM {table} t WHERE t.workload_id = w.id{extra} "
           f"ORDER BY t.ts LIMIT 1)) FROM {WORKLOADS} w")
    return _scalar(sql)


def oldest_host_ts(table, resolution=None):
    where = f" WHERE resolution = {int(resolution)}" if resolution else ""
    return _scalar(f"SELECT MIN(ts) FROM {table}{where}")


def _scalar(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


# (watermark name, bucket size, build statement, where its source data starts, built after)
STEPS = (
    ("minute", MINUTE, WORKLOAD_MINUTES, lambda: oldest_ts(SAMPLES), None),
    ("hour", HOUR, WORKLOAD_HOURS, lambda: oldest_ts(ROLLUPS, MINUTE), "minute"),
    ("host-minute", MINUTE, HOST_MINUTES, lambda: oldest_host_ts(HOST_SAMPLES), None),
    ("host-hour", HOUR, HOST_HOURS, lambda: oldest_host_ts(HOST_ROLLUPS, MINUTE), "host-minute"),
)


WATERMARKS = Watermark._meta.db_table


def watermarks(names=None):
    """{name: until} for the stored watermarks (one query)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, until FROM {WATERMARKS}")
        return {name: until for name, until in cursor.fetchall() if not names or name in names}


def set_watermark(cursor, name, until):
    cursor.execute(
        f"INSERT INTO {WATERMARKS} (name, until) VALUES (%s, %s) "
        f"ON CONFLICT (name) DO UPDATE SET until = excluded.until", [name, until]
    )


def roll_up(now=None):
    """Build every bucket that has ended; returns {step name: buckets written}.

    Runs every minute, so the bookkeeping is plain SQL: one read of the watermarks, and per
    step either nothing (no bucket ended) or one statement plus its watermark, committed
    together.
    """
    now = int(now if now is not None else time.time())
    marks = watermarks()
    built = {}
    for name, size, sql, source_start, after in STEPS:
        end = (now - LAG) // size * size
        if after:  # coarser buckets wait until every finer bucket inside them exists
            end = min(end, marks.get(after, 0) // size * size)
        built[name] = _advance(marks, name, size, sql, source_start, end)
    return built


def _advance(marks, name, size, sql, source_start, end):
    start = marks.get(name, 0)
    if end - start > CHUNK[size]:
        # First run, or back after downtime: start where the source data starts.
        first = source_start()
        start = end if first is None else max(start, first // size * size)
    written = 0
    while start < end:
        stop = min(end, start + CHUNK[size])
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [start, stop])
            written += max(cursor.rowcount, 0)
            set_watermark(cursor, name, stop)
        marks[name] = start = stop
    return written
