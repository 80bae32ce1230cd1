"""``GET /metrics``: the Prometheus text exposition format.

Readable with a staff user's bearer token, or without one from an address in
``TINYFORGE_METRICS_ALLOW`` (IPs or CIDRs).
"""
import ipaddress
import time

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.metrics import queries, tallies

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
IN_PROGRESS = ("queued", "running")


def client_allowed(request):
    """True when the client's address is in TINYFORGE_METRICS_ALLOW."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for item in settings.TINYFORGE_METRICS_ALLOW:
        try:
            if address in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


def token_user(request):
    """The active user of a valid ``Authorization: Bearer`` token, or None."""
    from apps.core.auth import BearerTokenAuth

    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return BearerTokenAuth().authenticate(request, token.strip())


def refusal(request):
    """None when the request may read the metrics, else the 401/403 answer."""
    if client_allowed(request):
        return None
    user = token_user(request)
    if user is None:
        response = JsonResponse({"detail": _("Authentication required.")}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    if not user.is_staff:
        return JsonResponse({"detail": _("Only staff users may read the metrics.")}, status=403)
    return None


@require_GET
def prometheus(request):
    refused = refusal(request)
    if refused is not None:
        return refused
    return HttpResponse("".join(exposition()), content_type=CONTENT_TYPE)


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name, kind, help_text, samples):
    yield f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"
    for labels, value in samples:
        rendered = ",".join(f'{key}="{_label(v)}"' for key, v in labels.items())
        yield f"{name}{{{rendered}}} {value}\n" if rendered else f"{name} {value}\n"


def exposition(now=None):
    """The metric families, as text chunks."""
    from apps.deploys.models import Deploy, Status
    from apps.workloads.models import Workload

    now = int(now if now is not None else time.time())
    fresh = queries.latest_per_workload(3 * settings.TINYFORGE_STATS_INTERVAL, now=now)
    names = dict(Workload.objects.filter(pk__in=fresh).values_list("pk", "name"))
    per_workload = [
        ({"workload": names[wid], "workload_id": wid}, point)
        for wid, point in sorted(fresh.items()) if wid in names
    ]
    yield from _family(
        "tinyforge_workload_cpu_percent", "gauge",
        "CPU use of a workload's containers at the newest sample (100 = one core).",
        [(labels, p["cpu_percent"]) for labels, p in per_workload],
    )
    yield from _family(
        "tinyforge_workload_memory_bytes", "gauge",
        "Memory used by a workload's containers (without inactive file cache).",
        [(labels, p["memory_usage"]) for labels, p in per_workload],
    )
    yield from _family(
        "tinyforge_workload_memory_limit_bytes", "gauge",
        "The largest memory limit among a workload's containers (0 = no limit).",
        [(labels, p["memory_limit"]) for labels, p in per_workload],
    )
    finished = tallies.deploy_counts()
    statuses = [s for s in Status.values if s not in IN_PROGRESS]
    statuses += sorted(set(finished) - set(statuses))
    yield from _family(
        "tinyforge_deploys_total", "counter",
        "Deploys finished, by status (counted each minute).",
        [({"status": status}, finished.get(status, 0)) for status in statuses],
    )
    in_progress = dict(
        Deploy.objects.filter(status__in=IN_PROGRESS).values_list("status").annotate(n=Count("id"))
    )
    yield from _family(
        "tinyforge_deploys_in_progress", "gauge",
        "Deploys queued or running now.",
        [({"status": status}, in_progress.get(status, 0)) for status in IN_PROGRESS],
    )
