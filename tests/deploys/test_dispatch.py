"""dispatch(), the ledger and the per-workload lock, driven by a fake source (no engine)."""
import threading
import time
import traceback
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.utils import timezone

from apps.core.crypto import MASK
from apps.deploys import dispatch as dispatch_module
from apps.deploys.dispatch import acquire_lock, dispatch, release_lock
from apps.deploys.models import Deploy, Reason, Status
from apps.workloads.engine import EngineError
from apps.workloads.models import EnvVar, EventLog, Workload
from tests.deploys.fake_source import PINNED_DETAIL, install_fake_source

SECRET = "dispatch-canary-5b1e0d"


@pytest.fixture
def fake(monkeypatch):
    return install_fake_source(monkeypatch)


@pytest.fixture
def fake_workload(db, fake):
    workload = Workload.objects.create(name="fakeapp", kind="fake", spec={"what": "x"})
    EnvVar.objects.create(workload=workload, key="TOKEN", value=SECRET, secret=True)
    EnvVar.objects.create(workload=workload, key="MODE", value="prod")
    return workload


def everything_stored_about(deploy):
    deploy = Deploy.objects.get(pk=deploy.pk)
    events = EventLog.objects.filter(workload_id=deploy.workload_id)
    return "\n".join([deploy.log, deploy.error_code, str(deploy.pinned)]
                     + [e.message for e in events])


def assert_finished(deploy, status):
    deploy.refresh_from_db()
    assert deploy.status == status
    assert deploy.started_at is not None and deploy.finished_at is not None
    assert deploy.finished_at >= deploy.started_at


def assert_unlocked(workload):
    workload.refresh_from_db()
    assert workload.lock_deploy_id is None and workload.lock_acquired_at is None


# --- the ledger ---------------------------------------------------------------------------------

@pytest.mark.parametrize("behaviour", ["succeed", "engine_error", "crash"])
@pytest.mark.parametrize("reason", [Reason.MANUAL, Reason.CLI, Reason.API])
def test_every_dispatch_records_exactly_one_deploy_with_its_reason_and_user(
    fake, fake_workload, admin_user, behaviour, reason
):
    fake.behaviour = behaviour
    before = Deploy.objects.count()
    deploy = dispatch(fake_workload, reason, user=admin_user)
    assert Deploy.objects.count() == before + 1
    stored = Deploy.objects.get()
    assert stored.pk == deploy.pk and stored.workload_id == fake_workload.pk
    assert stored.reason == reason and stored.requested_by == admin_user
    assert stored.source_kind == "fake" and stored.spec_snapshot == {"what": "x"}
    assert stored.status in (Status.SUCCEEDED, Status.FAILED)


@pytest.mark.parametrize("user", [None, AnonymousUser()])
def test_a_dispatch_without_a_real_user_records_nobody(fake, fake_workload, user):
    deploy = dispatch(fake_workload, Reason.SCHEDULE, user=user)
    assert Deploy.objects.get(pk=deploy.pk).requested_by is None


def test_a_successful_deploy_is_recorded_with_its_pinned_artifact(fake, fake_workload, staff_user):
    deploy = dispatch(fake_workload, Reason.MANUAL, user=staff_user)
    assert_finished(deploy, Status.SUCCEEDED)
    assert deploy.pinned_ref == "fake:1" and deploy.pinned == PINNED_DETAIL
    assert deploy.error_code == "" and deploy.error_message == ""
    assert "succeeded" in deploy.log
    assert EventLog.objects.filter(workload=fake_workload, kind="deployed").count() == 1
    assert_unlocked(fake_workload)


def test_the_source_gets_the_validated_spec_the_real_env_and_the_labels(fake, fake_workload):
    deploy = dispatch(fake_workload, Reason.MANUAL)
    (ctx,) = fake.contexts
    assert ctx.deploy_id == deploy.pk and ctx.workload.pk == fake_workload.pk
    assert ctx.spec == {"what": "x"}
    assert ctx.env == {"TOKEN": SECRET, "MODE": "prod"}
    assert ctx.labels["tinyforge.workload"] == str(fake_workload.pk)
    assert ctx.labels["tinyforge.deploy"] == str(deploy.pk)
    assert ctx.pinned is None


def test_a_failed_deploy_is_recorded_with_its_error_code_and_masks_the_echoed_secret(
    fake, fake_workload
):
    fake.behaviour = "engine_error"
    deploy = dispatch(fake_workload, Reason.MANUAL)
    assert_finished(deploy, Status.FAILED)
    assert deploy.error_code == "start_failed"
    assert deploy.error_message and deploy.pinned_ref == ""
    assert "boom" in deploy.log and MASK in deploy.log
    stored = everything_stored_about(deploy)
    assert SECRET not in stored
    assert EventLog.objects.filter(workload=fake_workload, kind="failed").count() == 1
    assert_unlocked(fake_workload)


