"""The workload page's status header and its endpoint, the history's labels, the deploy
changelist, the stop confirmation and the undeletable ledger (database only, no engine)."""
import pytest
from django.utils import timezone

from apps.deploys.models import Deploy
from apps.workloads.models import Container, EventLog, Workload
from tests.support.fleet import seed_fleet

pytestmark = pytest.mark.django_db


def running_entry(workload):
    return workload.deploys.get(pk=workload.containers.get().deploy_id)


def test_the_status_endpoint_says_what_runs_since_when_and_the_last_deploy(
        as_viewer, admin_user):
    workload = seed_fleet(1, deploys_each=5, user=admin_user)[0]
    running = running_entry(workload)
    Deploy.objects.filter(pk=running.pk).update(spec_snapshot=workload.spec)
    answer = as_viewer.get(f"/workloads/{workload.pk}/status")
    assert answer.status_code == 200, answer.data
    data = answer.data
    assert data["state"] == "running" and data["state_label"] == "running"
    assert data["version"]["digest"] == running.pinned_ref
    assert data["version"]["short"] == running.pinned_ref.split(":")[-1][:12]
    assert data["version"]["tag"] == workload.spec["image"]
    assert data["since"]
    last = workload.deploys.order_by("-id").first()
    assert data["last_deploy"]["id"] == last.pk
    assert data["last_deploy"]["cause"] == f"API by {admin_user.get_username()}"


def test_the_status_lists_published_ports_or_else_the_proxy_domains_as_urls(
        as_viewer, make_workload):
    ports = make_workload(spec={"image": "127.0.0.1:1/a:1",
                                "ports": ["127.0.0.1:18080:8080", "18081:80/tcp"]})
    data = as_viewer.get(f"/workloads/{ports.pk}/status").data
    assert data["urls"] == ["http://127.0.0.1:18080/", "http://testserver:18081/"]
    assert data["state"] == "absent" and data["version"] is None
    Workload.objects.filter(pk=ports.pk).update(
        spec={**ports.spec, "domains": ["shop.example.test"]})
    data = as_viewer.get(f"/workloads/{ports.pk}/status").data
    assert data["urls"] == ["http://shop.example.test/"]


def test_a_stopped_workload_reads_stopped_since_it_was_stopped(as_viewer, admin_user):
    workload = seed_fleet(1, deploys_each=2, user=admin_user)[0]
    Workload.objects.filter(pk=workload.pk).update(desired_state="stopped")
    Container.objects.filter(workload=workload).update(state="exited")
    EventLog.objects.create(workload=workload, kind="stopped", message="Stopped by root.")
    data = as_viewer.get(f"/workloads/{workload.pk}/status").data
    assert data["state"] == "stopped" and data["version"] is None and data["since"]


def test_a_container_that_exited_by_itself_reads_failing(as_viewer, admin_user):
    workload = seed_fleet(1, deploys_each=2, user=admin_user)[0]
    Container.objects.filter(workload=workload).update(state="exited")
    assert as_viewer.get(f"/workloads/{workload.pk}/status").data["state"] == "failing"


def test_reading_the_status_needs_an_authenticated_user(as_anonymous, make_workload):
    assert as_anonymous.get(f"/workloads/{make_workload().pk}/status").status_code == 401


def test_the_history_labels_the_running_entry_and_offers_no_rollback_to_its_artifact(
        admin_client, admin_user):
    workload = seed_fleet(1, deploys_each=4, user=admin_user)[0]
    running = running_entry(workload)
    # Another entry of the very same artifact (e.g. a redeploy of an unchanged tag).
    twin = Deploy.objects.create(workload=workload, status="succeeded", reason="api",
                                 source_kind="image", pinned_ref=running.pinned_ref,
                                 finished_at=timezone.now())
    html = admin_client.get(f"/admin/workloads/workload/{workload.pk}/change/").content.decode()
    history = html[html.index('id="tf-deploy-history"'):]
    assert history.count('class="tf-running-now"') == 1 and "running now" in history
    twin_row = history[history.index(f'>#{twin.pk}</a>'):]
    twin_row = twin_row[:twin_row.index("</tr>")]
    assert "Roll back to this" not in twin_row and "already running" in twin_row
    assert "Roll back to this" in history  # the other, older artifacts


def test_the_workload_page_renames_djangos_history_and_offers_the_controls(
        admin_client, make_workload):
    workload = make_workload()
    html = admin_client.get(f"/admin/workloads/workload/{workload.pk}/change/").content.decode()
    assert "Change history" in html and ">History<" not in html
    assert 'id="tf-start"' in html and 'id="tf-restart"' in html and 'id="tf-stop"' in html
    assert 'id="tf-status"' in html and 'id="tf-logs"' in html
    assert 'rel="icon"' in html


def test_stop_asks_first_and_a_refused_control_says_why(admin_client, make_workload):
    workload = make_workload()
    url = f"/admin/workloads/workload/{workload.pk}/control/stop/"
    page = admin_client.get(url)
    assert page.status_code == 200 and 'id="tf-stop-confirm"' in page.content.decode()
    assert Workload.objects.get(pk=workload.pk).desired_state == "running"
    done = admin_client.post(url, follow=True)
    assert "deploy it first" in done.content.decode()  # nothing deployed: a 409's words
    assert admin_client.post(
        f"/admin/workloads/workload/{workload.pk}/control/explode/").status_code == 404


def test_the_deploy_list_shows_cause_duration_and_who_and_no_row_can_be_deleted(
        admin_client, admin_user):
    workload = seed_fleet(1, deploys_each=3, user=admin_user)[0]
    html = admin_client.get("/admin/deploys/deploy/").content.decode()
    for header in ("cause", "duration", "requested by", "status"):
        assert f">{header.capitalize()}<" in html or f">{header}<" in html.lower()
    assert "4.0 s" in html and admin_user.get_username() in html
    assert "delete_selected" not in html
    deploy = workload.deploys.first()
    assert admin_client.post(f"/admin/deploys/deploy/{deploy.pk}/delete/",
                             {"post": "yes"}).status_code == 403
    assert Deploy.objects.filter(pk=deploy.pk).exists()
