"""The reconcile pass: the container index and the ledger brought in line with reality.

- every workload's Container rows follow what the engine reports (containers that exited are
  marked by their state, vanished ones "missing"; labelled containers found after a control
  plane restart are adopted), and drift goes to the event log;
- a deploy left "running" by a worker that died is marked "interrupted" and its lock freed;
- the stored availability of rollback targets (``Deploy.artifact_available``) is re-checked
  when it is new or stale.
"""
import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.deploys.dispatch import release_lock
from apps.deploys.ledger import recheck_stale_availability
from apps.deploys.models import Deploy, Status
from apps.workloads.engine import EngineError
from apps.workloads.events import record_event
from apps.workloads.index import sync_index
from apps.workloads.models import Workload
from apps.workloads.sources import UnknownSource, get_source

log = logging.getLogger("tinyforge.reconcile")


def reconcile_all():
    """Run the pass; returns {"drifted": n, "interrupted": n, "engine": "up"|"down"}."""
    interrupted = mark_interrupted()
    drifted, engine = 0, "up"
    for workload in Workload.objects.all():
        try:
            drifted += reconcile_workload(workload)
        except EngineError as exc:
            log.warning("reconcile: engine unavailable (%s); index left as it was", exc.code)
            engine = "down"
            break
    if engine == "up":
        # What the admin shows as "can roll back to" is read from the rows, never probed
        # per page view: keep it true here, a bounded batch per pass.
        recheck_stale_availability()
    return {"drifted": drifted, "interrupted": interrupted, "engine": engine}


def reconcile_workload(workload):
    """Sync one workload's index; returns 1 when anything drifted (and logs the event)."""
    try:
        infos = get_source(workload.kind).reconcile(workload)
    except UnknownSource:
        return 0
    added, changed, missing = sync_index(workload, infos, keep_vanished=True)
    if not (added or changed or missing):
        return 0
    record_event(workload, "drift", _(
        "Reconcile: containers adopted: %(added)s, changed state: %(changed)s, "
        "missing: %(missing)s."
    ) % {"added": added, "changed": changed, "missing": missing})
    return 1


def mark_interrupted():
    """Mark deploys whose worker is gone as interrupted; returns how many."""
    count = 0
    for deploy in Deploy.objects.filter(status=Status.RUNNING).select_related("workload"):
        if _worker_alive(deploy):
            continue
        Deploy.objects.filter(pk=deploy.pk, status=Status.RUNNING).update(
            status=Status.INTERRUPTED, finished_at=timezone.now()
        )
        release_lock(deploy)
        record_event(deploy.workload, "interrupted",
                     _("Deploy #%(id)s was interrupted (its worker stopped).") % {"id": deploy.pk})
        count += 1
    return count


def _worker_alive(deploy):
    workload = deploy.workload
    if workload.lock_deploy_id != deploy.pk:
        return False
    host, _sep, pid = workload.lock_owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        # Another host's worker: only the lock's age can tell (see acquire_lock).
        age = timezone.now() - (workload.lock_acquired_at or timezone.now())
        return age < timedelta(seconds=settings.TINYFORGE_DEPLOY_TIMEOUT)
    return _pid_alive(int(pid))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed worker can linger as a zombie until reaped
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
