"""Hostile webhook bodies: a 4xx, or a 2xx with nothing dispatched — never a 500."""
import json

import pytest
from django.conf import settings

from apps.deploys.bindings import ref_matches
from apps.deploys.models import Deploy, Trigger, WebhookDelivery
from apps.deploys.triggers.dialects.base import git_ref_event
from apps.deploys.triggers.webhook import sign

SECRET = "payload-secret-1"

# (label, raw body): all signed with the right secret unless a test says otherwise.
HOSTILE = [
    ("ref is a list", b'{"ref": []}'),
    ("ref is an object", b'{"ref": {"refs/heads/main": 1}}'),
    ("ref is a number", b'{"ref": 5}'),
    ("ref is null", b'{"ref": null}'),
    ("ref with a NUL", b'{"ref": "refs/heads/main\\u0000"}'),
    ("events is a number", b'{"events": 5}'),
    ("events is a string", b'{"events": "push"}'),
    ("events is an object", b'{"events": {"action": "push", "target": {"tag": "live"}}}'),
    ("an event is a number", b'{"events": [5]}'),
    ("an event is a list", b'{"events": [["push"]]}'),
    ("target is a number", b'{"events": [{"action": "push", "target": 5}]}'),
    ("tag is a list", b'{"events": [{"action": "push", "target": {"tag": ["live"]}}]}'),
    ("action is a list", b'{"events": [{"action": ["push"], "target": {"tag": "live"}}]}'),
    ("NaN", b'{"ref": NaN}'),
    ("a list body", b'[{"ref": "refs/heads/main"}]'),
    ("an empty list", b"[]"),
    ("a string body", b'"refs/heads/main"'),
    ("a number body", b"5"),
    ("null", b"null"),
    ("true", b"true"),
    ("invalid JSON", b"{"),
    ("truncated JSON", b'{"ref": "refs/heads/main"'),
    ("not UTF-8", b"\xff\xfe\xfa{}"),
    ("deeply nested", b"[" * 100_000),
    ("an integer of 5,000 digits", b'{"n": ' + b"9" * 5000 + b"}"),
]


def post(client, hook, body, signed=True, token=None):
    headers = {"HTTP_X_HUB_SIGNATURE_256": sign(SECRET, body)} if signed else {}
    return client.post(f"/api/hooks/{token or hook.raw_token}", body,
                       content_type="application/json", **headers)


@pytest.fixture
def filtered(db, make_workload):
    hook = Trigger.objects.create(name="filtered", kind="webhook", secret=SECRET,
                                  config={"branch": "main", "tag": "live"})
    hook.workloads.add(make_workload())
    return hook


@pytest.fixture
def unfiltered(db, make_workload):
    hook = Trigger.objects.create(name="any", kind="webhook", secret=SECRET)
    hook.workloads.add(make_workload())
    return hook


def refused_or_ignored(response):
    if 400 <= response.status_code < 500:
        return "detail" in response.json()
    return response.status_code == 202 and response.json()["deploy_ids"] == []


@pytest.mark.parametrize("label, body", HOSTILE, ids=[label for label, _ in HOSTILE])
def test_a_hostile_signed_body_is_refused_or_ignored_and_dispatches_nothing(
    client, filtered, label, body
):
    response = post(client, filtered, body)
    assert refused_or_ignored(response), (label, response.status_code, response.content[:200])
    assert not Deploy.objects.exists()


@pytest.mark.parametrize("label, body", HOSTILE, ids=[label for label, _ in HOSTILE])
def test_a_hostile_unsigned_body_is_401(client, filtered, label, body):
    response = post(client, filtered, body, signed=False)
    assert response.status_code == 401 and not Deploy.objects.exists()


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"5", b"null", b"{", b"\xff"])
def test_a_signed_body_that_is_not_a_json_object_is_422_even_without_a_filter(
    client, unfiltered, body
):
    response = post(client, unfiltered, body)
    assert response.status_code == 422 and response.json()["detail"].startswith("body")
    assert not Deploy.objects.exists() and not WebhookDelivery.objects.exists()


def test_a_body_over_the_upload_limit_is_413(client, filtered):
    body = json.dumps({"ref": "refs/heads/main",
                       "pad": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}).encode()
    response = post(client, filtered, body)
    assert response.status_code == 413 and response.json()["detail"].startswith("body")
    assert not Deploy.objects.exists()


@pytest.mark.parametrize("token", ["x" * 5000, "%00", "..%2F..%2Fadmin", "'; DROP TABLE"])
def test_odd_hook_tokens_are_404(client, filtered, token):
    response = post(client, filtered, b"{}", token=token)
    assert response.status_code == 404 and not Deploy.objects.exists()


@pytest.mark.parametrize("signature", ["", "sha256=", "sha256=zz", "md5=00", "sha256=é" * 50])
def test_malformed_signatures_are_401(client, filtered, signature):
    body = b'{"ref": "refs/heads/main"}'
    response = client.post(f"/api/hooks/{filtered.raw_token}", body,
                           content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature)
    assert response.status_code == 401 and not Deploy.objects.exists()


@pytest.mark.parametrize("ref, expected", [
    ("refs/heads/main", True),
    ("refs/tags/live", True),
    ("refs/heads/live", False),
    ("refs/tags/main", False),
    ("refs/heads/main2", False),
])
def test_the_filter_matches_only_the_configured_branch_or_tag(ref, expected):
    event = git_ref_event({"ref": ref, "after": "a" * 40})
    assert ref_matches({"branch": "main", "tag": "live"}, event) is expected


@pytest.mark.parametrize("config, field", [
    ({"branch": "x" * 251}, "config.branch"),
    ({"tag": "live\n"}, "config.tag"),
    ({"branch": ["main"]}, "config.branch"),
    ({"branches": "main"}, "config.branches"),
])
def test_bad_webhook_filters_are_422_naming_the_field(as_admin, config, field):
    response = as_admin.post("/triggers", {"name": "t", "kind": "webhook", "config": config})
    assert response.status_code == 422 and field in response.data["errors"]
