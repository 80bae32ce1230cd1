"""dispatch(): the one entry point for every deploy.

The API, the admin, commands and tasks all call ``dispatch``. It records a ledger row, then runs
the deploy inline or hands it to the django-q2 cluster. ``execute`` is what the cluster's task
calls; nothing else should.
"""
import json
import logging
import os
import signal
import socket
import time
import traceback
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.core import notices
from apps.core.crypto import mask
from apps.deploys import recovery
from apps.deploys.backups import backup_before_deploy
from apps.deploys.failures import safe_detail
from apps.deploys.ledger import prune_ledger
from apps.deploys.models import Deploy, Phase, Reason, Status
from apps.deploys.triggers import get_trigger_kind
from apps.workloads import engine, hosts
from apps.workloads.engine import EngineError
from apps.workloads.events import record_event
from apps.workloads.index import sync_index
from apps.workloads.models import DesiredState, Host, RegistryCredential, Workload
from apps.workloads.secrets import known_secret_values
from apps.workloads.sources import DeployContext, SpecError, UnknownSource, get_source, runner
from apps.workloads.sources.base import workload_labels

log = logging.getLogger("tinyforge.deploys")


def dispatch(workload, reason, *, user=None, enqueue=False, progress=None, trigger=None,
             rollback_of=None, promoted_from=None, chained_from=None, host=None):
    """Deploy ``workload`` for ``reason``; returns the Deploy row.

    ``rollback_of`` / ``promoted_from`` (Deploy rows) make it replay that deploy's pinned
    artifact instead of resolving the spec anew. With ``enqueue`` the deploy runs on the task
    cluster and the row is returned still queued (or finished, when the cluster runs tasks
    inline). Without it the deploy runs here and ``progress`` (a callable taking one line) sees
    its log as it is written. Never raises for a failed deploy: the row says what happened.
    ``host`` (a move, see apps.deploys.moves): run on that host instead of the workload's.
    """
    deploy = Deploy.objects.create(
        workload=workload,
        reason=reason,
        requested_by=user if user is not None and user.is_authenticated else None,
        source_kind=workload.kind,
        host=host or hosts.host_of(workload),
        spec_snapshot=workload.spec,
        env_snapshot=_env_snapshot(workload),
        trigger=trigger,
        rollback_of=rollback_of,
        promoted_from=promoted_from,
        chained_from=chained_from,
    )
    record_event(workload, "queued", _("Deploy #%(id)s queued (%(reason)s).") % {
        "id": deploy.pk, "reason": reason
    })
    if enqueue:
        # Only once the row is committed: a worker must find it, and a caller's transaction
        # that rolls back must leave no task behind.
        _enqueue_on_commit("apps.deploys.tasks.run_deploy", deploy.pk, f"deploy-{deploy.pk}")
    else:
        execute(deploy, progress=progress)
    try:
        deploy.refresh_from_db()
    except Deploy.DoesNotExist:  # its workload was deleted meanwhile, rows and all
        deploy.status = Status.CANCELLED
    return deploy


def _enqueue_on_commit(func, deploy_id, task_name):
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(func, deploy_id, task_name=task_name))


def _env_snapshot(workload):
    rows = [
        {"key": var.key, "value": var.value, "secret": var.secret}
        for var in workload.env_vars.all()
    ]
    return json.dumps(rows)


class DeployLog:
    """Appends masked lines to the Deploy's log (and to an optional progress callback).

    Each line is appended in the database (log = log || line): the cost of a line does not
    grow with the log, and nothing already written is sent again."""

    def __init__(self, deploy, progress=None):
        self.deploy = deploy
        self.progress = progress
        self.secrets = known_secret_values()

    def __call__(self, line, echo=True):
        """``echo=False``: stored only; the outcome line, which a command words itself."""
        line = mask(str(line), self.secrets)
        Deploy.objects.filter(pk=self.deploy.pk).update(log=Case(
            When(log="", then=Value(line)),
            default=Concat(F("log"), Value("\n" + line)),
            output_field=TextField(),
        ))
        if self.progress and echo:
            self.progress(line)


def _host(deploy):
    """The host a deploy runs on: the one pinned on its row (the workload's at the time)."""
    if deploy.host_id is not None:
        return Host.objects.get(pk=deploy.host_id)
    return hosts.host_of(Workload.objects.get(pk=deploy.workload_id))


