"""Workload, source and registry-credential endpoints. Thin: each calls one action."""
import logging
import re
from typing import Annotated

from django.db import IntegrityError, transaction
from django.db.models import Case, F, OuterRef, Subquery, Value, When
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Path, Query, Router, Schema
from ninja import Status as Reply
from ninja.renderers import JSONRenderer

from apps.core.auth import STAFF, require_staff
from apps.core.crypto import EncryptedTextField
from apps.core.errors import error_response
from apps.core.schemas import READ_ERRORS, WRITE_ERRORS, PathId
from apps.workloads import actions, controls, engine, runtime_logs
from apps.workloads.models import Container, EnvVar, RegistryCredential, Volume, Workload
from apps.workloads.schemas import (
    REGISTRY_HOST_PATTERN,
    DeploySummary,
    HealthOut,
    RegistryIn,
    RegistryOut,
    SourceOut,
    WorkloadIn,
    WorkloadOut,
    WorkloadPatch,
)
from apps.workloads.sources import SOURCES
from apps.workloads.sources.options import spec_schema
from apps.workloads.sources.runner import domains_of

log = logging.getLogger("tinyforge.api")
# A workload name is at most 63 characters; longer is refused (422) before any query.
WorkloadName = Annotated[str, Path(min_length=1, max_length=63)]
router = Router(tags=["workloads"])
# Every error status: for an operation added without choosing READ_ERRORS or WRITE_ERRORS.
ERRORS = {**READ_ERRORS, **WRITE_ERRORS}


def with_related(queryset):
    """The workload queryset ``attach_related`` completes: the newest ledger row's id
    annotated, so the rows themselves come in one query."""
    # The ledger lives in apps.deploys; reach it through the reverse relation, not an import.
    deploy_model = Workload._meta.get_field("deploys").related_model
    newest = deploy_model.objects.filter(workload=OuterRef("pk")).order_by("-id").values("id")
    return queryset.select_related("host").annotate(last_deploy_id=Subquery(newest[:1]))


def attach_related(workloads):
    """Set what ``workload_out`` renders besides the row itself (env, volumes, containers,
    chain, the newest ledger row) on each of ``workloads`` from ``with_related``, one flat
    query per relation. Plain rows grouped here rather than prefetch_related: a prefetch
    builds a related manager and a queryset per workload and relation, which was most of the
    list's time, and it decrypted the secret env values the API never shows."""
    ids = [w.pk for w in workloads]
    related = {pk: {"env": [], "volumes": [], "containers": [], "chain": []} for pk in ids}
    shown_value = Case(When(secret=True, then=Value(None)), default=F("value"),
                       output_field=EncryptedTextField())
    for workload_id, key, value, secret in (
            EnvVar.objects.filter(workload_id__in=ids).order_by("key")
            .values_list("workload_id", "key", shown_value, "secret")):
        related[workload_id]["env"].append({"key": key, "value": value, "secret": secret})
    for row in (Volume.objects.filter(workload_id__in=ids).order_by("id")
                .values("workload_id", *VOLUME_FIELDS)):
        related[row.pop("workload_id")]["volumes"].append(row)
    for row in (Container.objects.filter(workload_id__in=ids).order_by("id")
                .values("workload_id", *CONTAINER_FIELDS)):
        related[row.pop("workload_id")]["containers"].append(row)
    for from_id, to_id in (Workload.chain.through.objects.filter(from_workload_id__in=ids)
                           .order_by("to_workload_id")
                           .values_list("from_workload_id", "to_workload_id")):
        related[from_id]["chain"].append(to_id)
    deploy_model = Workload._meta.get_field("deploys").related_model
    last_ids = [w.last_deploy_id for w in workloads if getattr(w, "last_deploy_id", None)]
    last = ({row["id"]: row for row in deploy_model.objects.filter(pk__in=last_ids)
             .values(*DeploySummary.model_fields)} if last_ids else {})
    for workload in workloads:
        workload.related_out = related[workload.pk]
        workload.last_deploy = last.get(getattr(workload, "last_deploy_id", None))
    return workloads


VOLUME_FIELDS = ("name", "host_path", "mount_path", "read_only")
CONTAINER_FIELDS = ("docker_id", "name", "service", "image", "digest", "state", "deploy_id")


