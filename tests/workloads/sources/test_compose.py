"""The compose source: validation, project names, the write-once file, and a real deploy."""
import pytest

from apps.deploys.dispatch import dispatch
from apps.workloads.models import Container
from apps.workloads.sources import SOURCES, SpecError, get_source
from apps.workloads.sources.compose import COMPOSE_FILE, render, sanitize_project_name
from apps.workloads.workdirs import workdir, write_if_changed
from tests.support import dockerlab

TWO_SERVICES = """
services:
  web:
    image: {web}
    ports: ["127.0.0.1:{port}:8080"]
  worker:
    image: {worker}
    labels: ["team=blue"]
"""


@pytest.mark.parametrize("raw, expected", [
    ("Shop", "shop"),
    ("my shop!", "my-shop"),
    ("__x__", "x"),
    ("Ünïcode Name", "n-code-name"),
    ("", "tinyforge"),
    ("-lead", "lead"),
    ("a_b-c9", "a_b-c9"),
])
def test_it_sanitizes_project_names_to_compose_rules(raw, expected):
    assert sanitize_project_name(raw) == expected


def test_it_is_registered_with_a_schema_sample_that_validates():
    source = get_source("compose")
    assert "compose" in SOURCES and source.kind == "compose"
    assert source.validate(source.schema_sample)["compose"] == source.schema_sample["compose"]


@pytest.mark.parametrize("spec, field", [
    ({"compose": "services: [unclosed"}, "compose"),
    ({"compose": "version: '3'\n"}, "compose"),
    ({"compose": "services: {}\n"}, "compose"),
    ({"compose": "services:\n  web:\n    ports: ['80:80']\n"}, "compose.services.web"),
    ({}, "compose"),
    ({"compose": "services:\n  a:\n    image: x\n", "bogus": 1}, "bogus"),
])
def test_it_rejects_bad_compose_specs_naming_the_field(spec, field):
    with pytest.raises(SpecError) as caught:
        get_source("compose").validate(spec)
    assert field in caught.value.errors


def test_render_injects_labels_into_every_service_and_keeps_its_own():
    text = TWO_SERVICES.format(web="a/web:1", worker="a/worker:1", port=8080)
    rendered = render(text, {"tinyforge.workload": "7"})
    assert "tinyforge.workload: '7'" in rendered and "team: blue" in rendered
    assert rendered.count("tinyforge.service") == 2


def test_it_rewrites_the_file_only_when_the_content_changed(tmp_path):
    path = tmp_path / COMPOSE_FILE
    assert write_if_changed(path, "a: 1\n") is True
    before = path.stat().st_mtime_ns
    assert write_if_changed(path, "a: 1\n") is False
    assert path.stat().st_mtime_ns == before
    assert write_if_changed(path, "a: 2\n") is True


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_two_service_compose_workload_deploys_and_both_containers_are_indexed(
    make_workload, registry, publisher, repo_name, settings, tmp_path
):
    settings.TINYFORGE_WORK_DIR = tmp_path
    web = f"{registry.host}/{repo_name}/web"
    worker = f"{registry.host}/{repo_name}/worker"
    web_digest = publisher.publish(web, 1)
    worker_digest = publisher.publish(worker, 7)
    port = dockerlab.free_port()
    workload = make_workload(kind="compose", spec={"compose": TWO_SERVICES.format(
        web=f"{web}:live", worker=f"{worker}:live", port=port)})
    try:
        deploy = dispatch(workload, "manual")
        assert deploy.status == "succeeded", deploy.log
        assert dockerlab.wait_for_http(f"http://127.0.0.1:{port}/", "version 1")
        services = {row.service: row for row in Container.objects.filter(workload=workload)}
        assert set(services) == {"web", "worker"}
        assert deploy.pinned["services"]["web"]["digest"] == web_digest
        assert deploy.pinned["services"]["worker"]["digest"] == worker_digest
        assert deploy.pinned_ref == deploy.pinned["hash"]
        path = workdir(workload) / COMPOSE_FILE
        stamp = path.stat().st_mtime_ns
        again = dispatch(workload, "manual")
        assert again.status == "succeeded" and path.stat().st_mtime_ns == stamp
    finally:
        get_source("compose").teardown(workload, volumes=True)


ROUTED = {"compose": "services:\n  web:\n    image: a/web:1\n    volumes: ['data:/data']\n"
                     "  worker:\n    image: a/worker:1\n    networks: [back]\n"
                     "networks:\n  back: {}\nvolumes:\n  data: {}\n  cache:\n    name: fixed\n",
          "routes": [{"service": "web", "domains": ["Shop.Example.test"], "http_port": 8080}]}


def test_routes_are_cleaned_and_their_domains_lowercased():
    cleaned = get_source("compose").clean(dict(ROUTED))
    assert cleaned["routes"] == [{"service": "web", "domains": ["shop.example.test"],
                                  "http_port": 8080}]


@pytest.mark.parametrize("routes, field", [
    ("web", "routes"),
    ([{"service": "web", "domains": [], "http_port": 80}], "routes[0].domains"),
    ([{"service": "web", "domains": ["a.example.test"], "http_port": 0}], "routes[0].http_port"),
    ([{"service": "web", "domains": ["a.example.test"], "http_port": 80},
      {"service": "web", "domains": ["b.example.test"], "http_port": 80}], "routes[1].service"),
    ([{"service": "web", "domains": ["a.example.test"], "http_port": 80},
      {"service": "worker", "domains": ["a.example.test"], "http_port": 80}],
     "routes[1].domains[0]"),
])
def test_bad_routes_name_the_field(routes, field):
    with pytest.raises(SpecError) as caught:
        get_source("compose").clean({**ROUTED, "routes": routes})
    assert field in caught.value.errors, caught.value.errors


def test_a_routed_service_may_not_set_network_mode_nor_any_service_a_container_name():
    spec = {"compose": "services:\n  web:\n    image: x\n    network_mode: bridge\n"
                       "  db:\n    image: y\n    container_name: fixed\n",
            "routes": [{"service": "web", "domains": ["a.example.test"], "http_port": 80}]}
    with pytest.raises(SpecError) as caught:
        get_source("compose").clean(spec)
    assert {"routes[0].service", "compose.services.db.container_name"} <= set(
        caught.value.errors)


def test_render_puts_routed_services_on_the_proxy_network_and_names_volumes_by_the_base_project():
    import yaml
    routes = [("web", ("shop.example.test",), 8080)]
    data = yaml.safe_load(render(ROUTED["compose"], {"tinyforge.workload": "7"}, routes=routes,
                                 volume_project="shop", proxy_network="tf-x-proxy"))
    assert data["services"]["web"]["networks"] == ["default", "tinyforge_proxy"]
    assert data["services"]["web"]["labels"]["tinyforge.http-port"] == "8080"
    assert data["services"]["worker"]["networks"] == ["back"]  # not routed: left alone
    assert "tinyforge.http-port" not in data["services"]["worker"]["labels"]
    assert data["networks"]["tinyforge_proxy"] == {"external": True, "name": "tf-x-proxy"}
    assert data["volumes"]["data"] == {"name": "shop_data"}  # what compose named it before
    assert data["volumes"]["cache"] == {"name": "fixed"}  # an explicit name is kept


def test_render_without_routes_leaves_networks_and_volumes_as_written():
    import yaml
    data = yaml.safe_load(render(ROUTED["compose"], {"tinyforge.workload": "7"}))
    assert "tinyforge_proxy" not in data["networks"]
    assert data["volumes"]["data"] == {}