def execute(deploy, progress=None, park=False):
    """Carry out a queued Deploy on its host (see ``_execute``). A host marked down fails the
    deploy at once with ``host_down``: nothing waits on a dead host, and nothing there changes.
    """
    host = _host(deploy)
    if host.is_down:
        write = DeployLog(deploy, progress)
        Deploy.objects.filter(pk=deploy.pk, status__in=WAITING_STATES).update(
            status=Status.RUNNING, started_at=timezone.now())
        _finish(deploy, write, "host_down", f"host {host.name} is down")
        return
    with hosts.on_host(host):
        _execute(deploy, host, progress, park)


def _execute(deploy, host, progress=None, park=False):
    """Carry out a queued Deploy: take the workload's lock, run the source, record the outcome.

    With ``park`` (the task cluster) a deploy that finds the lock taken is parked as
    ``waiting`` and the worker is free at once; the lock's holder wakes it when it releases the
    lock (``wake_waiting``), and the reconcile tick does too should that hand-over be lost.
    Without it (a command run inline) it waits here, and stops waiting when it is cancelled.
    A host with ``max_deploys`` gives the lock only while fewer deploys run there; a deploy
    over the limit waits the same way, and whoever ends a deploy on that host wakes it.
    """
    write = DeployLog(deploy, progress)
    if not acquire_lock(deploy, wait=0 if park else None, host=host):
        if _cancelled(deploy):
            return
        if park:
            _park(deploy, host)
            return
        _finish(deploy, write, "timeout", _("Another deploy of this workload is still running."))
        return
    retiring = []
    try:
        if not Deploy.objects.filter(pk=deploy.pk, status__in=WAITING_STATES).exists():
            return  # cancelled (or already run) between the queue and the lock
        succeeded = _run(deploy, write, retiring)
    finally:
        release_lock(deploy)
        wake_waiting(deploy.workload_id)
        if host.max_deploys:
            wake_waiting_on_host(host)
    if succeeded:  # follow-ups start only once the lock is free (a rollback needs it)
        _continue_chain(deploy, deploy.workload)
        _watch_health(deploy, deploy.workload)
        _retire(deploy, retiring, on_cluster=park)


def _retire(deploy, retiring, on_cluster):
    """The previous containers of a swap behind the proxy drain and stop only now, after the
    deploy is recorded (its ledger time is time-to-serving): a task of its own on the cluster,
    inline for a command."""
    for container_ids, drain, grace in retiring:
        if on_cluster:
            from django_q.tasks import async_task

            transaction.on_commit(lambda ids=container_ids, d=drain, g=grace: async_task(
                "apps.deploys.tasks.retire_previous", deploy.pk, ids, d, g,
                task_name=f"retire-{deploy.pk}"))
        else:
            retire_previous(deploy.pk, container_ids, drain, grace)


def retire_previous(deploy_id, container_ids, drain, grace):
    """Drain, stop and remove a routed deploy's previous containers; the row's phase becomes
    "swapped" and the container index follows. An engine failure leaves them to the next
    deploy (which removes every previous container) and is logged."""
    deploy = Deploy.objects.select_related("workload", "host").filter(pk=deploy_id).first()
    write = DeployLog(deploy) if deploy is not None else None
    target = deploy.host.engine_target() if deploy is not None and deploy.host else None
    try:
        with engine.using(target):
            runner.retire_containers(container_ids, drain, grace, log=write)
    except EngineError as exc:
        log.warning("deploy %s: previous containers not retired (%s)", deploy_id, exc.code)
        return False
    if deploy is not None:
        Deploy.objects.filter(pk=deploy_id, phase=Phase.ROUTED).update(phase=Phase.SWAPPED)
        try:
            with engine.using(target):
                _refresh_index(deploy.workload, get_source(deploy.workload.kind), write)
        except UnknownSource:
            pass
    return True


# A deploy in one of these states has not started yet: a delete cancels it.
WAITING_STATES = (Status.QUEUED, Status.WAITING)


def _cancelled(deploy):
    return not Deploy.objects.filter(pk=deploy.pk, status__in=WAITING_STATES).exists()


def _park(deploy, host):
    parked = Deploy.objects.filter(pk=deploy.pk, status=Status.QUEUED).update(
        status=Status.WAITING)
    if not host.max_deploys or Workload.objects.filter(
            pk=deploy.workload_id, lock_deploy_id__isnull=False).exists():
        if parked:
            DeployLog(deploy)(_("Waiting for the deploy that holds the lock of this workload."))
        # The holder may have released the lock between our attempt and the park: look again.
        wake_waiting(deploy.workload_id)
        return
    # The host's slots are taken (the workload's own lock is free: waking by workload would
    # only requeue this deploy). Whoever ends a deploy there wakes it; a slot freed between
    # our attempt and the park is looked at again here.
    if parked:
        DeployLog(deploy)(ngettext(
            "Waiting: host %(host)s runs %(count)d deploy at once, and it is running.",
            "Waiting: host %(host)s runs %(count)d deploys at once, and they are running.",
            host.max_deploys) % {"host": host.name, "count": host.max_deploys})
    wake_waiting_on_host(host)