def load_workload(workload_id):
    """One workload ready for ``workload_out`` (404 when there is none)."""
    return attach_related([get_object_or_404(with_related(Workload.objects), pk=workload_id)])[0]


LIST_RENDERER = JSONRenderer()


def workload_out(workload):
    """The API's view of a workload. Give it a workload from ``load_workload`` or
    ``with_related`` + ``attach_related``: everything here reads what they fetched."""
    if not hasattr(workload, "related_out"):  # e.g. fresh from an action: load it properly
        workload = load_workload(workload.pk)
    return {
        **{f: getattr(workload, f) for f in (
            "id", "name", "kind", "ref_id", "spec", "title", "description", "title_en",
            "title_ru", "description_en", "description_ru", "desired_state",
            "created_at", "updated_at",
        )},
        "state": Workload.state_of([c["state"] for c in workload.related_out["containers"]]),
        **workload.related_out,
        "last_deploy": workload.last_deploy,
        "domains": domains_of(workload.spec),
        "host": workload.host.name if workload.host_id else "local",
        "host_state": workload.host.state if workload.host_id else "up",
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
        "Every kind of workload source (image, git, compose, ...) with a sample spec and "
        "its spec's JSON Schema."))
def list_sources(request):
    return [
        {"kind": s.kind, "label": str(s.label), "schema_sample": s.schema_sample,
         "spec_schema": spec_schema(s)}
        for s in SOURCES.values()
    ]


@router.get("/workloads", response={200: list[WorkloadOut], **READ_ERRORS},
    summary=gettext_lazy("List workloads"),
    description=gettext_lazy(
        "Every workload with its env (secret values hidden), volumes, containers and "
        "newest deploy."))
def list_workloads(request):
    # Rendered here rather than validated by ninja: ``workload_out`` builds exactly the
    # WorkloadOut shape from plain rows, and wrapping and validating every nested object again
    # was a quarter of the list's time. Keys in schema order (a key the schema gained and
    # workload_out lacks fails loudly); tests compare each entry with the validated detail.
    fields = tuple(WorkloadOut.model_fields)
    rows = [workload_out(w) for w in attach_related(list(with_related(Workload.objects)))]
    data = [{field: row[field] for field in fields} for row in rows]
    # The API's renderer (ninja's default JSONRenderer), as ninja would call it.
    return HttpResponse(LIST_RENDERER.render(request, data, response_status=200),
                        content_type=f"{LIST_RENDERER.media_type}; charset={LIST_RENDERER.charset}")


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
            summary=gettext_lazy("Runtime log of a workload's containers"),
            description=gettext_lazy(
                "The newest lines its containers printed (compose: every service, or one with "
                "`service`), oldest first, every known secret masked. Follow a log by passing "
                "the answer's `cursor` back as `since`."))
def workload_logs(request, workload_id: PathId, tail: LogTail = 200, since: LogSince = None,
                  service: LogService = None):
    workload = get_object_or_404(Workload, pk=workload_id)
    lines = runtime_logs.workload_log(workload, tail=tail, since=since, service=service)
    return {"lines": lines, "cursor": lines[-1].cursor if lines else since}


CONTROL_DESCRIPTION = gettext_lazy(
    "Acts on every container of the workload (compose: every service), records an event and "
    "stores the desired state: a stopped workload stays stopped until it is started or "
    "deployed again. 409 while a deploy is in progress or before the first deploy.")


@router.post("/workloads/{workload_id}/start", auth=STAFF,
             response={200: WorkloadOut, **WRITE_ERRORS},
             summary=gettext_lazy("Start a workload"),
             description=CONTROL_DESCRIPTION)
def start_workload(request, workload_id: PathId):
    user = require_staff(request)
    return workload_out(controls.do_start(get_object_or_404(Workload, pk=workload_id), user))


@router.post("/workloads/{workload_id}/stop", auth=STAFF,
             response={200: WorkloadOut, **WRITE_ERRORS},
             summary=gettext_lazy("Stop a workload"),
             description=CONTROL_DESCRIPTION)
def stop_workload(request, workload_id: PathId):
    user = require_staff(request)
    return workload_out(controls.do_stop(get_object_or_404(Workload, pk=workload_id), user))


@router.post("/workloads/{workload_id}/restart", auth=STAFF,
             response={200: WorkloadOut, **WRITE_ERRORS},
             summary=gettext_lazy("Restart a workload"),
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
