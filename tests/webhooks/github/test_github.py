"""GitHub deliveries, from octokit/webhooks' example payloads: only pushes deploy."""
import pytest

from apps.deploys.models import Deploy, HookDelivery, Trigger
from tests.support.hooks import answer, fixture, github_headers, post

SECRET = "gh-secret-" + "5" * 20


@pytest.fixture
def make_hook(db, make_workload):
    def make(**config):
        hook = Trigger.objects.create(name="gh", kind="webhook", secret=SECRET,
                                      config={"branch": "", "tag": "", **config})
        hook.workloads.add(make_workload(), make_workload())
        return hook
    return make


def send(client, hook, name, event="push", form=False):
    body = fixture("github", name)
    return post(client, hook, body, github_headers(SECRET, body, event, form=form))


def test_a_github_ping_answers_2xx_and_deploys_nothing_even_without_a_filter(client, make_hook):
    hook = make_hook()
    status, ids, outcome, reason = answer(send(client, hook, "ping.json", event="ping"))
    assert (status, ids, outcome) == (202, [], "ignored") and "ping" in reason
    assert not Deploy.objects.exists()
    assert HookDelivery.objects.get().reason == "ping"


def test_a_github_push_to_the_filtered_branch_deploys_each_bound_workload_once(
    client, make_hook
):
    hook = make_hook(branch="main")
    status, ids, outcome, _ = answer(send(client, hook, "push.json"))
    assert status == 202 and outcome == "matched" and len(ids) == 2
    assert sorted(Deploy.objects.values_list("workload_id", flat=True)) == sorted(
        hook.workloads.values_list("pk", flat=True))


def test_a_github_push_that_creates_a_branch_deploys_when_the_filter_names_that_branch(
    client, make_hook
):
    hook = make_hook(branch="master")
    status, ids, _, _ = answer(send(client, hook, "push_new_branch.json"))
    assert status == 202 and len(ids) == 2


def test_a_github_push_to_another_branch_is_ignored_with_a_reason(client, make_hook):
    hook = make_hook(branch="release")
    status, ids, outcome, reason = answer(send(client, hook, "push.json"))
    assert (status, ids, outcome) == (202, [], "ignored") and "branch" in reason
    assert not Deploy.objects.exists()


def test_a_github_tag_push_deploys_when_the_tag_filter_names_the_tag(client, make_hook):
    hook = make_hook(tag="simple-tag")
    status, ids, _, _ = answer(send(client, hook, "tag_push.json"))
    assert status == 202 and len(ids) == 2


def test_a_github_tag_deletion_deploys_nothing_even_when_the_filter_names_the_tag(
    client, make_hook
):
    hook = make_hook(tag="simple-tag")
    status, ids, outcome, reason = answer(send(client, hook, "tag_delete.json"))
    assert (status, ids, outcome) == (202, [], "ignored") and "deleted" in reason
    assert not Deploy.objects.exists()


def test_a_github_tag_deletion_deploys_nothing_without_a_filter_either(client, make_hook):
    hook = make_hook()
    assert answer(send(client, hook, "tag_delete.json"))[1] == []
    assert not Deploy.objects.exists()


def test_a_form_encoded_github_push_deploys_like_its_json_twin(client, make_hook):
    hook = make_hook(branch="main")
    status, ids, outcome, _ = answer(send(client, hook, "push.form", form=True))
    assert status == 202 and outcome == "matched" and len(ids) == 2


def test_a_form_encoded_push_with_a_signature_over_the_json_alone_is_401(client, make_hook):
    hook = make_hook(branch="main")
    form = fixture("github", "push.form")
    headers = github_headers(SECRET, fixture("github", "push.json"), "push", form=True)
    assert post(client, hook, form, headers).status_code == 401
    assert not Deploy.objects.exists()


def test_a_github_event_that_is_not_a_push_deploys_nothing(client, make_hook):
    hook = make_hook()
    status, ids, _, reason = answer(send(client, hook, "push.json", event="create"))
    assert (status, ids) == (202, []) and "does not deploy" in reason


def test_a_github_push_signed_with_another_secret_is_401_and_logged_as_refused(
    client, make_hook
):
    hook = make_hook()
    body = fixture("github", "push.json")
    response = post(client, hook, body, github_headers("not-the-secret", body, "push"))
    assert response.status_code == 401 and not Deploy.objects.exists()
    logged = HookDelivery.objects.get()
    assert (logged.outcome, logged.reason, logged.event) == ("refused", "signature", "")
