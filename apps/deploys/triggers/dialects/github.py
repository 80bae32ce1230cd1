"""GitHub: ``X-Hub-Signature-256`` (``sha256=`` + hex HMAC-SHA256 of the raw body),
``X-GitHub-Event`` (``ping``, ``push``, ...), ``X-GitHub-Delivery`` (the replay key), and a body
that is JSON or, with the content type ``application/x-www-form-urlencoded``, ``payload=<JSON>``.

Also the dialect of any sender that signs the GitHub way without naming an event (older
TinyForge callers, scripts): such a call is read as a push."""
from urllib.parse import parse_qs

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.errors import InvalidInput
from apps.deploys.triggers.dialects.base import (
    OTHER,
    PING,
    Delivery,
    Dialect,
    HookEvent,
    git_ref_event,
    header_id,
    hmac_hex,
    load_json_object,
    same,
)


def sign(secret, body):
    """The X-Hub-Signature-256 header value for ``body``."""
    return "sha256=" + hmac_hex(secret, body)


def read_body(headers, body):
    """The JSON object of a JSON or form-encoded body."""
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput({"body": _("Not a valid form-encoded body.")}) from None
        values = form.get("payload") or []
        if len(values) != 1:
            raise InvalidInput({"body.payload": _("Give exactly one payload field.")})
        return load_json_object(values[0], "body.payload")
    if not body:
        return {}
    return load_json_object(body)


class GitHub(Dialect):
    name = "github"
    label = gettext_lazy("GitHub")
    delivery_headers = ("X-GitHub-Delivery",)

    def detect(self, headers):
        return bool(headers.get("X-GitHub-Event") or headers.get("X-Hub-Signature-256"))

    def authenticate(self, secret, headers, body):
        if not secret:
            raise PermissionError("webhook has no secret")
        if not same(headers.get("X-Hub-Signature-256"), sign(secret, body)):
            raise PermissionError("bad signature")

    def parse(self, headers, body):
        payload = read_body(headers, body)
        event = (headers.get("X-GitHub-Event") or "push").strip()[:40]
        delivery = Delivery(dialect=self.name, event=event,
                            replay_key=header_id(headers, *self.delivery_headers))
        if event == "ping":
            delivery.events = [HookEvent(kind=PING)]
        elif event == "push":
            delivery.events = [git_ref_event(payload)]
        else:
            delivery.events = [HookEvent(kind=OTHER)]
        return delivery

    def setup(self, trigger, hook_url):
        return {**super().setup(trigger, hook_url),
                "events": _("Just the push event (the ping GitHub sends when the hook is "
                            "added deploys nothing)."),
                "content_type": _("application/json (application/x-www-form-urlencoded "
                                  "works too)")}
