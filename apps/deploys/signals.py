"""Keep each trigger's django-q2 schedule in step with the trigger and its bindings, whatever
path (API, admin, shell) changed them."""
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext as _

from apps.deploys.models import Trigger
from apps.deploys.triggers import schedule_name, sync_schedule
from apps.workloads.actions import workload_deleting


@receiver(post_save, sender=Trigger)
def trigger_saved(sender, instance, **kwargs):
    sync_schedule(instance)


@receiver(m2m_changed, sender=Trigger.workloads.through)
def trigger_bindings_changed(sender, instance, action, **kwargs):
    if action in ("post_add", "post_remove", "post_clear"):
        for trigger in _triggers_of(instance, kwargs):
            sync_schedule(trigger)


def _triggers_of(instance, kwargs):
    if isinstance(instance, Trigger):
        return [instance]
    # Changed from the workload side: pk_set holds trigger ids (or None on clear).
    ids = kwargs.get("pk_set")
    return list(Trigger.objects.filter(pk__in=ids)) if ids else list(Trigger.objects.all())


@receiver(post_delete, sender=Trigger)
def trigger_deleted(sender, instance, **kwargs):
    from django_q.models import Schedule

    Schedule.objects.filter(name=schedule_name(instance)).delete()


@receiver(workload_deleting)
def workload_deleting_cancels_its_waiting_deploys(sender, workload, **kwargs):
    from apps.deploys.dispatch import cancel_waiting

    cancel_waiting(workload, _("Cancelled: the workload is being deleted."))
