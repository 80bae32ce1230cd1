"""The trigger registry: one entry per kind; it also feeds ``Trigger.kind`` choices."""
from django.utils.translation import gettext as _

from apps.deploys.triggers.base import TriggerConfigError, TriggerKind
from apps.deploys.triggers.manual import ManualTrigger
from apps.deploys.triggers.registry_watch import RegistryWatchTrigger
from apps.deploys.triggers.schedule import ScheduleTrigger
from apps.deploys.triggers.webhook import WebhookTrigger

TRIGGERS = {
    kind.kind: kind
    for kind in (ManualTrigger(), WebhookTrigger(), ScheduleTrigger(), RegistryWatchTrigger())
}


def get_trigger_kind(kind):
    """The TriggerKind for ``kind``; raises TriggerConfigError naming the field."""
    try:
        return TRIGGERS[kind]
    except KeyError:
        raise TriggerConfigError(
            {"kind": _("unknown trigger kind; known: %(known)s")
                     % {"known": ", ".join(sorted(TRIGGERS))}}
        ) from None


def trigger_choices():
    return [(kind, trigger.label) for kind, trigger in TRIGGERS.items()]


def schedule_name(trigger):
    return f"tinyforge-trigger-{trigger.pk}"


def sync_schedule(trigger):
    """Keep the trigger's django-q2 schedule in step: one row while it has bound workloads
    and its kind wants one, none otherwise."""
    from django_q.models import Schedule

    wanted = get_trigger_kind(trigger.kind).schedule(trigger) if trigger.pk else None
    if wanted and trigger.workloads.exists():
        Schedule.objects.update_or_create(
            name=schedule_name(trigger),
            defaults={"func": "apps.deploys.tasks.poll_trigger", "args": repr(trigger.pk),
                      "repeats": -1, "cron": None, "minutes": None, **wanted},
        )
    else:
        Schedule.objects.filter(name=schedule_name(trigger)).delete()


__all__ = ["TRIGGERS", "TriggerConfigError", "TriggerKind", "get_trigger_kind",
           "sync_schedule", "trigger_choices"]
