"""Docker registry notifications (distribution 2.x ``notifications.endpoints[]``).

A registry cannot sign a body, so it authenticates the way its configuration allows: a static
header, ``Authorization: Bearer <secret>``, compared in constant time. Bodies are envelopes
``{"events": [...]}`` of the content type ``application/vnd.docker.distribution.events.v1+json``
(v2 in newer registries); each event has an ``id``, an ``action`` (push, pull, mount, delete)
and a ``target`` (``repository``, ``digest``, ``mediaType``, ``tag`` for tagged manifests).
Only a manifest push can deploy; layer pushes, mounts, pulls and deletes cannot. There is no
delivery header: a retry resends the same events, so the replay key is built from their ids."""
import hashlib

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.errors import InvalidInput
from apps.deploys.triggers.dialects.base import (
    DELETE,
    OTHER,
    PULL,
    PUSH,
    Delivery,
    Dialect,
    HookEvent,
    load_json_object,
    same,
)

CONTENT_TYPES = ("application/vnd.docker.distribution.events.v1+json",
                 "application/vnd.docker.distribution.events.v2+json")
MAX_EVENTS = 1000


def _text(value, limit=255):
    return value[:limit] if isinstance(value, str) and value.isprintable() else ""


def is_manifest(target):
    media = _text(target.get("mediaType"))
    url = _text(target.get("url"), 2000)
    return "manifest" in media or "image.index" in media or "/manifests/" in url


class Registry(Dialect):
    name = "registry"
    label = gettext_lazy("Docker registry notifications")
    content_type = CONTENT_TYPES[0]

    def detect(self, headers):
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        return content_type in CONTENT_TYPES

    def authenticate(self, secret, headers, body):
        if not secret:
            raise PermissionError("webhook has no secret")
        if not same(headers.get("Authorization"), f"Bearer {secret}"):
            raise PermissionError("bad bearer token")

    def parse(self, headers, body):
        payload = load_json_object(body) if body else {}
        raw = payload.get("events")
        if not isinstance(raw, list) or len(raw) > MAX_EVENTS:
            raise InvalidInput({"body.events": _("Must be a list of registry events.")})
        events = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("target"), dict):
                raise InvalidInput({f"body.events[{index}]": _("Must be an event with a "
                                                               "target.")})
            target, action = item["target"], item.get("action")
            kind = {"pull": PULL, "delete": DELETE}.get(action, OTHER)
            if action == "push" and is_manifest(target):
                kind = PUSH
            events.append(HookEvent(kind=kind, repository=_text(target.get("repository")),
                                    tag=_text(target.get("tag"), 128),
                                    digest=_text(target.get("digest"), 100),
                                    event_id=_text(item.get("id"), 100)))
        ids = sorted(event.event_id for event in events if event.event_id)
        key = ("events:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()) if ids else ""
        actions = sorted({_text(item.get("action"), 20) for item in raw} - {""})
        return Delivery(dialect=self.name, event=",".join(actions)[:40], events=events,
                        replay_key=key)

    def setup(self, trigger, hook_url):
        url = super().setup(trigger, hook_url)["url"] if hook_url else "<" + _("hook URL") + ">"
        snippet = "\n".join([
            "notifications:",
            "  endpoints:",
            f"    - name: tinyforge-{trigger.pk}",
            f"      url: {url}",
            "      headers:",
            "        Authorization: [Bearer <" + _("the trigger's secret") + ">]",
            "      timeout: 30s",
            "      threshold: 5",
            "      backoff: 10s",
            "      ignoredmediatypes:",
            "        - application/octet-stream",
        ])
        return {**super().setup(trigger, hook_url),
                "headers": {"Authorization": "Bearer <" + _("the trigger's secret") + ">"},
                "snippet": snippet,
                "events": _("Manifest pushes deploy the workloads whose image repository and "
                            "tag match; pulls, layers and deletions never do.")}
