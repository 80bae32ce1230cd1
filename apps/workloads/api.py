"""Workload, source and registry-credential endpoints. Thin: each calls one action."""
import logging
import re
from typing import Annotated

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Prefetch, Subquery
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja import Status as Reply

from apps.core.auth import STAFF, require_staff
from apps.core.errors import error_response
from apps.core.schemas import READ_ERRORS, WRITE_ERRORS, PathId
from apps.workloads import actions, controls, engine, runtime_logs
from apps.workloads.models import Container, EnvVar, RegistryCredential, Volume, Workload
from apps.workloads.schemas import (
    REGISTRY_HOST_PATTERN,
    HealthOut,
    RegistryIn,
    RegistryOut,
    SourceOut,
    WorkloadIn,
    WorkloadOut,
    WorkloadPatch,
)
from apps.workloads.sources import SOURCES

log = logging.getLogger("tinyforge.api")
router = Router(tags=["workloads"])
# Every error status: for an operation added without choosing READ_ERRORS or WRITE_ERRORS.
ERRORS = {**READ_ERRORS, **WRITE_ERRORS}


def with_related(queryset):
    """The workload queryset ``workload_out`` renders without a query per workload: env,
    volumes, containers and chain prefetched once, the newest ledger row's id annotated (its
    rows are fetched in one query by ``attach_last_deploys``)."""
    # The ledger lives in apps.deploys; reach it through the reverse relation, not an import.
    deploy_model = Workload._meta.get_field("deploys").related_model
    newest = deploy_model.objects.filter(workload=OuterRef("pk")).order_by("-id").values("id")
    return queryset.annotate(last_deploy_id=Subquery(newest[:1])).prefetch_related(
        Prefetch("env_vars", queryset=EnvVar.objects.order_by("key")),
        Prefetch("volumes", queryset=Volume.objects.order_by("id")),
        Prefetch("containers", queryset=Container.objects.order_by("id")),
        Prefetch("chain", queryset=Workload.objects.order_by("pk").only("pk")),
    )


def attach_last_deploys(workloads):
    """Set ``last_deploy`` on each workload from its annotated id, in one query."""
    deploy_model = Workload._meta.get_field("deploys").related_model
    ids = [w.last_deploy_id for w in workloads if getattr(w, "last_deploy_id", None)]
    rows = deploy_model.objects.in_bulk(ids) if ids else {}
    for workload in workloads:
        workload.last_deploy = rows.get(getattr(workload, "last_deploy_id", None))
    return workloads


def load_workload(workload_id):
    """One workload ready for ``workload_out`` (404 when there is none)."""
    return attach_last_deploys([get_object_or_404(with_related(Workload.objects),
                                                  pk=workload_id)])[0]


def workload_out(workload):
    """The API's view of a workload. Give it a workload from ``load_workload`` or
    ``with_related`` + ``attach_last_deploys``: everything here reads what was prefetched."""
    if not hasattr(workload, "last_deploy"):  # e.g. fresh from an action: load it properly
        workload = load_workload(workload.pk)
    return {
        **{f: getattr(workload, f) for f in (
            "id", "name", "kind", "ref_id", "spec", "title", "description", "title_en",
            "title_ru", "description_en", "description_ru", "state", "desired_state",
            "created_at", "updated_at",
        )},
        "env": [
            {"key": v.key, "value": None if v.secret else v.value, "secret": v.secret}
            for v in workload.env_vars.all()
        ],
        "volumes": [
            {"name": v.name, "host_path": v.host_path, "mount_path": v.mount_path,
             "read_only": v.read_only}
            for v in workload.volumes.all()
        ],
        "containers": [
            {"docker_id": c.docker_id, "name": c.name, "service": c.service, "image": c.image,
             "digest": c.digest, "state": c.state, "deploy_id": c.deploy_id}
            for c in workload.containers.all()
        ],
        "last_deploy": workload.last_deploy,
        "chain": [w.pk for w in workload.chain.all()],
    }


@router.get("/health", auth=None, response=HealthOut, tags=["system"])
def health(request):
    return {"status": "ok", "docker": "up" if engine.ping() else "down"}


@router.get("/sources", response={200: list[SourceOut], **READ_ERRORS}, tags=["system"])
def list_sources(request):
    return [
        {"kind": s.kind, "label": str(s.label), "schema_sample": s.schema_sample}
        for s in SOURCES.values()
    ]


@router.get("/workloads", response={200: list[WorkloadOut], **READ_ERRORS})
def list_workloads(request):
    return [workload_out(w) for w in attach_last_deploys(list(with_related(Workload.objects)))]


@router.post("/workloads", auth=STAFF, response={201: WorkloadOut, **WRITE_ERRORS})
def create_workload(request, payload: WorkloadIn):
    user = require_staff(request)
    workload = actions.create_workload(**payload.dict(), user=user)
    return Reply(201, workload_out(workload))


@router.get("/workloads/{workload_id}", response={200: WorkloadOut, **READ_ERRORS})
def get_workload(request, workload_id: PathId):
    return workload_out(load_workload(workload_id))


