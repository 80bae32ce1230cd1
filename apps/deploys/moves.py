"""Moving a workload to another host: ``do_move``, the one entry point (API, admin, command).

The workload's running artifact is deployed on the new host first (a ledger entry with reason
"move", pinned to the new host, replaying exactly what runs: no rebuild, no re-pull of a moved
tag). Only when it succeeded does the workload belong to the new host, and its containers on
the old host are taken down. A move that fails leaves the workload where it was, still
serving: nothing on the old host was touched.

Named volumes are not moved: the workload starts with empty volumes on the new host (the
confirmation and the docs say so); their data stays on the old host's engine.
"""
import logging

from django.utils.translation import gettext as _

from apps.core.errors import Conflict
from apps.deploys.dispatch import dispatch
from apps.deploys.ledger import current_deploy
from apps.deploys.models import Reason, Status
from apps.workloads import hosts
from apps.workloads.engine import EngineError
from apps.workloads.events import record_event
from apps.workloads.index import sync_index
from apps.workloads.models import Host, Workload
from apps.workloads.sources import UnknownSource, get_source

log = logging.getLogger("tinyforge.moves")


def do_move(workload, host, user=None, progress=None):
    """Move ``workload`` to ``host`` (a Host or its name); returns the move's Deploy row.

    Raises Conflict (409) for an unknown host, the host it is on already, a host marked down,
    a deploy in progress, or a workload that runs nothing yet."""
    target = host if isinstance(host, Host) else Host.objects.filter(name=host).first()
    if target is None:
        raise Conflict("host", _("There is no host named %(name)s.") % {"name": host})
    old = hosts.host_of(workload)
    if target.pk == old.pk:
        raise Conflict("host", _("The workload already runs on %(name)s.") % {"name": old.name})
    if target.is_down:
        raise Conflict("host", _("Host %(name)s is down.") % {"name": target.name})
    workload.refresh_from_db(fields=["lock_deploy_id"])
    if workload.lock_deploy_id is not None:
        raise Conflict("workload", _("A deploy of this workload is in progress; try again "
                                     "when it has finished."))
    origin = current_deploy(workload)
    deploy = dispatch(workload, Reason.MOVE, user=user, progress=progress, host=target,
                      promoted_from=origin if origin is not None and origin.pinned else None)
    if deploy.status != Status.SUCCEEDED:
        record_event(workload, "failed", _(
            "Move to %(host)s failed (deploy #%(id)s); the workload stays on %(old)s.") % {
                "host": target.name, "id": deploy.pk, "old": old.name})
        return deploy
    Workload.objects.filter(pk=workload.pk).update(host=target)
    workload.host = target
    left = _take_down(workload, old)
    record_event(workload, "moved", _("Moved from %(old)s to %(host)s (deploy #%(id)s).") % {
        "old": old.name, "host": target.name, "id": deploy.pk} + (
        " " + _("Its containers on %(old)s could not be removed (%(code)s); remove them "
                "there by hand.") % {"old": old.name, "code": left} if left else ""))
    return deploy


def _take_down(workload, old):
    """Remove the workload's containers from the old host; returns the error code when that
    host could not do it ("" when it did)."""
    try:
        source = get_source(workload.kind)
        with hosts.on_host(old):
            source.teardown(workload)
        with hosts.on_host(hosts.host_of(workload)):
            sync_index(workload, source.reconcile(workload))
    except UnknownSource:
        return "internal"
    except EngineError as exc:
        log.warning("move of %s: containers left on %s (%s)", workload.name, old.name, exc.code)
        return exc.code
    return ""