def wake_waiting(workload_id):
    """When the workload's lock is free, hand the oldest waiting deploy back to the cluster.

    Called by whoever releases the lock and by the reconcile tick. The status change is a
    compare-and-swap, so one waiting deploy is woken once even when callers race.
    """
    if Workload.objects.filter(pk=workload_id, lock_deploy_id__isnull=False).exists():
        return None
    waiting = (Deploy.objects.filter(workload_id=workload_id, status=Status.WAITING)
               .order_by("pk").values_list("pk", flat=True).first())
    if waiting is None:
        return None
    if not Deploy.objects.filter(pk=waiting, status=Status.WAITING).update(status=Status.QUEUED):
        return None
    from django_q.tasks import async_task

    async_task("apps.deploys.tasks.run_deploy", waiting, task_name=f"deploy-{waiting}")
    return waiting


def wake_waiting_on_host(host):
    """When ``host`` has a free deploy slot, wake the oldest waiting deploy of a workload of
    it whose own lock is free (called when a deploy there ends, and on a park). A deploy woken
    into a slot taken meanwhile parks again: nothing is lost, one task is spent."""
    if _deploys_running_on(host) >= host.max_deploys:
        return None
    on_host = Q(workload__host=host)
    if host.is_local:
        on_host |= Q(workload__host__isnull=True)  # rows older than hosts
    workload_id = (Deploy.objects.filter(on_host, status=Status.WAITING,
                                         workload__lock_deploy_id__isnull=True)
                   .order_by("pk").values_list("workload_id", flat=True).first())
    return wake_waiting(workload_id) if workload_id is not None else None


def _deploys_running_on(host, exclude_workload=None):
    """How many workloads of ``host`` hold a live deploy lock."""
    stale = timezone.now() - timedelta(seconds=settings.TINYFORGE_DEPLOY_TIMEOUT)
    on_host = Q(host=host) | Q(host__isnull=True) if host.is_local else Q(host=host)
    holders = Workload.objects.filter(on_host, lock_deploy_id__isnull=False,
                                      lock_acquired_at__gte=stale)
    if exclude_workload is not None:
        holders = holders.exclude(pk=exclude_workload)
    return holders.count()


def cancel_waiting(workload, why):
    """End the workload's queued and waiting deploys as cancelled; returns how many."""
    ids = list(Deploy.objects.filter(workload=workload, status__in=WAITING_STATES)
               .values_list("pk", flat=True))
    cancelled = Deploy.objects.filter(pk__in=ids, status__in=WAITING_STATES).update(
        status=Status.CANCELLED, finished_at=timezone.now())
    for pk in ids:
        recovery.append_log(Deploy(pk=pk), why)
    return cancelled


def _run(deploy, write, retiring):
    workload = Workload.objects.get(pk=deploy.workload_id)
    Deploy.objects.filter(pk=deploy.pk).update(status=Status.RUNNING, started_at=timezone.now())
    write(_("Deploy #%(id)s of %(name)s started.") % {"id": deploy.pk, "name": workload.name})
    host = engine.current_target()
    if host.name != engine.LOCAL.name:
        # Which host an engine error below came from (the engine's text does not say).
        write(_("On host %(host)s.") % {"host": host.name})
    # Deploying a stopped workload starts it (apps.workloads.controls): what the deploy
    # leaves running, new version or the restored old one, is meant to run.
    if Workload.objects.filter(pk=workload.pk, desired_state=DesiredState.STOPPED).update(
            desired_state=DesiredState.RUNNING):
        write(_("The workload was stopped; this deploy starts it."))
    if not _recover_earlier(workload, write):
        _finish(deploy, write, "engine_down",
                _("An interrupted deploy could not be undone; the engine is unreachable."))
        return
    _backup(deploy, workload, write)
    mark, resolved = _swap_recorder(deploy)

    def retire(container_ids, drain, grace):
        retiring.append((list(container_ids), drain, grace))
    try:
        source = get_source(workload.kind)
        ctx = DeployContext(
            workload=workload,
            deploy_id=deploy.pk,
            spec=source.validate(workload.spec),
            env=workload.env_dict(),
            labels=workload_labels(workload, deploy.pk),
            log=write,
            pinned=_replayed(deploy),
            mark=mark,
            resolved=resolved,
            retire=retire,
            mounts=[volume.as_mount() for volume in workload.volumes.all()],
            registry_auth=RegistryCredential.auth_by_host(),
        )
        pinned = source.deploy(ctx)
    except Exception as exc:
        if _half_done(deploy):
            _settle_half_done(deploy, write, exc)
            return
        if isinstance(exc, EngineError):
            _finish(deploy, write, exc.code, exc.message, exc.detail)
        elif isinstance(exc, (SpecError, UnknownSource)):
            _finish(deploy, write, "internal", str(exc))
        else:  # a bug must still end the row, never leave it running
            _finish(deploy, write, "internal", traceback.format_exc())
        return
    Deploy.objects.filter(pk=deploy.pk).update(pinned_ref=pinned.ref, pinned=pinned.detail)
    _refresh_index(workload, source, write)
    _finish(deploy, write, None, "")
    return True


