"""Trigger endpoints: CRUD, workload bindings and the webhook receiver. Thin."""
import logging
from datetime import datetime
from typing import Annotated, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from ninja import Field, Router, Schema
from ninja import Status as Reply
from ninja.errors import HttpError

from apps.core.auth import STAFF, require_staff
from apps.core.errors import InvalidInput
from apps.core.schemas import (
    READ_ERRORS,
    WRITE_ERRORS,
    ErrorOut,
    Id,
    Line,
    PathId,
    StrictSchema,
)
from apps.deploys import bindings
from apps.deploys.models import HookDelivery, Trigger
from apps.deploys.triggers import TRIGGERS, dialects
from apps.workloads.models import Workload

log = logging.getLogger("tinyforge.triggers")
router = Router(tags=["triggers"])
MAX_TOKEN_LENGTH = 200
# Every error status: for an operation added without choosing READ_ERRORS or WRITE_ERRORS.
ERRORS = {**READ_ERRORS, **WRITE_ERRORS}
TriggerKindName = Annotated[str, Field(max_length=32, json_schema_extra={"enum": list(TRIGGERS)})]
SECRET_HELP = ("Write-only HMAC-SHA256 secret of a webhook. Omit it (or give \"\") on create "
               "to have one generated and returned once. A webhook's secret cannot be emptied.")


class TriggerIn(StrictSchema):
    name: Line(100)
    kind: TriggerKindName
    config: dict[str, Any] = {}
    secret: Line(256) = Field("", description=SECRET_HELP)


class TriggerPatch(StrictSchema):
    name: Line(100) | None = None
    config: dict[str, Any] | None = None
    secret: Line(256) | None = Field(None, description=SECRET_HELP)


class BindIn(StrictSchema):
    trigger_id: Id | None = None
    trigger: TriggerIn | None = None


class SenderSetupOut(Schema):
    dialect: str
    label: str
    url: str
    content_type: str
    secret: str = Field(description="Where the secret was shown (it is write-only).")
    headers: dict[str, str]
    snippet: str = Field(description="Configuration to paste (registries: config.yml).")
    events: str


class DeliveryOut(Schema):
    received_at: datetime
    dialect: str
    event: str
    delivery: str
    outcome: str
    reason: str
    reason_text: str
    deploy_ids: list[int]


def sender_setup(trigger, hook_url=None):
    return [dialect.setup(trigger, hook_url) for dialect in dialects.DIALECTS.values()]


def _is_staff(context):
    request = (context or {}).get("request")
    user = getattr(request, "auth", None) if request is not None else None
    return bool(user and user.is_active and user.is_staff)


class TriggerOut(Schema):
    id: int
    name: str
    kind: str
    config: dict[str, Any]
    has_secret: bool
    notice: str | None = Field(None, description="What must be done before the trigger works.")
    hook_url: str | None = Field(
        None, description="Only in the staff response that issued the hook token (create, "
                          "new-hook-url); only its SHA-256 is stored, so it is never shown again.")
    workload_ids: list[int]
    senders: list[SenderSetupOut] = Field(
        [], description="Per sender dialect (webhooks only): what to paste into its settings.")
    deliveries: list[DeliveryOut] = Field(
        [], description="The last 20 calls to the hook (webhooks only), newest first: outcome "
                        "and reason, no secret and no body content.")

    @staticmethod
    def resolve_senders(obj, context):
        if obj.kind != "webhook":
            return []
        return sender_setup(obj, TriggerOut.resolve_hook_url(obj, context))

    @staticmethod
    def resolve_deliveries(obj):
        if obj.kind != "webhook":
            return []
        return list(obj.hook_log.all())[:HookDelivery.KEEP]  # reads the prefetch when there is one

    @staticmethod
    def resolve_has_secret(obj):
        return bool(obj.secret)

    @staticmethod
    def resolve_notice(obj):
        if obj.needs_secret:
            return _("This webhook has no secret and refuses every call: set one (PATCH secret).")
        return None

    @staticmethod
    def resolve_hook_url(obj, context):
        # The raw token exists only on the instance that just issued it; staff only besides.
        if obj.kind != "webhook" or not obj.raw_token or not _is_staff(context):
            return None
        return f"/api/hooks/{obj.raw_token}"

    @staticmethod
    def resolve_workload_ids(obj):
        # Reads the prefetch of with_workload_ids() when there is one.
        return sorted(w.pk for w in obj.workloads.all())