@router.patch("/workloads/{workload_id}", auth=STAFF, response={200: WorkloadOut, **WRITE_ERRORS})
def patch_workload(request, workload_id: PathId, payload: WorkloadPatch):
    user = require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    changes = payload.dict(exclude_unset=True, exclude_none=True)
    return workload_out(actions.update_workload(workload, changes, user=user))


@router.delete("/workloads/{workload_id}", auth=STAFF, response={204: None, **WRITE_ERRORS})
def delete_workload(request, workload_id: PathId, force: bool = False):
    require_staff(request)
    actions.delete_workload(get_object_or_404(Workload, pk=workload_id), force=force)
    return Reply(204, None)


@router.get("/registries", response={200: list[RegistryOut], **READ_ERRORS}, tags=["registries"])
def list_registries(request):
    return list(RegistryCredential.objects.all())


@router.post("/registries", auth=STAFF, response={201: RegistryOut, **WRITE_ERRORS},
             tags=["registries"])
def create_registry(request, payload: RegistryIn):
    require_staff(request)
    if not re.fullmatch(REGISTRY_HOST_PATTERN, payload.host):
        raise actions.InvalidInput({"host": _("Give a registry host such as 127.0.0.1:5000.")})
    try:
        with transaction.atomic():  # a savepoint: the failed insert must not spoil the request
            return Reply(201, RegistryCredential.objects.create(**payload.dict()))
    except IntegrityError:
        raise actions.Conflict("host", _("Credentials for this registry already exist.")) from None


@router.delete("/registries/{registry_id}", auth=STAFF, response={204: None, **WRITE_ERRORS},
               tags=["registries"])
def delete_registry(request, registry_id: PathId):
    require_staff(request)
    get_object_or_404(RegistryCredential, pk=registry_id).delete()
    return Reply(204, None)


class LogLineOut(Schema):
    time: str
    cursor: str
    service: str
    container: str
    text: str


class LogOut(Schema):
    lines: list[LogLineOut]
    cursor: str | None  # pass back as ``since`` to get only newer lines


LogTail = Annotated[int, Query(ge=1, le=runtime_logs.MAX_TAIL,
                               description="How many of the newest lines (per container).")]
LogSince = Annotated[str | None, Query(
    pattern=runtime_logs.CURSOR_RE.pattern, max_length=22,
    description="Only lines after this cursor (seconds since the epoch, e.g. the `cursor` of "
                "the previous answer).")]
LogService = Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                                         description="A compose service's lines only.")]


@router.get("/workloads/{workload_id}/logs", response={200: LogOut, **READ_ERRORS},
            summary="Runtime log of a workload's containers",
            description="The newest lines its containers printed (compose: every service, or "
                        "one with `service`), oldest first, every known secret masked. Follow "
                        "a log by passing the answer's `cursor` back as `since`.")
def workload_logs(request, workload_id: PathId, tail: LogTail = 200, since: LogSince = None,
                  service: LogService = None):
    workload = get_object_or_404(Workload, pk=workload_id)
    lines = runtime_logs.workload_log(workload, tail=tail, since=since, service=service)
    return {"lines": lines, "cursor": lines[-1].cursor if lines else since}


CONTROL_DESCRIPTION = ("Acts on every container of the workload (compose: every service), "
                       "records an event and stores the desired state: a stopped workload "
                       "stays stopped until it is started or deployed again. 409 while a "
                       "deploy is in progress or before the first deploy.")


@router.post("/workloads/{workload_id}/start", auth=STAFF,
             response={200: WorkloadOut, **WRITE_ERRORS}, summary="Start a workload",
             description=CONTROL_DESCRIPTION)
def start_workload(request, workload_id: PathId):
    user = require_staff(request)
    return workload_out(controls.do_start(get_object_or_404(Workload, pk=workload_id), user))


@router.post("/workloads/{workload_id}/stop", auth=STAFF,
             response={200: WorkloadOut, **WRITE_ERRORS}, summary="Stop a workload",
             description=CONTROL_DESCRIPTION)
def stop_workload(request, workload_id: PathId):
    user = require_staff(request)
    return workload_out(controls.do_stop(get_object_or_404(Workload, pk=workload_id), user))


@router.post("/workloads/{workload_id}/restart", auth=STAFF,
             response={200: WorkloadOut, **WRITE_ERRORS}, summary="Restart a workload",
             description=CONTROL_DESCRIPTION)
def restart_workload(request, workload_id: PathId):
    user = require_staff(request)
    return workload_out(controls.do_restart(get_object_or_404(Workload, pk=workload_id), user))


def install_handlers(api):
    """The engine's errors: a 503 naming the engine's error code."""

    def on_engine_error(request, exc):
        log.warning("engine error on %s: %s", request.path, exc.code)
        detail = _("The Docker engine could not do this (%(code)s).") % {"code": exc.code}
        return error_response(api, request, 503, detail, code=exc.code)

    api.add_exception_handler(engine.EngineError, on_engine_error)
