"""Workload, source and registry-credential endpoints. Thin: each calls one action."""
import logging
import re
from typing import Annotated

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Prefetch, Subquery
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Path, Router
from ninja import Status as Reply

from apps.core.auth import STAFF, require_staff
from apps.core.errors import error_response
from apps.core.schemas import READ_ERRORS, WRITE_ERRORS, PathId
from apps.workloads import actions, engine
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
from apps.workloads.sources.runner import domains_of

log = logging.getLogger("tinyforge.api")
# A workload name is at most 63 characters; longer is refused (422) before any query.
WorkloadName = Annotated[str, Path(min_length=1, max_length=63)]
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
            "title_ru", "description_en", "description_ru", "state", "created_at", "updated_at",
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
        "domains": domains_of(workload.spec),
    }


@router.get("/health", auth=None, response=HealthOut, tags=["system"],
    summary=gettext_lazy("Check the service"),
    description=gettext_lazy(
        "Answers without authentication: whether TinyForge is up and whether it reaches "
        "the Docker engine."))
def health(request):
    return {"status": "ok", "docker": "up" if engine.ping() else "down"}


@router.get("/sources", response={200: list[SourceOut], **READ_ERRORS}, tags=["system"],
    summary=gettext_lazy("List source kinds"),
    description=gettext_lazy(
        "Every kind of workload source (image, git, compose, ...) with a sample spec."))
def list_sources(request):
    return [
        {"kind": s.kind, "label": str(s.label), "schema_sample": s.schema_sample}
        for s in SOURCES.values()
    ]


@router.get("/workloads", response={200: list[WorkloadOut], **READ_ERRORS},
    summary=gettext_lazy("List workloads"),
    description=gettext_lazy(
        "Every workload with its env (secret values hidden), volumes, containers and "
        "newest deploy."))
def list_workloads(request):
    return [workload_out(w) for w in attach_last_deploys(list(with_related(Workload.objects)))]


@router.post("/workloads", auth=STAFF, response={201: WorkloadOut, **WRITE_ERRORS},
    summary=gettext_lazy("Create a workload"),
    description=gettext_lazy(
        "Creates a workload from a kind and a spec; nothing is deployed until a deploy is "
        "requested. Staff only."))
def create_workload(request, payload: WorkloadIn):
    user = require_staff(request)
    workload = actions.create_workload(**payload.dict(), user=user)
    return Reply(201, workload_out(workload))


@router.get("/workloads/{workload_id}", response={200: WorkloadOut, **READ_ERRORS},
    summary=gettext_lazy("Get a workload"),
    description=gettext_lazy(
        "One workload by id, with its env (secret values hidden), volumes, containers and "
        "newest deploy."))
def get_workload(request, workload_id: PathId):
    return workload_out(load_workload(workload_id))


@router.get("/workloads/by-name/{name}", response={200: WorkloadOut, **READ_ERRORS},
    summary=gettext_lazy("Get a workload by name"),
    description=gettext_lazy(
        "The same as getting a workload by id, for scripts that know the name (as the "
        "command line does); 404 when no workload has this name."))
def get_workload_by_name(request, name: WorkloadName):
    workload = Workload.objects.filter(name=name).values_list("pk", flat=True).first()
    if workload is None:
        return Reply(404, {"detail": _("name: no workload named '%(name)s'.") % {"name": name}})
    return workload_out(load_workload(workload))


@router.patch("/workloads/{workload_id}", auth=STAFF, response={200: WorkloadOut, **WRITE_ERRORS},
    summary=gettext_lazy("Change a workload"),
    description=gettext_lazy(
        "Changes the given fields only; the running version is not redeployed. Staff "
        "only."))
def patch_workload(request, workload_id: PathId, payload: WorkloadPatch):
    user = require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    changes = payload.dict(exclude_unset=True, exclude_none=True)
    return workload_out(actions.update_workload(workload, changes, user=user))


@router.delete("/workloads/{workload_id}", auth=STAFF, response={204: None, **WRITE_ERRORS},
    summary=gettext_lazy("Delete a workload"),
    description=gettext_lazy(
        "Removes its containers, then the workload and its history. With force, the rows go "
        "even when the engine cannot remove the containers (they are left for the operator). "
        "Staff only."))
def delete_workload(request, workload_id: PathId, force: bool = False):
    require_staff(request)
    actions.delete_workload(get_object_or_404(Workload, pk=workload_id), force=force)
    return Reply(204, None)


@router.get("/registries", response={200: list[RegistryOut], **READ_ERRORS}, tags=["registries"],
    summary=gettext_lazy("List registry credentials"),
    description=gettext_lazy(
        "The registries TinyForge logs in to when it pulls; passwords are never shown."))
def list_registries(request):
    return list(RegistryCredential.objects.all())


@router.post("/registries", auth=STAFF, response={201: RegistryOut, **WRITE_ERRORS},
             tags=["registries"],
    summary=gettext_lazy("Add registry credentials"),
    description=gettext_lazy(
        "Stores a login for a registry host (the password encrypted). Staff only."))
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
               tags=["registries"],
    summary=gettext_lazy("Delete registry credentials"),
    description=gettext_lazy(
        "Forgets the login for a registry host. Staff only."))
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