class TriggerIssuedOut(TriggerOut):
    secret: str | None = Field(
        None, description="The generated webhook secret, in the create response only; never "
                          "shown again.")

    @staticmethod
    def resolve_secret(obj, context):
        return obj.generated_secret if _is_staff(context) else None


class HookOut(Schema):
    deploy_ids: list[int] = Field(description="The deploys this call started; empty when it "
                                              "matched nothing (see reason).")
    outcome: str = Field(description="matched or ignored")
    reason: str = Field(description="Why, in words.")
    dialect: str
    event: str


def with_workload_ids(queryset):
    """Triggers with their bound workload ids fetched in one query for the whole list."""
    return queryset.prefetch_related(
        Prefetch("workloads", queryset=Workload.objects.order_by().only("pk")),
        Prefetch("hook_log", queryset=HookDelivery.objects.order_by("-id")))


@router.get("/triggers", response={200: list[TriggerOut], **READ_ERRORS},
    summary=gettext_lazy("List triggers"),
    description=gettext_lazy(
        "Every trigger, optionally of one kind, with the workloads bound to it."))
def list_triggers(request, kind: TriggerKindName | None = None):
    if kind is not None and kind not in TRIGGERS:
        raise InvalidInput({"kind": _("Unknown trigger kind; known: %(known)s.")
                                    % {"known": ", ".join(sorted(TRIGGERS))}})
    query = with_workload_ids(Trigger.objects.all())
    return query.filter(kind=kind) if kind else query


@router.post("/triggers", auth=STAFF, response={201: TriggerIssuedOut, **WRITE_ERRORS},
    summary=gettext_lazy("Create a trigger"),
    description=gettext_lazy(
        "Creates a trigger; a webhook's hook URL and generated secret appear in this "
        "response only. Staff only."))
def create_trigger(request, payload: TriggerIn):
    require_staff(request)
    return Reply(201, bindings.create_trigger(**payload.dict()))


@router.get("/triggers/{trigger_id}", response={200: TriggerOut, **READ_ERRORS},
    summary=gettext_lazy("Get a trigger"),
    description=gettext_lazy(
        "One trigger with the workloads bound to it; secrets and hook URLs are never "
        "shown again."))
def get_trigger(request, trigger_id: PathId):
    return get_object_or_404(with_workload_ids(Trigger.objects.all()), pk=trigger_id)


@router.patch("/triggers/{trigger_id}", auth=STAFF, response={200: TriggerOut, **WRITE_ERRORS},
    summary=gettext_lazy("Change a trigger"),
    description=gettext_lazy(
        "Changes the given fields only. Staff only."))
def patch_trigger(request, trigger_id: PathId, payload: TriggerPatch):
    require_staff(request)
    trigger = get_object_or_404(Trigger, pk=trigger_id)
    # null means "leave as is", like leaving the field out.
    return bindings.update_trigger(trigger, payload.dict(exclude_unset=True, exclude_none=True))


@router.post("/triggers/{trigger_id}/new-hook-url", auth=STAFF,
             response={200: TriggerIssuedOut, **WRITE_ERRORS},
    summary=gettext_lazy("Issue a new hook URL"),
    description=gettext_lazy(
        "Issues a new hook URL for a webhook trigger, shown once in this response; the "
        "old one stops working. Staff only."))
def new_hook_url(request, trigger_id: PathId):
    """Issue a new hook URL (shown once in this response); the old one stops working."""
    require_staff(request)
    trigger = get_object_or_404(Trigger, pk=trigger_id)
    if trigger.kind != "webhook":
        raise InvalidInput({"kind": _("Only webhook triggers have a hook URL.")})
    return bindings.reissue_hook_token(trigger)


