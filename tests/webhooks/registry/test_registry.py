"""Docker registry notifications captured from a real docker-registry 2.8.2: only a manifest
push of a workload's own repository and tag deploys, and only when it runs another digest."""
import json

import pytest

from apps.deploys.models import Deploy, HookDelivery, Status, Trigger
from apps.workloads.models import Container
from tests.support.hooks import answer, fixture, post, registry_headers

SECRET = "registry-bearer-" + "9" * 20


@pytest.fixture
def hook(db, make_workload):
    hook = Trigger.objects.create(name="reg", kind="webhook", secret=SECRET)
    # The notifications were captured from a registry on 127.0.0.1:45111, pushing shop/web:live
    # and shop/worker:live (the same image).
    web = make_workload(name="web", spec={"image": "127.0.0.1:45111/shop/web:live"})
    staging = make_workload(name="web-dev", spec={"image": "127.0.0.1:45111/shop/web:dev"})
    hook.workloads.add(web, staging)
    return hook


def send(client, hook, name, secret=SECRET):
    return post(client, hook, fixture("registry", name), registry_headers(secret))


def test_a_registry_push_of_the_workloads_repository_and_tag_deploys_only_that_workload(
    client, hook
):
    status, ids, outcome, _ = answer(send(client, hook, "push_manifest.json"))
    assert status == 202 and outcome == "matched" and len(ids) == 1
    assert Deploy.objects.get(pk=ids[0]).workload.name == "web"


def test_a_registry_push_of_another_repository_deploys_nothing(client, hook):
    status, ids, outcome, reason = answer(send(client, hook, "push_other_repository.json"))
    assert (status, ids, outcome) == (202, [], "ignored") and "repository" in reason
    assert not Deploy.objects.exists()


def test_a_registry_pull_deploys_nothing(client, hook):
    status, ids, _, reason = answer(send(client, hook, "pull_manifest.json"))
    assert (status, ids) == (202, []) and "pull" in reason
    assert not Deploy.objects.exists()


def test_a_registry_layer_push_deploys_nothing(client, hook):
    assert answer(send(client, hook, "push_layer.json"))[:2] == (202, [])
    assert not Deploy.objects.exists()


def test_a_registry_push_of_the_digest_the_workload_already_runs_deploys_nothing(client, hook):
    digest = json.loads(fixture("registry", "push_manifest.json"))["events"][0]["target"]["digest"]
    web = hook.workloads.get(name="web")
    running = Deploy.objects.create(workload=web, reason="webhook", source_kind="image",
                                    status=Status.SUCCEEDED, pinned_ref=digest)
    Container.objects.create(workload=web, docker_id="c" * 64, name="web-1", image="x",
                             deploy_id=running.pk, state="running")
    status, ids, _, reason = answer(send(client, hook, "push_manifest.json"))
    assert (status, ids) == (202, []) and "already run" in reason
    assert Deploy.objects.count() == 1


def test_the_same_registry_notification_retried_deploys_once(client, hook):
    first = send(client, hook, "push_manifest.json")
    retry = send(client, hook, "push_manifest.json")
    assert len(answer(first)[1]) == 1 and answer(retry)[:2] == (202, [])
    assert Deploy.objects.count() == 1


def test_a_registry_notification_without_the_bearer_header_is_401(client, hook):
    body = fixture("registry", "push_manifest.json")
    headers = {**registry_headers(SECRET)}
    del headers["HTTP_AUTHORIZATION"]
    assert post(client, hook, body, headers).status_code == 401
    assert send(client, hook, "push_manifest.json", secret="guess").status_code == 401
    assert not Deploy.objects.exists()
    assert list(HookDelivery.objects.values_list("outcome", flat=True)) == ["refused"] * 2


def test_a_registry_notification_that_is_not_an_envelope_is_422_naming_the_field(client, hook):
    response = post(client, hook, b'{"events": {"action": "push"}}', registry_headers(SECRET))
    assert response.status_code == 422 and response.json()["detail"].startswith("body.events")


def test_a_registry_push_while_a_deploy_of_the_workload_is_queued_adds_no_second_one(
    client, hook
):
    web = hook.workloads.get(name="web")
    Deploy.objects.create(workload=web, reason="api", source_kind="image", status=Status.QUEUED)
    status, ids, _, reason = answer(send(client, hook, "push_manifest.json"))
    assert (status, ids) == (202, []) and "queued already" in reason
    assert Deploy.objects.count() == 1
