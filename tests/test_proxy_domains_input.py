"""Domains on workloads: validated (422 naming the field), unique across workloads (409 naming
the holder), returned by the API. No engine or proxy needed."""
import pytest

pytestmark = pytest.mark.django_db

SPEC = {"image": "127.0.0.1:1/none/web:live", "http_port": 8080}


def create(client, name, **spec):
    return client.post("/workloads", {"name": name, "kind": "image", "spec": {**SPEC, **spec}})


@pytest.mark.parametrize("bad", ["under_score.example.test", "-lead.example.test", "nodot",
                                 "a..b.test", "x" * 64 + ".test", "white space.test", 42])
def test_a_bad_host_name_is_refused_naming_its_place_in_the_list(as_admin, bad):
    response = create(as_admin, "bad", domains=["ok.example.test", bad])
    assert response.status_code == 422
    assert response.data["detail"].startswith("spec.domains[1]:")


def test_domains_need_the_port_the_proxy_dials(as_admin):
    response = as_admin.post("/workloads", {"name": "portless", "kind": "image", "spec": {
        "image": "127.0.0.1:1/none/web:live", "domains": ["a.example.test"]}})
    assert response.status_code == 422 and "spec.http_port" in response.data["detail"]


@pytest.mark.parametrize("field,value", [("drain_seconds", -1), ("stop_grace_seconds", 301),
                                         ("drain_seconds", "2"), ("http_port", 70000)])
def test_drain_and_stop_grace_are_bounded(as_admin, field, value):
    response = create(as_admin, "bounded", domains=["b.example.test"], **{field: value})
    assert response.status_code == 422 and f"spec.{field}" in response.data["detail"]


def test_a_domain_used_by_another_workload_is_a_conflict_naming_that_workload(as_admin):
    first = create(as_admin, "holder", domains=["shared.example.test"])
    assert first.status_code == 201
    second = create(as_admin, "taker", domains=["other.example.test", "Shared.Example.Test"])
    assert second.status_code == 409
    assert "holder" in second.data["detail"] and f"#{first.data['id']}" in second.data["detail"]
    third = create(as_admin, "patcher", domains=["third.example.test"])
    patched = as_admin.patch(f"/workloads/{third.data['id']}", {
        "spec": {**SPEC, "domains": ["shared.example.test"]}})
    assert patched.status_code == 409 and "holder" in patched.data["detail"]


def test_the_api_returns_the_domains_lowercased(as_admin):
    created = create(as_admin, "shown", domains=["App.Example.Test"])
    assert created.data["domains"] == ["app.example.test"]
    assert as_admin.get(f"/workloads/{created.data['id']}").data["domains"] == [
        "app.example.test"]
    plain = as_admin.post("/workloads", {"name": "plain", "kind": "image",
                                         "spec": {"image": "127.0.0.1:1/none/web:live"}})
    assert plain.data["domains"] == [] and "domains" not in plain.data["spec"]
