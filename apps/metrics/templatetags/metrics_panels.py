"""The metrics panel (workload page) and the system resources card (admin index).

Both render a container element that ``static/metrics/metrics.js`` turns into a chart; every
label the script shows comes from here, translated, so the script holds no user-facing text.
"""
from django import template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

register = template.Library()

# The windows the admin offers (the API also has 30d).
WINDOW_CHOICES = (
    ("30m", _("30 minutes")),
    ("2h", _("2 hours")),
    ("6h", _("6 hours")),
    ("24h", _("24 hours")),
    ("7d", _("7 days")),
)
DEFAULT_WINDOW = "2h"
REFRESH_MS = 15000
# The dashboard's cards are fetched again this often while the index is open (one page render
# from the database: a bounded number of queries, no engine call).
DASHBOARD_REFRESH_MS = 5000


def chart_labels():
    from apps.deploys.models import Status

    return {
        "cpu": str(_("CPU %")),
        "memory": str(_("Memory (MiB)")),
        # The unit after a number (the number itself is formatted in the page's language).
        "mib": str(_("MiB")),
        "deploys": str(_("Deploys")),
        "deploy": str(_("Deploy #%(id)s: %(status)s")),
        "version": str(_("version %(version)s")),
        "noVersion": str(_("no version recorded")),
        "loadError": str(_("Could not load the metrics; retrying.")),
        "updated": str(_("Updated %(time)s")),
        "statuses": {value: str(label) for value, label in Status.choices},
    }


@register.inclusion_tag("metrics/panel.html")
def workload_metrics_panel(workload):
    return {
        "panel_id": "tf-metrics-workload",
        "title": _("Metrics"),
        "history_url": reverse("api:workload_history", kwargs={"workload_id": workload.pk}),
        "markers_url": reverse("api:workload_deploy_markers", kwargs={"workload_id": workload.pk}),
        "top_url": "",
        "workload_url": "",
        "empty_hint": _("No samples yet. The sampler records CPU and memory every few seconds "
                        "while the workload's containers run; they appear here within a minute."),
        "windows": WINDOW_CHOICES,
        "default_window": DEFAULT_WINDOW,
        "refresh_ms": REFRESH_MS,
        "labels": chart_labels(),
    }


@register.inclusion_tag("metrics/panel.html")
def system_resources_card():
    return {
        "panel_id": "tf-metrics-host",
        "title": _("System resources"),
        "history_url": reverse("api:host_history"),
        "markers_url": "",
        "top_url": reverse("api:top"),
        "workload_url": reverse("admin:workloads_workload_change", args=[0]).replace(
            "/0/", "/{id}/"),
        "empty_hint": _("No samples yet. The sampler records the host every few seconds while "
                        "the task cluster runs."),
        "windows": WINDOW_CHOICES,
        "default_window": DEFAULT_WINDOW,
        "refresh_ms": REFRESH_MS,
        "labels": {
            **chart_labels(),
            "topCpu": str(_("Top workloads by CPU")),
            "topMemory": str(_("Top workloads by memory")),
            "emptyTop": str(_("No workload has samples in this window.")),
        },
    }


def host_resources_panel(host):
    """The resources card of a host other than the local one: its series only (its workloads
    are on the dashboard's cards), titled with its name."""
    return {
        "panel_id": f"tf-metrics-host-{host.pk}",
        "title": _("Resources of %(host)s") % {"host": host.name},
        "history_url": reverse("api:host_history_by_id", kwargs={"host_id": host.pk}),
        "markers_url": "",
        "top_url": "",
        "workload_url": "",
        "empty_hint": _("No samples yet. The sampler records this host's containers every few "
                        "seconds while its engine answers."),
        "windows": WINDOW_CHOICES,
        "default_window": DEFAULT_WINDOW,
        "refresh_ms": REFRESH_MS,
        "labels": chart_labels(),
    }


@register.simple_tag
def other_hosts_resources_cards():
    """A resources card per host other than the local one, in one query."""
    from apps.workloads.models import Host

    hosts = Host.objects.filter(is_local=False).order_by("name")
    return format_html_join("", "{}", (
        (render_to_string("metrics/panel.html", host_resources_panel(host)),)
        for host in hosts))


@register.inclusion_tag("metrics/admin/dashboard.html")
def workload_dashboard():
    from apps.metrics.dashboard import SPARK_HEIGHT, SPARK_WIDTH, workload_cards

    cards, more = workload_cards()
    return {"cards": cards, "more": more, "spark_width": SPARK_WIDTH,
            "spark_height": SPARK_HEIGHT, "refresh_ms": DASHBOARD_REFRESH_MS}
