"""Who may fire a webhook: only a caller holding its secret; hook URLs are for staff eyes only."""
import hashlib
import json
import re
import uuid

import pytest

from apps.deploys.models import Deploy, Trigger
from apps.deploys.triggers.webhook import sign
from tests.support import dockerlab
from tests.support.database import dump_all_rows


def post_hook(client, hook_url, payload, secret=None, delivery=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"HTTP_X_HUB_SIGNATURE_256": sign(secret, body)} if secret is not None else {}
    if delivery:
        headers["HTTP_X_GITHUB_DELIVERY"] = delivery
    return client.post(hook_url, body, content_type="application/json", **headers)


def token_of(hook_url):
    return hook_url.rsplit("/", 1)[1]


@pytest.fixture
def created(as_admin, make_workload):
    """A webhook created through the API without a secret, bound to one workload."""
    workload = make_workload()
    response = as_admin.post(f"/workloads/{workload.pk}/triggers",
                             {"trigger": {"name": "push", "kind": "webhook"}})
    assert response.status_code == 201
    return response.data


def test_a_viewer_sees_no_hook_url_or_token_and_an_unsigned_call_is_401(
    client, as_viewer, created
):
    token = token_of(created["hook_url"])
    answers = [as_viewer.get("/triggers"), as_viewer.get(f"/triggers/{created['id']}"),
               as_viewer.get(f"/workloads/{created['workload_ids'][0]}/triggers")]
    assert all(answer.status_code == 200 for answer in answers)
    assert all(token not in answer.content.decode() for answer in answers)
    assert answers[1].data["hook_url"] is None and "secret" not in answers[1].data
    assert [t["hook_url"] for t in answers[0].data] == [None]
    # Even someone who learnt the URL elsewhere cannot fire it without the secret.
    response = post_hook(client, created["hook_url"], {"ref": "refs/heads/main"})
    assert response.status_code == 401 and not Deploy.objects.exists()


def test_a_viewer_cannot_issue_a_new_hook_url(as_viewer, created):
    response = as_viewer.post(f"/triggers/{created['id']}/new-hook-url")
    assert response.status_code == 403 and "hook_url" not in response.data


def test_a_webhook_created_without_a_secret_gets_one_shown_once_and_it_signs_calls(
    client, as_admin, created
):
    secret = created["secret"]
    assert isinstance(secret, str) and len(secret) >= 32
    assert created["has_secret"] is True and created["notice"] is None
    again = as_admin.get(f"/triggers/{created['id']}")
    listed = as_admin.get("/triggers")
    assert again.data["hook_url"] is None and "secret" not in again.data
    assert secret not in again.content.decode() + listed.content.decode()
    assert token_of(created["hook_url"]) not in again.content.decode() + listed.content.decode()
    response = post_hook(client, created["hook_url"], {"ref": "refs/heads/main"}, secret=secret)
    assert response.status_code == 202 and len(response.json()["deploy_ids"]) == 1


def test_a_secret_given_at_creation_is_kept_and_not_echoed(as_admin):
    response = as_admin.post("/triggers", {"name": "push", "kind": "webhook",
                                           "secret": "given-secret-x"})
    assert response.status_code == 201 and response.data["secret"] is None
    assert "given-secret-x" not in response.content.decode()
    assert Trigger.objects.get().secret == "given-secret-x"


@pytest.mark.parametrize("secret", ["", "   ", "bad\x00secret", "x" * 257])
def test_a_webhook_secret_cannot_be_emptied_or_made_unprintable_by_patch(
    as_admin, created, secret
):
    before = Trigger.objects.get().secret
    response = as_admin.patch(f"/triggers/{created['id']}", {"secret": secret})
    assert response.status_code == 422 and "secret" in response.data["errors"]
    assert response.data["detail"].startswith("secret")
    assert Trigger.objects.get().secret == before


