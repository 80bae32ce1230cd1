"""Trigger CRUD, bindings and the auth matrix of every trigger endpoint."""
import pytest

from apps.deploys.models import Backup, Deploy, Trigger
from apps.workloads.models import EventLog


def test_it_creates_lists_filters_and_deletes_triggers(as_admin):
    hook = as_admin.post("/triggers", {"name": "push", "kind": "webhook", "secret": "s3cr3t-x"})
    cron = as_admin.post("/triggers", {"name": "nightly", "kind": "schedule",
                                       "config": {"cron": "0 3 * * *"}})
    assert hook.status_code == 201 and hook.data["hook_url"].startswith("/api/hooks/")
    assert hook.data["has_secret"] is True and "s3cr3t-x" not in hook.content.decode()
    assert cron.status_code == 201 and cron.data["hook_url"] is None
    assert [t["name"] for t in as_admin.get("/triggers?kind=schedule").data] == ["nightly"]
    assert len(as_admin.get("/triggers").data) == 2
    assert as_admin.delete(f"/triggers/{cron.data['id']}").status_code == 204
    assert as_admin.get(f"/triggers/{cron.data['id']}").status_code == 404


def test_a_duplicate_trigger_name_is_409(as_admin):
    as_admin.post("/triggers", {"name": "push", "kind": "manual"})
    response = as_admin.post("/triggers", {"name": "push", "kind": "webhook"})
    assert response.status_code == 409 and response.data["field"] == "name"


@pytest.mark.parametrize("payload, field", [
    ({"name": "t", "kind": "nope"}, "kind"),
    ({"name": "t", "kind": "schedule", "config": {"cron": "every day"}}, "config.cron"),
    ({"name": "t", "kind": "registry_watch", "config": {"image": "Bad Ref"}}, "config.image"),
    ({"name": "t", "kind": "webhook", "config": {"branch": 3}}, "config.branch"),
    ({"name": "", "kind": "manual"}, "name"),
])
def test_bad_trigger_input_is_422_naming_the_field(as_admin, payload, field):
    response = as_admin.post("/triggers", payload)
    assert response.status_code == 422 and field in response.data["errors"]
    assert not Trigger.objects.exists()


def test_patch_changes_config_and_keeps_a_secret_that_is_not_given(as_admin):
    created = as_admin.post("/triggers", {"name": "push", "kind": "webhook", "secret": "keep-me"})
    response = as_admin.patch(f"/triggers/{created.data['id']}", {"config": {"branch": "prod"}})
    assert response.status_code == 200 and response.data["config"]["branch"] == "prod"
    assert Trigger.objects.get().secret == "keep-me"


def test_bindings_bind_by_id_or_inline_list_and_unbind(as_admin, make_workload):
    workload = make_workload()
    existing = as_admin.post("/triggers", {"name": "push", "kind": "webhook"}).data
    by_id = as_admin.post(f"/workloads/{workload.pk}/triggers", {"trigger_id": existing["id"]})
    inline = as_admin.post(f"/workloads/{workload.pk}/triggers", {
        "trigger": {"name": "nightly", "kind": "schedule", "config": {"cron": "0 3 * * *"}}})
    assert by_id.status_code == 201 and inline.status_code == 201
    listed = as_admin.get(f"/workloads/{workload.pk}/triggers").data
    assert sorted(t["name"] for t in listed) == ["nightly", "push"]
    gone = as_admin.delete(f"/workloads/{workload.pk}/triggers/{existing['id']}")
    assert gone.status_code == 204
    assert [t["name"] for t in as_admin.get(f"/workloads/{workload.pk}/triggers").data] == [
        "nightly"]
    assert Trigger.objects.filter(name="push").exists()  # unbinding keeps the trigger


def test_binding_needs_a_trigger_and_unknown_ids_are_404(as_admin, make_workload):
    workload = make_workload()
    neither = as_admin.post(f"/workloads/{workload.pk}/triggers", {})
    assert neither.status_code == 422 and "trigger_id" in neither.data["errors"]
    assert as_admin.post(f"/workloads/{workload.pk}/triggers",
                         {"trigger_id": 999}).status_code == 404
    assert as_admin.post("/workloads/999/triggers", {"trigger_id": 1}).status_code == 404


ENDPOINTS = [
    ("get", "/triggers", None, False),
    ("post", "/triggers", {"name": "x", "kind": "manual"}, True),
    ("get", "/triggers/{trigger}", None, False),
    ("patch", "/triggers/{trigger}", {"name": "y"}, True),
    ("delete", "/triggers/{trigger}", None, True),
    ("post", "/triggers/{trigger}/new-hook-url", None, True),
    ("get", "/workloads/{workload}/triggers", None, False),
    ("post", "/workloads/{workload}/triggers", {"trigger_id": 0}, True),
    ("delete", "/workloads/{workload}/triggers/{trigger}", None, True),
    ("post", "/workloads/{workload}/rollback", {}, True),
    ("post", "/workloads/{workload}/promote-from", {"source": 0}, True),
    ("get", "/workloads/{workload}/deploys", None, False),
]


@pytest.mark.parametrize("method, path, body, mutation", ENDPOINTS)
def test_the_auth_matrix_of_trigger_and_ledger_endpoints(
    method, path, body, mutation, as_anonymous, as_viewer, as_staff, make_workload
):
    workload = make_workload()
    trigger = Trigger.objects.create(name="t", kind="manual")
    trigger.workloads.add(workload)
    url = path.format(workload=workload.pk, trigger=trigger.pk)
    if body and "trigger_id" in body:
        body = {"trigger_id": trigger.pk}
    if body and "source" in body:
        body = {"source": workload.pk}

    def send(client):
        sender = getattr(client, method)
        return sender(url, body) if method in ("post", "patch") else sender(url)

    assert send(as_anonymous).status_code == 401
    viewer = send(as_viewer)
    assert viewer.status_code == (403 if mutation else 200)
    assert send(as_staff).status_code not in (401, 403)


def test_deleting_a_workload_cascades_its_ledger_backups_and_events(as_admin, make_workload):
    workload = make_workload()
    deploy = Deploy.objects.create(workload=workload, reason="api", source_kind="image")
    Backup.objects.create(workload=workload, deploy=deploy, status="skipped")
    assert as_admin.delete(f"/workloads/{workload.pk}?force=true").status_code == 204
    assert not Deploy.objects.exists() and not Backup.objects.exists()
    assert not EventLog.objects.filter(workload_id=workload.pk).exists()
