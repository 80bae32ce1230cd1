"""Deploys that run an artifact again instead of resolving the spec: promotion (and rollback).

Each checks its guards, then calls dispatch — still the only place a deploy starts."""
from django.utils.translation import gettext as _

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Reason, Status
from apps.workloads.actions import Conflict


def current_deploy(workload):
    """The ledger entry of what the workload runs now, or None when nothing runs."""
    if not workload.containers.filter(state="running").exists():
        return None
    return workload.deploys.filter(status=Status.SUCCEEDED).order_by("-id").first()


def promote(target, source, user=None, enqueue=True):
    """Deploy to ``target`` exactly the artifact ``source`` runs now (no rebuild, no re-pull of
    a moved tag). Raises Conflict for another kind or when the source runs nothing."""
    if source.pk == target.pk:
        raise Conflict("source", _("A workload cannot be promoted from itself."))
    if source.kind != target.kind:
        raise Conflict("source", _("Cannot promote a %(source)s workload into a %(target)s one.")
                       % {"source": source.kind, "target": target.kind})
    origin = current_deploy(source)
    if origin is None or not origin.pinned:
        raise Conflict("source", _("Workload '%(name)s' runs nothing to promote.")
                       % {"name": source.name})
    return dispatch(target, Reason.PROMOTE, user=user, enqueue=enqueue, promoted_from=origin)
