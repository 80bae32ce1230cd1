"""Rollups keep averages exact; retention removes only what expired, in small batches."""
import random

import pytest
from django.db import IntegrityError
from django.db.models import Sum
from django.test import override_settings

from apps.metrics import queries, retention
from apps.metrics.models import HostRollup, HostSample, Rollup, Sample
from apps.metrics.rollups import roll_up
from tests.metrics.support import (
    aligned_now,
    index_container,
    put_host_samples,
    put_samples,
    ticks_back,
)

pytestmark = pytest.mark.django_db

DAY = 86400


def test_rollup_averages_equal_raw_averages_at_every_level(workload):
    end = aligned_now(3600)
    rng = random.Random(7)
    web, db = index_container(workload), index_container(workload)
    ticks = ticks_back(3 * 3600, end=end)
    put_samples(web, ticks, cpu=lambda ts: rng.uniform(0, 200),
                memory=lambda ts: rng.randint(1, 10**9))
    put_samples(db, ticks[::2], cpu=lambda ts: rng.uniform(0, 50),
                memory=lambda ts: rng.randint(1, 10**8))
    roll_up(now=end + 60)

    per_tick = queries._points(
        queries._raw_sql("metrics_sample", "workload_id = %s AND", queries.Plan(None, 15)),
        [workload.pk, 0],
    )
    raw_cpu = sum(p["cpu_percent"] for p in per_tick) / len(per_tick)
    raw_memory = sum(p["memory_usage"] for p in per_tick) / len(per_tick)
    for resolution in (60, 3600):
        buckets = Rollup.objects.filter(workload=workload, resolution=resolution).aggregate(
            cpu=Sum("cpu_sum"), memory=Sum("memory_sum"), count=Sum("count"))
        assert buckets["count"] == len(per_tick)
        assert buckets["cpu"] / buckets["count"] == pytest.approx(raw_cpu, rel=1e-3)
        assert buckets["memory"] / buckets["count"] == pytest.approx(raw_memory, rel=1e-6)
    assert Rollup.objects.filter(workload=workload, resolution=3600).count() == 3


def test_a_minute_bucket_keeps_min_max_and_the_largest_limit_of_the_per_tick_totals(workload):
    minute = aligned_now(60) - 600
    a, b = index_container(workload), index_container(workload)
    put_samples(a, [minute, minute + 15, minute + 30, minute + 45], cpu=lambda ts: ts - minute,
                limit=100)
    put_samples(b, [minute, minute + 15], cpu=5.0, limit=300)
    roll_up(now=minute + 600)
    bucket = Rollup.objects.get(workload=workload, resolution=60, ts=minute)
    # per-tick totals: 0+5, 15+5, 30, 45
    assert (bucket.count, bucket.cpu_sum, bucket.cpu_min, bucket.cpu_max) == (4, 100, 5, 45)
    assert bucket.memory_limit == 300


def test_a_minute_is_rolled_up_once_and_only_after_it_ended(workload):
    minute = aligned_now(60) - 120
    container = index_container(workload)
    put_samples(container, [minute, minute + 15])
    roll_up(now=minute + 30)  # the minute is still running
    assert not Rollup.objects.filter(workload=workload).exists()
    put_samples(container, [minute + 30, minute + 45])
    roll_up(now=minute + 75)
    roll_up(now=minute + 135)
    assert list(Rollup.objects.filter(workload=workload, resolution=60).values_list(
        "ts", "count")) == [(minute, 4)]


def test_the_host_is_rolled_up_like_a_workload():
    end = aligned_now(3600)
    put_host_samples(ticks_back(3600, end=end), cpu=20.0)
    roll_up(now=end + 60)
    assert HostRollup.objects.filter(resolution=60).count() == 60
    hour = HostRollup.objects.get(resolution=3600)
    assert (hour.count, hour.cpu_sum / hour.count) == (240, 20.0)


