"""`manage.py deploy` and `rollback` on the real engine: clean progress on stdout, no log line
interleaved on either stream (they go to the command log file, masked), the cause once, and a
summary line with the running version and the duration."""
import logging
import re
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.deploys.dispatch import dispatch
from tests.support import dockerlab

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker]

CANARY = "cli" + uuid.uuid4().hex[:12]
# What a log record looks like on the console ("2026-11-23 20:12:52,902 INFO tinyforge.events")
# and django-q2's own format ("20:12:52 [Q] INFO").
LOG_LINE = re.compile(r"(\d\d:\d\d:\d\d.*\b(DEBUG|INFO|WARNING|ERROR)\b)|\[Q\]")


@pytest.fixture
def command_log(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path / "logs" / "commands.log"


@pytest.fixture
def console():
    """What the console log handlers (the project's, Django's, django-q2's) print, as a
    StringIO: in a terminal that is the stderr a command's progress shares."""
    screen = StringIO()
    handlers = {id(h): h for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict
                                        .values()] if isinstance(logger, logging.Logger)
                for h in logger.handlers if type(h) is logging.StreamHandler}.values()
    originals = [(handler, handler.stream) for handler in handlers]
    for handler, _stream in originals:
        handler.setStream(screen)
    logging.getLogger("tinyforge.events").info("before the command")
    assert "before the command" in screen.getvalue()  # the wiring does reach the screen
    yield screen
    for handler, stream in originals:
        handler.setStream(stream)


def run(console, *args):
    """(stdout, stderr, CommandError or None): the command's streams, each with what the
    console log handlers printed meanwhile."""
    out, err = StringIO(), StringIO()
    printed_before = len(console.getvalue())
    error = None
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        error = exc
    leaked = console.getvalue()[printed_before:]
    return out.getvalue(), err.getvalue() + leaked, error


def web(make_workload, repository, port):
    workload = make_workload(spec={"image": f"{repository}:live",
                                   "ports": [f"127.0.0.1:{port}:8080"]})
    workload.env_vars.create(key="API_KEY", value=CANARY, secret=True)
    return workload


def test_deploy_prints_progress_then_one_summary_with_version_and_duration(
    console, command_log, make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    digest = publisher.publish(repository, 1)
    workload = web(make_workload, repository, dockerlab.free_port())
    out, err, error = run(console, "deploy", workload.name)
    assert error is None, error
    lines = out.strip().splitlines()
    deploy = workload.deploys.get()
    assert lines[0] == f"Deploy #{deploy.pk} of {workload.name} started."
    assert len(lines) > 2  # pulling, starting...: the deploy's own log as it goes
    assert re.fullmatch(rf"Deploy #{deploy.pk} succeeded in \d+[.,]\d s: running "
                        rf"{re.escape(digest)}\.", lines[-1])
    assert sum("succeeded" in line for line in lines) == 1
    assert not [line for line in out.splitlines() + err.splitlines() if LOG_LINE.search(line)]
    assert err == ""
    logged = command_log.read_text()
    assert f"workload={workload.name} deployed" in logged  # nothing lost, only moved
    assert CANARY not in out + logged


def test_a_failed_deploy_states_its_cause_once_and_prints_no_log_line(
    console, command_log, make_workload
):
    workload = make_workload(spec={"image": f"127.0.0.1:1/{CANARY}/web:live"})
    workload.env_vars.create(key="API_KEY", value=CANARY, secret=True)
    out, err, error = run(console, "deploy", workload.name)
    assert error is not None and error.returncode != 0
    deploy = workload.deploys.get()
    message = str(error)
    assert re.match(rf"Deploy #{deploy.pk} failed after \d+[.,]\d s: pull_failed — ", message)
    assert "\n" not in message
    assert (out + err + message).count("pull_failed") == 1
    assert (out + err + message).count(str(deploy.error_message)) == 1
    assert not [line for line in out.splitlines() + err.splitlines() if LOG_LINE.search(line)]
    assert CANARY not in out + err + message
    logged = command_log.read_text()
    assert "failed (pull_failed)" in logged and CANARY not in logged


def test_rollback_shows_progress_while_it_works_and_ends_with_the_running_version(
    console, command_log, make_workload, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    v1 = publisher.publish(repository, 1)
    port = dockerlab.free_port()
    workload = web(make_workload, repository, port)
    first = dispatch(workload, "manual")
    publisher.publish(repository, 2)
    assert dispatch(workload, "manual").status == "succeeded"
    out, err, error = run(console, "rollback", workload.name)
    assert error is None, error
    back = workload.deploys.order_by("-id").first()
    lines = out.strip().splitlines()
    assert lines[0] == f"Deploy #{back.pk} of {workload.name} started."
    assert len(lines) > 2
    assert re.fullmatch(rf"Rolled back to deploy #{first.pk} in \d+[.,]\d s: running "
                        rf"{re.escape(v1)}\.", lines[-1])
    assert not [line for line in out.splitlines() + err.splitlines() if LOG_LINE.search(line)]
    assert err == ""
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