def _recover_earlier(workload, write):
    """Undo an earlier interrupted swap before starting a new one (we hold the lock)."""
    try:
        for restored in recovery.recover_pending(workload):
            write(_("Recovered an interrupted deploy first: %(restored)s.") % {
                "restored": restored})
    except EngineError:
        return False
    return True


def _swap_recorder(deploy):
    """The ``mark`` and ``resolved`` callbacks: swap progress goes to the row at once."""
    swap = {}

    def mark(phase, **facts):
        swap.update({key: list(ids) for key, ids in facts.items()})
        Deploy.objects.filter(pk=deploy.pk).update(phase=phase, swap=dict(swap))
        _fault_seam(phase)

    def resolved(pinned):
        Deploy.objects.filter(pk=deploy.pk).update(pinned_ref=pinned.ref, pinned=pinned.detail)

    return mark, resolved


def _fault_seam(phase):
    """Test seam for the fault-injection tests, inert unless its variables are set:
    TINYFORGE_FAULT=<phase> kills this process (SIGKILL) right after <phase> is recorded;
    TINYFORGE_FAULT_PAUSE=<phase>:<path> creates <path>.reached there and waits (up to 120 s)
    until <path> exists, so a test can cut the engine or a registry at that exact step."""
    if os.environ.get("TINYFORGE_FAULT") == phase:
        os.kill(os.getpid(), signal.SIGKILL)
    pause_phase, _sep, path = os.environ.get("TINYFORGE_FAULT_PAUSE", "").partition(":")
    if pause_phase == phase and path:
        open(f"{path}.reached", "w").close()
        deadline = time.monotonic() + 120
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)


def _half_done(deploy):
    phase = Deploy.objects.filter(pk=deploy.pk).values_list("phase", flat=True).first()
    return phase in recovery.TOUCHED


def _settle_half_done(deploy, write, exc):
    """The swap stopped half-way (engine lost, or a bug): never record "failed" for what may
    be serving. The row becomes interrupted and is recovered now, or by the next reconcile
    pass when the engine is unreachable."""
    code = exc.code if isinstance(exc, EngineError) else "internal"
    detail = exc.message if isinstance(exc, EngineError) else traceback.format_exc()
    write(_("The swap stopped half-way (%(code)s): %(error)s") % {"code": code, "error": detail})
    log.warning("deploy %s of %s stopped half-way (%s): %s", deploy.pk, deploy.workload.name,
                code, mask(detail, write.secrets))
    deploy = recovery.interrupt(deploy, _("the swap stopped half-way (%(code)s).")
                                % {"code": code})
    try:
        recovery.recover(deploy)
    except EngineError as err:
        recovery.append_log(deploy, _(
            "Recovery waits for the engine (%(code)s); the next reconcile pass finishes it.")
            % {"code": err.code})


def _backup(deploy, workload, write):
    backup = backup_before_deploy(deploy, workload)
    if backup is not None:
        write(_("Pre-deploy backup #%(id)s: %(status)s %(reason)s") % {
            "id": backup.pk, "status": backup.status, "reason": backup.reason})


def _replayed(deploy):
    """The pinned artifact a rollback or promotion must run again, else None."""
    origin = deploy.rollback_of or deploy.promoted_from
    return dict(origin.pinned) if origin is not None else None


def _watch_health(deploy, workload):
    spec = workload.spec
    if deploy.reason != Reason.ROLLBACK and spec.get("auto_rollback") and spec.get("healthcheck"):
        _enqueue_on_commit("apps.deploys.tasks.watch_health", deploy.pk, f"watch-{deploy.pk}")


