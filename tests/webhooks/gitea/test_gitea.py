"""Gitea / Forgejo deliveries, from Gitea's documented push payload."""
import pytest

from apps.deploys.models import Deploy, Trigger
from tests.support.hooks import answer, fixture, gitea_headers, post

SECRET = "gitea-secret-" + "7" * 20


@pytest.fixture
def hook(db, make_workload):
    hook = Trigger.objects.create(name="gitea", kind="webhook", secret=SECRET,
                                  config={"branch": "develop", "tag": ""})
    hook.workloads.add(make_workload())
    return hook


def test_a_gitea_push_signed_only_with_its_own_headers_deploys(client, hook):
    body = fixture("gitea", "push.json")
    status, ids, outcome, _ = answer(post(client, hook, body, gitea_headers(SECRET, body)))
    assert status == 202 and outcome == "matched" and len(ids) == 1
    assert Deploy.objects.get().trigger_id == hook.pk


def test_a_gitea_retry_with_the_same_delivery_id_deploys_nothing_again(client, hook):
    body = fixture("gitea", "push.json")
    headers = gitea_headers(SECRET, body, delivery="f6266f16-1bf3-46a5-9ea4-602e06ead473")
    first, again = post(client, hook, body, headers), post(client, hook, body, headers)
    assert len(answer(first)[1]) == 1 and answer(again)[:2] == (202, [])
    assert Deploy.objects.count() == 1


def test_a_gitea_push_with_a_wrong_x_gitea_signature_is_401(client, hook):
    body = fixture("gitea", "push.json")
    headers = {**gitea_headers(SECRET, body), "HTTP_X_GITEA_SIGNATURE": "0" * 64}
    assert post(client, hook, body, headers).status_code == 401
    assert not Deploy.objects.exists()
