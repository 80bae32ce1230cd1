"""The trigger contract: what starts deploys besides a person pressing a button."""
from django.utils.translation import gettext as _


class TriggerConfigError(Exception):
    """A trigger's config is invalid; ``errors`` maps field paths to messages."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class TriggerKind:
    """Base class for a kind of trigger.

    Subclasses set ``kind`` (registry key), ``label``, ``reason`` (the ledger reason of the
    deploys it starts) and ``config_sample``, and may override:

    - ``validate(config) -> dict``: the cleaned config; raises ``TriggerConfigError``. Pure.
    - ``schedule(trigger) -> dict | None``: the django-q2 schedule this trigger needs
      (``{"schedule_type": ..., "cron" | "minutes": ...}``), or None. Kept in step with the
      trigger and its bindings by ``apps.deploys.triggers.sync_schedule``.
    - ``should_fire(trigger) -> bool``: asked each time the schedule runs; may update
      ``trigger.state`` (saved by the caller). Raises nothing: a failed poll is False.

    Pushed calls (webhooks) are not a kind's business: the sender's dialect
    (``apps.deploys.triggers.dialects``) authenticates and parses them, and
    ``apps.deploys.bindings.receive_webhook`` decides what deploys.
    """

    kind = ""
    label = ""
    reason = "manual"
    config_sample: dict = {}
    uses_secret = False

    def validate(self, config):
        if config not in (None, {}):
            raise TriggerConfigError({"config": _("This kind takes no configuration.")})
        return {}

    def schedule(self, trigger):
        return None

    def should_fire(self, trigger):
        return False
