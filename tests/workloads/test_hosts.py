"""Hosts: the local engine is one, others are added by staff with write-only keys, and a host
that stops answering is marked down after two failed checks in a row (issue 12)."""
import time

import pytest

from apps.core import notices
from apps.deploys.dispatch import dispatch
from apps.deploys.models import Deploy, Status
from apps.workloads import hosts
from apps.workloads.models import EventLog, Host, HostState, Workload

pytestmark = pytest.mark.django_db

KEY_CANARY = "-----BEGIN PRIVATE KEY-----\nhost-key-canary-5e1f\n-----END PRIVATE KEY-----\n"
PEM = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"


def nobody_listens(tmp_path, name="gone"):
    """A host whose engine address is a unix socket nobody listens on: it fails at once."""
    return Host.objects.create(name=name, engine_url=f"unix://{tmp_path}/nobody.sock")


def test_the_local_engine_is_a_host_and_new_workloads_run_on_it(make_workload):
    local = hosts.local_host()
    assert local.is_local and local.name == "local"
    assert make_workload().host == local


def test_a_workload_can_be_created_on_a_named_host(as_admin, tmp_path):
    nobody_listens(tmp_path, "edge")
    response = as_admin.post("/workloads", {"name": "web", "host": "edge",
                                            "spec": {"image": "127.0.0.1:1/web:1"}})
    assert response.status_code == 201, response.data
    assert response.data["host"] == "edge"


def test_an_unknown_host_is_refused_naming_the_field(as_admin):
    response = as_admin.post("/workloads", {"name": "web", "host": "nowhere",
                                            "spec": {"image": "127.0.0.1:1/web:1"}})
    assert response.status_code == 422
    assert response.data["detail"].startswith("host:")


def test_a_tcp_host_without_tls_is_refused_naming_the_missing_field(as_admin):
    response = as_admin.post("/hosts", {"name": "far", "engine_url": "tcp://10.0.0.9:2376"})
    assert response.status_code == 422
    assert response.data["detail"].startswith("tls_ca:")
    assert not Host.objects.filter(name="far").exists()


def test_unknown_fields_and_bad_addresses_are_refused(as_admin):
    assert as_admin.post("/hosts", {"name": "far", "colour": "red"}).status_code == 422
    response = as_admin.post("/hosts", {"name": "far", "engine_url": "http://x"})
    assert response.status_code == 422 and response.data["detail"].startswith("engine_url:")


def test_keys_are_write_only_and_never_in_api_output(as_admin, as_viewer):
    response = as_admin.post("/hosts", {"name": "far", "engine_url": "tcp://10.0.0.9:2376",
                                        "tls_ca": PEM, "tls_cert": PEM, "tls_key": KEY_CANARY})
    assert response.status_code == 201, response.data
    assert response.data["has_tls_key"] is True
    listed = as_viewer.get("/hosts")
    assert listed.status_code == 200
    assert "host-key-canary" not in str(response.data) + str(listed.data)
    host = Host.objects.get(name="far")
    assert host.tls_key == KEY_CANARY  # stored (encrypted at rest), usable by the engine


def test_patching_without_a_key_keeps_the_stored_key(as_admin):
    host = Host.objects.create(name="far", engine_url="ssh://deploy@10.0.0.9",
                               ssh_key=KEY_CANARY)
    response = as_admin.patch(f"/hosts/{host.pk}", {"proxy_admin": "http://10.0.0.9:2019"})
    assert response.status_code == 200, response.data
    host.refresh_from_db()
    assert host.ssh_key == KEY_CANARY and host.proxy_admin == "http://10.0.0.9:2019"


def test_only_staff_change_hosts(as_viewer):
    response = as_viewer.post("/hosts", {"name": "far", "engine_url": "ssh://a@b",
                                         "ssh_key": KEY_CANARY})
    assert response.status_code == 403
    assert not Host.objects.filter(name="far").exists()


def test_a_host_with_workloads_cannot_be_removed_and_says_which(as_admin, make_workload, tmp_path):
    host = nobody_listens(tmp_path)
    make_workload(name="still-here", host=host)
    response = as_admin.delete(f"/hosts/{host.pk}")
    assert response.status_code == 409 and "still-here" in response.data["detail"]
    assert as_admin.delete(f"/hosts/{hosts.local_host().pk}").status_code == 409


def test_one_failed_check_is_not_enough_to_mark_a_host_down(tmp_path):
    host = nobody_listens(tmp_path)
    assert hosts.check_host(host) == HostState.UNKNOWN
    host.refresh_from_db()
    assert host.failed_checks == 1 and host.state == HostState.UNKNOWN


