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