def test_patching_a_new_secret_replaces_the_old_one_for_signing(client, as_admin, created):
    response = as_admin.patch(f"/triggers/{created['id']}", {"secret": "rotated-secret-1"})
    assert response.status_code == 200 and "rotated-secret-1" not in response.content.decode()
    old = post_hook(client, created["hook_url"], {"ref": "a"}, secret=created["secret"])
    new = post_hook(client, created["hook_url"], {"ref": "b"}, secret="rotated-secret-1")
    assert old.status_code == 401 and new.status_code == 202


def test_a_kind_without_a_secret_refuses_one(as_admin):
    response = as_admin.post("/triggers", {"name": "nightly", "kind": "schedule",
                                           "config": {"cron": "0 3 * * *"}, "secret": "x"})
    assert response.status_code == 422 and "secret" in response.data["errors"]
    assert not Trigger.objects.exists()


@pytest.mark.parametrize("method, path, body", [
    ("post", "/triggers", {"name": "t", "kind": "webhook", "secrets": "typo"}),
    ("patch", "/triggers/{id}", {"nmae": "typo"}),
    ("post", "/workloads/{workload}/triggers", {"trigger_id": 1, "extra": True}),
    ("post", "/workloads/{workload}/triggers", {"trigger_id": 9223372036854775808}),
])
def test_unknown_fields_and_unbounded_ids_in_trigger_bodies_are_422(
    as_admin, created, method, path, body
):
    url = path.format(id=created["id"], workload=created["workload_ids"][0])
    response = getattr(as_admin, method)(url, body)
    assert response.status_code == 422 and response.data["errors"]
    assert Trigger.objects.count() == 1 and Trigger.objects.get().name == "push"


def test_a_signed_body_resent_without_a_delivery_id_is_answered_as_a_replay(client, created):
    payload, secret = {"ref": "refs/heads/main", "after": "abc"}, created["secret"]
    first = post_hook(client, created["hook_url"], payload, secret=secret)
    again = post_hook(client, created["hook_url"], payload, secret=secret)
    assert first.status_code == 202 and len(first.json()["deploy_ids"]) == 1
    # 2xx, so the sender stops retrying; nothing is dispatched again.
    assert again.status_code == 202 and again.json()["deploy_ids"] == []
    assert "received already" in again.json()["reason"]
    assert Deploy.objects.count() == 1
    # The same body under a delivery id of its own is another delivery.
    fresh = post_hook(client, created["hook_url"], payload, secret=secret, delivery="d-new")
    assert fresh.status_code == 202 and len(fresh.json()["deploy_ids"]) == 1
    assert Deploy.objects.count() == 2


def test_a_replay_with_a_forged_signature_is_401(client, created):
    payload = {"ref": "refs/heads/main"}
    post_hook(client, created["hook_url"], payload, secret=created["secret"])
    forged = post_hook(client, created["hook_url"], payload, secret="guess")
    assert forged.status_code == 401 and Deploy.objects.count() == 1


def test_a_webhook_from_before_secrets_were_required_refuses_every_call_until_one_is_set(
    client, as_admin, created
):
    Trigger.objects.filter(pk=created["id"]).update(secret="")
    shown = as_admin.get(f"/triggers/{created['id']}").data
    assert shown["has_secret"] is False and "secret" in shown["notice"]
    empty_key = post_hook(client, created["hook_url"], {"ref": "x"}, secret="")
    unsigned = post_hook(client, created["hook_url"], {"ref": "y"})
    assert empty_key.status_code == 401 and unsigned.status_code == 401
    assert not Deploy.objects.exists()
    assert as_admin.patch(f"/triggers/{created['id']}",
                          {"secret": "finally-set"}).status_code == 200
    signed = post_hook(client, created["hook_url"], {"ref": "z"}, secret="finally-set")
    assert signed.status_code == 202 and len(signed.json()["deploy_ids"]) == 1


def test_the_database_holds_only_the_hash_of_a_hook_token(client, created):
    token = token_of(created["hook_url"])
    dump = dump_all_rows()
    assert token not in dump, "a raw hook token is stored"
    assert hashlib.sha256(token.encode()).hexdigest() in dump
    assert created["secret"] not in dump, "a webhook secret is stored in plain text"
    assert post_hook(client, created["hook_url"], {"ref": "x"},
                     secret=created["secret"]).status_code == 202