def _continue_chain(deploy, workload):
    # Cycles are refused when a chain is saved, so this recursion ends. Rolling back one
    # workload must not roll its followers forward.
    if deploy.reason == Reason.ROLLBACK:
        return
    for follower in workload.chain.all():
        dispatch(follower, Reason.CHAIN, enqueue=True, chained_from=deploy,
                 user=deploy.requested_by)


def fire_trigger(trigger, user=None, workloads=None):
    """Fan a trigger out: one dispatch per bound workload (or per one of ``workloads``, those
    a webhook delivery matched); returns the Deploy rows."""
    reason = get_trigger_kind(trigger.kind).reason
    if workloads is None:
        workloads = trigger.workloads.order_by("pk")
    return [
        dispatch(workload, reason, user=user, enqueue=True, trigger=trigger)
        for workload in workloads
    ]


def _refresh_index(workload, source, write):
    # Best effort: the deploy itself is done; the next reconcile pass repairs the index.
    try:
        sync_index(workload, source.reconcile(workload))
    except Exception as exc:
        log.exception("container index refresh after deploy %s failed", workload.name)
        write(_("Could not refresh the container index: %(error)s") % {"error": exc})


def _finish(deploy, write, code, raw_error, detail=None):
    workload = deploy.workload
    if code:
        write(_("Deploy failed (%(code)s): %(error)s") % {"code": code, "error": raw_error},
              echo=False)
        log.warning("deploy %s of %s failed (%s): %s", deploy.pk, workload.name, code,
                    mask(raw_error, write.secrets))
        status = Status.FAILED
        record_event(workload, "failed", _("Deploy #%(id)s failed: %(code)s.") % {
            "id": deploy.pk, "code": code
        })
    else:
        status = Status.SUCCEEDED
        write(_("Deploy #%(id)s succeeded.") % {"id": deploy.pk}, echo=False)
        record_event(workload, "deployed", _("Deploy #%(id)s succeeded.") % {"id": deploy.pk})
    Deploy.objects.filter(pk=deploy.pk).update(
        status=status, error_code=code or "", finished_at=timezone.now(),
        error_detail=safe_detail(detail) if code else {},
    )
    prune_ledger(workload)
    if code:
        announce(notices.deploy_failed, workload_id=workload.pk, workload=workload.name,
                  deploy_id=deploy.pk, code=code, reason=deploy.reason)


def announce(signal, **facts):
    """Tell the notification channels (codes and ids only); their failure is never ours."""
    for receiver, result in signal.send_robust(sender=Deploy, **facts):
        if isinstance(result, Exception):
            log.warning("notification receiver %s failed: %s", receiver, type(result).__name__)


def acquire_lock(deploy, wait=None, host=None):
    """Take the per-workload deploy lock (a compare-and-swap on the workload row).

    Waits (polling) up to ``wait`` seconds, default the deploy timeout, and stops waiting when
    the deploy is cancelled or deleted meanwhile. A lock older than the deploy timeout belongs
    to a dead worker and is taken over. Returns True when held. With a ``host`` that has
    ``max_deploys``, the lock is taken only while fewer workloads of that host hold theirs.
    """
    wait = settings.TINYFORGE_DEPLOY_TIMEOUT if wait is None else wait
    deadline = time.monotonic() + wait
    limit = host.max_deploys if host is not None else 0
    while True:
        if _take_lock(deploy, host, limit):
            return True
        if time.monotonic() >= deadline or _cancelled(deploy):
            return False
        time.sleep(0.2)


def _take_lock(deploy, host, limit):
    stale = timezone.now() - timedelta(seconds=settings.TINYFORGE_DEPLOY_TIMEOUT)
    with transaction.atomic():
        if limit:
            # Count and take under the host row's lock (PostgreSQL; SQLite's IMMEDIATE
            # transactions are serial anyway), so two deploys never both see a free slot.
            list(Host.objects.select_for_update().filter(pk=host.pk).values_list("pk"))
            if _deploys_running_on(host, exclude_workload=deploy.workload_id) >= limit:
                return False
        return bool(Workload.objects.filter(
            Q(lock_deploy_id__isnull=True) | Q(lock_acquired_at__lt=stale),
            pk=deploy.workload_id,
        ).update(lock_deploy_id=deploy.pk, lock_acquired_at=timezone.now(),
                 lock_owner=lock_owner()))


def release_lock(deploy):
    Workload.objects.filter(pk=deploy.workload_id, lock_deploy_id=deploy.pk).update(
        lock_deploy_id=None, lock_acquired_at=None, lock_owner=""
    )


def lock_owner():
    """Who holds a lock: lets reconcile tell a live deploy from one whose worker died."""
    return f"{socket.gethostname()}:{os.getpid()}"
