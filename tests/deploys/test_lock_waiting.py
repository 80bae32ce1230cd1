"""Waiting for a workload's deploy lock never holds a worker, a delete cancels waiting deploys at
once, and the ledger's running entry follows what runs."""
import os
import socket
import subprocess

import pytest
from django.conf import settings
from django.db.models.signals import pre_delete
from django.utils import timezone

from apps.deploys import tasks
from apps.deploys.dispatch import acquire_lock, dispatch, release_lock
from apps.deploys.ledger import current_deploy
from apps.deploys.models import Deploy, Status
from apps.deploys.reconcile import correct_ledger, reconcile_all
from apps.workloads.actions import delete_workload
from apps.workloads.models import Container, EventLog, Workload
from tests.deploys.fake_source import install_fake_source
from tests.support.faults import ControlPlane


@pytest.fixture
def fake(monkeypatch):
    return install_fake_source(monkeypatch)


@pytest.fixture
def fake_workload(db, fake):
    return Workload.objects.create(name="lockapp", kind="fake", spec={"what": "x"})


def queued(workload):
    return Deploy.objects.create(workload=workload, reason="api", source_kind="fake")


def test_a_cluster_deploy_that_finds_the_lock_taken_is_parked_and_its_worker_freed_at_once(
    fake, fake_workload
):
    holder = queued(fake_workload)
    assert acquire_lock(holder, wait=0)
    waiting = queued(fake_workload)
    tasks.run_deploy(waiting.pk)  # returns without polling the lock
    waiting.refresh_from_db()
    assert waiting.status == Status.WAITING and fake.contexts == []
    assert "Waiting for the deploy that holds the lock" in waiting.log


def test_the_deploy_holding_the_lock_wakes_the_waiting_one_when_it_finishes(fake, fake_workload):
    followers = []
    fake.hook = lambda ctx: followers.append(
        dispatch(fake_workload, "api", enqueue=True)) if not followers else None
    first = dispatch(fake_workload, "api", enqueue=True)
    assert first.status == Status.SUCCEEDED
    assert followers[0].status == Status.WAITING  # as seen while the first one ran
    followers[0].refresh_from_db()
    assert followers[0].status == Status.SUCCEEDED
    assert followers[0].started_at >= first.finished_at
    fake_workload.refresh_from_db()
    assert fake_workload.lock_deploy_id is None


def test_the_reconcile_tick_wakes_a_waiting_deploy_whose_hand_over_was_lost(fake, fake_workload):
    lost = queued(fake_workload)
    Deploy.objects.filter(pk=lost.pk).update(status=Status.WAITING)
    reconcile_all()
    lost.refresh_from_db()
    assert lost.status == Status.SUCCEEDED


def test_a_waiting_deploy_stays_parked_while_the_lock_is_held(fake, fake_workload):
    holder = queued(fake_workload)
    acquire_lock(holder, wait=0)
    parked = queued(fake_workload)
    Deploy.objects.filter(pk=parked.pk).update(status=Status.WAITING)
    reconcile_all()
    parked.refresh_from_db()
    assert parked.status == Status.WAITING
    release_lock(holder)
    reconcile_all()
    parked.refresh_from_db()
    assert parked.status == Status.SUCCEEDED


def test_deleting_a_workload_cancels_its_queued_and_waiting_deploys_first(fake, fake_workload):
    holder = queued(fake_workload)
    acquire_lock(holder, wait=0)
    Deploy.objects.filter(pk=holder.pk).update(status=Status.RUNNING)
    waiting = queued(fake_workload)
    Deploy.objects.filter(pk=waiting.pk).update(status=Status.WAITING)
    plain = queued(fake_workload)
    seen = {}

    def capture(sender, instance, **kwargs):
        seen[instance.pk] = instance.status

    pre_delete.connect(capture, sender=Deploy)
    try:
        delete_workload(fake_workload)
    finally:
        pre_delete.disconnect(capture, sender=Deploy)
    assert seen == {holder.pk: Status.RUNNING, waiting.pk: Status.CANCELLED,
                    plain.pk: Status.CANCELLED}


def test_a_cancelled_inline_deploy_never_runs_nor_waits_out_the_lock(fake, fake_workload):
    holder = queued(fake_workload)
    acquire_lock(holder, wait=0)
    calls = []

    def cancel_while_waiting(*args, **kwargs):
        calls.append(1)
        Deploy.objects.filter(workload=fake_workload, status=Status.QUEUED).exclude(
            pk=holder.pk).update(status=Status.CANCELLED)

    from django.db.models.signals import post_save
    post_save.connect(cancel_while_waiting, sender=Deploy)
    try:
        deploy = dispatch(fake_workload, "cli")
    finally:
        post_save.disconnect(cancel_while_waiting, sender=Deploy)
    assert calls and deploy.status == Status.CANCELLED and fake.contexts == []


# --- the ledger follows what runs -------------------------------------------------------------

def test_the_running_entry_is_the_deploy_whose_containers_run(fake, fake_workload):
    older = queued(fake_workload)
    newer = queued(fake_workload)
    Deploy.objects.filter(pk__in=[older.pk, newer.pk]).update(status=Status.SUCCEEDED)
    Container.objects.create(workload=fake_workload, docker_id="c1", name="c1",
                             deploy_id=older.pk, state="running")
    assert current_deploy(fake_workload) == older


