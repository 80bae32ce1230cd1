"""Retention: delete what is older than the configured windows, in small batches.

Each batch deletes one slice of time across all workloads (a contiguous prefix of each
workload's clustered range) in its own short transaction, sized to about
``TINYFORGE_STATS_PRUNE_BATCH`` rows, so the sampler's writes wait for one small batch at most.
"""
import time
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from apps.metrics.models import HOUR, MINUTE, RemoteHostSample
from apps.metrics.rollups import (
    HOST_ROLLUPS,
    HOST_SAMPLES,
    ROLLUPS,
    SAMPLES,
    WORKLOADS,
    oldest_host_ts,
    oldest_ts,
)
from apps.workloads.models import Container, Workload


@dataclass(frozen=True)
class Tier:
    """One kind of stored row and how long it is kept."""

    name: str
    table: str
    resolution: int | None  # rollup tables: which bucket size
    per_workload: bool

    def oldest(self):
        if self.per_workload:
            return oldest_ts(self.table, self.resolution)
        return oldest_host_ts(self.table, self.resolution)

    def delete_sql(self):
        # Bounded on both sides: a batch deletes [oldest, upto). Without the lower bound
        # PostgreSQL cannot use the (workload, ts) key for a batch and scans the whole table
        # each time; with it, it searches each workload's range (as SQLite already did).
        where = "ts >= %s AND ts < %s"
        if self.resolution:
            where += f" AND resolution = {self.resolution}"
        if self.per_workload:
            # Stated per workload so the database deletes a key prefix of each one.
            where = f"workload_id IN (SELECT id FROM {WORKLOADS}) AND " + where
        return f"DELETE FROM {self.table} WHERE {where}"


TIERS = (
    Tier("raw", SAMPLES, None, True),
    Tier("minute", ROLLUPS, MINUTE, True),
    Tier("hour", ROLLUPS, HOUR, True),
    Tier("host-raw", HOST_SAMPLES, None, False),
    Tier("host-minute", HOST_ROLLUPS, MINUTE, False),
    Tier("host-hour", HOST_ROLLUPS, HOUR, False),
    # Other hosts' series (raw only: kept as long as the raw samples).
    Tier("remote-host-raw", RemoteHostSample._meta.db_table, None, False),
)


def retention_seconds():
    raw = settings.TINYFORGE_STATS_RAW_HOURS * 3600
    minute = settings.TINYFORGE_STATS_MINUTE_DAYS * 86400
    hour = settings.TINYFORGE_STATS_HOUR_DAYS * 86400
    return {"raw": raw, "minute": minute, "hour": hour,
            "host-raw": raw, "host-minute": minute, "host-hour": hour, "remote-host-raw": raw}


def source_counts():
    """(containers, workloads) in one query: how many rows a second of history holds."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT (SELECT COUNT(*) FROM {Container._meta.db_table}), "
                       f"(SELECT COUNT(*) FROM {Workload._meta.db_table})")
        return cursor.fetchone()


def rows_per_second(tier, counts):
    """About how many rows of ``tier`` one second of history holds (sizes the batches)."""
    step = tier.resolution or settings.TINYFORGE_STATS_INTERVAL
    if not tier.per_workload:
        return 1 / step
    containers, workloads = counts
    return max(containers if tier.resolution is None else workloads, 1) / step


@contextmanager
def child_deletes_unchecked():
    """Skip SQLite's per-row foreign-key bookkeeping while pruning.

    With foreign keys on, SQLite looks up the parent workload for every deleted child row,
    which more than doubles the cost of a prune; deleting child rows can never break a foreign
    key. The pragma is per connection and cannot change inside a transaction (then it is left
    alone), and it is restored afterwards.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys")
        (previous,) = cursor.fetchone()
        cursor.execute("PRAGMA foreign_keys = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA foreign_keys = {int(previous)}")


def prune(now=None, batch_rows=None, on_batch=None):
    """Delete expired rows of every tier; returns {tier name: rows deleted}.

    ``on_batch(tier name, rows, seconds)`` is called after each batch (for benchmarks/logs).
    """
    now = int(now if now is not None else time.time())
    batch_rows = batch_rows or settings.TINYFORGE_STATS_PRUNE_BATCH
    keep = retention_seconds()
    counts = source_counts()
    with child_deletes_unchecked():
        return {
            tier.name: prune_tier(tier, now - keep[tier.name], batch_rows, counts, on_batch)
            for tier in TIERS
        }


def prune_tier(tier, cutoff, batch_rows, counts, on_batch=None):
    oldest = tier.oldest()
    if oldest is None or oldest >= cutoff:
        return 0
    span = max(int(batch_rows / rows_per_second(tier, counts)), tier.resolution or 1)
    sql = tier.delete_sql()
    deleted = 0
    while oldest < cutoff:
        upto = min(cutoff, oldest + span)
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [oldest, upto])
            rows = max(cursor.rowcount, 0)
        deleted += rows
        if on_batch:
            on_batch(tier.name, rows, time.perf_counter() - started)
        oldest = upto
    return deleted
