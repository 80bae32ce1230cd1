"""A second, real Docker engine reached over TCP with TLS client certificates and over SSH:
deploy, roll back, delete and move workloads there; stop it and watch it go down and come back
(issue 12). Every test that takes ``far_host`` runs once per transport."""
import json
import os
import signal
import subprocess
import time

import pytest
from django.conf import settings

from apps.deploys.backups import restore_backup
from apps.deploys.dispatch import dispatch
from apps.deploys.moves import do_move
from apps.deploys.replays import rollback
from apps.metrics.models import RemoteHostSample, Sample
from apps.metrics.sampler import FleetSampler, Sampler
from apps.workloads import actions, engine, hosts, routing
from apps.workloads.engine import EngineTarget, ssh_tunnel
from apps.workloads.models import Container, Host, HostState
from tests.support import dockerlab, proxylab

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker]
INSTANCE = f"tinyforge.instance={settings.TINYFORGE_INSTANCE}"


@pytest.fixture(params=["tcp-tls", "ssh"])
def far_host(request, second_engine):
    if request.param == "ssh":
        values = {"engine_url": second_engine.ssh_url, "ssh_key": second_engine.ssh_key}
    else:
        values = {"engine_url": second_engine.tcp_url, "tls_ca": second_engine.tls_ca,
                  "tls_cert": second_engine.tls_cert, "tls_key": second_engine.tls_key}
    host = hosts.create_host({"name": "far", **values})
    yield host
    ssh_tunnel.close()
    for container in second_engine.container_ids(INSTANCE):
        second_engine.docker("rm", "-f", container, check=False)


def served_from(second_engine, workload, text):
    """The workload's container on the second engine answers with ``text`` (it publishes no
    port there: the host reaches it at its address on the second engine's bridge)."""
    ids = second_engine.running_ids(f"tinyforge.workload={workload.pk}")
    assert len(ids) == 1, ids
    inspected = json.loads(second_engine.docker("inspect", ids[0]).stdout)[0]
    address = next(net["IPAddress"] for net in inspected["NetworkSettings"]["Networks"].values()
                   if net["IPAddress"])
    return dockerlab.wait_for_http(f"http://{address}:8080/", text)


def test_testing_the_connection_reports_the_engine(far_host, as_admin):
    response = as_admin.post(f"/hosts/{far_host.pk}/test", {})

    assert response.status_code == 200, response.data
    info = response.data["engine_info"]
    assert info["version"] and info["cpus"] >= 1 and info["memory"] > 0
    assert info["cgroup_version"] in ("1", "2")
    assert response.data["state"] == "up"


def test_a_wrong_client_certificate_is_refused_not_hung(second_engine, as_admin):
    host = hosts.create_host({"name": "wrong", "engine_url": second_engine.tcp_url,
                              "tls_ca": second_engine.tls_ca, "tls_cert": second_engine.tls_ca,
                              "tls_key": second_engine.tls_key})
    started = time.monotonic()
    response = as_admin.post(f"/hosts/{host.pk}/test", {})
    assert response.status_code == 503
    assert time.monotonic() - started < settings.TINYFORGE_HOST_CHECK_TIMEOUT + 5


def test_a_wrong_ssh_key_is_refused_not_hung(second_engine, as_admin, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True)
    host = hosts.create_host({"name": "stranger", "engine_url": second_engine.ssh_url,
                              "ssh_key": (tmp_path / "k").read_text()})
    started = time.monotonic()
    response = as_admin.post(f"/hosts/{host.pk}/test", {})
    assert response.status_code == 503
    assert time.monotonic() - started < settings.TINYFORGE_HOST_CHECK_TIMEOUT + 5
    assert "PRIVATE KEY" not in str(response.data)


