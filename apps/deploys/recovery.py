"""Undoing a half-done container swap: an interrupted deploy is brought back to the last good
state.

A deploy records its swap on its row as it goes (``Deploy.phase`` and ``Deploy.swap``: the
previous containers, which of them ran, the new ones; the new ones also carry the
``tinyforge.deploy`` label). When its worker dies or the engine is lost half-way, recovery
decides from that record and what the engine reports now:

- the new container passed its checks (phase ``checked`` or ``swapped``) and still runs: it
  stays, the previous containers are removed -> restored "new";
- otherwise the new containers are removed and the previous ones that ran before the deploy run
  again -> restored "previous" (or "nothing" when nothing ran before).

The caller holds the workload's deploy lock. The row stays ``interrupted``; ``restored`` says
what runs, and the deploy log and the event log say it in words.
"""
import logging

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.deploys.models import Deploy, Phase, Restored, Status
from apps.workloads import engine, routing
from apps.workloads.events import record_event
from apps.workloads.index import sync_index
from apps.workloads.sources import UnknownSource, get_source
from apps.workloads.sources.base import LABEL_PREFIX, selector_labels

log = logging.getLogger("tinyforge.recovery")

# Phases in which the engine may hold a half-done swap.
TOUCHED = (Phase.CREATING, Phase.CREATED, Phase.OLD_STOPPED, Phase.STARTED, Phase.CHECKED,
           Phase.ROUTED, Phase.SWAPPED)
PASSED_CHECKS = (Phase.CHECKED, Phase.ROUTED, Phase.SWAPPED)


def needs_recovery(deploy):
    return deploy.phase in TOUCHED and not deploy.restored


def pending(workload):
    """Interrupted deploys of ``workload`` whose swap is not undone yet, oldest first."""
    return list(Deploy.objects.filter(workload=workload, status=Status.INTERRUPTED,
                                      phase__in=TOUCHED, restored="").order_by("pk"))


def interrupt(deploy, why):
    """Mark ``deploy`` interrupted (from running or any in-between state) and record ``why``.

    A deploy that never touched a container is settled at once as restored "nothing"; one that
    did waits for ``recover``.
    """
    deploy.refresh_from_db()
    restored = "" if deploy.phase in TOUCHED else Restored.NOTHING
    Deploy.objects.filter(pk=deploy.pk).update(
        status=Status.INTERRUPTED, finished_at=timezone.now(), restored=restored)
    append_log(deploy, why)
    record_event(deploy.workload, "interrupted", _("Deploy #%(id)s was interrupted: %(why)s")
                 % {"id": deploy.pk, "why": why})
    deploy.refresh_from_db()
    return deploy


def recover(deploy):
    """Put back the last good state for an interrupted ``deploy``; returns the Restored value.

    Raises EngineError when the engine cannot do it (the row stays pending for the next pass).
    """
    workload = deploy.workload
    # Found by id, never by name: a rename must not hide a half-done swap.
    containers = engine.list_containers(selector_labels(workload))
    mine = str(deploy.pk)
    new = [c for c in containers if c.labels.get(LABEL_PREFIX + "deploy") == mine]
    others = [c for c in containers if c.labels.get(LABEL_PREFIX + "deploy") != mine]
    old_ids = set(deploy.swap.get("old") or [])
    was_running = set(deploy.swap.get("was_running") or [])
    if deploy.phase in PASSED_CHECKS and any(c.state == "running" for c in new):
        for container in others:
            if container.id in old_ids:
                engine.remove_container(container.id)
        restored = Restored.NEW
        line = _("Recovered: the new version had passed its checks and keeps running; "
                 "previous containers removed.")
    else:
        for container in new:
            engine.remove_container(container.id)
        started = 0
        for container in others:
            if container.id in was_running:
                if container.state != "running":
                    engine.start(container.id)
                started += 1
        restored = Restored.PREVIOUS if started else Restored.NOTHING
        line = (_("Recovered: the new container was removed and the previous version runs "
                  "again.") if started else
                _("Recovered: the new container was removed; nothing ran before it."))
    _refresh_index(workload)
    Deploy.objects.filter(pk=deploy.pk).update(restored=restored)
    append_log(deploy, line)
    record_event(workload, "recovered", _("Deploy #%(id)s (interrupted at %(phase)s): %(line)s")
                 % {"id": deploy.pk, "phase": deploy.phase, "line": line})
    log.info("recovered deploy %s of workload %s: %s", deploy.pk, workload.pk, restored)
    return restored


def recover_pending(workload):
    """Recover every pending interrupted deploy of ``workload`` (caller holds its lock)."""
    return [recover(deploy) for deploy in pending(workload)]


def _refresh_index(workload):
    try:
        sync_index(workload, get_source(workload.kind).reconcile(workload))
    except UnknownSource:
        pass
    # A routed workload's route follows what runs now (it may still name a removed container).
    routing.refresh(workload)


def append_log(deploy, line):
    current = Deploy.objects.filter(pk=deploy.pk).values_list("log", flat=True).first() or ""
    Deploy.objects.filter(pk=deploy.pk).update(log=f"{current}\n{line}" if current else line)
