from croniter import croniter
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.deploys.triggers.base import TriggerConfigError, TriggerKind


class ScheduleTrigger(TriggerKind):
    """Deploys on a cron expression, through a django-q2 schedule row."""

    kind = "schedule"
    label = gettext_lazy("Schedule (cron)")
    reason = "schedule"
    config_sample = {"cron": "0 3 * * *"}

    def validate(self, config):
        config = dict(config or {})
        cron = config.get("cron")
        errors = {f"config.{key}": _("Unknown field.") for key in config if key != "cron"}
        if not isinstance(cron, str) or not croniter.is_valid(cron):
            errors["config.cron"] = _("Give a cron expression such as '0 3 * * *'.")
        if errors:
            raise TriggerConfigError(errors)
        return {"cron": cron}

    def schedule(self, trigger):
        return {"schedule_type": "C", "cron": trigger.config["cron"]}

    def should_fire(self, trigger):
        return True
