"""Host endpoints (staff changes, authenticated reads). Thin: each calls one function of
apps.workloads.hosts. Keys and certificates are write-only: the output says whether one is
stored, never what it is."""
from datetime import datetime
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy
from ninja import Field, Router, Schema
from ninja import Status as Reply

from apps.core.auth import STAFF, require_staff
from apps.core.schemas import READ_ERRORS, WRITE_ERRORS, Line, PathId, StrictSchema, Text
from apps.workloads import hosts
from apps.workloads.models import Host

router = Router(tags=["hosts"])
Pem = Text(20_000)


class HostIn(StrictSchema):
    name: Line(63)
    engine_url: Line(300) = Field("", description=(
        "tcp://HOST:2376 (with the three TLS fields) or ssh://user@host[:port] (with "
        "ssh_key)."))
    tls_ca: Pem = ""
    tls_cert: Pem = ""
    tls_key: Pem = Field("", description="Write-only: stored encrypted, never shown again.")
    ssh_key: Pem = Field("", description="Write-only: stored encrypted, never shown again.")
    proxy_admin: Line(300) = ""
    max_deploys: int = Field(0, description=(
        "How many deploys may run on this host at once; 0: no limit but the task "
        "cluster's workers. At most 64."))


class HostPatch(StrictSchema):
    name: Line(63) | None = None
    engine_url: Line(300) | None = None
    tls_ca: Pem | None = None
    tls_cert: Pem | None = None
    tls_key: Pem | None = Field(None, description="Omit to keep the stored key.")
    ssh_key: Pem | None = Field(None, description="Omit to keep the stored key.")
    proxy_admin: Line(300) | None = None
    max_deploys: int | None = None


class HostOut(Schema):
    id: int
    name: str
    engine_url: str
    is_local: bool
    has_tls_key: bool
    has_ssh_key: bool
    proxy_admin: str
    max_deploys: int
    state: str = Field(description="up, down (after two failed checks in a row) or unknown.")
    failed_checks: int
    last_checked_at: datetime | None
    last_error: str
    engine_info: dict[str, Any]
    workloads: int


def host_out(host):
    return {
        **{f: getattr(host, f) for f in (
            "id", "name", "engine_url", "is_local", "proxy_admin", "max_deploys", "state",
            "failed_checks", "last_checked_at", "last_error", "engine_info")},
        "has_tls_key": bool(host.tls_key), "has_ssh_key": bool(host.ssh_key),
        "workloads": host.workloads.count(),
    }


@router.get("/hosts", response={200: list[HostOut], **READ_ERRORS},
    summary=gettext_lazy("List hosts"),
    description=gettext_lazy(
        "Every Docker host with its state from the last checks; keys are never shown."))
def list_hosts(request):
    return [host_out(host) for host in Host.objects.order_by("-is_local", "name")]


@router.get("/hosts/{host_id}", response={200: HostOut, **READ_ERRORS},
    summary=gettext_lazy("Get a host"),
    description=gettext_lazy("One Docker host by id; keys are never shown."))
def get_host(request, host_id: PathId):
    return host_out(get_object_or_404(Host, pk=host_id))


@router.post("/hosts", auth=STAFF, response={201: HostOut, **WRITE_ERRORS},
    summary=gettext_lazy("Add a host"),
    description=gettext_lazy(
        "Adds a Docker host reached over TCP with TLS client certificates or over SSH. "
        "Staff only."))
def create_host(request, payload: HostIn):
    require_staff(request)
    return Reply(201, host_out(hosts.create_host(payload.dict())))


@router.patch("/hosts/{host_id}", auth=STAFF, response={200: HostOut, **WRITE_ERRORS},
    summary=gettext_lazy("Change a host"),
    description=gettext_lazy("Changes the given fields only. Staff only."))
def patch_host(request, host_id: PathId, payload: HostPatch):
    require_staff(request)
    host = get_object_or_404(Host, pk=host_id)
    return host_out(hosts.update_host(host, payload.dict(exclude_unset=True)))


@router.delete("/hosts/{host_id}", auth=STAFF, response={204: None, **WRITE_ERRORS},
    summary=gettext_lazy("Remove a host"),
    description=gettext_lazy(
        "Removes a host no workload runs on (409 naming them otherwise). Staff only."))
def delete_host(request, host_id: PathId):
    require_staff(request)
    hosts.delete_host(get_object_or_404(Host, pk=host_id))
    return Reply(204, None)


@router.post("/hosts/{host_id}/test", auth=STAFF, response={200: HostOut, **WRITE_ERRORS},
    summary=gettext_lazy("Test a host's connection"),
    description=gettext_lazy(
        "Asks the host's engine for its version, cgroup version, CPUs and memory now; 503 "
        "with the engine's error code when it does not answer. Staff only."))
def test_host(request, host_id: PathId):
    require_staff(request)
    host = get_object_or_404(Host, pk=host_id)
    hosts.test_connection(host)
    return host_out(host)
