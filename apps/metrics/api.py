"""Stats endpoints: stored series only, so they answer the same whether Docker is up or down."""
from typing import Annotated, Literal

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy
from ninja import Query, Router, Schema

from apps.core.schemas import READ_ERRORS as ERRORS
from apps.core.schemas import PathId
from apps.metrics import queries
from apps.workloads.models import Host, Workload

router = Router(tags=["metrics"])
WINDOW_HELP = "One of: " + ", ".join(queries.WINDOWS)
# An enum in the OpenAPI schema; an unknown window is a 422 that lists the allowed ones.
Window = Annotated[Literal[tuple(queries.WINDOWS)], Query(description=WINDOW_HELP, example="2h")]


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


@router.get("/workloads/{workload_id}/stats/history", response={200: list[PointOut], **ERRORS},
    summary=gettext_lazy("Get a workload's resource history"),
    description=gettext_lazy(
        "CPU % (100 = one core) and memory in bytes over the window, summed over the "
        "workload's containers at each timestamp. Oldest first."))
def workload_history(request, workload_id: PathId, window: Window = "2h"):
    """CPU % (100 = one core) and memory in bytes over the window, summed over the workload's
    containers at each timestamp (the limit is the largest; 0 means no limit). Oldest first."""
    workload = get_object_or_404(Workload, pk=workload_id)
    return queries.workload_series(workload.pk, window)


@router.get("/workloads/{workload_id}/stats/deploys", response={200: list[MarkerOut], **ERRORS},
    summary=gettext_lazy("Get a workload's deploys in a window"),
    description=gettext_lazy(
        "The workload's deploys inside the window, for markers on the time axis."))
def workload_deploy_markers(request, workload_id: PathId, window: Window = "2h"):
    """The workload's deploys inside the window, for markers on the time axis."""
    workload = get_object_or_404(Workload, pk=workload_id)
    return queries.deploy_markers(workload.pk, window)


@router.get("/stats/history", response={200: list[PointOut], **ERRORS},
    summary=gettext_lazy("Get the host's resource history"),
    description=gettext_lazy(
        "The host as a whole over the window (CPU % where 100 = one core; memory in "
        "bytes)."))
def host_history(request, window: Window = "2h"):
    """The host as a whole over the window (CPU % where 100 = one core; memory in bytes)."""
    return queries.host_series(window)


@router.get("/hosts/{host_id}/stats/history", response={200: list[PointOut], **ERRORS},
    summary=gettext_lazy("Get a host's resource history"),
    description=gettext_lazy(
        "One host over the window (CPU % where 100 = one core; memory in bytes). For the "
        "local host the same series as /stats/history; for another host the sum of its "
        "workloads' containers, with its engine's memory as the limit."))
def host_history_by_id(request, host_id: PathId, window: Window = "2h"):
    """One host over the window: the local host's own series, or another host's sum of its
    sampled containers."""
    host = get_object_or_404(Host, pk=host_id)
    if host.is_local:
        return queries.host_series(window)
    return queries.remote_host_series(host.pk, window)


@router.get("/stats/top", response={200: TopOut, **ERRORS},
    summary=gettext_lazy("List the busiest workloads"),
    description=gettext_lazy(
        "Workloads with the highest average CPU and memory over the window."))
def top(request, window: Window = "2h", limit: int = Query(5, ge=1, le=50)):
    """Workloads with the highest average CPU and memory over the window."""
    return queries.top_workloads(window, limit=limit)
