"""Reading the stored series back: windows, per-timestamp aggregation, rollup selection.

A point is ``{"ts", "cpu_percent", "memory_usage", "memory_limit"}``: at one tick, a workload's
containers summed (CPU, memory) and the largest limit. Short windows come from raw ticks; 24 h
and longer come from rollups, re-bucketed so a series has at most about ``MAX_POINTS`` points.
None of this touches the Docker engine.
"""
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from apps.metrics.models import HOUR, MINUTE, RemoteHostSample
from apps.metrics.rollups import HOST_ROLLUPS, HOST_SAMPLES, ROLLUPS, SAMPLES, WORKLOADS

WINDOWS = {"30m": 1800, "2h": 7200, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000}
MAX_POINTS = 1500
ROLLUP_FROM = 86400  # windows this long or longer read rollups
NICE_BUCKETS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


@dataclass(frozen=True)
class Plan:
    """Where a window's points come from and how wide each point is (seconds)."""

    resolution: int | None  # None: raw ticks
    bucket: int


def plan_for(seconds, interval=None):
    interval = interval or settings.TINYFORGE_STATS_INTERVAL
    if seconds < ROLLUP_FROM:
        # Raw ticks, merged k at a time only when a small interval would give too many points.
        return Plan(None, interval * max(1, math.ceil(seconds / interval / MAX_POINTS)))
    minute_kept = settings.TINYFORGE_STATS_MINUTE_DAYS * 86400
    resolution = MINUTE if seconds <= minute_kept else HOUR
    wanted = max(resolution, seconds / MAX_POINTS)
    bucket = next((b for b in NICE_BUCKETS if b >= wanted and b % resolution == 0), 86400)
    return Plan(resolution, bucket)


def _raw_sql(table, key, plan):
    per_tick = (f"SELECT ts, SUM(cpu_percent) AS cpu, SUM(memory_usage) AS mem, "
                f"MAX(memory_limit) AS lim FROM {table} WHERE {key} ts >= %s GROUP BY ts")
    if plan.bucket == settings.TINYFORGE_STATS_INTERVAL:
        return per_tick + " ORDER BY ts"
    b = plan.bucket
    return (f"SELECT (ts / {b}) * {b} AS t, AVG(cpu), AVG(mem), MAX(lim) "
            f"FROM ({per_tick}) per_tick GROUP BY t ORDER BY t")


def _rollup_sql(table, key, plan):
    b = plan.bucket
    return (f"SELECT (ts / {b}) * {b} AS t, SUM(cpu_sum) / SUM(count), "
            f"SUM(memory_sum) / SUM(count), MAX(memory_limit) FROM {table} "
            f"WHERE {key} resolution = {plan.resolution} AND ts >= %s GROUP BY t ORDER BY t")


def _points(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        {"ts": int(ts), "cpu_percent": round(float(cpu or 0), 2),
         "memory_usage": int(mem or 0), "memory_limit": int(lim or 0)}
        for ts, cpu, mem, lim in rows
    ]


def workload_series(workload_id, window, now=None):
    """The workload's points over ``window`` (a key of WINDOWS), oldest first."""
    seconds = WINDOWS[window]
    start = int(now if now is not None else time.time()) - seconds
    plan = plan_for(seconds)
    if plan.resolution is None:
        sql = _raw_sql(SAMPLES, "workload_id = %s AND", plan)
    else:
        sql = _rollup_sql(ROLLUPS, "workload_id = %s AND", plan)
    return _points(sql, [workload_id, start])


def host_series(window, now=None):
    """The host's points over ``window``, oldest first."""
    seconds = WINDOWS[window]
    start = int(now if now is not None else time.time()) - seconds
    plan = plan_for(seconds)
    if plan.resolution is None:
        sql = _raw_sql(HOST_SAMPLES, "", plan)
    else:
        sql = _rollup_sql(HOST_ROLLUPS, "", plan)
    return _points(sql, [start])


