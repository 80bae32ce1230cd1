"""Lists, details and admin pages run a bounded number of queries whatever the fleet's size,
and the admin renders from the database: no engine call while a page is built."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.workloads import engine
from apps.workloads.engine import client as engine_client
from tests.support.fleet import seed_fleet

WORKLOAD_LIST_MAX = 10
# The workload page: form, inlines, panels. The status header (state, running entry, last
# deploy, last control event) and the log panel's service list added 6 to the former 20.
ADMIN_PAGE_MAX = 26


@pytest.fixture
def no_engine(monkeypatch):
    """Any engine call during the test fails it (and is counted)."""
    calls = []

    def refuse(**kwargs):
        calls.append(1)
        raise AssertionError("a page asked the Docker engine")

    # Every engine call needs a client; with none cached, the next one must connect.
    engine.reset()
    monkeypatch.setattr(engine_client, "_connect", refuse)
    yield calls
    engine.reset()


@pytest.mark.parametrize("count", [1, 50])
def test_the_workload_list_runs_the_same_few_queries_for_1_or_50_workloads(
        count, as_admin, admin_user, no_engine, django_assert_max_num_queries):
    seed_fleet(count, user=admin_user)
    with django_assert_max_num_queries(WORKLOAD_LIST_MAX):
        response = as_admin.get("/workloads")
    assert response.status_code == 200 and len(response.data) == count
    first = response.data[0]
    assert first["state"] == "running" and first["last_deploy"]["status"] == "succeeded"
    assert len(first["env"]) == 3 and len(first["volumes"]) == 2
    assert len(first["containers"]) == 1
    assert [v["value"] for v in first["env"] if v["secret"]] == [None]
    assert no_engine == []


def test_the_workload_list_shows_each_workloads_own_newest_deploy_and_chain(
        as_admin, admin_user):
    from apps.deploys.models import Deploy

    workloads = seed_fleet(3, deploys_each=4, user=admin_user)
    listed = {w["id"]: w for w in as_admin.get("/workloads").data}
    for workload in workloads:
        newest = Deploy.objects.filter(workload=workload).order_by("-id").first()
        assert listed[workload.pk]["last_deploy"]["id"] == newest.pk
    assert listed[workloads[0].pk]["chain"] == [workloads[1].pk]
    assert listed[workloads[2].pk]["chain"] == []


def test_one_workload_runs_a_bounded_number_of_queries(
        as_admin, admin_user, no_engine, django_assert_max_num_queries):
    workload = seed_fleet(5, user=admin_user)[2]
    with django_assert_max_num_queries(WORKLOAD_LIST_MAX):
        response = as_admin.get(f"/workloads/{workload.pk}")
    assert response.status_code == 200 and response.data["chain"] == [workload.pk + 1]


def test_the_deploy_history_and_a_deploy_run_a_bounded_number_of_queries(
        as_admin, admin_user, no_engine, django_assert_max_num_queries):
    workload = seed_fleet(5, user=admin_user)[0]
    with django_assert_max_num_queries(8):
        history = as_admin.get(f"/workloads/{workload.pk}/deploys")
    assert history.status_code == 200 and len(history.data["items"]) == 20
    assert history.data["items"][0]["requested_by"] == "root"
    assert sum(1 for item in history.data["items"] if item["backup"]) == 1
    with django_assert_max_num_queries(6):
        detail = as_admin.get(f"/deploys/{history.data['items'][0]['id']}")
    assert detail.status_code == 200 and detail.data["log"].startswith("line")


def test_the_trigger_lists_run_a_bounded_number_of_queries(
        as_admin, admin_user, django_assert_max_num_queries):
    workloads = seed_fleet(20, deploys_each=1, user=admin_user)
    with django_assert_max_num_queries(6):
        listed = as_admin.get("/triggers")
    assert listed.status_code == 200
    assert all(len(t["workload_ids"]) == 20 for t in listed.data)
    with django_assert_max_num_queries(7):
        bound = as_admin.get(f"/workloads/{workloads[0].pk}/triggers")
    assert len(bound.data) == 2


def test_the_stats_endpoints_run_a_bounded_number_of_queries(
        as_admin, admin_user, django_assert_max_num_queries):
    workload = seed_fleet(3, user=admin_user)[0]
    for path in (f"/workloads/{workload.pk}/stats/history?window=6h",
                 f"/workloads/{workload.pk}/stats/deploys?window=6h",
                 "/stats/top?window=6h"):
        with django_assert_max_num_queries(8):
            assert as_admin.get(path).status_code == 200


@pytest.mark.parametrize("page", ["/admin/workloads/workload/", "/admin/deploys/deploy/",
                                  "/admin/deploys/trigger/", "/admin/deploys/backup/"])
def test_each_admin_changelist_runs_a_bounded_number_of_queries(
        page, admin_client, admin_user, no_engine, django_assert_max_num_queries):
    seed_fleet(30, deploys_each=10, user=admin_user)
    with django_assert_max_num_queries(16):
        response = admin_client.get(page)
    assert response.status_code == 200
    assert no_engine == []


def test_the_admin_workload_page_runs_few_queries_and_no_engine_call(
        admin_client, admin_user, no_engine, django_assert_max_num_queries):
    workload = seed_fleet(10, user=admin_user)[3]
    with django_assert_max_num_queries(ADMIN_PAGE_MAX):
        response = admin_client.get(f"/admin/workloads/workload/{workload.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200 and no_engine == []
    assert "fleet-secret-3" not in html and "Roll back to this" in html
    assert "deploy history" in html.lower() and "trigger bindings" in html.lower()
    assert html.count('class="tf-running-now"') == 1  # the running entry, clearly labelled
    assert "▶" not in html and "Change history" in html


def test_the_admin_workload_page_costs_the_same_for_3_or_30_ledger_rows(
        admin_client, admin_user, no_engine):
    short = seed_fleet(1, deploys_each=3, user=admin_user)[0]
    long = seed_fleet(1, deploys_each=30, user=admin_user)[0]
    counts = []
    for workload in (short, long):
        with CaptureQueriesContext(connection) as ctx:
            admin_client.get(f"/admin/workloads/workload/{workload.pk}/change/")
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] <= ADMIN_PAGE_MAX
