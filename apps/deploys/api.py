"""Deploy endpoints: thin calls into dispatch()."""
from django.shortcuts import get_object_or_404
from ninja import Router
from ninja import Status as Reply
from ninja.pagination import PageNumberPagination, paginate

from apps.deploys import replays
from apps.deploys.dispatch import dispatch
from apps.deploys.models import Deploy, Reason
from apps.deploys.schemas import DeployDetailOut, DeployOut, PromoteIn, RollbackIn
from apps.workloads.models import Workload
from apps.workloads.schemas import ErrorOut
from tinyforge.api import require_staff

router = Router(tags=["deploys"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.post("/workloads/{workload_id}/deploy", response={202: DeployOut, **ERRORS})
def deploy_workload(request, workload_id: int):
    user = require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    return Reply(202, dispatch(workload, Reason.API, user=user, enqueue=True))


@router.get("/deploys/{deploy_id}", response={200: DeployDetailOut, **ERRORS})
def get_deploy(request, deploy_id: int):
    return get_object_or_404(
        Deploy.objects.select_related("requested_by").prefetch_related("backups"), pk=deploy_id)


@router.post("/workloads/{workload_id}/promote-from", response={202: DeployOut, **ERRORS})
def promote_from(request, workload_id: int, payload: PromoteIn):
    user = require_staff(request)
    target = get_object_or_404(Workload, pk=workload_id)
    source = get_object_or_404(Workload, pk=payload.source)
    return Reply(202, replays.promote(target, source, user=user))


@router.post("/workloads/{workload_id}/rollback", response={202: DeployOut, **ERRORS})
def rollback(request, workload_id: int, payload: RollbackIn = None):
    user = require_staff(request)
    workload = get_object_or_404(Workload, pk=workload_id)
    payload = payload or RollbackIn()
    target = get_object_or_404(Deploy, pk=payload.deploy_id) if payload.deploy_id else None
    return Reply(202, replays.rollback(workload, target=target, user=user,
                                       restore_config=payload.restore_config,
                                       with_data=payload.with_data))


@router.get("/workloads/{workload_id}/deploys", response=list[DeployOut])
@paginate(PageNumberPagination, page_size=20)
def workload_deploys(request, workload_id: int):
    workload = get_object_or_404(Workload, pk=workload_id)
    # Backups prefetched: DeployOut shows each entry's pre-deploy backup.
    return (workload.deploys.select_related("requested_by").prefetch_related("backups")
            .order_by("-id"))
