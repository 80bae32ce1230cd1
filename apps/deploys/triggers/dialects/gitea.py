"""Gitea and Forgejo: ``X-Gitea-Signature`` / ``X-Forgejo-Signature`` (hex HMAC-SHA256 of the
raw body, no prefix) or the ``X-Hub-Signature-256`` they also send; ``X-Gitea-Event`` /
``X-Forgejo-Event``; ``X-Gitea-Delivery`` / ``X-Forgejo-Delivery`` as the replay key. The push
payload has GitHub's shape (``ref``, ``before``, ``after``)."""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.deploys.triggers.dialects.base import (
    OTHER,
    Delivery,
    Dialect,
    HookEvent,
    git_ref_event,
    header_id,
    hmac_hex,
    load_json_object,
    same,
)
from apps.deploys.triggers.dialects.github import sign


class Gitea(Dialect):
    name = "gitea"
    label = gettext_lazy("Gitea / Forgejo")

    def detect(self, headers):
        return any(headers.get(name) for name in (
            "X-Gitea-Event", "X-Gitea-Signature", "X-Forgejo-Event", "X-Forgejo-Signature"))

    def authenticate(self, secret, headers, body):
        if not secret:
            raise PermissionError("webhook has no secret")
        own = headers.get("X-Forgejo-Signature") or headers.get("X-Gitea-Signature")
        if own is not None:
            ok = same(own, hmac_hex(secret, body))
        else:
            ok = same(headers.get("X-Hub-Signature-256"), sign(secret, body))
        if not ok:
            raise PermissionError("bad signature")

    def parse(self, headers, body):
        payload = load_json_object(body) if body else {}
        event = (headers.get("X-Forgejo-Event") or headers.get("X-Gitea-Event")
                 or headers.get("X-GitHub-Event") or "push").strip()[:40]
        delivery = Delivery(dialect=self.name, event=event, replay_key=header_id(
            headers, "X-Forgejo-Delivery", "X-Gitea-Delivery", "X-GitHub-Delivery"))
        if event == "push":
            delivery.events = [git_ref_event(payload)]
        elif event == "delete":
            delivery.events = [git_ref_event({**payload, "ref": _full_ref(payload)},
                                             deleted=True)]
        else:
            delivery.events = [HookEvent(kind=OTHER)]
        return delivery

    def setup(self, trigger, hook_url):
        return {**super().setup(trigger, hook_url),
                "events": _("Push events. HTTP method POST, content type application/json.")}


def _full_ref(payload):
    # Gitea's "delete" event names the ref short, with ref_type "branch" or "tag".
    ref, ref_type = payload.get("ref"), payload.get("ref_type")
    if isinstance(ref, str) and ref_type in ("branch", "tag") and not ref.startswith("refs/"):
        return ("refs/heads/" if ref_type == "branch" else "refs/tags/") + ref
    return ref
