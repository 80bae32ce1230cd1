"""What a workload runs, at a glance: the admin's status header and its JSON endpoint.

``workload_status(workload, request)`` reads the container index, the ledger and the event
log (a fixed handful of queries, no engine call) and returns plain JSON-ready values, words
already translated into the request's language. The header template renders it once; the
page's script polls ``GET /api/workloads/{id}/status`` and re-renders from the same dict.
"""
import re

from django.conf import settings
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from apps.deploys.ledger import current_deploy
from apps.deploys.models import Deploy
from apps.workloads.models import RUN_STATE_LABELS

CONTROL_EVENTS = ("started", "stopped", "restarted")
_PORT_RE = re.compile(r"^(?:(?P<ip>[\d.]+|\[[0-9a-fA-F:]+\]):)?(?P<host>\d+):\d+(?:/tcp)?$")


def short_digest(ref):
    """The 12 hex characters people compare digests by (``sha256:abc…`` -> ``abc…``)."""
    return ref.split(":")[-1][:12] if ref else ""


def _when(moment):
    return date_format(localtime(moment), "DATETIME_FORMAT") if moment else ""


def _version(deploy):
    """The running entry's human tag and its full pinned reference."""
    if deploy is None:
        return None
    spec = deploy.spec_snapshot or {}
    tag = spec.get("image") or ""
    if not tag and spec.get("repo"):
        tag = f"{spec.get('ref') or 'main'}"
    if not tag and deploy.source_kind == "compose":
        tag = _("compose project")
    return {"tag": tag, "digest": deploy.pinned_ref, "short": short_digest(deploy.pinned_ref),
            "deploy_id": deploy.pk}


def workload_urls(workload, host="127.0.0.1"):
    """Where the workload answers: its domains (once the proxy routes them) or else the
    host ports its spec publishes."""
    spec = workload.spec or {}
    domains = spec.get("domains") or []
    if domains:
        scheme = "https" if getattr(settings, "TINYFORGE_PROXY_HTTPS", "") else "http"
        return [f"{scheme}://{domain}/" for domain in domains if isinstance(domain, str)]
    urls = []
    for port in spec.get("ports") or []:
        match = _PORT_RE.match(str(port))
        if match:
            ip = match.group("ip")
            ip = host if ip in (None, "", "0.0.0.0") else ip
            urls.append(f"http://{ip}:{match.group('host')}/")
    return urls


def _deploy_summary(deploy):
    if deploy is None:
        return None
    cause = deploy.get_reason_display()
    if deploy.trigger_id:
        cause = f"{cause} ({deploy.trigger.name})"
    if deploy.requested_by_id:
        cause = _("%(cause)s by %(user)s") % {"cause": cause,
                                              "user": deploy.requested_by.get_username()}
    return {
        "id": deploy.pk,
        "status": deploy.status,
        "status_label": str(deploy.get_status_display()),
        "cause": str(cause),
        "error": str(deploy.error_message) if deploy.error_code else "",
        "when": _when(deploy.finished_at or deploy.started_at or deploy.created_at),
        "url": reverse("admin:deploys_deploy_change", args=[deploy.pk]),
    }


def workload_status(workload, request=None):
    """The status header's values for ``workload`` (about six queries, whatever the
    ledger's length)."""
    state = workload.run_state
    running = current_deploy(workload) if state in ("running", "failing") else None
    last = (Deploy.objects.filter(workload=workload).select_related("requested_by", "trigger")
            .order_by("-id").first())
    control = (workload.events.filter(kind__in=CONTROL_EVENTS).order_by("-created_at", "-id")
               .values("kind", "created_at").first())
    since = running.finished_at if running is not None else None
    if control and (since is None or control["created_at"] > since):
        since = control["created_at"]
    host = request.get_host().rsplit(":", 1)[0] if request is not None else "127.0.0.1"
    return {
        "state": state,
        "state_label": str(RUN_STATE_LABELS[state]),
        "version": _version(running),
        "since": _when(since),
        "urls": workload_urls(workload, host=host),
        "last_deploy": _deploy_summary(last),
        "containers": len(workload.containers.all()),
    }
