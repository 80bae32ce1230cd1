"""Fault injection on the real engine: a deploy killed at each step of its swap, the engine
connection cut after the swap, a registry stopped mid-pull. After a reconcile pass the last
good version serves and the ledger says what happened.

The deploys run as ``manage.py deploy`` in child processes against their own SQLite file (see
tests/support/faults.py), killed through the TINYFORGE_FAULT test seam in dispatch: the
process SIGKILLs itself right after recording the named swap phase.
"""
import os
import signal
import subprocess
import time
import uuid

import pytest
from django.conf import settings

from tests.support import dockerlab
from tests.support.faults import (
    ControlPlane,
    SocatDockerProxy,
    ThrottledProxy,
    wait_for_path,
)

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def control_plane(engine, tmp_path_factory):
    plane = ControlPlane(tmp_path_factory.mktemp("control-plane"),
                         f"{settings.TINYFORGE_INSTANCE}-cp")
    plane.manage("migrate", "--noinput")
    yield plane
    dockerlab.remove_containers(f"tinyforge.instance={plane.instance}")


@pytest.fixture
def cp(control_plane):
    yield control_plane
    dockerlab.remove_containers(f"tinyforge.instance={control_plane.instance}")


def unique_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def deployed_v1(cp, registry, publisher, repo_name, prefix):
    """A workload serving version 1 on a published port; returns (name, port, repository)."""
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    name, port = unique_name(prefix), dockerlab.free_port()
    cp.create_workload(name, {"image": f"{repository}:live",
                              "ports": [f"127.0.0.1:{port}:8080"]})
    cp.manage("deploy", name)
    dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    return name, port, repository


def serves(port):
    try:
        return dockerlab.http_get(f"http://127.0.0.1:{port}/", timeout=1)[1]
    except OSError:
        return None


def entry(ledger, deploy_id):
    return ledger["deploys"][str(deploy_id)]


def running_deploys(ledger):
    return [deploy_id for deploy_id, state in ledger["containers"] if state == "running"]


