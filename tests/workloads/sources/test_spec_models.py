"""Each kind declares its spec as a typed schema: it validates, and it is the API's `spec`
(one variant per kind)."""
import pytest

from apps.workloads.models import Workload
from apps.workloads.sources import SOURCES
from apps.workloads.sources.options import SpecModel, typed_errors


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_every_kind_declares_a_typed_spec_its_own_sample_satisfies(kind):
    source = SOURCES[kind]
    assert issubclass(source.spec_model, SpecModel)
    assert typed_errors(source.spec_model, source.schema_sample) == {}


@pytest.mark.parametrize("spec, field", [
    ({"image": "127.0.0.1:5000/web:1", "ports": ""}, "spec.ports"),
    ({"image": "127.0.0.1:5000/web:1",
      "healthcheck": {"http": {"port": 8080, "verb": "GET"}}}, "spec.healthcheck.http.verb"),
    ({"image": "127.0.0.1:5000/web:1", "limits": {"cpus": True}}, "spec.limits.cpus"),
])
def test_what_only_the_typed_schema_catches_is_refused_naming_the_field(as_admin, spec, field):
    response = as_admin.post("/workloads", {"name": "web", "kind": "image", "spec": spec})

    assert response.status_code == 422, response.data
    assert field in response.data["errors"], response.data
    assert not Workload.objects.exists()


def test_the_kinds_own_message_wins_where_both_object(as_admin):
    response = as_admin.post("/workloads", {"name": "web", "kind": "image",
                                            "spec": {"image": "127.0.0.1:5000/web:1",
                                                     "ports": ["nope"]}})

    assert response.status_code == 422
    assert response.data["errors"] == {
        "spec.ports[0]": "Use [ip:]host_port:container_port[/tcp|udp], ports 1-65535."}


def test_the_openapi_schema_shows_spec_as_one_variant_per_kind(client):
    schema = client.get("/api/openapi.json").json()
    body = schema["components"]["schemas"]["WorkloadIn"]["properties"]["spec"]

    titles = sorted(variant["title"] for variant in body["anyOf"])
    assert titles == sorted(f"{kind} spec" for kind in SOURCES)
    image = next(v for v in body["anyOf"] if v["title"] == "image spec")
    assert image["required"] == ["image"] and image["additionalProperties"] is False
    assert image["properties"]["limits"]["anyOf"][0]["properties"]["cpus"]
    assert "$ref" not in str(body)


def test_the_sources_endpoint_gives_each_kinds_schema(as_viewer):
    response = as_viewer.get("/sources")

    assert response.status_code == 200
    schemas = {item["kind"]: item["spec_schema"] for item in response.data}
    assert schemas["git"]["required"] == ["repo"]
    assert "compose" in schemas["compose"]["properties"]
