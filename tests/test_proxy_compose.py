"""Compose workloads with routes behind a real Caddy, on the real engine and registry: each deploy
starts the other colour's project beside the serving one, moves the routes once it answers and
retires the old colour; a poller sees no failed request through a deploy, a broken deploy and a
rollback; named volumes are the same for both colours."""
import pytest
from django.conf import settings

from apps.deploys.reconcile import reconcile_all
from apps.workloads import engine as tf_engine
from apps.workloads import proxy
from tests.support import dockerlab, proxylab

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

STACK = """
services:
  web:
    image: {image}
    volumes: ["data:/data"]
  worker:
    image: {image}
    command: ["sh", "-c", "sleep 3600"]
volumes:
  data: {{}}
"""


def ours(workload_id):
    return tf_engine.list_containers({"tinyforge.instance": settings.TINYFORGE_INSTANCE,
                                      "tinyforge.workload": str(workload_id)})


def running(workload_id):
    return [c for c in ours(workload_id) if c.state == "running"]


def projects(workload_id):
    return {c.labels["com.docker.compose.project"] for c in running(workload_id)}


def create_stack(client, name, image, domain, **extra):
    created = client.post("/workloads", {"name": name, "kind": "compose", "spec": {
        "compose": STACK.format(image=image),
        "routes": [{"service": "web", "domains": [domain], "http_port": 8080}],
        "drain_seconds": 0.3, "stop_grace_seconds": 1, **extra}})
    assert created.status_code == 201, created.data
    return created.data


@pytest.fixture
def workdir(settings, tmp_path):
    settings.TINYFORGE_WORK_DIR = tmp_path
    yield tmp_path
    # A colour's network outlives its containers until the next deploy into it: sweep them,
    # by the labels a routed stack gives them (the engine has room for a few dozen only).
    instance = f"tinyforge.instance={settings.TINYFORGE_INSTANCE}"
    dockerlab.remove_containers(instance)
    dockerlab.remove_networks(instance)


