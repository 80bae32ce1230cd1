"""Webhooks: POST /api/hooks/{token}; a branch/tag filter in the config.

Every webhook has a secret, and every call must prove it knows it (a signature, GitLab's token,
a registry's bearer header): the hook URL alone (which a sender's settings page, a proxy log or
a shoulder may reveal) is not enough to deploy. How each sender proves it and what it sends are
the dialects (``apps.deploys.triggers.dialects``); what deploys is decided in
``apps.deploys.bindings.receive_webhook``."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.deploys.triggers.base import TriggerConfigError, TriggerKind
from apps.deploys.triggers.dialects.github import sign  # noqa: F401  (the callers' helper)

MAX_FILTER_LENGTH = 250


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
