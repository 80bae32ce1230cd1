"""Per-workload CPU and memory over time (sampler, storage, rollups) — see the metrics issue."""
from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

# Created (idempotently, by name) after every migrate: Schedule.name is not unique. Sampling
# is not among them: it runs in a process of its own (`sample_stats --forever`, started by
# `serve`), so it never holds a task worker that deploys need.
SCHEDULES = {
    "tinyforge-stats-rollup": {"func": "apps.metrics.tasks.roll_up_and_prune"},
}
# Schedules earlier versions created, removed by the same migrate.
RETIRED_SCHEDULES = ["tinyforge-stats-sampler"]


def ensure_schedules(sender, **kwargs):
    from django_q.models import Schedule

    Schedule.objects.filter(name__in=RETIRED_SCHEDULES).delete()
    for name, fields in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults={
            **fields, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1,
        })


def add_admin_panels():
    """Put the metrics panel on the workload page (through the workloads app's one hook) and
    the resources card on the admin index (a template extension of the index)."""
    from django.contrib import admin

    from apps.metrics.templatetags.metrics_panels import workload_metrics_panel
    from apps.workloads import admin_panels

    admin.site.index_template = "metrics/admin/index.html"
    admin_panels.register_panel(
        "metrics", "metrics/panel.html",
        lambda request, workload: workload_metrics_panel(workload),
        order=10, css=["metrics/metrics.css"],
        js=["metrics/chart.umd.min.js", "metrics/metrics.js"],
    )


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"
    verbose_name = _("Metrics")

    def ready(self):
        post_migrate.connect(ensure_schedules, sender=self)
        add_admin_panels()