@pytest.mark.parametrize("phase, restored, version", [
    ("creating", "previous", "version 1"),
    ("created", "previous", "version 1"),
    ("old_stopped", "previous", "version 1"),
    ("started", "previous", "version 1"),  # killed before its checks: never left live
    ("checked", "new", "version 2"),
    ("swapped", "new", "version 2"),
])
def test_a_deploy_killed_at_each_step_of_the_swap_is_brought_back_to_the_last_good_version(
    cp, registry, publisher, repo_name, phase, restored, version
):
    name, port, repository = deployed_v1(cp, registry, publisher, repo_name, "killed")
    publisher.publish(repository, 2)
    killed = cp.manage("deploy", name, env={"TINYFORGE_FAULT": phase}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = cp.ledger(name)
    first, second = sorted(int(pk) for pk in before["deploys"])
    assert entry(before, second)["status"] == "running"
    assert entry(before, second)["phase"] == phase
    if phase == "old_stopped":
        assert serves(port) is None  # the fault is real: nothing serves until recovery

    reconciled = cp.manage("reconcile")
    assert "interrupted: 1" in reconciled.stdout

    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", version)
    after = cp.ledger(name)
    assert entry(after, second)["status"] == "interrupted"
    assert entry(after, second)["restored"] == restored
    assert "Recovered:" in entry(after, second)["log"]
    assert any(kind == "recovered" and f"#{second}" in message
               for kind, message in after["events"])
    live = first if restored == "previous" else second
    assert after["current"] == live
    assert running_deploys(after) == [live]


def test_a_workload_renamed_after_its_deploy_was_killed_is_still_recovered(
    cp, registry, publisher, repo_name
):
    name, port, repository = deployed_v1(cp, registry, publisher, repo_name, "renamed")
    publisher.publish(repository, 2)
    killed = cp.manage("deploy", name, env={"TINYFORGE_FAULT": "old_stopped"}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert serves(port) is None
    new_name = name + "-new"
    cp.query("import json\nfrom apps.workloads.actions import update_workload\n"
             "from apps.workloads.models import Workload\n"
             f"w = update_workload(Workload.objects.get(name={name!r}), {{'name': {new_name!r}}})\n"
             "print(json.dumps(w.name))")

    cp.manage("reconcile")

    # Its containers still carry the old name label: found by id, the old one runs again.
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    after = cp.ledger(new_name)
    second = max(int(pk) for pk in after["deploys"])
    assert entry(after, second)["restored"] == "previous"


def test_a_task_worker_killed_mid_swap_is_recovered_by_the_reconcile_pass(
    cp, registry, publisher, repo_name, tmp_path
):
    name, port, repository = deployed_v1(cp, registry, publisher, repo_name, "worker")
    publisher.publish(repository, 2)
    # The real task cluster (not the inline one of the test settings); its worker SIGKILLs
    # itself once the old container is stopped.
    cluster_env = {"DJANGO_SETTINGS_MODULE": "tinyforge.settings",
                   "TINYFORGE_FAULT": "old_stopped", "TINYFORGE_WORKERS": "1"}
    with open(tmp_path / "cluster.log", "w") as cluster_log:
        cluster = cp.start("qcluster", env=cluster_env, output=cluster_log)
    try:
        second = cp.query(
            "import json\nfrom apps.deploys.dispatch import dispatch\n"
            "from apps.workloads.models import Workload\n"
            f"d = dispatch(Workload.objects.get(name={name!r}), 'api', enqueue=True)\n"
            "print(json.dumps(d.pk))", env={"DJANGO_SETTINGS_MODULE": "tinyforge.settings"})
        wait_until(lambda: entry(cp.ledger(name), second)["phase"] == "old_stopped", 120)
        wait_until(lambda: cp.manage("reconcile") and
                   entry(cp.ledger(name), second)["restored"] != "", 120)
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    ledger = cp.ledger(name)
    assert entry(ledger, second)["status"] == "interrupted"
    assert entry(ledger, second)["restored"] == "previous"
    assert running_deploys(ledger) == [ledger["current"]] and ledger["current"] != second


def test_reconcile_runs_again_harmlessly_after_a_recovery(cp, registry, publisher, repo_name):
    name, port, repository = deployed_v1(cp, registry, publisher, repo_name, "again")
    publisher.publish(repository, 2)
    cp.manage("deploy", name, env={"TINYFORGE_FAULT": "old_stopped"}, check=False)
    cp.manage("reconcile")
    recovered = cp.ledger(name)
    cp.manage("reconcile")
    assert "recovered: 0" in cp.manage("reconcile").stdout
    assert cp.ledger(name)["events"] == recovered["events"]
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")


def test_the_next_deploy_finishes_an_interrupted_swap_before_its_own(
    cp, registry, publisher, repo_name
):
    name, port, repository = deployed_v1(cp, registry, publisher, repo_name, "next")
    publisher.publish(repository, 2)
    cp.manage("deploy", name, env={"TINYFORGE_FAULT": "started"}, check=False)
    # What a reconcile pass leaves when the engine is unreachable: interrupted, lock free,
    # the swap still to undo.
    cp.query("import json\nfrom apps.deploys.models import Deploy\n"
             "from apps.workloads.models import Workload\n"
             f"w = Workload.objects.get(name={name!r})\n"
             "Workload.objects.filter(pk=w.pk).update(lock_deploy_id=None)\n"
             "print(Deploy.objects.filter(workload=w, status='running')"
             ".update(status='interrupted'))")
    third = cp.manage("deploy", name)
    assert "Recovered an interrupted deploy first: previous" in third.stdout
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 2")
    ledger = cp.ledger(name)
    first, second, last = sorted(int(pk) for pk in ledger["deploys"])
    assert entry(ledger, second)["restored"] == "previous"
    assert ledger["current"] == last and entry(ledger, last)["status"] == "succeeded"
    assert running_deploys(ledger) == [last]


def test_a_lost_engine_connection_after_the_swap_is_never_recorded_as_a_failure(
    cp, registry, publisher, repo_name, tmp_path
):
    name, port, repository = deployed_v1(cp, registry, publisher, repo_name, "cut")
    publisher.publish(repository, 2)
    proxy = SocatDockerProxy(tmp_path / "docker.sock").start()
    gate = tmp_path / "go"
    try:
        child = cp.start("deploy", name, env={
            "DOCKER_HOST": proxy.docker_host,
            "TINYFORGE_FAULT_PAUSE": f"checked:{gate}",
        })
        wait_for_path(tmp_path / "go.reached", 120, child)
        proxy.cut()  # the new version has passed its checks; the old one is not removed yet
        gate.touch()
        out, err = child.communicate(timeout=120)
    finally:
        proxy.cut()
    assert child.returncode != 0
    assert "interrupted" in err and "Traceback" not in err, err
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 2")
    during = cp.ledger(name)
    first, second = sorted(int(pk) for pk in during["deploys"])
    assert entry(during, second)["status"] == "interrupted", entry(during, second)
    assert entry(during, second)["error_code"] == ""

    assert "recovered: 1" in cp.manage("reconcile").stdout
    after = cp.ledger(name)
    assert entry(after, second)["restored"] == "new"
    assert after["current"] == second
    assert running_deploys(after) == [second]
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 2")


def test_a_registry_stopped_mid_pull_fails_the_deploy_and_the_old_version_keeps_serving(
    cp, tmp_path
):
    registry = dockerlab.Registry().start(tmp_path)
    proxy = ThrottledProxy(registry.port, rate=256 * 1024)
    repository = f"{proxy.host}/tftest/{uuid.uuid4().hex[:10]}"
    try:
        dockerlab.build_web_image(f"{repository}:live", f"1 [{repository}]", tmp_path)
        dockerlab.push(f"{repository}:live")
        name, port = unique_name("midpull"), dockerlab.free_port()
        cp.create_workload(name, {"image": f"{repository}:live",
                                  "ports": [f"127.0.0.1:{port}:8080"]})
        cp.manage("deploy", name)
        dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
        build_big_image(f"{repository}:live", tmp_path)
        dockerlab.push(f"{repository}:live")
        dockerlab.remove_image(f"{repository}:live")  # the pull must fetch the big layer

        proxy.throttled = True
        start = proxy.downstream
        child = cp.start("deploy", name)
        deadline_bytes = start + 1024 * 1024
        wait_until(lambda: proxy.downstream > deadline_bytes or child.poll() is not None, 120)
        assert child.poll() is None, "the pull ended before the registry was stopped"
        registry.stop()
        proxy.stop()
        out, err = child.communicate(timeout=300)
    finally:
        proxy.stop()
        registry.stop()
    assert child.returncode == 1 and "pull_failed" in err, (out, err)
    ledger = cp.ledger(name)
    second = max(int(pk) for pk in ledger["deploys"])
    assert entry(ledger, second)["status"] == "failed"
    assert entry(ledger, second)["error_code"] == "pull_failed"
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
    assert running_deploys(ledger) == [ledger["current"]] and ledger["current"] != second


def build_big_image(tag, tmpdir):
    """Version 2 with a 6 MB incompressible layer, so a throttled pull takes a while."""
    context = tmpdir / f"big-{uuid.uuid4().hex[:6]}"
    context.mkdir()
    (context / "blob").write_bytes(os.urandom(6 * 1024 * 1024))
    base = tag + "-base"
    dockerlab.build_web_image(base, "2", tmpdir)
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY blob /blob\n")
    subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], check=True,
                   capture_output=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    dockerlab.remove_image(base)


def wait_until(condition, deadline_s):
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {deadline_s}s")
        time.sleep(0.05)


def test_a_container_the_engine_refuses_to_create_is_a_plain_failure_not_an_interruption(
    cp, registry, publisher, repo_name
):
    name, port, repository = deployed_v1(cp, registry, publisher, repo_name, "refused")
    cp.query("import json\nfrom apps.workloads.models import Workload\n"
             f"w = Workload.objects.get(name={name!r})\n"
             "w.spec = {**w.spec, 'limits': {'memory': '1k'}}\n"  # below the engine's minimum
             "w.save()\nprint(json.dumps(w.pk))")
    refused = cp.manage("deploy", name, check=False)
    assert refused.returncode == 1 and "start_failed" in refused.stderr, refused.stderr
    ledger = cp.ledger(name)
    second = max(int(pk) for pk in ledger["deploys"])
    assert entry(ledger, second)["status"] == "failed"
    assert entry(ledger, second)["phase"] == "rolled_back"
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