def test_a_workload_deploys_rolls_back_and_is_deleted_on_the_second_host(
        far_host, second_engine, registry, publisher, repo_name, make_workload):
    repository = f"{registry.host}/{repo_name}"
    v1 = publisher.publish(repository, 1)
    workload = make_workload(spec={"image": f"{repository}:live"}, host=far_host)

    first = dispatch(workload, "api")
    assert first.status == "succeeded", first.log
    assert first.host == far_host and first.pinned_ref == v1
    assert "On host far." in first.log  # an engine error below would say which host
    assert served_from(second_engine, workload, "version 1")
    assert dockerlab.container_ids(f"tinyforge.workload={workload.pk}", INSTANCE) == []

    publisher.publish(repository, 2)
    second = dispatch(workload, "api")
    assert second.status == "succeeded", second.log
    assert served_from(second_engine, workload, "version 2")

    back = rollback(workload, target=first, enqueue=False)
    assert back.status == "succeeded" and back.pinned_ref == v1
    assert served_from(second_engine, workload, "version 1")
    assert Container.objects.get(workload=workload).digest == v1

    actions.delete_workload(workload)
    assert second_engine.container_ids(f"tinyforge.workload={workload.pk}") == []


def test_a_workload_moves_to_the_second_host_and_leaves_the_first(
        far_host, second_engine, registry, publisher, repo_name, make_workload, as_admin):
    repository = f"{registry.host}/{repo_name}"
    digest = publisher.publish(repository, 7)
    workload = make_workload(spec={"image": f"{repository}:live"})
    assert dispatch(workload, "api").status == "succeeded"
    assert dockerlab.container_ids(f"tinyforge.workload={workload.pk}", INSTANCE)

    response = as_admin.post(f"/workloads/{workload.pk}/move", {"host": "far"})

    assert response.status_code == 200, response.data
    assert response.data["status"] == "succeeded" and response.data["reason"] == "move"
    assert response.data["host"] == "far" and response.data["pinned_ref"] == digest
    workload.refresh_from_db()
    assert workload.host == far_host
    assert served_from(second_engine, workload, "version 7")
    assert dockerlab.container_ids(f"tinyforge.workload={workload.pk}", INSTANCE) == []
    assert workload.events.filter(kind="moved").exists()


def test_a_failed_move_leaves_the_workload_serving_where_it_was(
        far_host, second_engine, registry, publisher, repo_name, make_workload):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 3)
    port = dockerlab.free_port()
    workload = make_workload(spec={"image": f"{repository}:live",
                                   "ports": [f"127.0.0.1:{port}:8080"]})
    assert dispatch(workload, "api").status == "succeeded"
    # The second engine runs without iptables: it cannot publish a port, so the start fails.
    deploy = do_move(workload, far_host)

    assert deploy.status == "failed"
    workload.refresh_from_db()
    assert workload.host.is_local
    assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 3")
    assert second_engine.running_ids(f"tinyforge.workload={workload.pk}") == []


def test_a_stopped_engine_goes_down_after_two_checks_and_comes_back_by_itself(
        far_host, second_engine, registry, publisher, repo_name, make_workload):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    far = make_workload(name="on-far", spec={"image": f"{repository}:live"}, host=far_host)
    near = make_workload(name="on-local", spec={"image": f"{repository}:live"})
    assert hosts.check_host(far_host) == HostState.UP

    second_engine.stop_engine()
    try:
        assert hosts.check_host(far_host) == HostState.UP  # one failure is not enough
        assert hosts.check_host(far_host) == HostState.DOWN
        started = time.monotonic()
        failed = dispatch(far, "api")
        assert failed.status == "failed" and failed.error_code == "host_down"
        assert time.monotonic() - started < 5
        # The local host is untouched meanwhile.
        assert dispatch(near, "api").status == "succeeded"
    finally:
        second_engine.start_engine()

    deadline = time.monotonic() + 30
    while hosts.check_host(Host.objects.get(pk=far_host.pk)) != HostState.UP:
        assert time.monotonic() < deadline, "the host did not come back"
        time.sleep(0.5)
    assert dispatch(far, "api").status == "succeeded"


def test_a_broken_ssh_connection_is_made_again_at_the_next_call(second_engine):
    target = EngineTarget(name="tunnelled", url=second_engine.ssh_url,
                          ssh_key=second_engine.ssh_key, timeout=10)
    try:
        with engine.using(target):
            assert engine.engine_facts()["cpus"] >= 1
            first = ssh_tunnel.tunnel_pid(target)
            os.kill(first, signal.SIGKILL)  # the connection breaks
            deadline = time.monotonic() + 10
            while ssh_tunnel.tunnel_pid(target) is not None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert engine.engine_facts()["cpus"] >= 1
            assert ssh_tunnel.tunnel_pid(target) not in (None, first)
    finally:
        ssh_tunnel.close(target)