def test_a_routed_compose_service_serves_its_domain_with_no_host_port(
    as_admin, caddy, registry, publisher, repo_name, workdir
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    stack = create_stack(as_admin, "shop", f"{repository}:live", "shop.example.test")
    deployed = as_admin.post(f"/workloads/{stack['id']}/deploy").data
    assert deployed["status"] == "succeeded", deployed
    assert proxylab.wait_via(caddy, "shop.example.test", "version 1")
    assert as_admin.get(f"/workloads/{stack['id']}").data["domains"] == ["shop.example.test"]
    services = {c.labels["tinyforge.service"] for c in running(stack["id"])}
    assert services == {"web", "worker"}
    for container in running(stack["id"]):
        assert dockerlab._docker("port", container.id).stdout.strip() == ""
    assert proxy.current_upstream(stack["id"], "web") is not None
    assert proxy.current_upstream(stack["id"]) is None  # the route is the service's


def test_deploy_broken_deploy_and_rollback_of_a_stack_drop_no_request(
    as_admin, caddy, registry, publisher, repo_name, workdir, tmp_path
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    stack = create_stack(as_admin, "bluegreen", f"{repository}:live", "bg.example.test")
    wid = stack["id"]
    first = as_admin.post(f"/workloads/{wid}/deploy").data
    assert first["status"] == "succeeded", first
    assert proxylab.wait_via(caddy, "bg.example.test", "version 1")
    (blue,) = projects(wid)
    assert blue.endswith("-blue")
    with proxylab.Poller(caddy, "bg.example.test") as poller:
        publisher.publish(repository, 2)
        second = as_admin.post(f"/workloads/{wid}/deploy").data
        assert second["status"] == "succeeded", second
        assert "version 2" in proxylab.get_via(caddy, "bg.example.test")[1]
        assert projects(wid) == {blue.replace("-blue", "-green")}  # blue drained and stopped

        dockerlab.build_exiting_image(f"{repository}:live", 3, tmp_path)
        dockerlab.push(f"{repository}:live")
        serving = {c.id for c in running(wid)}
        broken = as_admin.post(f"/workloads/{wid}/deploy").data
        assert broken["status"] == "failed" and broken["error_code"] == "start_failed"
        assert {c.id for c in running(wid)} == serving  # the serving colour never stopped
        assert "version 2" in proxylab.get_via(caddy, "bg.example.test")[1]

        back = as_admin.post(f"/workloads/{wid}/rollback", {"deploy_id": first["id"]}).data
        assert back["status"] == "succeeded", back
        assert "version 1" in proxylab.get_via(caddy, "bg.example.test")[1]
    assert poller.failures == []
    assert poller.ok > 20
    assert poller.bodies == {"tinyforge test version 1", "tinyforge test version 2"}


def test_both_colours_use_the_same_named_volume(
    as_admin, caddy, registry, publisher, repo_name, workdir
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    stack = create_stack(as_admin, "keeper", f"{repository}:live", "keep.example.test")
    as_admin.post(f"/workloads/{stack['id']}/deploy")
    (web,) = [c for c in running(stack["id"]) if c.labels["tinyforge.service"] == "web"]
    dockerlab.exec_in(web.id, "sh", "-c", "echo kept > /data/note")
    publisher.publish(repository, 2)
    assert as_admin.post(f"/workloads/{stack['id']}/deploy").data["status"] == "succeeded"
    (web2,) = [c for c in running(stack["id"]) if c.labels["tinyforge.service"] == "web"]
    assert web2.id != web.id
    assert dockerlab.exec_in(web2.id, "cat", "/data/note").strip() == "kept"


def test_caddy_restarted_empty_gets_the_service_route_back_and_delete_removes_both_colours(
    as_admin, caddy, registry, publisher, repo_name, workdir
):
    repository = f"{registry.host}/{repo_name}"
    publisher.publish(repository, 1)
    stack = create_stack(as_admin, "phoenix-stack", f"{repository}:live", "ps.example.test")
    as_admin.post(f"/workloads/{stack['id']}/deploy")
    caddy.restart_empty()
    reconcile_all()
    assert proxylab.wait_via(caddy, "ps.example.test", "version 1")
    assert as_admin.delete(f"/workloads/{stack['id']}").status_code in (200, 204)
    assert proxy.current_upstream(stack["id"], "web") is None
    assert ours(stack["id"]) == []
    assert dockerlab._docker("network", "ls", "-q", "--filter",
                             f"label=tinyforge.workload={stack['id']}").stdout.strip() == ""


@pytest.mark.parametrize("change, field", [
    ({"routes": [{"service": "db", "domains": ["a.example.test"], "http_port": 80}]},
     "spec.routes[0].service"),
    ({"routes": [{"service": "web", "domains": ["not a host"], "http_port": 80}]},
     "spec.routes[0].domains[0]"),
    ({"routes": [{"service": "web", "domains": ["a.example.test"]}]},
     "spec.routes[0].http_port"),
    ({"routes": [{"service": "web", "domains": ["a.example.test"], "http_port": 80,
                  "tls": True}]}, "spec.routes[0].tls"),
    ({"compose": "services:\n  web:\n    image: x\n    ports: ['8080:80']\n",
      "routes": [{"service": "web", "domains": ["a.example.test"], "http_port": 80}]},
     "spec.compose.services.web.ports"),
])
def test_bad_routes_are_refused_naming_the_field(as_admin, change, field):
    spec = {"compose": "services:\n  web:\n    image: x\n", **change}
    response = as_admin.post("/workloads", {"name": "bad-stack", "kind": "compose",
                                            "spec": spec})
    assert response.status_code == 422, response.data
    assert field in str(response.data["detail"]), response.data


def test_a_domain_an_image_workload_holds_is_a_conflict_for_a_stack(as_admin):
    held = as_admin.post("/workloads", {"name": "holder", "kind": "image", "spec": {
        "image": "127.0.0.1:5000/x:1", "domains": ["taken.example.test"], "http_port": 80}})
    assert held.status_code == 201, held.data
    response = as_admin.post("/workloads", {"name": "taker", "kind": "compose", "spec": {
        "compose": "services:\n  web:\n    image: x\n",
        "routes": [{"service": "web", "domains": ["taken.example.test"], "http_port": 80}]}})
    assert response.status_code == 409, response.data
    assert "holder" in str(response.data["detail"])
