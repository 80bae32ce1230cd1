"""What the trigger's API output and admin page show about its hook: per sender what to paste,
and the last 20 deliveries with their outcome — never the secret, the token or body content."""
import pytest

from apps.deploys.models import HookDelivery, Trigger
from tests.support.hooks import fixture, github_headers, gitlab_headers, post, registry_headers

SECRET = "setup-canary-" + "4" * 20


@pytest.fixture
def hook(db, make_workload):
    hook = Trigger.objects.create(name="hook", kind="webhook", secret=SECRET,
                                  config={"branch": "main", "tag": ""})
    hook.workloads.add(make_workload(spec={"image": "127.0.0.1:1/shop/web:live"}))
    return hook


def test_the_api_shows_per_dialect_what_to_paste_without_the_secret(as_admin, hook):
    response = as_admin.get(f"/triggers/{hook.pk}")
    senders = {s["dialect"]: s for s in response.data["senders"]}
    assert set(senders) == {"github", "gitea", "gitlab", "registry"}
    registry = senders["registry"]
    assert registry["content_type"] == "application/vnd.docker.distribution.events.v1+json"
    assert "Authorization: [Bearer <" in registry["snippet"]
    assert "notifications:" in registry["snippet"] and "endpoints:" in registry["snippet"]
    assert "X-Gitlab-Token" in senders["gitlab"]["headers"]
    github = senders["github"]
    assert "new-hook-url" in github["url"] and "shown once" in github["secret"]
    assert SECRET not in response.content.decode()


def test_the_issuing_response_fills_the_hook_url_into_every_senders_setup(as_admin, db):
    response = as_admin.post("/triggers", {"name": "new", "kind": "webhook"})
    hook_url = response.data["hook_url"]
    assert all(s["url"].endswith(hook_url) for s in response.data["senders"])
    registry = next(s for s in response.data["senders"] if s["dialect"] == "registry")
    assert hook_url in registry["snippet"]
    assert hook_url not in as_admin.get(f"/triggers/{response.data['id']}").content.decode()


def test_the_log_keeps_the_last_20_deliveries_with_outcomes_and_no_body_content(
    client, as_admin, hook
):
    push = fixture("github", "push.json")
    post(client, hook, push, github_headers("wrong", push, "push"))
    for _ in range(20):
        body = fixture("registry", "pull_manifest.json")
        post(client, hook, body, registry_headers(SECRET))
    post(client, hook, push, github_headers(SECRET, push, "push", delivery="gh-1"))
    post(client, hook, fixture("gitlab", "push.json"), gitlab_headers(SECRET))
    assert HookDelivery.objects.filter(trigger=hook).count() == 20
    response = as_admin.get(f"/triggers/{hook.pk}")
    log = response.data["deliveries"]
    assert len(log) == 20
    newest, matched = log[0], log[1]
    assert (newest["dialect"], newest["event"], newest["outcome"]) == (
        "gitlab", "Push Hook", "ignored")
    assert "branch" in newest["reason_text"]
    assert (matched["outcome"], matched["delivery"], len(matched["deploy_ids"])) == (
        "matched", "gh-1", 1)
    assert {entry["reason"] for entry in log[2:]} == {"pull"}
    assert "refused" not in {entry["outcome"] for entry in log}  # the oldest fell out
    text = response.content.decode()
    assert SECRET not in text and hook.raw_token not in text
    assert "Codertocat" not in text and "shop/web" not in text  # nothing from the bodies


def test_a_refused_delivery_is_logged_without_its_headers(client, as_admin, hook):
    push = fixture("github", "push.json")
    headers = {**github_headers("wrong", push, "push", delivery="attacker-chosen-id")}
    assert post(client, hook, push, headers).status_code == 401
    entry = as_admin.get(f"/triggers/{hook.pk}").data["deliveries"][0]
    assert (entry["outcome"], entry["reason"], entry["event"], entry["delivery"]) == (
        "refused", "signature", "", "")


def test_the_admin_trigger_page_shows_the_setup_and_the_deliveries(client, admin_user, hook):
    body = fixture("registry", "push_other_repository.json")
    post(client, hook, body, registry_headers(SECRET))
    client.force_login(admin_user)
    html = client.get(f"/admin/deploys/trigger/{hook.pk}/change/").content.decode()
    assert "tf-hook-setup" in html and "Authorization: [Bearer &lt;" in html
    assert "tf-hook-log" in html and "No bound workload runs an image" in html
    assert SECRET not in html


def test_the_admin_add_page_for_a_trigger_renders_without_a_setup_or_log(client, admin_user, db):
    client.force_login(admin_user)
    response = client.get("/admin/deploys/trigger/add/")
    assert response.status_code == 200 and "tf-hook-log" not in response.content.decode()