@router.delete("/triggers/{trigger_id}", auth=STAFF, response={204: None, **WRITE_ERRORS},
    summary=gettext_lazy("Delete a trigger"),
    description=gettext_lazy(
        "Deletes the trigger and its schedule; bound workloads stay. Staff only."))
def delete_trigger(request, trigger_id: PathId):
    require_staff(request)
    get_object_or_404(Trigger, pk=trigger_id).delete()
    return Reply(204, None)


@router.get("/workloads/{workload_id}/triggers",
            response={200: list[TriggerOut], **READ_ERRORS},
    summary=gettext_lazy("List a workload's triggers"),
    description=gettext_lazy(
        "The triggers bound to one workload."))
def workload_triggers(request, workload_id: PathId):
    return with_workload_ids(get_object_or_404(Workload, pk=workload_id).triggers.all())


@router.post("/workloads/{workload_id}/triggers", auth=STAFF,
             response={201: TriggerIssuedOut, **WRITE_ERRORS},
    summary=gettext_lazy("Bind a trigger to a workload"),
    description=gettext_lazy(
        "Binds an existing trigger, or one created inline, to the workload. Staff only."))
def bind_trigger(request, workload_id: PathId, payload: BindIn):
    require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    if payload.trigger is not None:
        trigger = bindings.create_trigger(**payload.trigger.dict())
    elif payload.trigger_id is not None:
        trigger = get_object_or_404(Trigger, pk=payload.trigger_id)
    else:
        raise InvalidInput({"trigger_id": _("Give trigger_id or an inline trigger.")})
    bindings.bind(trigger, workload)
    return Reply(201, trigger)


@router.delete("/workloads/{workload_id}/triggers/{trigger_id}", auth=STAFF,
               response={204: None, **WRITE_ERRORS},
    summary=gettext_lazy("Unbind a trigger from a workload"),
    description=gettext_lazy(
        "The trigger stays; it no longer deploys this workload. Staff only."))
def unbind_trigger(request, workload_id: PathId, trigger_id: PathId):
    require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    trigger = get_object_or_404(workload.triggers, pk=trigger_id)
    bindings.unbind(trigger, workload)
    return Reply(204, None)


HOOK_ERRORS = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut}


@router.post("/hooks/{token}", auth=None, response={202: HookOut, **HOOK_ERRORS},
    summary=gettext_lazy("Receive a webhook"),
    description=gettext_lazy(
        "Fires a webhook trigger. The body must be signed (X-Hub-Signature-256, "
        "HMAC-SHA256 with the trigger's secret) and be a JSON object; a delivery seen "
        "within 10 minutes is refused with 409."))
def receive_hook(request, token: str):
    """Fire a webhook trigger. Speaks GitHub (X-Hub-Signature-256; JSON or form-encoded),
    Gitea/Forgejo (X-Gitea-Signature), GitLab (X-Gitlab-Token) and Docker registry notifications
    (Authorization: Bearer <secret>). A call that matches nothing, a ping, a deletion or a retry
    of a delivery already received answers 202 with no deploys and the reason; a bad signature
    is 401, a malformed body 422."""
    trigger = Trigger.find_hook(token) if len(token) <= MAX_TOKEN_LENGTH else None
    if trigger is None:
        raise Http404
    try:
        body = request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise HttpError(413, ngettext("body: larger than %(max)s byte.",
                                      "body: larger than %(max)s bytes.", limit)
                        % {"max": limit}) from None
    try:
        answer = bindings.receive_webhook(trigger, request.headers, body)
    except bindings.HookRefused as refused:
        if refused.reason == "no_secret":
            log.warning("webhook trigger %s has no secret: call refused", trigger.pk)
        if refused.reason == "dialect":
            raise HttpError(401, _("headers: unknown sender; sign the call the GitHub, "
                                   "Gitea/Forgejo or GitLab way, or send a registry "
                                   "notification with its bearer header.")) from None
        raise HttpError(401, _("Invalid or missing signature.")) from None
    return Reply(202, {"deploy_ids": [deploy.pk for deploy in answer.deploys],
                       "outcome": answer.outcome, "reason": answer.reason_text,
                       "dialect": answer.dialect, "event": answer.event})
