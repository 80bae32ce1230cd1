"""Start, stop and restart a workload: one entry point each (``do_start``, ``do_stop``,
``do_restart``); the API, the admin buttons and the commands only call these.

Each works on the containers the index lists for the workload (every service of a compose
project), stores what the operator wants on ``Workload.desired_state``, refreshes the index
from the engine and records an event. A stopped workload stays stopped: reconcile only
records what runs, and the health watch does not roll back a workload its operator stopped.
A deploy of a stopped workload starts it (the new version is what runs; see
``apps.deploys.dispatch``).

Refused with ``Conflict`` (409) while a deploy holds the workload's lock (it would swap
containers under us) and when nothing was ever deployed.
"""
import functools

from django.utils.translation import gettext as _

from apps.core.errors import Conflict
from apps.workloads import engine
from apps.workloads.events import record_event
from apps.workloads.hosts import workload_engine
from apps.workloads.index import sync_index
from apps.workloads.models import DesiredState, Workload
from apps.workloads.sources import UnknownSource, get_source

STOP_TIMEOUT = 10  # seconds the engine waits for a container before killing it


def _on_its_host(action):
    """Run ``action``'s engine calls on the workload's host (refused at once when it is
    down)."""
    @functools.wraps(action)
    def run(workload, user=None):
        with workload_engine(workload):
            return action(workload, user=user)
    return run



@_on_its_host
def do_start(workload, user=None):
    containers = _containers(workload)
    for container in containers:
        engine.start(container.docker_id)
    _settle(workload, DesiredState.RUNNING, "started",
            _("Started by %(user)s.") % {"user": _who(user)})
    return workload


@_on_its_host
def do_stop(workload, user=None):
    containers = _containers(workload)
    # Desired state first: a reconcile or health watch running meanwhile already sees it.
    Workload.objects.filter(pk=workload.pk).update(desired_state=DesiredState.STOPPED)
    for container in reversed(containers):
        engine.stop(container.docker_id, timeout=STOP_TIMEOUT)
    _settle(workload, DesiredState.STOPPED, "stopped",
            _("Stopped by %(user)s.") % {"user": _who(user)})
    return workload


@_on_its_host
def do_restart(workload, user=None):
    containers = _containers(workload)
    for container in reversed(containers):
        engine.stop(container.docker_id, timeout=STOP_TIMEOUT)
    for container in containers:
        engine.start(container.docker_id)
    _settle(workload, DesiredState.RUNNING, "restarted",
            _("Restarted by %(user)s.") % {"user": _who(user)})
    return workload


def _containers(workload):
    workload.refresh_from_db(fields=["lock_deploy_id", "desired_state"])
    if workload.lock_deploy_id is not None:
        raise Conflict("workload", _("A deploy of this workload is in progress; try again "
                                     "when it has finished."))
    containers = list(workload.containers.exclude(state="missing").order_by("id"))
    if not containers:
        raise Conflict("workload", _("This workload has no containers yet: deploy it first."))
    return containers


def _settle(workload, desired, kind, message):
    Workload.objects.filter(pk=workload.pk).update(desired_state=desired)
    workload.desired_state = desired
    try:
        sync_index(workload, get_source(workload.kind).reconcile(workload), keep_vanished=True)
    except UnknownSource:
        pass
    record_event(workload, kind, message)


def _who(user):
    return user.get_username() if user is not None else _("the command line")