def remote_host_series(host_id, window, now=None):
    """Another host's points over ``window``, oldest first. Its series is kept raw only (for
    ``TINYFORGE_STATS_RAW_HOURS``), so every window reads raw ticks, merged into at most about
    MAX_POINTS points; a window longer than what is kept shows what is kept."""
    seconds = WINDOWS[window]
    start = int(now if now is not None else time.time()) - seconds
    interval = settings.TINYFORGE_STATS_INTERVAL
    plan = Plan(None, interval * max(1, math.ceil(seconds / interval / MAX_POINTS)))
    sql = _raw_sql(RemoteHostSample._meta.db_table, "host_id = %s AND", plan)
    return _points(sql, [host_id, start])


def top_workloads(window, limit=5, now=None):
    """Workloads ranked by average CPU and by average memory over ``window`` (from rollups).

    Returns {"cpu": [...], "memory": [...]}, each item {"id", "name", "cpu_percent",
    "memory_usage"}.
    """
    seconds = WINDOWS[window]
    start = int(now if now is not None else time.time()) - seconds
    resolution = plan_for(max(seconds, ROLLUP_FROM)).resolution
    sql = (f"SELECT w.id, w.name, SUM(r.cpu_sum) / SUM(r.count), SUM(r.memory_sum) / SUM(r.count) "
           f"FROM {WORKLOADS} w CROSS JOIN {ROLLUPS} r WHERE r.workload_id = w.id "
           f"AND r.resolution = %s AND r.ts >= %s GROUP BY w.id, w.name")
    with connection.cursor() as cursor:
        cursor.execute(sql, [resolution, start])
        rows = [
            {"id": pk, "name": name, "cpu_percent": round(float(cpu or 0), 2),
             "memory_usage": int(mem or 0)}
            for pk, name, cpu, mem in cursor.fetchall()
        ]
    return {
        "cpu": sorted(rows, key=lambda r: -r["cpu_percent"])[:limit],
        "memory": sorted(rows, key=lambda r: -r["memory_usage"])[:limit],
    }


def latest_per_workload(max_age, now=None):
    """{workload id: newest point} for workloads sampled within ``max_age`` seconds."""
    since = int(now if now is not None else time.time()) - max_age
    sql = (f"SELECT s.workload_id, s.ts, SUM(s.cpu_percent), SUM(s.memory_usage), "
           f"MAX(s.memory_limit) FROM {WORKLOADS} w CROSS JOIN {SAMPLES} s "
           f"WHERE s.workload_id = w.id AND s.ts = (SELECT MAX(l.ts) FROM {SAMPLES} l "
           f"WHERE l.workload_id = w.id AND l.ts >= %s) GROUP BY s.workload_id, s.ts")
    with connection.cursor() as cursor:
        cursor.execute(sql, [since])
        return {
            wid: {"ts": ts, "cpu_percent": float(cpu), "memory_usage": int(mem),
                  "memory_limit": int(lim)}
            for wid, ts, cpu, mem, lim in cursor.fetchall()
        }


def short_version(ref):
    """A ledger reference as people read it: 12 hex digits of a digest, or the ref itself."""
    if not ref:
        return ""
    _, _, digest = ref.rpartition("sha256:")
    return digest[:12] if digest else ref


def deploy_markers(workload_id, window, now=None):
    """The workload's deploys inside ``window``, as time-axis markers, oldest first.

    A marker sits where the deploy finished (the moment the new version took over), or where it
    started when it has not finished yet.
    """
    from datetime import UTC, datetime

    from django.db.models import Q

    from apps.deploys.models import Deploy

    now = int(now if now is not None else time.time())
    start = datetime.fromtimestamp(now - WINDOWS[window], tz=UTC)
    deploys = Deploy.objects.filter(workload_id=workload_id).filter(
        Q(finished_at__gte=start) | Q(finished_at__isnull=True, created_at__gte=start)
    ).values("id", "status", "pinned_ref", "created_at", "started_at", "finished_at")
    markers = [
        {"ts": int((row["finished_at"] or row["started_at"] or row["created_at"]).timestamp()),
         "id": row["id"], "status": row["status"], "version": short_version(row["pinned_ref"])}
        for row in deploys
    ]
    return sorted(markers, key=lambda m: (m["ts"], m["id"]))