def test_pruning_removes_only_expired_rows_of_each_tier(workload):
    now = aligned_now(3600)
    container = index_container(workload)
    put_samples(container, [now - DAY - 30, now - DAY - 15, now - DAY + 15, now - 15])
    put_host_samples([now - DAY - 15, now - 15])
    Rollup.objects.bulk_create([
        bucket(workload, 60, now - 7 * DAY - 60), bucket(workload, 60, now - 7 * DAY + 60),
        bucket(workload, 3600, now - 90 * DAY - 3600), bucket(workload, 3600, now - 89 * DAY),
    ])
    removed = retention.prune(now=now)
    assert removed["raw"] == 2 and removed["minute"] == 1 and removed["hour"] == 1
    assert removed["host-raw"] == 1
    assert sorted(Sample.objects.values_list("ts", flat=True)) == [now - DAY + 15, now - 15]
    assert sorted(Rollup.objects.values_list("resolution", "ts")) == [
        (60, now - 7 * DAY + 60), (3600, now - 89 * DAY)]
    assert list(HostSample.objects.values_list("ts", flat=True)) == [now - 15]


def test_pruning_leaves_other_workloads_rows_alone_when_they_are_recent(make_workload):
    now = aligned_now()
    old, recent = make_workload(name="old"), make_workload(name="recent")
    put_samples(index_container(old), [now - 2 * DAY])
    put_samples(index_container(recent), [now - 60])
    retention.prune(now=now)
    assert list(Sample.objects.values_list("workload_id", flat=True)) == [recent.pk]


@override_settings(TINYFORGE_STATS_RAW_HOURS=1)
def test_retention_follows_the_settings(workload):
    now = aligned_now()
    put_samples(index_container(workload), [now - 2 * 3600, now - 1800])
    retention.prune(now=now)
    assert list(Sample.objects.values_list("ts", flat=True)) == [now - 1800]


def test_catching_up_deletes_in_batches_of_about_the_configured_size(workload):
    now = aligned_now()
    containers = [index_container(workload) for _ in range(4)]
    expired = ticks_back(3 * 3600, end=now - DAY - 15)
    for container in containers:
        put_samples(container, expired)
    batches = []
    retention.prune(now=now, batch_rows=200,
                    on_batch=lambda tier, rows, seconds: batches.append((tier, rows)))
    raw = [rows for tier, rows in batches if tier == "raw"]
    assert sum(raw) == 4 * len(expired)
    assert len(raw) > 1 and max(raw) <= 200
    assert not Sample.objects.exists()


def bucket(workload, resolution, ts):
    return Rollup(workload=workload, resolution=resolution, ts=ts, count=1, cpu_sum=1, cpu_min=1,
                  cpu_max=1, memory_sum=1, memory_min=1, memory_max=1, memory_limit=0)



@pytest.mark.django_db(transaction=True)  # outside a transaction, where the pragma can change
def test_pruning_restores_foreign_key_enforcement_on_its_connection(workload):
    from django.db import connection

    put_samples(index_container(workload), [aligned_now() - 2 * DAY])
    assert retention.prune()["raw"] == 1
    if connection.vendor == "sqlite":  # the pragma pruning turns off for a while
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys")
            assert cursor.fetchone() == (1,)
    # On every database: a sample of a workload that does not exist is still refused.
    with pytest.raises(IntegrityError):
        Sample.objects.bulk_create([Sample(
            workload_id=workload.pk + 10_000, ts=aligned_now(), container_id=1,
            cpu_percent=0, memory_usage=0, memory_limit=0)])


def test_a_prune_batch_searches_a_bounded_key_range_of_each_workload(workload):
    """A batch deletes [oldest, upto) per workload through the (workload, ts) key: bounded on
    both sides, so PostgreSQL does not scan the whole table for each batch."""
    from django.db import connection

    sql = retention.TIERS[0].delete_sql()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, [1000, 2000])
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert ("SEARCH metrics_sample USING PRIMARY KEY (workload_id=? AND ts>? AND ts<?)"
                    in plan), plan
            return
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty table: any plan is cheap
        cursor.execute("EXPLAIN " + sql, [1000, 2000])
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on metrics_sample" not in plan, plan
    assert "(ts >= 1000) AND (ts < 2000)" in plan, plan


def test_tinyforges_connections_run_without_jit_compilation_on_postgresql():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL setting (this suite runs on both databases in CI)")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
