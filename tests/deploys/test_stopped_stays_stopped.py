"""A workload its operator stopped is not "repaired": the health watch after a deploy does
not roll it back when the stop made it look unhealthy."""
import pytest

from apps.deploys import replays
from apps.deploys.models import Deploy
from apps.workloads import health
from apps.workloads.models import Container, EventLog, Workload

pytestmark = pytest.mark.django_db


def live_deploy(workload, state="running"):
    deploy = Deploy.objects.create(
        workload=workload, status="succeeded", reason="api", source_kind="image",
        pinned_ref="sha256:" + "a" * 64,
        spec_snapshot={**workload.spec, "healthcheck": {"command": ["true"]}})
    Container.objects.create(workload=workload, docker_id="f" * 64, name="c", image="x",
                             state=state, deploy_id=deploy.pk)
    return deploy


def test_the_health_watch_leaves_a_stopped_workload_stopped(make_workload, monkeypatch):
    workload = make_workload()
    # The index still says running (the stop happened during the watch, before any sync).
    deploy = live_deploy(workload, state="running")
    monkeypatch.setattr(health, "watch", lambda *args, **kwargs: False)  # it looks unhealthy
    Workload.objects.filter(pk=workload.pk).update(desired_state="stopped")
    assert replays.watch_and_roll_back(Deploy.objects.get(pk=deploy.pk)) is None
    assert workload.deploys.count() == 1
    assert not EventLog.objects.filter(workload=workload, kind="unhealthy").exists()


def test_the_health_watch_still_acts_on_a_workload_meant_to_run(make_workload, monkeypatch):
    workload = make_workload()
    deploy = live_deploy(workload, state="running")
    monkeypatch.setattr(health, "watch", lambda *args, **kwargs: False)
    replays.watch_and_roll_back(Deploy.objects.get(pk=deploy.pk))
    # It tried to roll back (nothing earlier to go to: the refusal is recorded).
    assert EventLog.objects.filter(workload=workload, kind="unhealthy").exists()
