"""The workload page's log panel: the containers' runtime log, following new lines while the
page is open (``static/workloads/logs.js`` polls ``GET /api/workloads/{id}/logs`` with the
cursor of the newest line it has). The page itself renders from the database: the lines are
fetched by the script, so building the page makes no engine call."""
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.workloads import admin_panels

TAIL_CHOICES = (50, 200, 500, 1000)
DEFAULT_TAIL = 200
FOLLOW_MS = 2000


def logs_panel_context(request, workload):
    services = sorted({c.service for c in workload.containers.all() if c.service})
    return {
        "logs_url": reverse("api:workload_logs", kwargs={"workload_id": workload.pk}),
        "tails": TAIL_CHOICES,
        "default_tail": DEFAULT_TAIL,
        "services": services,
        "follow_ms": FOLLOW_MS,
        "labels": {
            "empty": str(_("No output yet.")),
            "error": str(_("Could not read the log; retrying.")),
            "paused": str(_("Paused")),
        },
    }


def register():
    admin_panels.register_panel("logs", "admin/workloads/workload/logs_panel.html",
                                logs_panel_context, order=5, position="bottom",
                                css=["workloads/logs.css"], js=["workloads/logs.js"])
