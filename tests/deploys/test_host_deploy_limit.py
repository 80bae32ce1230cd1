"""A host's ``max_deploys``: deploys over it wait their turn (no worker held), the deploy that
ends wakes the next one, other hosts are not limited, and the limit is set by staff through the
API with a clear error for a bad value."""
import pytest

from apps.deploys.dispatch import acquire_lock, dispatch, release_lock
from apps.deploys.models import Deploy, Status
from apps.deploys.reconcile import reconcile_all
from apps.workloads import hosts
from apps.workloads.models import Host, Workload
from tests.deploys.fake_source import install_fake_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(monkeypatch):
    return install_fake_source(monkeypatch)


@pytest.fixture
def small_host(db):
    """The local host, told to run one deploy at a time."""
    host = hosts.local_host()
    Host.objects.filter(pk=host.pk).update(max_deploys=1)
    host.refresh_from_db()
    return host


def on(host, name):
    return Workload.objects.create(name=name, kind="fake", spec={}, host=host)


def queued(workload):
    return Deploy.objects.create(workload=workload, reason="api", source_kind="fake",
                                 host=workload.host)


def test_a_deploy_over_the_hosts_limit_waits_until_the_running_one_ends(fake, small_host):
    first_app, second_app = on(small_host, "first"), on(small_host, "second")
    seen_while_first_ran = []

    def start_the_second(ctx):
        if ctx.workload.name == "first":
            second = dispatch(second_app, "api", enqueue=True)
            seen_while_first_ran.append(Deploy.objects.get(pk=second.pk))

    fake.hook = start_the_second
    first = dispatch(first_app, "api", enqueue=True)
    assert first.status == Status.SUCCEEDED
    parked = seen_while_first_ran[0]
    assert parked.status == Status.WAITING
    assert "runs 1 deploy at once" in parked.log and small_host.name in parked.log
    parked.refresh_from_db()
    assert parked.status == Status.SUCCEEDED
    assert parked.started_at >= first.finished_at
    assert [c.workload.name for c in fake.contexts] == ["first", "second"]


def test_without_a_limit_deploys_of_one_host_run_side_by_side(fake):
    host = hosts.local_host()
    assert host.max_deploys == 0
    first_app, second_app = on(host, "first"), on(host, "second")
    inner = []

    def start_the_second(ctx):
        if ctx.workload.name == "first":
            inner.append(dispatch(second_app, "api", enqueue=True))

    fake.hook = start_the_second
    first = dispatch(first_app, "api", enqueue=True)
    assert first.status == Status.SUCCEEDED
    assert inner[0].status == Status.SUCCEEDED  # it ran while the first one was running
    assert inner[0].finished_at <= first.finished_at


def test_another_hosts_limit_does_not_hold_back_this_hosts_deploys(fake, small_host):
    busy = queued(on(small_host, "busy"))
    assert acquire_lock(busy, wait=0, host=small_host)
    other = Host.objects.create(name="roomy", engine_url="tcp://10.0.0.9:2376", max_deploys=1)
    elsewhere = queued(on(other, "elsewhere"))
    assert acquire_lock(elsewhere, wait=0, host=other) is True
    crowded = queued(on(small_host, "crowded"))
    assert acquire_lock(crowded, wait=0, host=small_host) is False
    release_lock(busy)
    assert acquire_lock(crowded, wait=0, host=small_host) is True


def test_a_waiting_deploy_is_not_started_by_reconcile_while_the_host_is_full(fake, small_host):
    holder = queued(on(small_host, "holder"))
    assert acquire_lock(holder, wait=0, host=small_host)
    waiting = queued(on(small_host, "patient"))
    Deploy.objects.filter(pk=waiting.pk).update(status=Status.WAITING)
    reconcile_all()
    waiting.refresh_from_db()
    assert waiting.status == Status.WAITING and fake.contexts == []
    release_lock(holder)
    reconcile_all()
    waiting.refresh_from_db()
    assert waiting.status == Status.SUCCEEDED


def test_staff_set_a_hosts_limit_and_a_bad_one_names_the_field(as_admin, as_viewer):
    host = hosts.local_host()
    response = as_admin.patch(f"/hosts/{host.pk}", {"max_deploys": 2})
    assert response.status_code == 200, response.data
    assert response.data["max_deploys"] == 2
    assert as_viewer.get(f"/hosts/{host.pk}").data["max_deploys"] == 2
    for bad in (-1, 65, "many"):
        response = as_admin.patch(f"/hosts/{host.pk}", {"max_deploys": bad})
        assert response.status_code == 422, (bad, response.data)
        assert "max_deploys" in str(response.data["detail"])
    host.refresh_from_db()
    assert host.max_deploys == 2
    assert as_viewer.patch(f"/hosts/{host.pk}", {"max_deploys": 5}).status_code == 403


def test_a_deploy_parked_just_after_the_holder_let_go_runs_at_once_without_a_host_limit(fake):
    from apps.deploys import dispatch as dispatch_module

    host = hosts.local_host()
    late = queued(on(host, "late"))  # it found the lock taken; the holder has let go since
    dispatch_module._park(late, host)
    late.refresh_from_db()
    assert late.status == Status.SUCCEEDED
