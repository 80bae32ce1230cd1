"""Webhook triggers: signed fan-out on the real engine, bad signatures, replays, filters."""
import json
import uuid

import pytest

from apps.deploys.models import Deploy, Trigger
from apps.deploys.triggers.webhook import sign
from tests.support import dockerlab

SECRET = "hook-canary-" + uuid.uuid4().hex[:10]


def post_hook(client, token, payload, secret=SECRET, delivery=None, signature=None):
    body = json.dumps(payload).encode()
    headers = {"HTTP_X_HUB_SIGNATURE_256": signature or sign(secret, body)}
    if delivery:
        headers["HTTP_X_GITHUB_DELIVERY"] = delivery
    return client.post(f"/api/hooks/{token}", body, content_type="application/json", **headers)


@pytest.fixture
def hook(db):
    return Trigger.objects.create(name="push", kind="webhook", secret=SECRET,
                                  config={"branch": "main", "tag": ""})


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_signed_webhook_fans_out_to_both_bound_workloads_and_both_roll_forward(
    client, make_workload, registry, publisher, repo_name
):
    hook = Trigger.objects.create(name="push", kind="webhook", secret=SECRET)
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    ports = [dockerlab.free_port(), dockerlab.free_port()]
    workloads = [
        make_workload(spec={"image": f"{repository}:live", "ports": [f"127.0.0.1:{p}:8080"]})
        for p in ports
    ]
    hook.workloads.add(*workloads)
    first = post_hook(client, hook.raw_token, {"ref": "refs/heads/main"}, delivery="d-1")
    assert first.status_code == 202 and len(first.json()["deploy_ids"]) == 2
    second_digest = publisher.publish(repository, 2)
    second = post_hook(client, hook.raw_token, {"ref": "refs/heads/main"}, delivery="d-2")
    deploys = Deploy.objects.filter(pk__in=second.json()["deploy_ids"])
    assert {d.workload_id for d in deploys} == {w.pk for w in workloads}
    assert all(d.reason == "webhook" and d.trigger_id == hook.pk for d in deploys)
    assert all(d.status == "succeeded" and d.pinned_ref == second_digest for d in deploys)
    for port in ports:
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 2")


def test_a_wrong_signature_is_401_and_dispatches_nothing(client, hook, make_workload):
    hook.workloads.add(make_workload())
    response = post_hook(client, hook.raw_token, {"ref": "refs/heads/main"}, signature="sha256=00")
    assert response.status_code == 401 and "detail" in response.json()
    assert not Deploy.objects.exists()


def test_a_missing_signature_is_401(client, hook, make_workload):
    hook.workloads.add(make_workload())
    body = json.dumps({"ref": "refs/heads/main"})
    response = client.post(f"/api/hooks/{hook.raw_token}", body, content_type="application/json")
    assert response.status_code == 401 and not Deploy.objects.exists()


def test_a_signature_made_with_another_secret_is_refused(client, hook, make_workload):
    hook.workloads.add(make_workload())
    response = post_hook(client, hook.raw_token, {"ref": "refs/heads/main"}, secret="other-secret")
    assert response.status_code == 401 and not Deploy.objects.exists()


def test_a_replayed_delivery_is_answered_2xx_and_dispatches_nothing_again(
    client, hook, make_workload
):
    hook.workloads.add(make_workload())
    first = post_hook(client, hook.raw_token, {"ref": "refs/heads/main"}, delivery="same")
    again = post_hook(client, hook.raw_token, {"ref": "refs/heads/main"}, delivery="same")
    assert len(first.json()["deploy_ids"]) == 1
    assert again.status_code == 202 and again.json()["deploy_ids"] == []
    assert again.json()["outcome"] == "ignored" and "received already" in again.json()["reason"]
    assert Deploy.objects.count() == 1


def test_the_branch_filter_ignores_pushes_to_other_branches(client, hook, make_workload):
    hook.workloads.add(make_workload())
    response = post_hook(client, hook.raw_token, {"ref": "refs/heads/feature"})
    assert response.status_code == 202 and response.json()["deploy_ids"] == []
    assert not Deploy.objects.exists()


def test_an_unknown_hook_token_is_404(client, db):
    assert client.post("/api/hooks/nope", "{}", content_type="application/json").status_code == 404


def test_the_webhook_secret_is_never_returned_by_the_api(as_admin, hook):
    response = as_admin.get(f"/triggers/{hook.pk}")
    assert response.status_code == 200 and response.data["has_secret"] is True
    assert SECRET not in response.content.decode()
