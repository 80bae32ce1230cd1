"""Reconcile: the index follows the engine, adopts labelled containers, marks dead deploys."""
import socket
import subprocess
import sys

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Deploy, Status
from apps.deploys.reconcile import reconcile_all
from apps.workloads import engine as tf_engine
from apps.workloads.models import Container, EventLog, Workload


def test_a_reconcile_schedule_exists_each_minute_after_migrate(db):
    schedule = Schedule.objects.get(name="tinyforge-reconcile")
    assert schedule.func == "apps.deploys.tasks.reconcile" and schedule.minutes == 1


def test_a_deploy_whose_worker_died_is_marked_interrupted_and_its_lock_freed(make_workload):
    workload = make_workload()
    deploy = Deploy.objects.create(workload=workload, reason="api", source_kind="image",
                                   status=Status.RUNNING)
    worker = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)
    Workload.objects.filter(pk=workload.pk).update(
        lock_deploy_id=deploy.pk, lock_owner=f"{socket.gethostname()}:{worker.pid}")
    assert reconcile_all()["interrupted"] == 0  # its worker is alive: leave it running
    worker.kill()
    worker.wait()
    assert reconcile_all()["interrupted"] == 1
    deploy.refresh_from_db()
    workload.refresh_from_db()
    assert deploy.status == Status.INTERRUPTED and deploy.finished_at is not None
    assert workload.lock_deploy_id is None
    assert EventLog.objects.filter(workload=workload, kind="interrupted").exists()


def test_a_running_row_without_the_lock_is_interrupted(make_workload):
    deploy = Deploy.objects.create(workload=make_workload(), reason="api", source_kind="image",
                                   status=Status.RUNNING)
    call_command("reconcile")
    deploy.refresh_from_db()
    assert deploy.status == Status.INTERRUPTED


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_reconcile_adopts_labelled_containers_and_marks_exited_and_vanished_ones(
    make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = make_workload(spec={"image": f"{repository}:live", "restart": "no"})
    assert dispatch(workload, "manual").status == "succeeded"
    docker_id = Container.objects.get(workload=workload).docker_id
    Container.objects.filter(workload=workload).delete()  # the control plane lost its index
    assert reconcile_all()["drifted"] == 1
    assert Container.objects.get(workload=workload).docker_id == docker_id
    tf_engine.stop(docker_id, timeout=1)
    reconcile_all()
    assert Container.objects.get(workload=workload).state == "exited"
    tf_engine.remove_container(docker_id)
    reconcile_all()
    assert Container.objects.get(workload=workload).state == "missing"
    assert EventLog.objects.filter(workload=workload, kind="drift").count() == 3
    assert reconcile_all()["drifted"] == 0  # nothing new: no event spam
