"""Reading and trimming the deploy ledger: what runs now, what can be rolled back to."""
from django.conf import settings

from apps.deploys.models import Deploy, Status
from apps.workloads.sources import UnknownSource, get_source


def current_deploy(workload):
    """The ledger entry of what the workload runs now, or None when nothing runs."""
    if not workload.containers.filter(state="running").exists():
        return None
    return workload.deploys.filter(status=Status.SUCCEEDED).order_by("-id").first()


def previous_target(workload):
    """The newest successful entry before the one running now with another artifact."""
    current = current_deploy(workload)
    if current is None:
        return None
    return (workload.deploys.filter(status=Status.SUCCEEDED, pk__lt=current.pk)
            .exclude(pinned_ref=current.pinned_ref).order_by("-id").first())


def artifact_available(deploy):
    """Can this entry's artifact run again (present, pullable by digest, or rebuildable)?"""
    try:
        return get_source(deploy.source_kind).available(deploy.workload, deploy.pinned)
    except UnknownSource:
        return False


def rollback_targets(workload, limit=None):
    """The newest ``limit`` successful entries (default: the cleanup keep setting)."""
    limit = limit or settings.TINYFORGE_KEEP_ROLLBACK_IMAGES
    return list(workload.deploys.filter(status=Status.SUCCEEDED).order_by("-id")[:limit])


def prune_ledger(workload):
    """Keep the newest TINYFORGE_HISTORY_LIMIT entries; never the running entry nor one still
    queued or running. Returns how many were deleted."""
    keep = set(workload.deploys.order_by("-id").values_list("pk", flat=True)
               [:settings.TINYFORGE_HISTORY_LIMIT])
    current = current_deploy(workload)
    if current is not None:
        keep.add(current.pk)
    doomed = (Deploy.objects.filter(workload=workload).exclude(pk__in=keep)
              .exclude(status__in=[Status.QUEUED, Status.RUNNING]))
    return doomed.delete()[0]
