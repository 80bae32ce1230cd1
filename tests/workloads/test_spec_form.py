"""Editing a workload's spec: a form field per option of its kind, the kind's sample prefilled,
JSON still there for advanced use (issue 11, "Editing a workload")."""
import re

import pytest

from apps.workloads.models import Workload
from tests.support.admin_forms import workload_form

ADD = "/admin/workloads/workload/add/"


def form_post(kind, name="formed", **options):
    """An add-form post in form mode: the given options of ``kind`` (others left empty)."""
    data = workload_form(name=name, kind=kind, spec={})
    data["spec_mode"] = "form"
    for option, value in options.items():
        data[f"spec__{kind}__{option}"] = value
    return data


def test_the_add_page_shows_a_field_per_option_of_every_kind(admin_client):
    html = admin_client.get(ADD).content.decode()

    for field in ("spec__image__image", "spec__image__ports", "spec__image__limits__memory",
                  "spec__image__healthcheck", "spec__image__domains", "spec__image__http_port",
                  "spec__git__repo", "spec__git__build_args", "spec__compose__compose",
                  "spec__compose__project"):
        assert f'name="{field}"' in html, field
    assert "tf-kind-image" in html and "tf-kind-git" in html and "tf-kind-compose" in html


def test_the_add_page_prefills_each_kind_with_its_sample(admin_client):
    html = admin_client.get(ADD).content.decode()

    image = re.search(r'name="spec__image__image"[^>]*value="([^"]*)"', html)
    assert image and image.group(1) == "127.0.0.1:5000/team/web:live"
    assert "https://git.example.com/team/web.git" in html
    assert re.search(r'<input[^>]*value="form"[^>]*checked', html)


def test_a_workload_added_with_the_form_gets_the_spec_its_fields_describe(admin_client, db):
    response = admin_client.post(ADD, form_post(
        "image", image="127.0.0.1:5000/team/web:2", ports="127.0.0.1:8080:8080\n\n8081:80",
        limits__memory="256m", limits__cpus="0.5", restart="always",
        command='sh -c "echo hi"', auto_rollback="on"))

    assert response.status_code == 302, response.content.decode()[:3000]
    spec = Workload.objects.get(name="formed").spec
    assert spec["image"] == "127.0.0.1:5000/team/web:2"
    assert spec["ports"] == ["127.0.0.1:8080:8080", "8081:80"]
    assert spec["limits"] == {"memory": "256m", "cpus": 0.5}
    assert spec["restart"] == "always" and spec["auto_rollback"] is True
    assert spec["command"] == ["sh", "-c", "echo hi"]


def test_a_bad_option_is_reported_next_to_its_field_and_nothing_is_saved(admin_client, db):
    response = admin_client.post(ADD, form_post("image", image="127.0.0.1:5000/web:1",
                                                ports="not-a-port"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any("spec.ports[0]" in message for message in errors["spec__image__ports"])
    assert "spec.ports[0]" in response.content.decode()
    assert not Workload.objects.filter(name="formed").exists()


def test_a_missing_required_option_names_the_option(admin_client, db):
    response = admin_client.post(ADD, form_post("git", repo=""))

    assert response.status_code == 200
    assert "spec.repo" in response.content.decode()
    assert not Workload.objects.filter(name="formed").exists()


def test_build_arguments_are_written_one_pair_per_line(admin_client, db):
    response = admin_client.post(ADD, form_post(
        "git", repo="https://git.example.com/team/web.git", build_args="VERSION=2\nMODE=a=b"))

    assert response.status_code == 302, response.content.decode()[:3000]
    assert Workload.objects.get(name="formed").spec["build_args"] == {
        "VERSION": "2", "MODE": "a=b"}


def test_a_build_argument_line_without_a_value_is_an_error_on_that_field(admin_client, db):
    response = admin_client.post(ADD, form_post(
        "git", repo="https://git.example.com/team/web.git", build_args="JUSTAKEY"))

    assert response.status_code == 200
    assert "KEY=VALUE" in response.content.decode()
    assert not Workload.objects.filter(name="formed").exists()


def test_a_compose_workload_is_added_from_its_compose_text(admin_client, db):
    text = "services:\n  web:\n    image: 127.0.0.1:5000/team/web:live\n"

    response = admin_client.post(ADD, form_post("compose", compose=text, project="shop"))

    assert response.status_code == 302, response.content.decode()[:3000]
    workload = Workload.objects.get(name="formed")
    assert workload.kind == "compose" and workload.spec["compose"] == text
    assert workload.spec["project"] == "shop"


def test_json_mode_takes_the_json_text_and_ignores_the_fields(admin_client, db):
    data = form_post("image", image="127.0.0.1:5000/from-form:1")
    data["spec_mode"] = "json"
    data["spec"] = '{"image": "127.0.0.1:5000/from-json:1"}'

    response = admin_client.post(ADD, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert Workload.objects.get(name="formed").spec["image"] == "127.0.0.1:5000/from-json:1"


def test_the_change_page_shows_the_stored_spec_in_the_fields(admin_client, make_workload):
    workload = make_workload(name="stored", spec={
        "image": "127.0.0.1:5000/team/stored:7", "ports": ["127.0.0.1:9090:80"],
        "limits": {"memory": "1g"}})

    html = admin_client.get(f"/admin/workloads/workload/{workload.pk}/change/").content.decode()

    assert re.search(r'name="spec__image__image"[^>]*value="127.0.0.1:5000/team/stored:7"', html)
    assert "127.0.0.1:9090:80</textarea>" in html
    assert re.search(r'name="spec__image__limits__memory"[^>]*value="1g"', html)


def test_saving_the_change_form_unchanged_keeps_the_spec(admin_client, make_workload):
    spec = {"image": "127.0.0.1:5000/team/same:1", "ports": ["127.0.0.1:9090:80"],
            "limits": {"memory": "1g", "cpus": 2}, "domains": ["same.example.test"],
            "http_port": 80, "drain_seconds": 2,
            "healthcheck": {"http": {"path": "/health", "port": 80}}}
    workload = make_workload(name="same", spec=spec)
    before = Workload.objects.get(pk=workload.pk).spec
    url = f"/admin/workloads/workload/{workload.pk}/change/"
    data = workload_form(workload)
    data["spec_mode"] = "form"
    data.update({name: value for name, value in admin_client.get(url).context[
        "adminform"].form.initial.items() if name.startswith("spec__image__")})
    data = {key: value for key, value in data.items() if value not in (None, False)}
    data = {key: ("on" if value is True else value) for key, value in data.items()}

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert Workload.objects.get(pk=workload.pk).spec == before


@pytest.mark.parametrize("language, title", [("en", "Published ports"),
                                             ("ru", "Публикуемые порты")])
def test_option_labels_follow_the_language(admin_client, language, title):
    html = admin_client.get(ADD, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert title in html


def test_a_compose_workload_gets_its_routes_from_the_json_field(admin_client, db):
    text = "services:\n  web:\n    image: 127.0.0.1:5000/team/web:live\n"
    routes = '[{"service": "web", "domains": ["shop.example.test"], "http_port": 8080}]'
    response = admin_client.post(ADD, form_post("compose", compose=text, routes=routes,
                                                drain_seconds="1.5"))
    assert response.status_code == 302, response.content.decode()[:3000]
    workload = Workload.objects.get(name="formed")
    assert workload.spec["routes"] == [{"service": "web", "domains": ["shop.example.test"],
                                        "http_port": 8080}]
    assert workload.spec["drain_seconds"] == 1.5
