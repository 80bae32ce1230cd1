"""GitLab deliveries, from GitLab's documented push and tag push events."""
import pytest

from apps.deploys.models import Deploy, Trigger
from tests.support.hooks import answer, fixture, gitlab_headers, post

SECRET = "gitlab-token-" + "3" * 20


@pytest.fixture
def make_hook(db, make_workload):
    def make(**config):
        hook = Trigger.objects.create(name="gl", kind="webhook", secret=SECRET,
                                      config={"branch": "", "tag": "", **config})
        hook.workloads.add(make_workload())
        return hook
    return make


def test_a_gitlab_push_hook_with_the_token_deploys(client, make_hook):
    hook = make_hook(branch="master")
    body = fixture("gitlab", "push.json")
    status, ids, outcome, _ = answer(post(client, hook, body, gitlab_headers(SECRET)))
    assert status == 202 and outcome == "matched" and len(ids) == 1


def test_a_gitlab_tag_push_hook_with_the_token_deploys_when_the_filter_names_the_tag(
    client, make_hook
):
    hook = make_hook(tag="v1.0.0")
    body = fixture("gitlab", "tag_push.json")
    headers = gitlab_headers(SECRET, event="Tag Push Hook")
    status, ids, _, _ = answer(post(client, hook, body, headers))
    assert status == 202 and len(ids) == 1


def test_a_gitlab_retry_with_the_same_idempotency_key_answers_2xx_and_deploys_once(
    client, make_hook
):
    hook = make_hook(branch="master")
    body = fixture("gitlab", "push.json")
    headers = gitlab_headers(SECRET, uuid_="9cdd2e8c-5b2d-4a37-8d52-2f2a0b1c7e55")
    first, retry = post(client, hook, body, headers), post(client, hook, body, headers)
    assert len(answer(first)[1]) == 1
    status, ids, outcome, reason = answer(retry)
    assert (status, ids, outcome) == (202, [], "ignored") and "received already" in reason
    assert Deploy.objects.count() == 1


def test_a_gitlab_push_with_a_wrong_token_is_401(client, make_hook):
    hook = make_hook()
    body = fixture("gitlab", "push.json")
    assert post(client, hook, body, gitlab_headers("guess")).status_code == 401
    assert not Deploy.objects.exists()
