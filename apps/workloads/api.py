"""Workload, source and registry-credential endpoints. Thin: each calls one action."""
import logging
import re

from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router
from ninja import Status as Reply

from apps.core.auth import STAFF, require_staff
from apps.core.errors import error_response
from apps.core.schemas import READ_ERRORS, WRITE_ERRORS, PathId
from apps.workloads import actions, engine
from apps.workloads.models import RegistryCredential, Workload
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


def workload_out(workload):
    last = workload.deploys.order_by("-id").first()
    return {
        **{f: getattr(workload, f) for f in (
            "id", "name", "kind", "ref_id", "spec", "title", "description", "title_en",
            "title_ru", "description_en", "description_ru", "state", "created_at", "updated_at",
        )},
        "env": [
            {"key": v.key, "value": None if v.secret else v.value, "secret": v.secret}
            for v in workload.env_vars.order_by("key")
        ],
        "volumes": list(workload.volumes.values("name", "host_path", "mount_path", "read_only")),
        "containers": list(workload.containers.values(
            "docker_id", "name", "service", "image", "digest", "state", "deploy_id"
        )),
        "last_deploy": last,
        "chain": list(workload.chain.values_list("pk", flat=True)),
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
    return [workload_out(w) for w in Workload.objects.prefetch_related("env_vars", "volumes")]


@router.post("/workloads", auth=STAFF, response={201: WorkloadOut, **WRITE_ERRORS})
def create_workload(request, payload: WorkloadIn):
    user = require_staff(request)
    workload = actions.create_workload(**payload.dict(), user=user)
    return Reply(201, workload_out(workload))


@router.get("/workloads/{workload_id}", response={200: WorkloadOut, **READ_ERRORS})
def get_workload(request, workload_id: PathId):
    return workload_out(get_object_or_404(Workload, pk=workload_id))


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


def install_handlers(api):
    """The engine's errors: a 503 naming the engine's error code."""

    def on_engine_error(request, exc):
        log.warning("engine error on %s: %s", request.path, exc.code)
        detail = _("The Docker engine could not do this (%(code)s).") % {"code": exc.code}
        return error_response(api, request, 503, detail, code=exc.code)

    api.add_exception_handler(engine.EngineError, on_engine_error)
