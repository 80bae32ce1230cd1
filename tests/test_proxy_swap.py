"""Workloads with domains behind a real Caddy (tests/support/proxylab.py), on the real engine and
registry: served through the proxy, swapped start-first with no failed request, a failed deploy
leaving the old container serving, routes restored by reconcile, removed with the workload."""
import uuid

import pytest
from django.conf import settings

from apps.deploys.dispatch import dispatch
from apps.deploys.models import Deploy
from apps.deploys.reconcile import reconcile_all
from apps.workloads import engine as tf_engine
from apps.workloads import proxy
from tests.support import dockerlab, proxylab

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

CANARY = "proxy-canary-" + uuid.uuid4().hex[:12]


def ours(workload_id):
    return tf_engine.list_containers({"tinyforge.instance": settings.TINYFORGE_INSTANCE,
                                      "tinyforge.workload": str(workload_id)})


def running_ids(workload_id):
    return {c.id for c in ours(workload_id) if c.state == "running"}


def create_routed(client, name, image, domain, **spec):
    created = client.post("/workloads", {
        "name": name, "kind": "image",
        "spec": {"image": image, "domains": [domain], "http_port": 8080,
                 "drain_seconds": 0.5, "stop_grace_seconds": 1, **spec},
    })
    assert created.status_code == 201, created.data
    return created.data


