"""A routed deploy killed mid-swap (TINYFORGE_FAULT seam, control plane in child processes as in
tests/deploys/test_recovery.py) is brought back by the reconcile pass, route included: the
domain serves the last good version through the real Caddy."""
import signal
import uuid

import pytest
from django.conf import settings

from tests.support import dockerlab, proxylab
from tests.support.faults import ControlPlane

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def control_plane(engine, tmp_path_factory):
    plane = ControlPlane(tmp_path_factory.mktemp("proxy-control-plane"),
                         f"{settings.TINYFORGE_INSTANCE}-pcp")
    plane.manage("migrate", "--noinput")
    yield plane
    dockerlab.remove_containers(f"tinyforge.instance={plane.instance}")
    dockerlab.remove_networks(f"tinyforge.instance={plane.instance}")


@pytest.fixture
def cp(control_plane, caddy):
    control_plane.env.update({
        "TINYFORGE_PROXY_ADMIN": caddy.admin,
        "TINYFORGE_PROXY_HTTP": caddy.http,
        "TINYFORGE_PROXY_HTTPS": "",
    })
    yield control_plane
    dockerlab.remove_containers(f"tinyforge.instance={control_plane.instance}")
    dockerlab.remove_networks(f"tinyforge.instance={control_plane.instance}")


@pytest.mark.parametrize("phase, restored, version", [
    ("started", "previous", "version 1"),  # never answered: the route never moved
    ("checked", "new", "version 2"),  # passed its checks; the route had not moved yet
    ("routed", "new", "version 2"),  # the route moved; the old one was still draining
])
def test_a_routed_deploy_killed_mid_swap_serves_the_last_good_version_after_reconcile(
    cp, caddy, registry, publisher, repo_name, phase, restored, version
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    name = f"killed-{uuid.uuid4().hex[:6]}"
    host = f"{name}.example.test"
    cp.create_workload(name, {"image": f"{repository}:live", "domains": [host],
                              "http_port": 8080, "drain_seconds": 0})
    cp.manage("deploy", name)
    assert proxylab.wait_via(caddy, host, "version 1")
    publisher.publish(repository, 2)
    killed = cp.manage("deploy", name, env={"TINYFORGE_FAULT": phase}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    reconciled = cp.manage("reconcile")
    assert "interrupted: 1" in reconciled.stdout

    assert proxylab.wait_via(caddy, host, version)
    ledger = cp.ledger(name)
    second = max(int(pk) for pk in ledger["deploys"])
    assert ledger["deploys"][str(second)]["restored"] == restored
    running = [deploy for deploy, state in ledger["containers"] if state == "running"]
    assert len(running) == 1


STACK = """
services:
  web:
    image: {image}
  worker:
    image: {image}
    command: ["sh", "-c", "sleep 3600"]
"""


@pytest.mark.parametrize("phase, restored, version", [
    ("started", "previous", "version 1"),  # the new colour never answered
    ("checked", "new", "version 2"),  # it answered; the route had not moved yet
    ("routed", "new", "version 2"),  # the route moved; the old colour was still there
])
def test_a_routed_stack_killed_mid_switch_serves_the_last_good_version_after_reconcile(
    cp, caddy, registry, publisher, repo_name, phase, restored, version
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    name = f"stack-{uuid.uuid4().hex[:6]}"
    host = f"{name}.example.test"
    cp.create_workload(name, {"compose": STACK.format(image=f"{repository}:live"),
                              "routes": [{"service": "web", "domains": [host],
                                          "http_port": 8080}],
                              "drain_seconds": 0}, kind="compose")
    cp.manage("deploy", name)
    assert proxylab.wait_via(caddy, host, "version 1")
    publisher.publish(repository, 2)
    killed = cp.manage("deploy", name, env={"TINYFORGE_FAULT": phase}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    reconciled = cp.manage("reconcile")
    assert "interrupted: 1" in reconciled.stdout

    assert proxylab.wait_via(caddy, host, version)
    ledger = cp.ledger(name)
    second = max(int(pk) for pk in ledger["deploys"])
    assert ledger["deploys"][str(second)]["restored"] == restored
    running = [deploy for deploy, state in ledger["containers"] if state == "running"]
    assert len(running) == 2  # one colour's web and worker, not both colours
