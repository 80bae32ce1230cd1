"""Webhooks: POST /api/hooks/{token}, GitHub-compatible HMAC-SHA256, ref/tag filter.

Every webhook has a secret, and every call must be signed with it: the hook URL alone (which
a sender's settings page, a proxy log or a shoulder may reveal) is not enough to deploy."""
import hashlib
import hmac

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.deploys.triggers.base import TriggerConfigError, TriggerKind

MAX_FILTER_LENGTH = 250


def sign(secret, body):
    """The X-Hub-Signature-256 header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _is_clean_text(value):
    return isinstance(value, str) and len(value) <= MAX_FILTER_LENGTH and value.isprintable()


class WebhookTrigger(TriggerKind):
    kind = "webhook"
    label = gettext_lazy("Webhook")
    reason = "webhook"
    uses_secret = True
    config_sample = {"branch": "main", "tag": ""}

    def validate(self, config):
        if not isinstance(config, dict):
            raise TriggerConfigError({"config": _("Must be an object.")})
        errors = {f"config.{key}": _("Unknown field.") for key in config
                  if key not in ("branch", "tag")}
        for key in ("branch", "tag"):
            if not _is_clean_text(config.get(key, "")):
                errors[f"config.{key}"] = _(
                    "Must be a string of at most %(max)s printable characters."
                ) % {"max": MAX_FILTER_LENGTH}
        if errors:
            raise TriggerConfigError(errors)
        return {key: config.get(key, "") for key in ("branch", "tag")}

    def verify(self, trigger, headers, body):
        # A webhook stored before secrets were required has none: it refuses every call
        # rather than letting anyone who learns the URL deploy.
        if not trigger.secret:
            raise PermissionError("webhook has no secret")
        given = headers.get("X-Hub-Signature-256") or ""
        # compare_digest: the time taken must not reveal how much of a guess was right
        if not hmac.compare_digest(given.encode(errors="replace"),
                                   sign(trigger.secret, body).encode()):
            raise PermissionError("bad signature")

    def accepts(self, trigger, headers, payload):
        return self._matches(trigger.config, payload)

    @staticmethod
    def _matches(config, payload):
        """Whether the payload names the configured branch or tag. The payload is untrusted
        JSON: a value of an unexpected type simply does not match."""
        branch, tag = config.get("branch"), config.get("tag")
        if not branch and not tag:
            return True
        if not isinstance(payload, dict):
            return False
        wanted = {ref for ref in (branch and f"refs/heads/{branch}", tag and f"refs/tags/{tag}")
                  if ref}
        ref = payload.get("ref")
        if isinstance(ref, str) and ref in wanted:
            return True
        # Docker registry notifications: {"events": [{"action": "push", "target": {"tag": ..}}]}
        events = payload.get("events")
        if not tag or not isinstance(events, list):
            return False
        for event in events:
            if not isinstance(event, dict) or event.get("action") != "push":
                continue
            target = event.get("target")
            if isinstance(target, dict) and target.get("tag") == tag:
                return True
        return False
