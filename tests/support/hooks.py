"""Webhook calls as the real senders make them: the fixture bodies kept beside the tests
(tests/webhooks/<dialect>/fixtures/) and each sender's headers."""
import hashlib
import hmac
import uuid
from pathlib import Path

WEBHOOKS = Path(__file__).resolve().parent.parent / "webhooks"
REGISTRY_CONTENT_TYPE = "application/vnd.docker.distribution.events.v1+json"


def fixture(dialect, name):
    """The raw bytes of tests/webhooks/<dialect>/fixtures/<name>, exactly as sent."""
    return (WEBHOOKS / dialect / "fixtures" / name).read_bytes()


def hex_hmac(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(secret, body, event, delivery=None, form=False):
    return {"content_type": "application/x-www-form-urlencoded" if form else "application/json",
            "HTTP_X_GITHUB_EVENT": event,
            "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4()),
            "HTTP_X_GITHUB_HOOK_ID": "109948940",
            "HTTP_USER_AGENT": "GitHub-Hookshot/044aadd",
            "HTTP_X_HUB_SIGNATURE_256": "sha256=" + hex_hmac(secret, body)}


def gitea_headers(secret, body, event="push", delivery=None):
    """Only Gitea's own headers (an older Gitea, or a proxy that drops the GitHub ones)."""
    return {"content_type": "application/json",
            "HTTP_X_GITEA_EVENT": event,
            "HTTP_X_GITEA_DELIVERY": delivery or str(uuid.uuid4()),
            "HTTP_X_GITEA_SIGNATURE": hex_hmac(secret, body)}


def gitlab_headers(token, event="Push Hook", uuid_=None):
    delivery = uuid_ or str(uuid.uuid4())
    return {"content_type": "application/json",
            "HTTP_X_GITLAB_EVENT": event,
            "HTTP_X_GITLAB_TOKEN": token,
            "HTTP_X_GITLAB_EVENT_UUID": delivery,
            "HTTP_IDEMPOTENCY_KEY": delivery,
            "HTTP_X_GITLAB_INSTANCE": "https://gitlab.example.com",
            "HTTP_USER_AGENT": "GitLab/17.5.0"}


def registry_headers(secret):
    return {"content_type": REGISTRY_CONTENT_TYPE,
            "HTTP_AUTHORIZATION": f"Bearer {secret}",
            "HTTP_USER_AGENT": "Go-http-client/1.1"}


def post(client, trigger, body, headers):
    """POST ``body`` to the trigger's hook URL; returns the response."""
    return client.post(f"/api/hooks/{trigger.raw_token}", body, **headers)


def answer(response):
    """(status, deploy_ids, outcome, reason) of a hook response."""
    data = response.json()
    return response.status_code, data.get("deploy_ids"), data.get("outcome"), data.get("reason")
