"""A queued deploy reaches the task queue only once the transaction that created its ledger row
commits: a worker never looks for a row it cannot see yet, and a rollback leaves no task.

These tests use the real ORM broker (the queue table), not the inline test cluster, and real
transactions (``transaction=True``), so a commit is a commit.
"""
import pytest
from django.db import connection, transaction
from django_q.conf import Conf
from django_q.models import OrmQ

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Deploy, Status

pytestmark = pytest.mark.django_db(transaction=True)


class RolledBack(Exception):
    pass


@pytest.fixture
def real_queue(monkeypatch):
    """async_task puts tasks on the ORM broker's queue instead of running them inline."""
    monkeypatch.setattr(Conf, "SYNC", False)


def queued_tasks():
    return [(row.task["func"], row.task["args"], row.task["name"])
            for row in OrmQ.objects.all()]


@pytest.fixture
def enqueued(monkeypatch):
    """Every async_task call, and whether a transaction was open when it was made. (A broker
    outside this database, Redis or another alias, would keep a task enqueued mid-transaction
    even when the transaction rolls back.)"""
    calls = []

    def record(func, *args, **kwargs):
        calls.append((func, args, connection.in_atomic_block))

    monkeypatch.setattr("django_q.tasks.async_task", record)
    return calls


def test_a_dispatch_whose_transaction_rolls_back_enqueues_nothing(enqueued, make_workload):
    workload = make_workload()
    with pytest.raises(RolledBack), transaction.atomic():
        dispatch(workload, "api", enqueue=True)
        raise RolledBack
    assert enqueued == []
    assert not Deploy.objects.exists()


def test_a_dispatch_whose_transaction_commits_enqueues_once_after_the_commit(
    enqueued, make_workload
):
    workload = make_workload()
    with transaction.atomic():
        deploy = dispatch(workload, "api", enqueue=True)
        assert enqueued == []
    assert enqueued == [("apps.deploys.tasks.run_deploy", (deploy.pk,), False)]


def test_a_rolled_back_dispatch_leaves_nothing_on_the_real_queue(real_queue, make_workload):
    workload = make_workload()
    with pytest.raises(RolledBack), transaction.atomic():
        dispatch(workload, "api", enqueue=True)
        raise RolledBack
    assert queued_tasks() == []


def test_inside_a_transaction_the_task_is_enqueued_at_commit_not_before(
    real_queue, make_workload
):
    workload = make_workload()
    with transaction.atomic():
        deploy = dispatch(workload, "api", enqueue=True)
        assert queued_tasks() == []
    assert queued_tasks() == [
        ("apps.deploys.tasks.run_deploy", (deploy.pk,), f"deploy-{deploy.pk}")]
    assert Deploy.objects.get(pk=deploy.pk).status == Status.QUEUED


def test_outside_a_transaction_the_task_is_enqueued_at_once(real_queue, make_workload):
    workload = make_workload()
    deploy = dispatch(workload, "api", enqueue=True)
    assert queued_tasks() == [
        ("apps.deploys.tasks.run_deploy", (deploy.pk,), f"deploy-{deploy.pk}")]