def test_the_progress_callback_sees_the_log_masked(fake, fake_workload):
    fake.behaviour = "engine_error"
    lines = []
    deploy = dispatch(fake_workload, Reason.CLI, progress=lines.append)
    assert lines and all(SECRET not in line for line in lines)
    assert any("fake deploy of" in line for line in lines)  # the source's own line, masked
    log = Deploy.objects.get(pk=deploy.pk).log
    assert "\n".join(lines) in log
    # The outcome line is stored but left to the caller to word (a command's summary says the
    # cause once).
    assert "start_failed" in log and not any("start_failed" in line for line in lines)


def test_an_unexpected_exception_in_the_source_fails_the_deploy_as_internal(fake, fake_workload):
    fake.behaviour = "crash"
    deploy = dispatch(fake_workload, Reason.MANUAL)
    assert_finished(deploy, Status.FAILED)
    assert deploy.error_code == "internal"
    assert "RuntimeError" in deploy.log
    assert SECRET not in everything_stored_about(deploy)
    assert not Deploy.objects.filter(status__in=[Status.RUNNING, Status.QUEUED]).exists()
    assert_unlocked(fake_workload)


def test_an_invalid_stored_spec_fails_the_deploy_as_internal(fake, fake_workload):
    Workload.objects.filter(pk=fake_workload.pk).update(spec={"invalid": True})
    fake_workload.refresh_from_db()
    deploy = dispatch(fake_workload, Reason.MANUAL)
    assert_finished(deploy, Status.FAILED)
    assert deploy.error_code == "internal" and not fake.contexts
    assert "invalid" in deploy.log


def test_a_workload_of_an_unregistered_kind_fails_as_internal_without_raising(db):
    workload = Workload.objects.create(name="ghost", kind="ghost", spec={})
    deploy = dispatch(workload, Reason.MANUAL)
    assert_finished(deploy, Status.FAILED)
    assert deploy.error_code == "internal" and "ghost" in deploy.log
    assert_unlocked(workload)


def test_an_engine_error_while_refreshing_the_index_still_counts_as_a_success(
    fake, fake_workload
):
    fake.reconcile_error = EngineError("internal", "index unavailable")
    deploy = dispatch(fake_workload, Reason.MANUAL)
    assert_finished(deploy, Status.SUCCEEDED)
    assert "index unavailable" in deploy.log


def test_an_unexpected_exception_while_refreshing_the_index_never_leaves_the_row_running(
    fake, fake_workload
):
    fake.reconcile_error = RuntimeError("reconcile bug")
    deploy = None
    try:
        deploy = dispatch(fake_workload, Reason.MANUAL)
    finally:
        row = Deploy.objects.get()
        assert row.status in (Status.SUCCEEDED, Status.FAILED), row.status
        assert row.finished_at is not None
        assert_unlocked(fake_workload)
    assert deploy is not None  # "never raises for a failed deploy"


def test_an_enqueued_deploy_on_the_inline_cluster_comes_back_finished(fake, fake_workload):
    deploy = dispatch(fake_workload, Reason.API, enqueue=True)
    assert deploy.status == Status.SUCCEEDED and deploy.pinned_ref == "fake:1"
    assert Deploy.objects.count() == 1


# --- the per-workload lock ----------------------------------------------------------------------

def make_deploy(workload):
    return Deploy.objects.create(workload=workload, reason=Reason.MANUAL, source_kind="fake")


def test_the_lock_admits_one_deploy_at_a_time(fake_workload):
    first, second = make_deploy(fake_workload), make_deploy(fake_workload)
    assert acquire_lock(first, wait=0) is True
    fake_workload.refresh_from_db()
    assert fake_workload.lock_deploy_id == first.pk and fake_workload.lock_acquired_at
    started = time.monotonic()
    assert acquire_lock(second, wait=0.3) is False
    assert time.monotonic() - started >= 0.3
    release_lock(second)  # not the holder: changes nothing
    fake_workload.refresh_from_db()
    assert fake_workload.lock_deploy_id == first.pk
    release_lock(first)
    assert acquire_lock(second, wait=0.3) is True
    fake_workload.refresh_from_db()
    assert fake_workload.lock_deploy_id == second.pk


def test_the_locks_of_two_workloads_are_independent(fake, fake_workload):
    other = Workload.objects.create(name="other", kind="fake", spec={})
    assert acquire_lock(make_deploy(fake_workload), wait=0)
    assert acquire_lock(make_deploy(other), wait=0)


