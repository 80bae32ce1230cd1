"""Stats endpoints: stored series only, so they answer the same whether Docker is up or down."""
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema

from apps.metrics import queries
from apps.workloads.actions import InvalidInput
from apps.workloads.models import Workload
from apps.workloads.schemas import ErrorOut

router = Router(tags=["metrics"])
ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WINDOW_HELP = "One of: " + ", ".join(queries.WINDOWS)


class PointOut(Schema):
    ts: int
    cpu_percent: float
    memory_usage: int
    memory_limit: int


class MarkerOut(Schema):
    ts: int
    id: int
    status: str
    version: str


class TopItemOut(Schema):
    id: int
    name: str
    cpu_percent: float
    memory_usage: int


class TopOut(Schema):
    cpu: list[TopItemOut]
    memory: list[TopItemOut]


def window_query(default="2h"):
    return Query(default, description=WINDOW_HELP, example=default)


def checked_window(window):
    """The window, or a 422 that names the allowed values."""
    if window not in queries.WINDOWS:
        raise InvalidInput({"window": _("Unknown window %(window)s; use one of: %(allowed)s.") % {
            "window": window, "allowed": ", ".join(queries.WINDOWS)
        }})
    return window


@router.get("/workloads/{workload_id}/stats/history", response={200: list[PointOut], **ERRORS})
def workload_history(request, workload_id: int, window: str = window_query()):
    """CPU % (100 = one core) and memory in bytes over the window, summed over the workload's
    containers at each timestamp (the limit is the largest; 0 means no limit). Oldest first."""
    window = checked_window(window)
    workload = get_object_or_404(Workload, pk=workload_id)
    return queries.workload_series(workload.pk, window)


@router.get("/workloads/{workload_id}/stats/deploys", response={200: list[MarkerOut], **ERRORS})
def workload_deploy_markers(request, workload_id: int, window: str = window_query()):
    """The workload's deploys inside the window, for markers on the time axis."""
    window = checked_window(window)
    workload = get_object_or_404(Workload, pk=workload_id)
    return queries.deploy_markers(workload.pk, window)


@router.get("/stats/history", response={200: list[PointOut], **ERRORS})
def host_history(request, window: str = window_query()):
    """The host as a whole over the window (CPU % where 100 = one core; memory in bytes)."""
    return queries.host_series(checked_window(window))


@router.get("/stats/top", response={200: TopOut, **ERRORS})
def top(request, window: str = window_query(), limit: int = Query(5, ge=1, le=50)):
    """Workloads with the highest average CPU and memory over the window."""
    return queries.top_workloads(checked_window(window), limit=limit)