def test_two_failed_checks_in_a_row_mark_it_down_once_with_one_notice(
        tmp_path, make_workload):
    host = nobody_listens(tmp_path)
    workload = make_workload(host=host)
    sent = []

    def receiver(sender, **facts):
        sent.append(facts)
    notices.host_down.connect(receiver)
    try:
        for _ in range(3):
            hosts.check_host(host)
    finally:
        notices.host_down.disconnect(receiver)
    host.refresh_from_db()
    assert host.state == HostState.DOWN and host.failed_checks == 3
    assert sent == [{"host": "gone", "code": "engine_down", "signal": notices.host_down}]
    assert EventLog.objects.filter(workload=workload, kind="host_down").count() == 1


def test_a_deploy_to_a_host_marked_down_fails_at_once_and_changes_nothing(
        tmp_path, make_workload):
    host = nobody_listens(tmp_path)
    host.state = HostState.DOWN
    host.save()
    workload = make_workload(host=host)

    started = time.monotonic()
    deploy = dispatch(workload, "api")
    took = time.monotonic() - started

    assert deploy.status == Status.FAILED and deploy.error_code == "host_down"
    assert deploy.host == host
    assert took < 5, took  # no engine call was waited on
    assert not workload.containers.exists()


def test_a_workload_on_a_host_marked_down_shows_host_down(tmp_path, make_workload, as_viewer):
    host = nobody_listens(tmp_path)
    workload = make_workload(host=host)
    Host.objects.filter(pk=host.pk).update(state=HostState.DOWN)
    response = as_viewer.get(f"/workloads/{workload.pk}/status")
    assert response.status_code == 200
    assert response.data["state"] == "host_down"
    assert as_viewer.get(f"/workloads/{workload.pk}").data["host_state"] == "down"


def test_every_ledger_entry_pins_the_host_it_ran_on(tmp_path, make_workload, as_viewer):
    host = nobody_listens(tmp_path)
    Host.objects.filter(pk=host.pk).update(state=HostState.DOWN)
    workload = make_workload(host=host)
    deploy = dispatch(workload, "api")
    listed = as_viewer.get(f"/workloads/{workload.pk}/deploys")
    entry = listed.data["items"][0]
    assert entry["id"] == deploy.pk and entry["host"] == "gone"
    assert Deploy.objects.get(pk=deploy.pk).host_id == host.pk


def test_moving_to_an_unknown_host_or_the_same_one_is_a_conflict(as_admin, make_workload):
    workload = make_workload()
    unknown = as_admin.post(f"/workloads/{workload.pk}/move", {"host": "nowhere"})
    same = as_admin.post(f"/workloads/{workload.pk}/move", {"host": "local"})
    assert unknown.status_code == 409 and same.status_code == 409
    assert not Deploy.objects.filter(workload=workload).exists()


def test_moving_to_a_host_marked_down_is_refused_before_anything_runs(
        as_admin, make_workload, tmp_path):
    host = nobody_listens(tmp_path)
    Host.objects.filter(pk=host.pk).update(state=HostState.DOWN)
    workload = make_workload()
    response = as_admin.post(f"/workloads/{workload.pk}/move", {"host": "gone"})
    assert response.status_code == 409 and "down" in response.data["detail"]
    workload.refresh_from_db()
    assert workload.host.is_local


def test_cleaning_images_on_an_unknown_host_is_one_readable_error():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no host named nowhere"):
        call_command("cleanup_images", "--host", "nowhere")


def test_an_event_names_the_host_its_workload_ran_on_even_after_a_move(tmp_path, make_workload):
    from apps.workloads.events import record_event

    edge = nobody_listens(tmp_path, "edge")
    workload = make_workload(name="roamer")
    first = record_event(workload, "deployed", "on the local engine")
    Workload.objects.filter(pk=workload.pk).update(host=edge)
    workload.refresh_from_db()
    second = record_event(workload, "deployed", "on the edge")
    assert (first.host, second.host) == (hosts.local_host(), edge)


def test_the_event_log_page_shows_and_filters_by_host(tmp_path, make_workload, admin_client,
                                                       django_assert_max_num_queries):
    from apps.workloads.events import record_event

    edge = nobody_listens(tmp_path, "edge")
    for i in range(20):
        workload = make_workload(name=f"app{i}")
        if i % 2:
            Workload.objects.filter(pk=workload.pk).update(host=edge)
            workload.refresh_from_db()
        record_event(workload, "deployed", f"event {i}")
    with django_assert_max_num_queries(12):
        html = admin_client.get("/admin/workloads/eventlog/").content.decode()
    assert "event 1" in html and "edge" in html
    filtered = admin_client.get(f"/admin/workloads/eventlog/?host__id__exact={edge.pk}")
    page = filtered.content.decode()
    assert "event 1<" in page and "event 2<" not in page
