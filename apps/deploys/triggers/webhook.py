"""Webhooks: POST /api/hooks/{token}, GitHub-compatible HMAC-SHA256, ref/tag filter."""
import hashlib
import hmac

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.deploys.triggers.base import TriggerConfigError, TriggerKind


def sign(secret, body):
    """The X-Hub-Signature-256 header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookTrigger(TriggerKind):
    kind = "webhook"
    label = gettext_lazy("Webhook")
    reason = "webhook"
    uses_secret = True
    config_sample = {"branch": "main", "tag": ""}

    def validate(self, config):
        config = dict(config or {})
        errors = {f"config.{key}": _("Unknown field.") for key in config
                  if key not in ("branch", "tag")}
        for key in ("branch", "tag"):
            if not isinstance(config.get(key, ""), str):
                errors[f"config.{key}"] = _("Must be a string.")
        if errors:
            raise TriggerConfigError(errors)
        return {key: config.get(key, "") for key in ("branch", "tag")}

    def accepts(self, trigger, headers, body, payload):
        if trigger.secret:
            given = headers.get("X-Hub-Signature-256", "")
            # compare_digest: the time taken must not reveal how much of a guess was right
            if not hmac.compare_digest(given.encode(), sign(trigger.secret, body).encode()):
                raise PermissionError("bad signature")
        return self._matches(trigger.config, payload)

    @staticmethod
    def _matches(config, payload):
        branch, tag = config.get("branch"), config.get("tag")
        if not branch and not tag:
            return True
        if not isinstance(payload, dict):
            return False
        wanted = {ref for ref in (branch and f"refs/heads/{branch}", tag and f"refs/tags/{tag}")
                  if ref}
        if payload.get("ref") in wanted:
            return True
        # Docker registry notifications: {"events": [{"action": "push", "target": {"tag": ..}}]}
        for event in payload.get("events") or []:
            target = event.get("target") or {} if isinstance(event, dict) else {}
            if event.get("action") == "push" and tag and target.get("tag") == tag:
                return True
        return False
