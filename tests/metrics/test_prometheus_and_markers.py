"""GET /metrics (Prometheus text), deploy markers for the chart, and the stats command."""
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from apps.deploys.models import Deploy
from apps.metrics import tallies
from apps.workloads.models import ApiToken
from tests.metrics.support import aligned_now, index_container, put_samples, ticks_back

pytestmark = pytest.mark.django_db

MIB = 2**20


def scrape(token=None, remote="10.9.8.7"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().get("/metrics", REMOTE_ADDR=remote, **headers)


def make_deploy(workload, status, finished_seconds_ago=None, ref="sha256:" + "ab" * 32):
    finished = (datetime.now(UTC) - timedelta(seconds=finished_seconds_ago)
                if finished_seconds_ago is not None else None)
    return Deploy.objects.create(workload=workload, status=status, reason="api",
                                 source_kind="image", pinned_ref=ref, finished_at=finished)


def test_metrics_need_a_staff_token(staff_user, viewer):
    assert scrape().status_code == 401
    assert scrape("tf_not-a-real-token").status_code == 401
    assert scrape(ApiToken.issue(viewer)[1]).status_code == 403
    answer = scrape(ApiToken.issue(staff_user)[1])
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=0.0.4")


@override_settings(TINYFORGE_METRICS_ALLOW=["127.0.0.1", "10.0.0.0/8"])
def test_an_allowlisted_address_may_scrape_without_a_token():
    assert scrape(remote="10.1.2.3").status_code == 200
    assert scrape(remote="192.168.1.5").status_code == 401


def test_workload_gauges_show_the_newest_sample_summed_over_containers(staff_user, make_workload):
    web = make_workload(name="web")
    tick = aligned_now()
    put_samples(index_container(web), [tick - 15, tick], cpu=20.0, memory=64 * MIB,
                limit=128 * MIB)
    put_samples(index_container(web), [tick], cpu=5.5, memory=16 * MIB)
    stale = make_workload(name="stale")
    put_samples(index_container(stale), [tick - 3600])
    text = scrape(ApiToken.issue(staff_user)[1]).content.decode()
    labels = f'workload="web",workload_id="{web.pk}"'
    assert f"tinyforge_workload_cpu_percent{{{labels}}} 25.5" in text
    assert f"tinyforge_workload_memory_bytes{{{labels}}} {80 * MIB}" in text
    assert f"tinyforge_workload_memory_limit_bytes{{{labels}}} {128 * MIB}" in text
    assert 'workload="stale"' not in text
    assert "# TYPE tinyforge_workload_cpu_percent gauge" in text


def test_deploy_counters_count_each_finished_deploy_once_and_never_go_down(
    staff_user, workload
):
    make_deploy(workload, "succeeded", 60)
    make_deploy(workload, "succeeded", 30)
    failed = make_deploy(workload, "failed", 10)
    make_deploy(workload, "running")
    tallies.tally_deploys()
    tallies.tally_deploys()  # a second count adds nothing
    failed.delete()  # the ledger is pruned; the counter keeps what it counted
    tallies.tally_deploys()
    text = scrape(ApiToken.issue(staff_user)[1]).content.decode()
    assert "# TYPE tinyforge_deploys_total counter" in text
    assert 'tinyforge_deploys_total{status="succeeded"} 2' in text
    assert 'tinyforge_deploys_total{status="failed"} 1' in text
    assert 'tinyforge_deploys_in_progress{status="running"} 1' in text


def test_deploys_inside_the_window_come_back_as_markers_with_their_version(
    as_viewer, workload
):
    old = make_deploy(workload, "succeeded", 3 * 3600)
    good = make_deploy(workload, "succeeded", 600)
    bad = make_deploy(workload, "failed", 300, ref="")
    markers = as_viewer.get(f"/workloads/{workload.pk}/stats/deploys?window=2h").data
    assert [m["id"] for m in markers] == [good.pk, bad.pk]
    assert markers[0]["version"] == "ab" * 6 and markers[0]["status"] == "succeeded"
    assert markers[1]["version"] == "" and markers[1]["status"] == "failed"
    assert abs(markers[0]["ts"] - (time.time() - 600)) < 5
    assert old.pk not in [m["id"] for m in markers]


def test_markers_follow_the_same_404_and_422_rules(as_viewer, workload):
    assert as_viewer.get("/workloads/999999/stats/deploys?window=2h").status_code == 404
    assert as_viewer.get(f"/workloads/{workload.pk}/stats/deploys?window=1y").status_code == 422


def test_the_stats_command_prints_a_compact_table(make_workload):
    web = make_workload(name="web")
    put_samples(index_container(web), ticks_back(60), cpu=12.5, memory=64 * MIB,
                limit=256 * MIB)
    out = io.StringIO()
    call_command("stats", "web", "--window", "30m", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("web") and "4 points" in lines[0]
    assert len(lines) == 2 + 4
    assert lines[-1].split()[-3:] == ["12.5", "64.0", "256.0"]


def test_the_stats_command_says_so_when_there_is_nothing_to_show(make_workload):
    make_workload(name="quiet")
    out = io.StringIO()
    call_command("stats", "quiet", stdout=out)
    assert "no samples" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("stats", "nobody", stdout=io.StringIO())
