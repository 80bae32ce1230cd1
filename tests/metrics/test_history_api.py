"""GET /api/workloads/{id}/stats/history and /api/stats/history: scoping, aggregation, windows."""
import pytest
from django.db import connection

from apps.metrics import queries
from apps.metrics.rollups import roll_up
from apps.workloads import actions
from tests.metrics.support import (
    aligned_now,
    index_container,
    put_host_samples,
    put_samples,
    ticks_back,
)

pytestmark = pytest.mark.django_db

MIB = 2**20


def history(client, workload, window="2h"):
    return client.get(f"/workloads/{workload.pk}/stats/history?window={window}")


def test_a_workload_never_sees_another_workloads_samples(as_viewer, make_workload):
    a, b = make_workload(name="alpha"), make_workload(name="beta")
    ticks = ticks_back(600)
    put_samples(index_container(a), ticks, cpu=11.0, memory=10 * MIB)
    put_samples(index_container(b), ticks, cpu=77.0, memory=700 * MIB)
    seen_by_a = history(as_viewer, a).data
    seen_by_b = history(as_viewer, b).data
    assert [p["ts"] for p in seen_by_a] == ticks
    assert {p["cpu_percent"] for p in seen_by_a} == {11.0}
    assert {p["memory_usage"] for p in seen_by_a} == {10 * MIB}
    assert {p["cpu_percent"] for p in seen_by_b} == {77.0}


def test_two_containers_at_the_same_tick_are_summed_and_the_limit_is_the_largest(
    as_viewer, workload
):
    tick = aligned_now()
    put_samples(index_container(workload, service="web"), [tick], cpu=30.0, memory=100 * MIB,
                limit=256 * MIB)
    put_samples(index_container(workload, service="db"), [tick], cpu=12.5, memory=50 * MIB,
                limit=512 * MIB)
    points = history(as_viewer, workload).data
    assert points == [{"ts": tick, "cpu_percent": 42.5, "memory_usage": 150 * MIB,
                       "memory_limit": 512 * MIB}]


def test_containers_without_a_limit_report_limit_zero(as_viewer, workload):
    ticks = ticks_back(60)
    put_samples(index_container(workload), ticks, limit=0)
    put_samples(index_container(workload), ticks, limit=0)
    assert {p["memory_limit"] for p in history(as_viewer, workload).data} == {0}


def test_points_come_back_oldest_first_and_only_inside_the_window(as_viewer, workload):
    now = aligned_now()
    put_samples(index_container(workload), [now - 3 * 3600, now - 600, now - 1200, now])
    points = history(as_viewer, workload, "30m").data
    assert [p["ts"] for p in points] == [now - 1200, now - 600, now]


def test_an_unknown_workload_is_404(as_viewer):
    response = as_viewer.get("/workloads/999999/stats/history?window=2h")
    assert response.status_code == 404


def test_a_known_workload_without_samples_gives_an_empty_list(as_viewer, workload):
    response = history(as_viewer, workload)
    assert response.status_code == 200 and response.data == []


def test_an_unknown_window_is_422_naming_the_allowed_values(as_viewer, workload):
    response = history(as_viewer, workload, "5y")
    assert response.status_code == 422
    for allowed in ("30m", "2h", "6h", "24h", "7d", "30d"):
        assert allowed in response.data["detail"]
    assert "window" in response.data["errors"]


def test_the_window_defaults_to_two_hours(as_viewer, workload):
    now = aligned_now()
    put_samples(index_container(workload), [now - 3 * 3600, now - 3600])
    response = as_viewer.get(f"/workloads/{workload.pk}/stats/history")
    assert [p["ts"] for p in response.data] == [now - 3600]


def test_any_authenticated_user_may_read_and_anonymous_users_may_not(
    as_viewer, as_anonymous, workload
):
    assert history(as_viewer, workload).status_code == 200
    assert history(as_anonymous, workload).status_code == 401
    assert as_anonymous.get("/stats/history?window=2h").status_code == 401


def test_windows_of_a_day_and_longer_come_from_rollups_with_at_most_about_1500_points(
    as_viewer, workload
):
    end = aligned_now(60)
    container = index_container(workload)
    put_samples(container, ticks_back(86400, end=end), cpu=lambda ts: ts % 7)
    roll_up(now=end + 120)
    for window in ("24h", "7d", "30d"):
        points = history(as_viewer, workload, window).data
        assert 0 < len(points) <= 1500, window
    day = history(as_viewer, workload, "24h").data
    assert len(day) >= 1400 and day[1]["ts"] - day[0]["ts"] == 60
    assert queries.plan_for(queries.WINDOWS["7d"]).bucket == 600
    assert queries.plan_for(queries.WINDOWS["30d"]).resolution == 3600


def test_the_host_series_is_served_for_the_dashboard(as_viewer):
    ticks = ticks_back(300)
    put_host_samples(ticks, cpu=37.5)
    points = as_viewer.get("/stats/history?window=30m").data
    assert [p["ts"] for p in points] == ticks
    assert points[0] == {"ts": ticks[0], "cpu_percent": 37.5, "memory_usage": 2**30,
                         "memory_limit": 8 * 2**30}


def test_deleting_a_workload_deletes_its_samples_and_rollups(workload):
    from apps.metrics.models import Rollup, Sample

    end = aligned_now(60)
    put_samples(index_container(workload), ticks_back(600, end=end))
    roll_up(now=end + 60)
    assert Rollup.objects.filter(workload=workload).exists()
    actions.delete_workload(workload, force=True)
    assert not Sample.objects.filter(workload_id=workload.pk).exists()
    assert not Rollup.objects.filter(workload_id=workload.pk).exists()


def test_samples_outlive_a_replaced_container_until_the_workload_goes(as_viewer, workload):
    old = index_container(workload)
    put_samples(old, ticks_back(120))
    old.delete()  # a redeploy replaced the container and its index row
    assert len(history(as_viewer, workload, "30m").data) == 8


def test_a_window_query_reads_only_its_own_workloads_range_of_the_clustered_key(workload):
    """The plan must be a key range search (workload, ts), not a scan of everyone's rows."""
    sql = queries._raw_sql("metrics_sample", "workload_id = %s AND", queries.plan_for(7200))
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, [workload.pk, 0])
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "SEARCH metrics_sample USING PRIMARY KEY (workload_id=? AND ts>?)" in plan, plan
            return
        # PostgreSQL: on an empty table any plan is cheap, so rule out the sequential scan and
        # check the range the index search uses (a query no index fits would still scan).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, [workload.pk, 0])
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan" not in plan, plan
    assert f"Index Cond: ((workload_id = {workload.pk}) AND (ts >= 0))" in plan, plan


def test_top_workloads_rank_by_average_cpu_and_memory(as_viewer, make_workload):
    end = aligned_now(60)
    busy, idle = make_workload(name="busy"), make_workload(name="idle")
    put_samples(index_container(busy), ticks_back(600, end=end), cpu=80.0, memory=10 * MIB)
    put_samples(index_container(idle), ticks_back(600, end=end), cpu=1.0, memory=900 * MIB)
    roll_up(now=end + 60)
    top = as_viewer.get("/stats/top?window=30m").data
    assert [w["name"] for w in top["cpu"]] == ["busy", "idle"]
    assert [w["name"] for w in top["memory"]] == ["idle", "busy"]
    assert top["cpu"][0]["cpu_percent"] == 80.0