def test_a_stale_lock_is_taken_over(fake_workload, settings):
    settings.TINYFORGE_DEPLOY_TIMEOUT = 60
    dead, fresh = make_deploy(fake_workload), make_deploy(fake_workload)
    Workload.objects.filter(pk=fake_workload.pk).update(
        lock_deploy_id=dead.pk, lock_acquired_at=timezone.now() - timedelta(seconds=61)
    )
    assert acquire_lock(fresh, wait=0) is True
    fake_workload.refresh_from_db()
    assert fake_workload.lock_deploy_id == fresh.pk


def test_a_lock_younger_than_the_deploy_timeout_is_respected(fake_workload, settings):
    settings.TINYFORGE_DEPLOY_TIMEOUT = 60
    busy, waiting = make_deploy(fake_workload), make_deploy(fake_workload)
    Workload.objects.filter(pk=fake_workload.pk).update(
        lock_deploy_id=busy.pk, lock_acquired_at=timezone.now() - timedelta(seconds=30)
    )
    assert acquire_lock(waiting, wait=0) is False
    fake_workload.refresh_from_db()
    assert fake_workload.lock_deploy_id == busy.pk


def test_a_deploy_that_cannot_get_the_lock_fails_with_timeout_and_leaves_the_holder_alone(
    fake, fake_workload, monkeypatch
):
    original = dispatch_module.acquire_lock
    monkeypatch.setattr(dispatch_module, "acquire_lock",
                        lambda d, wait=None, host=None: original(d, wait=0))
    holder = make_deploy(fake_workload)
    assert original(holder, wait=0)
    deploy = dispatch(fake_workload, Reason.MANUAL)
    deploy.refresh_from_db()
    assert deploy.status == Status.FAILED and deploy.error_code == "timeout"
    assert deploy.finished_at is not None and not fake.contexts
    fake_workload.refresh_from_db()
    assert fake_workload.lock_deploy_id == holder.pk


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_dispatches_of_one_workload_never_overlap(fake, monkeypatch):
    """Two threads dispatch one workload: the second is refused the lock while the first is
    inside the source, and only gets in after the first released it.

    The refused thread does not keep polling while the first one writes: the test database is
    an in-memory SQLite with a shared cache, where two connections writing at once fail with
    "database table is locked" (SQLITE_LOCKED is not retried by the busy timeout). So it waits
    for the first thread to finish and then must win the lock on its first try.
    """
    workload = Workload.objects.create(name="contended", kind="fake", spec={})
    first_inside, let_first_finish, first_done, second_refused, second_moved = (
        threading.Event() for _ in range(5)
    )
    timeline, errors, results = [], [], {}
    timeline_lock = threading.Lock()

    def hook(ctx):
        with timeline_lock:
            timeline.append(("enter", ctx.deploy_id, time.monotonic()))
            is_first = not first_inside.is_set()
            first_inside.set()
            if not is_first:
                second_moved.set()
        if is_first and not let_first_finish.wait(20):
            raise AssertionError("the test never let the first deploy finish")
        with timeline_lock:
            timeline.append(("exit", ctx.deploy_id, time.monotonic()))

    fake.hook = hook
    original = dispatch_module.acquire_lock

    def spying_acquire(deploy, wait=None, host=None):
        if original(deploy, wait=0):
            return True
        second_refused.set()
        second_moved.set()
        if not first_done.wait(20):
            raise AssertionError("the first deploy never finished")
        return original(deploy, wait=0)

    monkeypatch.setattr(dispatch_module, "acquire_lock", spying_acquire)

    def run(name):
        try:
            results[name] = dispatch(Workload.objects.get(pk=workload.pk), Reason.MANUAL)
        except BaseException:  # reported below, on the main thread
            errors.append(f"{name}: {traceback.format_exc()}")
        finally:
            connection.close()
            if name == "first":
                first_done.set()

    first = threading.Thread(target=run, args=("first",))
    second = threading.Thread(target=run, args=("second",))
    first.start()
    assert first_inside.wait(20), errors
    second.start()
    try:
        assert second_moved.wait(20), errors
        assert second_refused.is_set(), "the second deploy was not made to wait"
        with timeline_lock:
            assert [kind for kind, *_ in timeline] == ["enter"]
    finally:
        let_first_finish.set()
        first.join(30)
        second.join(30)
    assert not first.is_alive() and not second.is_alive()
    assert not errors, "\n".join(errors)
    assert [kind for kind, *_ in timeline] == ["enter", "exit", "enter", "exit"]
    (_, first_id, first_enter), (_, _, first_exit), (_, second_id, second_enter), _ = timeline
    assert first_id == results["first"].pk and second_id == results["second"].pk
    assert first_enter <= first_exit <= second_enter
    for name in ("first", "second"):
        results[name].refresh_from_db()
        assert results[name].status == Status.SUCCEEDED, results[name].log
    workload.refresh_from_db()
    assert workload.lock_deploy_id is None
