"""Runtime logs and start/stop/restart on the real engine, through the API and the commands."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core.crypto import MASK
from apps.deploys.dispatch import dispatch
from apps.deploys.models import Reason, Status
from apps.deploys.reconcile import reconcile_all
from apps.workloads import controls
from apps.workloads import engine as tf_engine
from apps.workloads.models import EventLog, Workload
from apps.workloads.sources import get_source
from tests.support import dockerlab
from tests.support.talkers import SECRET, build_talker_image, deploy_talker, poll, say

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def talker_image(engine, tmp_path_factory):
    tag = build_talker_image(tmp_path_factory.mktemp("talker"))
    yield tag
    dockerlab.remove_image(tag)


def engine_state(workload):
    return tf_engine.container_info(workload.containers.get().docker_id).state


def test_the_log_endpoint_returns_what_the_container_printed_with_the_secret_masked(
        as_viewer, talker_image):
    workload = deploy_talker(talker_image)
    first = poll(lambda: as_viewer.get(f"/workloads/{workload.pk}/logs?tail=50").data["lines"])
    text = "\n".join(line["text"] for line in first)
    assert "booting with key=" + MASK in text
    assert SECRET not in text


def test_following_the_log_with_the_cursor_returns_only_new_lines(as_viewer, talker_image):
    workload = deploy_talker(talker_image)
    url = f"/workloads/{workload.pk}/logs"
    answer = poll(lambda: as_viewer.get(url).data["cursor"] and as_viewer.get(url).data)
    cursor = answer["cursor"]
    say(workload, "after the page opened")
    newer = poll(lambda: as_viewer.get(f"{url}?since={cursor}").data["lines"])
    assert [line["text"] for line in newer] == ["after the page opened"]
    assert newer[0]["container"] == workload.containers.get().name
    again = as_viewer.get(f"{url}?since={newer[-1]['cursor']}")
    assert again.status_code == 200 and again.data["lines"] == []


@pytest.mark.parametrize("query, field", [
    ("tail=0", "tail"), ("tail=5000", "tail"), ("tail=x", "tail"),
    ("since=yesterday", "since"), ("service=db", "service"), ("service=a%20b", "service"),
])
def test_bad_log_parameters_are_refused_naming_the_field(
        as_viewer, make_workload, query, field):
    workload = make_workload()
    response = as_viewer.get(f"/workloads/{workload.pk}/logs?{query}")
    assert response.status_code == 422, response.data
    assert response.data["detail"].startswith(f"{field}:")


def test_reading_logs_needs_an_authenticated_user(as_anonymous, make_workload):
    workload = make_workload()
    assert as_anonymous.get(f"/workloads/{workload.pk}/logs").status_code == 401


def test_controls_need_staff(as_viewer, make_workload):
    workload = make_workload()
    for action in ("start", "stop", "restart"):
        assert as_viewer.post(f"/workloads/{workload.pk}/{action}").status_code == 403


def test_a_workload_never_deployed_cannot_be_started(as_staff, make_workload):
    workload = make_workload()
    response = as_staff.post(f"/workloads/{workload.pk}/start")
    assert response.status_code == 409 and response.data["detail"]


def test_stop_and_start_through_the_api_are_recorded_and_stopped_stays_stopped(
        as_staff, talker_image):
    workload = deploy_talker(talker_image)
    stopped = as_staff.post(f"/workloads/{workload.pk}/stop")
    assert stopped.status_code == 200, stopped.data
    assert stopped.data["desired_state"] == "stopped"
    assert engine_state(workload) == "exited"
    assert workload.containers.get().state == "exited"
    assert EventLog.objects.filter(workload=workload, kind="stopped").exists()

    reconcile_all()  # the pass records what runs; it must not start it again
    assert engine_state(workload) == "exited"
    workload.refresh_from_db()
    assert workload.run_state == "stopped"

    started = as_staff.post(f"/workloads/{workload.pk}/start")
    assert started.status_code == 200 and started.data["desired_state"] == "running"
    assert engine_state(workload) == "running"
    assert EventLog.objects.filter(workload=workload, kind="started").exists()


def test_restart_gives_the_same_container_a_fresh_start(talker_image, admin_user):
    workload = deploy_talker(talker_image)
    container_id = workload.containers.get().docker_id
    before = tf_engine.container_log_lines(container_id, tail=100)
    controls.do_restart(workload, user=admin_user)
    assert engine_state(workload) == "running"
    assert workload.containers.get().docker_id == container_id
    # The startup line is printed once more by the restarted process.
    after = poll(lambda: len(tf_engine.container_log_lines(container_id, tail=100))
                 > len(before) and tf_engine.container_log_lines(container_id, tail=100))
    assert sum("booting with key=" in text for _, text in after) == 2
    event = EventLog.objects.get(workload=workload, kind="restarted")
    assert admin_user.get_username() in event.message


def test_deploying_a_stopped_workload_starts_it(talker_image):
    workload = deploy_talker(talker_image)
    controls.do_stop(workload)
    deploy = dispatch(workload, Reason.API)
    assert deploy.status == Status.SUCCEEDED, deploy.log
    workload.refresh_from_db()
    assert workload.desired_state == "running" and workload.run_state == "running"
    assert "this deploy starts it" in deploy.log


def test_the_commands_stop_and_start_a_workload_by_name(talker_image, capsys):
    workload = deploy_talker(talker_image, name="cli-talker")
    call_command("stop", "cli-talker")
    assert "cli-talker: stopped" in capsys.readouterr().out
    assert Workload.objects.get(pk=workload.pk).desired_state == "stopped"
    call_command("start", "cli-talker")
    assert engine_state(workload) == "running"
    with pytest.raises(CommandError, match="No workload named"):
        call_command("restart", "no-such-workload")


COMPOSE_TALKERS = """
services:
  alpha:
    image: {image}
    command: ["sh", "-c", "echo alpha says {secret}; exec sleep 100000"]
  beta:
    image: {image}
    command: ["sh", "-c", "echo beta is here; exec sleep 100000"]
