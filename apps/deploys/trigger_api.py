"""Trigger endpoints: CRUD, workload bindings and the webhook receiver. Thin."""
from typing import Annotated, Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja import Status as Reply
from ninja.errors import HttpError

from apps.deploys import bindings
from apps.deploys.models import Trigger
from apps.deploys.triggers import TRIGGERS
from apps.workloads.actions import InvalidInput
from apps.workloads.models import Workload
from apps.workloads.schemas import (
    READ_ERRORS,
    WRITE_ERRORS,
    ErrorOut,
    Id,
    Line,
    PathId,
    StrictSchema,
)
from tinyforge.api import STAFF, require_staff

router = Router(tags=["triggers"])
# Every error status: for an operation added without choosing READ_ERRORS or WRITE_ERRORS.
ERRORS = {**READ_ERRORS, **WRITE_ERRORS}
TriggerKindName = Annotated[str, Field(max_length=32, json_schema_extra={"enum": list(TRIGGERS)})]


class TriggerIn(StrictSchema):
    name: Line(100)
    kind: TriggerKindName
    config: dict[str, Any] = {}
    secret: Line(4096) = Field("", description="Write-only (webhook HMAC secret).")


class TriggerPatch(StrictSchema):
    name: Line(100) | None = None
    config: dict[str, Any] | None = None
    secret: Line(4096) | None = None


class BindIn(StrictSchema):
    trigger_id: Id | None = None
    trigger: TriggerIn | None = None


class TriggerOut(Schema):
    id: int
    name: str
    kind: str
    config: dict[str, Any]
    has_secret: bool
    hook_url: str | None
    workload_ids: list[int]

    @staticmethod
    def resolve_has_secret(obj):
        return bool(obj.secret)

    @staticmethod
    def resolve_hook_url(obj):
        return f"/api/hooks/{obj.token}" if obj.kind == "webhook" else None

    @staticmethod
    def resolve_workload_ids(obj):
        return list(obj.workloads.values_list("pk", flat=True))


class HookOut(Schema):
    deploy_ids: list[int]


@router.get("/triggers", response={200: list[TriggerOut], **READ_ERRORS})
def list_triggers(request, kind: TriggerKindName | None = None):
    if kind is not None and kind not in TRIGGERS:
        raise InvalidInput({"kind": _("Unknown trigger kind; known: %(known)s.")
                                    % {"known": ", ".join(sorted(TRIGGERS))}})
    query = Trigger.objects.all()
    return query.filter(kind=kind) if kind else query


@router.post("/triggers", auth=STAFF, response={201: TriggerOut, **WRITE_ERRORS})
def create_trigger(request, payload: TriggerIn):
    require_staff(request)
    return Reply(201, bindings.create_trigger(**payload.dict()))


@router.get("/triggers/{trigger_id}", response={200: TriggerOut, **READ_ERRORS})
def get_trigger(request, trigger_id: PathId):
    return get_object_or_404(Trigger, pk=trigger_id)


@router.patch("/triggers/{trigger_id}", auth=STAFF, response={200: TriggerOut, **WRITE_ERRORS})
def patch_trigger(request, trigger_id: PathId, payload: TriggerPatch):
    require_staff(request)
    trigger = get_object_or_404(Trigger, pk=trigger_id)
    # null means "leave as is", like leaving the field out.
    return bindings.update_trigger(trigger, payload.dict(exclude_unset=True, exclude_none=True))


@router.delete("/triggers/{trigger_id}", auth=STAFF, response={204: None, **WRITE_ERRORS})
def delete_trigger(request, trigger_id: PathId):
    require_staff(request)
    get_object_or_404(Trigger, pk=trigger_id).delete()
    return Reply(204, None)


@router.get("/workloads/{workload_id}/triggers",
            response={200: list[TriggerOut], **READ_ERRORS})
def workload_triggers(request, workload_id: PathId):
    return get_object_or_404(Workload, pk=workload_id).triggers.all()


@router.post("/workloads/{workload_id}/triggers", auth=STAFF,
             response={201: TriggerOut, **WRITE_ERRORS})
def bind_trigger(request, workload_id: PathId, payload: BindIn):
    require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    if payload.trigger is not None:
        trigger = bindings.create_trigger(**payload.trigger.dict())
    elif payload.trigger_id is not None:
        trigger = get_object_or_404(Trigger, pk=payload.trigger_id)
    else:
        raise HttpError(422, _("Give trigger_id or an inline trigger."))
    bindings.bind(trigger, workload)
    return Reply(201, trigger)


@router.delete("/workloads/{workload_id}/triggers/{trigger_id}", auth=STAFF,
               response={204: None, **WRITE_ERRORS})
def unbind_trigger(request, workload_id: PathId, trigger_id: PathId):
    require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    trigger = get_object_or_404(workload.triggers, pk=trigger_id)
    bindings.unbind(trigger, workload)
    return Reply(204, None)


@router.post("/hooks/{token}", auth=None, response={202: HookOut, 401: ErrorOut, 404: ErrorOut})
def receive_hook(request, token: str):
    trigger = get_object_or_404(Trigger, token=token, kind="webhook")
    try:
        deploys = bindings.receive_webhook(trigger, request.headers, request.body)
    except PermissionError:
        raise HttpError(401, _("Invalid or missing signature.")) from None
    return Reply(202, {"deploy_ids": [deploy.pk for deploy in deploys]})
