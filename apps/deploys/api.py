"""Deploy endpoints: thin calls into dispatch()."""
from typing import Annotated

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy
from ninja import Query, Router, Schema
from ninja import Status as Reply
from ninja.pagination import PageNumberPagination, paginate

from apps.core.auth import STAFF, require_staff
from apps.core.schemas import READ_ERRORS, WRITE_ERRORS, PathId, QueryPage
from apps.deploys import moves, replays
from apps.deploys.dispatch import dispatch
from apps.deploys.models import Deploy, Reason
from apps.deploys.schemas import (
    DeployDetailOut,
    DeployOut,
    MoveIn,
    PromoteIn,
    RollbackIn,
    WorkloadStatusOut,
)
from apps.deploys.status import workload_status
from apps.workloads.models import Workload

router = Router(tags=["deploys"])
# Every error status: for an operation added without choosing READ_ERRORS or WRITE_ERRORS.
ERRORS = {**READ_ERRORS, **WRITE_ERRORS}


class BoundedPages(PageNumberPagination):
    """Page numbers past any real ledger are refused (422), not turned into an offset the
    database cannot hold."""

    class Input(Schema):
        page: QueryPage = 1
        page_size: Annotated[int, Query(ge=1, le=100)] | None = None


@router.post("/workloads/{workload_id}/deploy", auth=STAFF,
             response={202: DeployOut, **WRITE_ERRORS},
    summary=gettext_lazy("Deploy a workload"),
    description=gettext_lazy(
        "Queues a deploy of the workload's current spec and returns the ledger entry at "
        "once (202); poll the deploy for its outcome. Staff only."))
def deploy_workload(request, workload_id: PathId):
    user = require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    return Reply(202, dispatch(workload, Reason.API, user=user, enqueue=True))


@router.get("/deploys/{deploy_id}", response={200: DeployDetailOut, **READ_ERRORS},
    summary=gettext_lazy("Get a deploy"),
    description=gettext_lazy(
        "One ledger entry with its log, outcome, pinned artifact and pre-deploy backup."))
def get_deploy(request, deploy_id: PathId):
    return get_object_or_404(
        Deploy.objects.select_related("requested_by", "host").prefetch_related("backups"),
        pk=deploy_id)


@router.post("/workloads/{workload_id}/promote-from", auth=STAFF,
             response={202: DeployOut, **WRITE_ERRORS},
    summary=gettext_lazy("Promote from another workload"),
    description=gettext_lazy(
        "Deploys exactly the artifact the source workload runs now (no rebuild, no new "
        "pull of a moved tag). Staff only."))
def promote_from(request, workload_id: PathId, payload: PromoteIn):
    user = require_staff(request)
    target = get_object_or_404(Workload, pk=workload_id)
    source = get_object_or_404(Workload, pk=payload.source)
    return Reply(202, replays.promote(target, source, user=user))


@router.post("/workloads/{workload_id}/move", auth=STAFF,
             response={200: DeployOut, **WRITE_ERRORS},
    summary=gettext_lazy("Move a workload to another host"),
    description=gettext_lazy(
        "Deploys what the workload runs on the given host first; once it runs there, its "
        "containers on the old host are removed. A failed move leaves it where it was. Named "
        "volumes are not moved: their data stays on the old host. Answers when the move has "
        "ended, with its ledger entry. Staff only."))
def move(request, workload_id: PathId, payload: MoveIn):
    user = require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    return moves.do_move(workload, payload.host, user=user)


@router.post("/workloads/{workload_id}/rollback", auth=STAFF,
             response={202: DeployOut, **WRITE_ERRORS},
    summary=gettext_lazy("Roll back a workload"),
    description=gettext_lazy(
        "Runs an earlier successful deploy's artifact again (default: the previous one), "
        "optionally with its config and the volume backup. Staff only."))
def rollback(request, workload_id: PathId, payload: RollbackIn = None):
    user = require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    payload = payload or RollbackIn()
    target = get_object_or_404(Deploy, pk=payload.deploy_id) if payload.deploy_id else None
    return Reply(202, replays.rollback(workload, target=target, user=user,
                                       restore_config=payload.restore_config,
                                       with_data=payload.with_data))


@router.get("/workloads/{workload_id}/deploys", response={200: list[DeployOut], **READ_ERRORS},
    summary=gettext_lazy("List a workload's deploys"),
    description=gettext_lazy(
        "The workload's ledger, newest first, in pages."))
@paginate(BoundedPages, page_size=20)
def workload_deploys(request, workload_id: PathId):
    workload = get_object_or_404(Workload, pk=workload_id)
    # Backups prefetched: DeployOut shows each entry's pre-deploy backup.
    return (workload.deploys.select_related("requested_by", "host").prefetch_related("backups")
            .order_by("-id"))


@router.get("/workloads/{workload_id}/status", response={200: WorkloadStatusOut, **READ_ERRORS},
            summary=gettext_lazy("What a workload runs, at a glance"),
            description=gettext_lazy(
                "State (running, stopped, failing, absent), the running version (tag and "
                "digest), since when, its URLs and the last deploy with its outcome and cause; "
                "words in the request's language. Read from the database (no engine call): "
                "cheap enough to poll every few seconds."))
def workload_status_view(request, workload_id: PathId):
    return workload_status(get_object_or_404(Workload, pk=workload_id), request)
