"""Trigger endpoints: CRUD, workload bindings and the webhook receiver. Thin."""
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja import Status as Reply
from ninja.errors import HttpError

from apps.deploys import bindings
from apps.deploys.models import Trigger
from apps.workloads.models import Workload
from apps.workloads.schemas import ErrorOut
from tinyforge.api import require_staff

router = Router(tags=["triggers"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class TriggerIn(Schema):
    name: str
    kind: str
    config: dict[str, Any] = {}
    secret: str = Field("", description="Write-only (webhook HMAC secret).")


class TriggerPatch(Schema):
    name: str | None = None
    config: dict[str, Any] | None = None
    secret: str | None = None


class BindIn(Schema):
    trigger_id: int | None = None
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


@router.get("/triggers", response={200: list[TriggerOut], **ERRORS})
def list_triggers(request, kind: str | None = None):
    query = Trigger.objects.all()
    return query.filter(kind=kind) if kind else query


@router.post("/triggers", response={201: TriggerOut, **ERRORS})
def create_trigger(request, payload: TriggerIn):
    require_staff(request)
    return Reply(201, bindings.create_trigger(**payload.dict()))


@router.get("/triggers/{trigger_id}", response={200: TriggerOut, **ERRORS})
def get_trigger(request, trigger_id: int):
    return get_object_or_404(Trigger, pk=trigger_id)


@router.patch("/triggers/{trigger_id}", response={200: TriggerOut, **ERRORS})
def patch_trigger(request, trigger_id: int, payload: TriggerPatch):
    require_staff(request)
    trigger = get_object_or_404(Trigger, pk=trigger_id)
    return bindings.update_trigger(trigger, payload.dict(exclude_unset=True))


@router.delete("/triggers/{trigger_id}", response={204: None, **ERRORS})
def delete_trigger(request, trigger_id: int):
    require_staff(request)
    get_object_or_404(Trigger, pk=trigger_id).delete()
    return Reply(204, None)


@router.get("/workloads/{workload_id}/triggers", response={200: list[TriggerOut], **ERRORS})
def workload_triggers(request, workload_id: int):
    return get_object_or_404(Workload, pk=workload_id).triggers.all()


@router.post("/workloads/{workload_id}/triggers", response={201: TriggerOut, **ERRORS})
def bind_trigger(request, workload_id: int, payload: BindIn):
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


@router.delete("/workloads/{workload_id}/triggers/{trigger_id}", response={204: None, **ERRORS})
def unbind_trigger(request, workload_id: int, trigger_id: int):
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