def test_a_workload_on_the_second_host_is_sampled_with_its_hosts_series(
        far_host, second_engine, registry, publisher, repo_name, make_workload):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = make_workload(spec={"image": f"{repository}:live"}, host=far_host)
    assert dispatch(workload, "api").status == "succeeded"
    fleet = FleetSampler()
    try:
        fleet.prime()
        deadline = time.monotonic() + 30
        while not Sample.objects.filter(workload=workload).exists():
            assert time.monotonic() < deadline, "no sample of the remote workload"
            time.sleep(1)
            fleet.tick(int(time.time()))
    finally:
        fleet.close()
    sample = Sample.objects.filter(workload=workload).latest("ts")
    assert sample.memory_usage > 0 and sample.cpu_percent >= 0
    series = RemoteHostSample.objects.filter(host=far_host)
    assert series.exists() and series.latest("ts").memory_limit > 0
    assert reader_of(far_host) == "ApiReader"  # a remote engine: the stats API, not cgroups


def reader_of(host):
    """The kind of reader a sampler of ``host`` picks."""
    with engine.using(host.engine_target()):
        sampler = Sampler(host=host)
    sampler.close()
    return type(sampler.reader).__name__


def test_a_volume_on_the_second_host_is_backed_up_and_restored_through_a_helper(
        far_host, second_engine, registry, publisher, repo_name, make_workload):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = make_workload(spec={"image": f"{repository}:live"}, host=far_host,
                             volumes=[{"name": "data", "mount_path": "/data"}],
                             auto_backup=True)
    assert dispatch(workload, "api").status == "succeeded"

    def in_container(script):
        (container,) = second_engine.running_ids(f"tinyforge.workload={workload.pk}")
        return second_engine.docker("exec", container, "sh", "-c", script).stdout.decode()

    in_container("echo before > /data/note && mkdir -p /data/sub && echo deep > /data/sub/f")
    second = dispatch(workload, "api")
    assert second.status == "succeeded", second.log
    backup = second.backups.get()
    assert backup.status == "ok", backup.reason
    assert backup.size > 0

    in_container("echo after > /data/note && echo stray > /data/stray")
    restored = restore_backup(backup)

    assert restored == [workload.volumes.get().identity]
    assert in_container("cat /data/note /data/sub/f") == "before\ndeep\n"
    assert in_container("ls /data") == "note\nsub\n"
    assert second_engine.container_ids("tinyforge.helper=volume-archive") == []  # none left


def test_a_routed_workload_on_a_host_with_its_own_caddy_is_routed_there(
        far_host, second_engine, registry, publisher, repo_name, make_workload, caddy,
        tmp_path, settings):
    own_caddy = proxylab.Caddy(tmp_path / "far-caddy").start()
    try:
        hosts.update_host(far_host, {"proxy_admin": own_caddy.admin})
        repository = f"{registry.host}/{repo_name}"
        publisher.publish(repository, 4)
        workload = make_workload(spec={"image": f"{repository}:live",
                                       "domains": ["far-app.example.test"], "http_port": 8080},
                                 host=Host.objects.get(pk=far_host.pk))
        deploy = dispatch(workload, "api")
        assert deploy.status == "succeeded", deploy.log

        # Both Caddies run on this one machine, so only the config is compared (on a real
        # remote host its Caddy listens there, on the same address as the default one here).
        (container,) = second_engine.running_ids(f"tinyforge.workload={workload.pk}")
        networks = json.loads(second_engine.docker("inspect", container).stdout)[0][
            "NetworkSettings"]["Networks"]
        address = next(net["IPAddress"] for net in networks.values() if net["IPAddress"])
        config = own_caddy.config_text()
        assert "far-app.example.test" in config and f"{address}:8080" in config
        assert "far-app.example.test" not in caddy.config_text()
        # The reconcile pass keeps it there, and does not move it to the default Caddy.
        routing.sync_all()
        assert "far-app.example.test" in own_caddy.config_text()
        assert "far-app.example.test" not in caddy.config_text()
    finally:
        proxylab.remove_owned(own_caddy, f"tinyforge-{settings.TINYFORGE_INSTANCE}")
        own_caddy.stop()