def test_reconcile_corrects_a_failed_entry_whose_container_runs_and_logs_it(fake, fake_workload):
    earlier = queued(fake_workload)
    lied = queued(fake_workload)
    Deploy.objects.filter(pk=earlier.pk).update(status=Status.SUCCEEDED)
    Deploy.objects.filter(pk=lied.pk).update(status=Status.FAILED, error_code="engine_down",
                                             finished_at=timezone.now())
    Container.objects.create(workload=fake_workload, docker_id="c2", name="c2",
                             deploy_id=lied.pk, state="running")
    assert current_deploy(fake_workload) == earlier  # the lie: not what runs
    assert correct_ledger(fake_workload) == 1
    lied.refresh_from_db()
    assert lied.status == Status.INTERRUPTED and lied.restored == "new"
    assert current_deploy(fake_workload) == lied
    assert EventLog.objects.filter(workload=fake_workload, kind="ledger_corrected").exists()
    assert correct_ledger(fake_workload) == 0


# --- the command line -------------------------------------------------------------------------

@pytest.fixture
def control_plane(tmp_path):
    plane = ControlPlane(tmp_path, f"{settings.TINYFORGE_INSTANCE}-lock")
    plane.manage("migrate", "--noinput")
    return plane


def test_the_cli_waiting_for_the_lock_of_a_deleted_workload_exits_with_one_readable_line(
    control_plane
):
    # The lock belongs to a live process (this one), so it is neither stale nor dead.
    owner = f"{socket.gethostname()}:{os.getpid()}"
    control_plane.query(
        "import json\nfrom apps.deploys.models import Deploy\n"
        "from apps.workloads.actions import create_workload\n"
        "from apps.workloads.models import Workload\n"
        "w = create_workload(name='doomed', kind='image', spec={'image': '127.0.0.1:1/x/y:z'})\n"
        "d = Deploy.objects.create(workload=w, reason='api', source_kind='image', "
        "status='running')\n"
        f"Workload.objects.filter(pk=w.pk).update(lock_deploy_id=d.pk, lock_owner={owner!r})\n"
        "print(json.dumps(d.pk))")
    child = control_plane.start("deploy", "doomed")
    try:
        control_plane.query(
            "import json, time\nfrom apps.deploys.models import Deploy\n"
            "deadline = time.monotonic() + 60\n"
            "while not Deploy.objects.filter(status='queued').exists() "
            "and time.monotonic() < deadline:\n    time.sleep(0.05)\n"
            "from apps.workloads.actions import delete_workload\n"
            "from apps.workloads.models import Workload\n"
            "delete_workload(Workload.objects.get(name='doomed'), force=True)\n"
            "print(json.dumps(True))")
        out, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        raise
    assert child.returncode == 1
    # Log records (timestamped, from the server log) aside, the user sees one line.
    lines = [line for line in err.splitlines() if line.strip() and not line[:2].isdigit()]
    assert len(lines) == 1 and "was cancelled" in lines[0] and "Traceback" not in err, err


def test_the_health_watch_never_rolls_back_a_deploy_that_was_replaced_meanwhile(
    fake, fake_workload, monkeypatch
):
    from apps.deploys.replays import watch_and_roll_back
    from apps.workloads import health

    watched, newer = queued(fake_workload), queued(fake_workload)
    Deploy.objects.filter(pk__in=[watched.pk, newer.pk]).update(
        status=Status.SUCCEEDED, spec_snapshot={"healthcheck": {"command": ["true"]}})
    Deploy.objects.filter(pk=watched.pk).update(pinned_ref="fake:1", pinned={"build": 1})
    Deploy.objects.filter(pk=newer.pk).update(pinned_ref="fake:2", pinned={"build": 2})
    Container.objects.create(workload=fake_workload, docker_id="old", name="old",
                             deploy_id=watched.pk, state="exited")
    Container.objects.create(workload=fake_workload, docker_id="new", name="new",
                             deploy_id=newer.pk, state="running")
    monkeypatch.setattr(health, "watch", lambda *args: False)  # "turned unhealthy"
    watched.refresh_from_db()
    assert watch_and_roll_back(watched) is None
    assert fake_workload.deploys.count() == 2


def test_a_lock_left_by_a_dead_process_outside_a_running_deploy_is_freed_by_reconcile(
    fake, fake_workload
):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stuck = queued(fake_workload)
    Deploy.objects.filter(pk=stuck.pk).update(status=Status.INTERRUPTED, restored="previous")
    Workload.objects.filter(pk=fake_workload.pk).update(
        lock_deploy_id=stuck.pk, lock_acquired_at=timezone.now(),
        lock_owner=f"{socket.gethostname()}:{dead.pid}")
    parked = queued(fake_workload)
    Deploy.objects.filter(pk=parked.pk).update(status=Status.WAITING)
    reconcile_all()
    parked.refresh_from_db()
    assert parked.status == Status.SUCCEEDED


def test_reconcile_leaves_a_swap_still_to_undo_to_recovery_not_to_the_ledger_correction(
    fake, fake_workload
):
    pending = queued(fake_workload)
    Deploy.objects.filter(pk=pending.pk).update(status=Status.INTERRUPTED, phase="started")
    Container.objects.create(workload=fake_workload, docker_id="c3", name="c3",
                             deploy_id=pending.pk, state="running")
    assert correct_ledger(fake_workload) == 0