def test_a_domain_serves_its_workload_through_the_proxy_with_no_published_port(
    as_admin, caddy, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = create_routed(as_admin, "routed", f"{repository}:live", "web.example.test")
    deployed = as_admin.post(f"/workloads/{workload['id']}/deploy")
    assert deployed.data["status"] == "succeeded", deployed.data
    assert proxylab.wait_via(caddy, "web.example.test", "version 1")
    status, body, issuer = proxylab.wait_via_https(caddy, "web.example.test")
    assert status == 200 and "version 1" in body and "Caddy Local Authority" in issuer
    fetched = as_admin.get(f"/workloads/{workload['id']}")
    assert fetched.data["domains"] == ["web.example.test"]
    (container,) = ours(workload["id"])
    ports = dockerlab._docker("port", container.id).stdout.strip()
    assert ports == ""  # nothing published on the host
    assert proxy.current_upstream(workload["id"]) == (
        f"{container.addresses[f'tf-{settings.TINYFORGE_INSTANCE}-proxy']}:8080")


def test_deploy_broken_deploy_and_rollback_swap_with_no_failed_request(
    as_admin, caddy, registry, publisher, repo_name, tmp_path
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = create_routed(as_admin, "swapper", f"{repository}:live", "swap.example.test")
    wid = workload["id"]
    first = as_admin.post(f"/workloads/{wid}/deploy").data
    assert first["status"] == "succeeded"
    assert proxylab.wait_via(caddy, "swap.example.test", "version 1")
    with proxylab.Poller(caddy, "swap.example.test") as poller:
        publisher.publish(repository, 2)
        second = as_admin.post(f"/workloads/{wid}/deploy").data
        assert second["status"] == "succeeded", second
        assert proxylab.get_via(caddy, "swap.example.test")[1].startswith(
            "tinyforge test version 2")
        serving = running_ids(wid)
        assert len(serving) == 1  # the v1 container drained and was removed

        dockerlab.build_exiting_image(f"{repository}:live", 3, tmp_path)
        dockerlab.push(f"{repository}:live")
        broken = as_admin.post(f"/workloads/{wid}/deploy").data
        assert broken["status"] == "failed" and broken["error_code"] == "start_failed"
        assert running_ids(wid) == serving  # the old container never stopped
        assert proxylab.get_via(caddy, "swap.example.test")[1].startswith(
            "tinyforge test version 2")

        back = as_admin.post(f"/workloads/{wid}/rollback", {"deploy_id": first["id"]}).data
        assert back["status"] == "succeeded", back
        assert proxylab.get_via(caddy, "swap.example.test")[1].startswith(
            "tinyforge test version 1")
    assert poller.failures == []
    assert poller.ok > 20
    assert poller.bodies == {"tinyforge test version 1", "tinyforge test version 2"}


def test_the_deploy_is_recorded_before_the_previous_container_drains_and_stops(
    as_admin, caddy, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = create_routed(as_admin, "drainer", f"{repository}:live", "drain.example.test")
    as_admin.post(f"/workloads/{workload['id']}/deploy")
    publisher.publish(repository, 2)
    second = as_admin.post(f"/workloads/{workload['id']}/deploy").data
    log = Deploy.objects.get(pk=second["id"]).log
    switched = log.index("now goes to container")
    recorded = log.index(f"Deploy #{second['id']} succeeded.")
    removed = log.index("after draining")
    assert switched < recorded < removed
    assert Deploy.objects.get(pk=second["id"]).phase == "swapped"


def test_a_failing_health_check_leaves_the_route_on_the_old_container(
    as_admin, caddy, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = create_routed(as_admin, "sickly", f"{repository}:live", "sick.example.test")
    as_admin.post(f"/workloads/{workload['id']}/deploy")
    before = proxy.current_upstream(workload["id"])
    serving = running_ids(workload["id"])
    as_admin.patch(f"/workloads/{workload['id']}", {"spec": {
        "image": f"{repository}:live", "domains": ["sick.example.test"], "http_port": 8080,
        "healthcheck": {"http": {"path": "/missing", "port": 8080}, "interval": 0.2,
                        "retries": 2}}})
    publisher.publish(repository, 2)
    failed = as_admin.post(f"/workloads/{workload['id']}/deploy").data
    assert failed["status"] == "failed" and failed["error_code"] == "health_failed"
    assert proxy.current_upstream(workload["id"]) == before
    assert running_ids(workload["id"]) == serving
    assert "version 1" in proxylab.get_via(caddy, "sick.example.test")[1]


def test_caddy_restarted_empty_gets_its_routes_back_from_one_reconcile_pass(
    as_admin, caddy, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = create_routed(as_admin, "phoenix", f"{repository}:live", "back.example.test")
    as_admin.post(f"/workloads/{workload['id']}/deploy")
    assert proxylab.wait_via(caddy, "back.example.test", "version 1")
    caddy.restart_empty()
    assert proxy.current_upstream(workload["id"]) is None
    result = reconcile_all()
    assert result["routes"]["published"] == 2  # the HTTP and the HTTPS block
    assert proxylab.wait_via(caddy, "back.example.test", "version 1")


def test_deleting_a_workload_removes_its_route_and_containers(
    as_admin, caddy, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    workload = create_routed(as_admin, "goner", f"{repository}:live", "bye.example.test")
    as_admin.post(f"/workloads/{workload['id']}/deploy")
    assert proxy.current_upstream(workload["id"]) is not None
    assert as_admin.delete(f"/workloads/{workload['id']}").status_code in (200, 204)
    assert proxy.current_upstream(workload["id"]) is None
    assert ours(workload["id"]) == []
    assert "version 1" not in proxylab.get_via(caddy, "bye.example.test")[1]


def test_a_route_left_by_a_deleted_workload_goes_in_the_next_reconcile_pass(caddy, db):
    proxy.publish(proxy.Route(987654, ("stale.example.test",), "127.0.0.1:9"))
    reconcile_all()
    assert proxy.current_upstream(987654) is None


def test_a_secret_env_value_never_reaches_the_proxy_config(
    as_admin, caddy, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    created = as_admin.post("/workloads", {
        "name": "secretive", "kind": "image",
        "spec": {"image": f"{repository}:live", "domains": ["secret.example.test"],
                 "http_port": 8080},
        "env": [{"key": "API_KEY", "value": CANARY, "secret": True},
                {"key": "PLAIN", "value": CANARY + "-plain"}],
    })
    assert as_admin.post(f"/workloads/{created.data['id']}/deploy").data["status"] == "succeeded"
    (container,) = ours(created.data["id"])
    assert CANARY in dockerlab.exec_in(container.id, "env")  # the canary did reach the container
    config = caddy.config_text()
    assert "secret.example.test" in config
    assert CANARY not in config


def test_a_workload_with_published_ports_says_its_swap_has_a_gap(
    as_admin, registry, publisher, repo_name
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    port = dockerlab.free_port()
    created = as_admin.post("/workloads", {"name": "gappy", "kind": "image", "spec": {
        "image": f"{repository}:live", "ports": [f"127.0.0.1:{port}:8080"]}})
    deployed = as_admin.post(f"/workloads/{created.data['id']}/deploy").data
    assert "requests fail during the swap" in Deploy.objects.get(pk=deployed["id"]).log


def test_a_deploy_fails_before_touching_anything_when_the_proxy_does_not_answer(
    make_workload, registry, publisher, repo_name, settings
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    settings.TINYFORGE_PROXY_ADMIN = f"http://127.0.0.1:{dockerlab.free_port()}"
    workload = make_workload(spec={"image": f"{repository}:live",
                                   "domains": ["nowhere.example.test"], "http_port": 8080})
    deploy = dispatch(workload, "manual")
    assert deploy.status == "failed" and deploy.error_code == "proxy_failed"
    assert ours(workload.pk) == []
