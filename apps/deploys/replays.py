"""Deploys that run an artifact again instead of resolving the spec: rollback and promotion.

Each checks its guards, then calls dispatch — still the only place a deploy starts."""
import json

from django.db import transaction
from django.utils.translation import gettext as _

from apps.core import notices
from apps.core.errors import Conflict
from apps.deploys.backups import BackupError, restore_backup
from apps.deploys.dispatch import announce, dispatch
from apps.deploys.ledger import current_deploy, previous_target, record_availability
from apps.deploys.models import Backup, Reason, Status
from apps.workloads.events import record_event
from apps.workloads.models import DesiredState, EnvVar, Workload


def rollback(workload, *, target=None, restore_config=False, with_data=False, user=None,
             enqueue=True, progress=None):
    """Replay ``target`` (a Deploy; default: the previous successful entry) on ``workload``.

    ``progress`` (a callable taking one line) sees the rollback's log as it runs inline.
    ``with_data`` also restores the volume backup taken before the deploy being rolled back
    (so it runs inline). Raises Conflict for an entry of another workload, a failed entry, no
    earlier entry, an artifact that is gone and cannot be pulled again, or (with data) no
    backup to restore.
    """
    backup = _backup_to_restore(workload) if with_data else None
    deploy = _rollback(workload, target, restore_config, user, enqueue and not with_data,
                       progress)
    if backup is not None and deploy.status == Status.SUCCEEDED:
        if progress:
            progress(_("Restoring the volumes from backup #%(id)s.") % {"id": backup.pk})
        try:
            restore_backup(backup)
        except BackupError as exc:
            raise Conflict("with_data", _("Rollback #%(deploy)s succeeded, but the data was not "
                                          "restored: %(error)s") % {"deploy": deploy.pk,
                                                                    "error": exc}) from None
        record_event(workload, "restored", _("Backup #%(id)s restored after rollback #%(deploy)s.")
                     % {"id": backup.pk, "deploy": deploy.pk})
    return deploy


def _backup_to_restore(workload):
    current = current_deploy(workload)
    backup = current.backups.filter(status=Backup.State.OK).first() if current else None
    if backup is None:
        raise Conflict("with_data", _("There is no backup taken before the running deploy."))
    return backup


def _rollback(workload, target, restore_config, user, enqueue, progress=None):
    target = target or previous_target(workload)
    if target is None:
        raise Conflict("deploy_id", _("There is no earlier successful deploy to roll back to."))
    if target.workload_id != workload.pk:
        raise Conflict("deploy_id", _("Deploy #%(id)s belongs to another workload.")
                       % {"id": target.pk})
    if target.status != Status.SUCCEEDED or not target.pinned:
        raise Conflict("deploy_id", _("Deploy #%(id)s did not succeed; only successful deploys "
                                      "can be rolled back to.") % {"id": target.pk})
    if not record_availability([target])[target.pk]:  # checked live, and stored for pages
        raise Conflict("deploy_id", _("The artifact of deploy #%(id)s is gone and cannot be "
                                      "pulled again.") % {"id": target.pk})
    if restore_config:
        restore_snapshot(workload, target)
    return dispatch(workload, Reason.ROLLBACK, user=user, enqueue=enqueue, rollback_of=target,
                    progress=progress)


def restore_snapshot(workload, deploy):
    """Put the spec and env recorded with ``deploy`` back on the workload."""
    rows = json.loads(deploy.env_snapshot or "[]")
    with transaction.atomic():
        workload.spec = deploy.spec_snapshot
        workload.save(update_fields=["spec", "updated_at"])
        workload.env_vars.all().delete()
        EnvVar.objects.bulk_create([
            EnvVar(workload=workload, key=r["key"], value=r["value"], secret=r["secret"])
            for r in rows
        ])


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


def watch_and_roll_back(deploy):
    """Probe ``deploy``'s container for TINYFORGE_HEALTH_GRACE seconds; when it turns
    unhealthy, roll back to the previous version. Returns the rollback Deploy or None."""
    from django.conf import settings

    from apps.workloads import health

    container = deploy.workload.containers.filter(deploy_id=deploy.pk).first()
    check = (deploy.spec_snapshot or {}).get("healthcheck")
    if container is None or not check:
        return None
    check = {**health.DEFAULTS, **check}
    if health.watch(container.docker_id, check, settings.TINYFORGE_HEALTH_GRACE):
        return None
    # Stopped by its operator during the grace period: not a failure to roll back from.
    if Workload.objects.filter(pk=deploy.workload_id,
                               desired_state=DesiredState.STOPPED).exists():
        return None
    # A newer deploy may have replaced this one during the grace period: never roll that back.
    current = current_deploy(deploy.workload)
    if current is None or current.pk != deploy.pk:
        return None
    record_event(deploy.workload, "unhealthy", _(
        "Deploy #%(id)s turned unhealthy after going live; rolling back.") % {"id": deploy.pk})
    try:
        # Enqueued: should another deploy hold the lock, the rollback waits parked, not here
        # in a worker (the cluster runs it inline in tests).
        back = rollback(deploy.workload, enqueue=True, restore_config=True)
    except Conflict as exc:
        record_event(deploy.workload, "unhealthy", exc.message)
        return None
    announce(notices.auto_rolled_back, workload_id=deploy.workload_id,
              workload=deploy.workload.name, deploy_id=deploy.pk, rollback_id=back.pk,
              status=back.status)
    return back