"""


def test_a_compose_workload_logs_per_service_and_stops_every_service(
        as_staff, registry, repo_name, tmp_path, settings, make_workload):
    settings.TINYFORGE_WORK_DIR = tmp_path
    image = f"{registry.host}/{repo_name}/talker:live"
    dockerlab.build_base_image(image, tmp_path)
    dockerlab.push(image)
    workload = make_workload(
        kind="compose", spec={"compose": COMPOSE_TALKERS.format(image=image, secret=SECRET)},
        env=[{"key": "API_KEY", "value": SECRET, "secret": True}])
    try:
        deploy = dispatch(workload, Reason.API)
        assert deploy.status == Status.SUCCEEDED, deploy.log
        url = f"/workloads/{workload.pk}/logs"
        both = poll(lambda: len(as_staff.get(url).data["lines"]) >= 2 and as_staff.get(url).data)
        assert {line["service"] for line in both["lines"]} == {"alpha", "beta"}
        alpha = as_staff.get(f"{url}?service=alpha").data["lines"]
        assert [line["text"] for line in alpha] == [f"alpha says {MASK}"]
        assert SECRET not in str(both)

        assert as_staff.post(f"/workloads/{workload.pk}/stop").status_code == 200
        states = {c.service: engine_state_of(c) for c in workload.containers.all()}
        assert states == {"alpha": "exited", "beta": "exited"}
        assert as_staff.post(f"/workloads/{workload.pk}/start").status_code == 200
        states = {c.service: engine_state_of(c) for c in workload.containers.all()}
        assert states == {"alpha": "running", "beta": "running"}
    finally:
        get_source("compose").teardown(workload, volumes=True)
        dockerlab.remove_image(image)


def engine_state_of(container):
    return tf_engine.container_info(container.docker_id).state
