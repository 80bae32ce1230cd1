"""Per-workload CPU and memory over time (sampler, storage, rollups) — see the metrics issue."""
import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

log = logging.getLogger("tinyforge.metrics")

# Created (idempotently, by name) after every migrate: Schedule.name is not unique. Sampling
# is not among them: it runs in a process of its own (`sample_stats --forever`, started by
# `serve`), so it never holds a task worker that deploys need.
SCHEDULES = {
    "tinyforge-stats-rollup": {"func": "apps.metrics.tasks.roll_up_and_prune"},
}
# Schedules earlier versions created, removed by the same migrate.
RETIRED_SCHEDULES = ["tinyforge-stats-sampler"]
WORKLOAD_FORM = "admin/workloads/workload/change_form.html"


def ensure_schedules(sender, **kwargs):
    from django_q.models import Schedule

    Schedule.objects.filter(name__in=RETIRED_SCHEDULES).delete()
    for name, fields in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults={
            **fields, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1,
        })


def add_admin_panels():
    """Put the metrics panel on the workload page and the resources card on the admin index.

    Both are template extensions: ours extend the templates in place, so nothing in the
    workloads app has to know about metrics.
    """
    from django.contrib import admin

    from apps.workloads.models import Workload

    admin.site.index_template = "metrics/admin/index.html"
    model_admin = admin.site.get_model_admin(Workload)
    if (model_admin.change_form_template or WORKLOAD_FORM) == WORKLOAD_FORM:
        model_admin.change_form_template = "metrics/admin/workload_change_form.html"
    else:
        log.warning("workload admin uses %s; metrics panel not added",
                    model_admin.change_form_template)


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"
    verbose_name = _("Metrics")

    def ready(self):
        post_migrate.connect(ensure_schedules, sender=self)
        add_admin_panels()
