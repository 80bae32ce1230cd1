"""GitLab: ``X-Gitlab-Token`` carries the secret itself (compared in constant time);
``X-Gitlab-Event`` is ``Push Hook`` or ``Tag Push Hook`` for the events that can deploy;
``Idempotency-Key`` (GitLab 17.4+) or ``X-Gitlab-Event-UUID`` identifies a delivery and stays
the same on GitLab's retries, so a retry deploys nothing again."""
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.deploys.triggers.dialects.base import (
    OTHER,
    Delivery,
    Dialect,
    HookEvent,
    git_ref_event,
    header_id,
    load_json_object,
    same,
)

PUSH_EVENTS = ("Push Hook", "Tag Push Hook")


class GitLab(Dialect):
    name = "gitlab"
    label = gettext_lazy("GitLab")

    def detect(self, headers):
        return bool(headers.get("X-Gitlab-Event") or headers.get("X-Gitlab-Token"))

    def authenticate(self, secret, headers, body):
        if not secret:
            raise PermissionError("webhook has no secret")
        if not same(headers.get("X-Gitlab-Token"), secret):
            raise PermissionError("bad token")

    def parse(self, headers, body):
        payload = load_json_object(body) if body else {}
        event = (headers.get("X-Gitlab-Event") or "").strip()[:40]
        delivery = Delivery(dialect=self.name, event=event, replay_key=header_id(
            headers, "Idempotency-Key", "X-Gitlab-Event-UUID"))
        if event in PUSH_EVENTS:
            delivery.events = [git_ref_event(payload)]
        else:
            delivery.events = [HookEvent(kind=OTHER)]
        return delivery

    def setup(self, trigger, hook_url):
        return {**super().setup(trigger, hook_url),
                "headers": {"X-Gitlab-Token": _("the secret (GitLab's \"Secret token\" field)")},
                "events": _("Push events and/or Tag push events.")}