def test_a_new_hook_url_replaces_the_old_one(client, as_admin, created):
    response = as_admin.post(f"/triggers/{created['id']}/new-hook-url")
    assert response.status_code == 200 and response.data["hook_url"] != created["hook_url"]
    assert response.data["secret"] is None  # the secret is not regenerated
    old = post_hook(client, created["hook_url"], {"ref": "a"}, secret=created["secret"])
    new = post_hook(client, response.data["hook_url"], {"ref": "a"}, secret=created["secret"])
    assert old.status_code == 404 and new.status_code == 202


def test_only_webhooks_have_a_hook_url_to_reissue(as_admin):
    manual = as_admin.post("/triggers", {"name": "button", "kind": "manual"}).data
    assert manual["hook_url"] is None and manual["secret"] is None
    response = as_admin.post(f"/triggers/{manual['id']}/new-hook-url")
    assert response.status_code == 422 and "kind" in response.data["errors"]


def test_the_admin_shows_a_new_webhooks_url_and_generated_secret_once(admin_client, db):
    response = admin_client.post("/admin/deploys/trigger/add/", {
        "name": "push", "kind": "webhook", "config": "{}", "secret": ""}, follow=True)
    trigger = Trigger.objects.get()
    html = response.content.decode()
    url = re.search(r"/api/hooks/([A-Za-z0-9_-]+)", html)
    assert url and hashlib.sha256(url.group(1).encode()).hexdigest() == trigger.token_hash
    assert trigger.secret and trigger.secret in html
    later = admin_client.get("/admin/deploys/trigger/").content.decode()
    later += admin_client.get(f"/admin/deploys/trigger/{trigger.pk}/change/").content.decode()
    assert url.group(1) not in later and trigger.secret not in later


def test_the_admin_cannot_empty_a_webhook_secret_and_fills_a_missing_one(admin_client, db):
    hook = Trigger.objects.create(name="push", kind="webhook", secret="keep-this-one")
    form = {"name": "push", "kind": "webhook", "config": "{}", "secret": ""}
    admin_client.post(f"/admin/deploys/trigger/{hook.pk}/change/", form)
    assert Trigger.objects.get().secret == "keep-this-one"
    Trigger.objects.filter(pk=hook.pk).update(secret="")  # a webhook from before the upgrade
    listing = admin_client.get("/admin/deploys/trigger/").content.decode()
    assert "every call is refused" in listing
    response = admin_client.post(f"/admin/deploys/trigger/{hook.pk}/change/", form, follow=True)
    generated = Trigger.objects.get().secret
    assert generated and generated in response.content.decode()


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_only_a_call_signed_with_the_generated_secret_deploys_on_the_engine(
    client, as_admin, as_viewer, make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    port = dockerlab.free_port()
    workload = make_workload(spec={"image": f"{repository}:live",
                                   "ports": [f"127.0.0.1:{port}:8080"]})
    created = as_admin.post(f"/workloads/{workload.pk}/triggers", {
        "trigger": {"name": f"push-{uuid.uuid4().hex[:6]}", "kind": "webhook",
                    "config": {"branch": "main"}}}).data
    viewer_view = as_viewer.get("/triggers").content.decode()
    assert token_of(created["hook_url"]) not in viewer_view
    payload = {"ref": "refs/heads/main"}
    assert post_hook(client, created["hook_url"], payload).status_code == 401
    assert post_hook(client, created["hook_url"], payload, secret="guess").status_code == 401
    assert not Deploy.objects.exists()
    response = post_hook(client, created["hook_url"], payload, secret=created["secret"])
    assert response.status_code == 202
    deploy = Deploy.objects.get(pk=response.json()["deploy_ids"][0])
    assert deploy.status == "succeeded" and deploy.reason == "webhook"
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
