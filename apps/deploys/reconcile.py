"""The reconcile pass: the container index and the ledger brought in line with reality.

- every workload's Container rows follow what the engine reports (containers that exited are
  marked by their state, vanished ones "missing"; labelled containers found after a control
  plane restart are adopted), and drift goes to the event log;
- a deploy left "running" by a worker that died is marked "interrupted", and its half-done
  swap is undone (see apps.deploys.recovery) under the workload's lock; a recovery the engine
  could not do yet is retried on each pass;
- the ledger's running entry is checked against what runs: a deploy whose containers run but
  which the ledger says failed is corrected, and the correction logged;
- deploys parked as "waiting" are woken when their workload's lock is free.
- Caddy's routes follow the workloads with domains (``routing.sync_all``);
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

from apps.deploys import recovery
from apps.deploys.dispatch import acquire_lock, lock_owner, release_lock, wake_waiting
from apps.deploys.ledger import LIVE, recheck_stale_availability
from apps.deploys.models import Deploy, Restored, Status
from apps.workloads import hosts, routing
from apps.workloads.engine import EngineError
from apps.workloads.events import record_event
from apps.workloads.index import sync_index
from apps.workloads.models import Workload
from apps.workloads.proxy import ProxyError
from apps.workloads.sources import UnknownSource, get_source

log = logging.getLogger("tinyforge.reconcile")


def reconcile_all():
    """Run the pass; returns {"drifted", "interrupted", "recovered", "corrected": n,
    "engine": "up"|"down"}."""
    free_dead_locks()
    interrupted = mark_interrupted()
    drifted = recovered = corrected = 0
    engine = "up"
    # A host that fails (or is marked down) is skipped for the rest of the pass; the other
    # hosts' workloads are reconciled as usual.
    failed_hosts = set()
    for workload in Workload.objects.select_related("host").order_by("pk"):
        host = hosts.host_of(workload)
        if host.pk in failed_hosts:
            continue
        try:
            with hosts.on_host(host):
                recovered += recover_workload(workload)
                drifted += reconcile_workload(workload)
                corrected += correct_ledger(workload)
        except EngineError as exc:
            log.warning("reconcile: host %s unavailable (%s); its index left as it was",
                        host.name, exc.code)
            failed_hosts.add(host.pk)
            if host.is_local:
                engine = "down"
    for workload_id in (Deploy.objects.filter(status=Status.WAITING)
                        .values_list("workload_id", flat=True).distinct()):
        wake_waiting(workload_id)
    routes = None
    if engine == "up":
        # What the admin shows as "can roll back to" is read from the rows, never probed
        # per page view: keep it true here, a bounded batch per pass.
        recheck_stale_availability()
        routes = sync_routes()
    return {"drifted": drifted, "interrupted": interrupted, "recovered": recovered,
            "corrected": corrected, "engine": engine, "routes": routes,
            "hosts_down": len(failed_hosts)}


def sync_routes():
    """Caddy gets back every route that is missing (a Caddy restarted empty is whole again
    after one pass) and loses those of deleted workloads. Workloads whose deploy holds the
    lock are left alone: that deploy is moving their route. Returns the counts, "down" when
    Caddy does not answer, or None when nothing is routed."""
    in_flight = set(Workload.objects.filter(lock_deploy_id__isnull=False)
                    .values_list("pk", flat=True))
    try:
        return routing.sync_all(keep=in_flight)
    except (ProxyError, EngineError) as exc:
        log.warning("reconcile: routes not synced (%s)", getattr(exc, "code", exc))
        return "down"


def recover_workload(workload):
    """Undo the workload's pending interrupted swaps, under its lock; returns how many.

    Raises EngineError when the engine is unreachable (they stay pending)."""
    pending = recovery.pending(workload)
    if not pending:
        return 0
    holder = pending[0]
    if not acquire_lock(holder, wait=0):
        return 0  # a live deploy holds the lock; it recovers them itself before its swap
    try:
        return len(recovery.recover_pending(workload))
    finally:
        release_lock(holder)


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
    """Mark deploys whose worker is gone as interrupted; returns how many.

    The dead worker's lock passes to this process until the half-done swap is undone (or left
    pending when the engine is unreachable), so no new deploy can start on top of it."""
    count = 0
    for deploy in Deploy.objects.filter(status=Status.RUNNING).select_related("workload"):
        if _worker_alive(deploy):
            continue
        # Its lock (or a free one) passes to this process; when a live deploy holds it, the
        # swap stays pending and that deploy undoes it first.
        held = Workload.objects.filter(pk=deploy.workload_id, lock_deploy_id=deploy.pk).update(
            lock_owner=lock_owner(), lock_acquired_at=timezone.now()) or acquire_lock(deploy, 0)
        try:
            if not Deploy.objects.filter(pk=deploy.pk, status=Status.RUNNING).exists():
                continue
            deploy = recovery.interrupt(deploy, _("its worker stopped."))
            count += 1
            if held and recovery.needs_recovery(deploy):
                recovery.recover(deploy)
        except EngineError as exc:
            log.warning("reconcile: deploy %s stays to recover (%s)", deploy.pk, exc.code)
        finally:
            if held:
                release_lock(deploy)
                wake_waiting(deploy.workload_id)
    return count


def free_dead_locks():
    """Free locks whose holder died outside a running deploy (e.g. a reconcile pass killed
    mid-recovery, or a command killed between taking the lock and starting): otherwise they
    would block the workload until they turn stale. Running deploys are mark_interrupted's."""
    freed = 0
    for workload in Workload.objects.filter(lock_deploy_id__isnull=False):
        if Deploy.objects.filter(pk=workload.lock_deploy_id, status=Status.RUNNING).exists():
            continue
        if _owner_alive(workload):
            continue
        freed += Workload.objects.filter(
            pk=workload.pk, lock_deploy_id=workload.lock_deploy_id,
            lock_owner=workload.lock_owner).update(
            lock_deploy_id=None, lock_acquired_at=None, lock_owner="")
    return freed


def correct_ledger(workload):
    """Make the ledger say what runs: a deploy whose containers run while its row says it
    failed (or was interrupted with the previous version restored) is corrected to
    "interrupted, new version running", and the correction logged. Returns 1 when corrected.

    Skipped while a deploy of the workload is in flight: its row is still being written."""
    if workload.lock_deploy_id is not None or workload.deploys.filter(
            status=Status.RUNNING).exists():
        return 0
    running = set(workload.containers.filter(state="running").exclude(deploy_id=None)
                  .values_list("deploy_id", flat=True))
    wrong = (workload.deploys.filter(pk__in=running).exclude(LIVE)
             .exclude(status__in=[Status.QUEUED, Status.WAITING])
             .exclude(status=Status.INTERRUPTED, restored="", phase__in=recovery.TOUCHED))
    corrected = 0
    for deploy in wrong:
        Deploy.objects.filter(pk=deploy.pk).update(
            status=Status.INTERRUPTED, restored=Restored.NEW,
            finished_at=deploy.finished_at or timezone.now())
        line = _("Ledger corrected: deploy #%(id)s was recorded %(status)s, but its "
                 "containers run; it is the running entry now.") % {
                     "id": deploy.pk, "status": deploy.get_status_display()}
        recovery.append_log(deploy, line)
        record_event(workload, "ledger_corrected", line)
        corrected = 1
    return corrected


def _worker_alive(deploy):
    workload = deploy.workload
    if workload.lock_deploy_id != deploy.pk:
        return False
    return _owner_alive(workload)


def _owner_alive(workload):
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
