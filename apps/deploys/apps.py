from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

# Created (idempotently, by name) after every migrate: Schedule.name is not unique.
SCHEDULES = {
    "tinyforge-reconcile": {"func": "apps.deploys.tasks.reconcile", "schedule_type": "I",
                            "minutes": 1, "repeats": -1},
    # Every host's engine, asked with a short timeout; two failures in a row mark it down.
    "tinyforge-check-hosts": {"func": "apps.workloads.hosts.check_hosts", "schedule_type": "I",
                              "minutes": 1, "repeats": -1},
    "tinyforge-cleanup-images": {"func": "apps.deploys.tasks.cleanup_images",
                                 "schedule_type": "D", "repeats": -1},
}


def ensure_schedules(sender, **kwargs):
    from django_q.models import Schedule

    for name, fields in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults=fields)


class DeploysConfig(AppConfig):
    name = "apps.deploys"
    label = "deploys"
    verbose_name = _("Deploys")

    def ready(self):
        from apps.deploys import hook_redaction, signals  # noqa: F401  (signals: receivers)
        from apps.deploys.admin import extend_workload_page
        from apps.deploys.triggers import dialects

        dialects.load()
        hook_redaction.install()
        extend_workload_page()

        post_migrate.connect(ensure_schedules, sender=self)
