"""Strict, bounded input: unknown fields, wrong shapes, oversized text, control characters and
out-of-range integers are 4xx naming the field; staff is checked before the payload; the
OpenAPI schema says what is accepted; an unhandled error is a logged, masked JSON 500."""
import json
import logging

import pytest
from django.test import Client

from apps.deploys.models import Deploy, Trigger
from apps.workloads.models import RegistryCredential, Workload

pytestmark = pytest.mark.django_db

IMAGE = "127.0.0.1:5000/team/web:live"
MINIMAL = {"name": "web", "kind": "image", "spec": {"image": IMAGE}}
HUGE = 18446744073709551616  # 2**64
JUST_TOO_BIG = 9223372036854775808  # 2**63


@pytest.fixture
def workload(make_workload):
    return make_workload(name="target", spec={"image": IMAGE})


@pytest.fixture
def deploy(workload):
    return Deploy.objects.create(workload=workload, reason="manual", source_kind="image")


def raw(client, method, path, body, content_type="application/json"):
    """Send ``body`` exactly as given (not JSON-encoded by the helper)."""
    return getattr(client.client, method)("/api" + path, body, content_type=content_type,
                                          **client.headers)


def assert_names(response, field, status=422):
    assert response.status_code == status, (response.status_code, response.content)
    data = response.json()
    assert data["detail"].startswith(field), data
    assert field in data["errors"], data


def stored():
    return (sorted(Workload.objects.values_list("pk", "name", "title_en", "ref_id")),
            Deploy.objects.count(), RegistryCredential.objects.count(), Trigger.objects.count())


# --- unknown fields -----------------------------------------------------------------------------

def test_rollback_with_an_unknown_field_is_refused_naming_it_and_nothing_is_queued(
    as_staff, workload, deploy
):
    before = Deploy.objects.count()
    response = as_staff.post(f"/workloads/{workload.pk}/rollback", {"to": deploy.pk})
    assert_names(response, "to")
    assert Deploy.objects.count() == before


def test_a_patch_with_a_misspelt_field_is_refused_and_changes_nothing(as_staff, workload):
    before = stored()
    response = as_staff.patch(f"/workloads/{workload.pk}", {"nmae": "renamed"})
    assert_names(response, "nmae")
    assert stored() == before


@pytest.mark.parametrize("path,body,field", [
    ("/workloads", {**MINIMAL, "envs": [{"key": "A", "value": "1"}]}, "envs"),
    ("/workloads", {**MINIMAL, "env": [{"key": "A", "value": "1", "secert": True}]},
     "env.0.secert"),
    ("/workloads", {**MINIMAL, "volumes": [{"name": "d", "mount_path": "/d", "ro": True}]},
     "volumes.0.ro"),
    ("/registries", {"host": "127.0.0.1:5001", "username": "u", "password": "p", "x": 1}, "x"),
    ("/triggers", {"name": "t", "kind": "manual", "secrets": "x"}, "secrets"),
    ("/workloads/{workload}/triggers", {"trigger_id": 1, "workload": 2}, "workload"),
    ("/workloads/{workload}/promote-from", {"source": 1, "from": 2}, "from"),
])
def test_an_unknown_field_is_refused_everywhere(as_staff, workload, path, body, field):
    before = stored()
    response = as_staff.post(path.format(workload=workload.pk), body)
    assert_names(response, field)
    assert stored() == before


@pytest.mark.parametrize("body", ["[]", "5", '"text"', "null", "true", '[{"name": "web"}]'])
def test_a_body_that_is_not_an_object_is_a_422(as_staff, workload, body):
    before = stored()
    targets = [("post", "/workloads"), ("patch", f"/workloads/{workload.pk}")]
    if body != "null":  # the rollback body is optional: null is the same as none
        targets.append(("post", f"/workloads/{workload.pk}/rollback"))
    for method, path in targets:
        response = raw(as_staff, method, path, body)
        assert response.status_code == 422, (method, path, body, response.content)
        assert response.json()["detail"]
    assert stored() == before


def test_a_body_that_is_not_json_is_a_400_with_a_json_detail(as_staff):
    response = raw(as_staff, "post", "/workloads", "{not json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_a_deeply_nested_body_is_a_client_error_not_a_500(as_staff):
    response = raw(as_staff, "post", "/workloads", "[" * 100_000 + "]" * 100_000)
    assert 400 <= response.status_code < 500, response.status_code


# --- integers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [JUST_TOO_BIG, HUGE, 0, -1])
def test_a_chain_id_outside_the_database_range_is_a_422(as_staff, value):
    response = as_staff.post("/workloads", {**MINIMAL, "chain": [value]})
    assert_names(response, "chain.0")
    assert not Workload.objects.exists()


@pytest.mark.parametrize("path", [
    f"/workloads/{HUGE}", f"/deploys/{HUGE}", f"/triggers/{HUGE}",
    f"/workloads/{JUST_TOO_BIG}/deploys", f"/workloads/{HUGE}/stats/history",
    f"/workloads/{HUGE}/triggers",
])
def test_a_path_id_past_the_database_range_is_a_422_not_a_500(as_viewer, path):
    response = as_viewer.get(path)
    assert response.status_code == 422, response.content
    assert response.json()["detail"]


def test_an_oversized_page_number_is_a_422_naming_page(as_viewer, workload):
    response = as_viewer.get(f"/workloads/{workload.pk}/deploys?page={HUGE}")
    assert_names(response, "page")


def test_a_large_but_possible_page_number_is_an_empty_page(as_viewer, workload, deploy):
    response = as_viewer.get(f"/workloads/{workload.pk}/deploys?page=1000")
    assert response.status_code == 200
    assert response.data == {"items": [], "count": 1}


@pytest.mark.parametrize("body,field", [
    ({"deploy_id": HUGE}, "deploy_id"), ({"deploy_id": 0}, "deploy_id"),
])
def test_a_rollback_target_outside_the_range_is_a_422(as_staff, workload, body, field):
    assert_names(as_staff.post(f"/workloads/{workload.pk}/rollback", body), field)


def test_a_promotion_source_past_the_range_is_a_422(as_staff, workload):
    assert_names(as_staff.post(f"/workloads/{workload.pk}/promote-from", {"source": HUGE}),
                 "source")


# --- lengths and control characters -------------------------------------------------------------

@pytest.mark.parametrize("extra,field", [
    ({"ref_id": "r" * 300}, "ref_id"),
    ({"title": "t" * 300}, "title"),
    ({"title_ru": "t" * 300}, "title_ru"),
    ({"env": [{"key": "K" * 300, "value": "1"}]}, "env.0.key"),
    ({"volumes": [{"name": "v" * 300, "mount_path": "/d"}]}, "volumes.0.name"),
    ({"volumes": [{"name": "d", "mount_path": "/" + "m" * 600}]}, "volumes.0.mount_path"),
    ({"name": "w" * 300}, "name"),
    ({"title": "bad\x00title"}, "title"),
    ({"ref_id": "line\nbreak"}, "ref_id"),
    ({"env": [{"key": "A", "value": "nul\x00value"}]}, "env.0.value"),
    ({"description": "bell\x07"}, "description"),
])
def test_oversized_or_control_character_text_is_refused_naming_the_field(as_staff, extra, field):
    response = as_staff.post("/workloads", {**MINIMAL, **extra})
    assert_names(response, field)
    assert not Workload.objects.exists()


def test_a_description_may_have_line_breaks_and_tabs(as_staff):
    response = as_staff.post("/workloads", {**MINIMAL, "description": "one\n\ttwo\r\nthree"})
    assert response.status_code == 201, response.data
    assert Workload.objects.get().description == "one\n\ttwo\r\nthree"


def test_a_name_with_a_trailing_newline_is_refused(as_staff):
    assert_names(as_staff.post("/workloads", {**MINIMAL, "name": "web\n"}), "name")


@pytest.mark.parametrize("spec", [
    {"image": IMAGE, "command": ["sh", "-c", "echo \x00"]},
    {"image": IMAGE + "\x1b"},
    {"image": IMAGE, "command": "x" * 200_001},
])
def test_a_spec_with_control_characters_or_too_large_is_refused_naming_spec(as_staff, spec):
    response = as_staff.post("/workloads", {**MINIMAL, "spec": spec})
    assert response.status_code == 422, response.data
    assert response.data["detail"].startswith("spec")
    assert not Workload.objects.exists()


@pytest.mark.parametrize("host", [
    "127.0.0.1:5000\x00", "reg\nistry.example.com", "r" * 300, "host/path", "a b", ":5000",
])
def test_a_registry_host_with_control_characters_or_bad_shape_is_refused(as_staff, host):
    response = as_staff.post("/registries", {"host": host, "username": "u", "password": "p"})
    assert_names(response, "host")
    assert not RegistryCredential.objects.exists()


def test_a_normal_registry_host_is_still_accepted(as_staff):
    response = as_staff.post("/registries", {"host": "registry.example.com:5000",
                                             "username": "u", "password": "p"})
    assert response.status_code == 201, response.data


@pytest.mark.parametrize("body,field", [
    ({"name": "n" * 300, "kind": "manual"}, "name"),
    ({"name": "ok\x00", "kind": "manual"}, "name"),
    ({"name": "ok", "kind": "k" * 100}, "kind"),
])
def test_trigger_names_and_kinds_are_bounded(as_staff, body, field):
    assert_names(as_staff.post("/triggers", body), field)
    assert not Trigger.objects.exists()


def test_a_trigger_patch_with_a_null_name_keeps_the_name(as_staff):
    trigger = Trigger.objects.create(name="keep", kind="manual")
    response = as_staff.patch(f"/triggers/{trigger.pk}", {"name": None})
    assert response.status_code == 200, response.data
    assert response.data["name"] == "keep"


def test_an_unknown_trigger_kind_filter_is_a_422(as_viewer):
    assert_names(as_viewer.get("/triggers?kind=nope"), "kind")


# --- ports --------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", [
    "999.999.999.999:18150:8080", "256.0.0.1:8080:80", "1.2.3:8080:80", "localhost:8080:80",
    "[::1:8080:80", "[nonsense]:8080:80",
])
def test_a_bind_address_in_ports_must_be_an_ip(as_staff, port):
    response = as_staff.post("/workloads", {**MINIMAL, "spec": {"image": IMAGE, "ports": [port]}})
    assert_names(response, "spec.ports[0]")


@pytest.mark.parametrize("port", ["127.0.0.1:8080:80", "0.0.0.0:8080:80/udp", "[::1]:8080:80",
                                  "8080:80", "80"])
def test_valid_port_forms_are_accepted(as_staff, port):
    response = as_staff.post("/workloads", {**MINIMAL, "spec": {"image": IMAGE, "ports": [port]}})
    assert response.status_code == 201, response.data


def test_an_ipv6_bind_address_reaches_the_engine_without_brackets():
    from apps.workloads.sources.runner import port_bindings

    assert port_bindings(["[::1]:8080:80", "127.0.0.1:9090:90/udp", "7070:70"]) == {
        "80/tcp": ("::1", 8080), "90/udp": ("127.0.0.1", 9090), "70/tcp": 7070,
    }


# --- permission before validation ---------------------------------------------------------------

MUTATIONS = [
    ("post", "/workloads", {"bogus": True}),
    ("patch", "/workloads/{workload}", {"nmae": 1}),
    ("delete", "/workloads/{workload}?force=maybe", None),
    ("post", "/workloads/{workload}/deploy", None),
    ("post", "/workloads/{workload}/rollback", {"to": 5}),
    ("post", "/workloads/{workload}/promote-from", {"source": "x"}),
    ("post", "/registries", {"host": 5}),
    ("delete", "/registries/0", None),
    ("post", "/triggers", {"kind": []}),
    ("patch", "/triggers/0", {"name": []}),
    ("delete", "/triggers/0", None),
    ("post", "/workloads/{workload}/triggers", {"x": 1}),
    ("delete", "/workloads/{workload}/triggers/0", None),
]


@pytest.mark.parametrize("method,path,body", MUTATIONS,
                         ids=[f"{m.upper()} {p}" for m, p, _ in MUTATIONS])
def test_a_viewer_gets_403_before_any_validation_of_the_payload(
    as_viewer, workload, method, path, body
):
    before = stored()
    path = path.format(workload=workload.pk)
    if method in ("post", "patch"):
        response = getattr(as_viewer, method)(path, body if body is not None else {})
    else:
        response = getattr(as_viewer, method)(path)
    assert response.status_code == 403, response.content
    assert "errors" not in response.data, response.data
    assert "staff" in response.data["detail"].lower()
    assert stored() == before


def test_a_viewer_sending_garbage_json_still_gets_403(as_viewer):
    response = raw(as_viewer, "post", "/workloads", "{not json")
    assert response.status_code == 403


def test_an_inactive_staff_token_is_401_not_403(as_staff, staff_user):
    staff_user.is_active = False
    staff_user.save()
    assert as_staff.post("/workloads", MINIMAL).status_code == 401


def test_a_viewer_session_gets_403_for_a_mutation_before_validation(viewer):
    client = Client(enforce_csrf_checks=True)
    client.get("/admin/login/")
    assert client.login(username="viewer", password="viewer-password-1")
    response = client.post("/api/workloads", json.dumps({"bogus": 1}),
                           content_type="application/json",
                           HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert response.status_code == 403
    assert "errors" not in response.json()


# --- the OpenAPI schema -------------------------------------------------------------------------

@pytest.fixture
def openapi(as_anonymous):
    return as_anonymous.get("/openapi.json").data


def test_the_schema_lists_the_windows_as_an_enum(openapi):
    for path in ("/api/stats/history", "/api/workloads/{workload_id}/stats/history",
                 "/api/workloads/{workload_id}/stats/deploys", "/api/stats/top"):
        window = next(p for p in openapi["paths"][path]["get"]["parameters"]
                      if p["name"] == "window")
        assert window["schema"]["enum"] == ["30m", "2h", "6h", "24h", "7d", "30d"], path


def test_every_mutation_declares_its_error_statuses_and_every_read_its_own(openapi):
    for path, operations in openapi["paths"].items():
        if path.startswith("/api/hooks/") or path == "/api/health":
            continue
        for method, operation in operations.items():
            declared = set(operation["responses"])
            wanted = {"401", "404", "422"}
            if method != "get":
                wanted |= {"400", "403", "409", "503"}
            assert wanted <= declared, (method, path, wanted - declared)


def test_request_schemas_refuse_additional_properties(openapi):
    schemas = openapi["components"]["schemas"]
    for name in ("WorkloadIn", "WorkloadPatch", "EnvIn", "VolumeIn", "RegistryIn", "RollbackIn",
                 "PromoteIn", "TriggerIn", "TriggerPatch", "BindIn"):
        assert schemas[name].get("additionalProperties") is False, name


def test_request_schemas_declare_lengths_patterns_and_id_ranges(openapi):
    schemas = openapi["components"]["schemas"]
    title = schemas["WorkloadIn"]["properties"]["title"]["anyOf"][0]
    assert title["maxLength"] == 200 and title["pattern"]
    chain = schemas["WorkloadIn"]["properties"]["chain"]["items"]
    assert chain["minimum"] == 1 and chain["maximum"] == 2**63 - 1
    assert schemas["WorkloadIn"]["properties"]["kind"]["enum"] == ["image", "compose", "git"]


# --- unhandled errors ---------------------------------------------------------------------------

def test_an_unhandled_error_is_a_json_500_and_its_masked_traceback_is_logged(
    as_staff, workload, monkeypatch, caplog
):
    RegistryCredential.objects.create(host="127.0.0.1:5998", username="u",
                                      password="canary-registry-pw-1")

    def explode(*args, **kwargs):
        raise RuntimeError("boom while holding canary-registry-pw-1 and canary-body-secret")

    monkeypatch.setattr("apps.workloads.actions.update_workload", explode)
    with caplog.at_level(logging.ERROR, logger="tinyforge"):
        response = as_staff.patch(f"/workloads/{workload.pk}", {
            "env": [{"key": "TOKEN", "value": "canary-body-secret", "secret": True}]})
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    body = response.content.decode()
    assert set(response.json()) == {"detail"}
    assert "boom" not in body and "Traceback" not in body and "canary" not in body
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Traceback" in logged and "RuntimeError" in logged and "explode" in logged
    assert "canary-registry-pw-1" not in logged and "canary-body-secret" not in logged
    assert "••••••" in logged


def test_the_server_log_handler_masks_secrets_in_any_error_record(workload):
    from tinyforge.log_masking import MaskSecrets

    RegistryCredential.objects.create(host="127.0.0.1:5997", username="u",
                                      password="canary-filter-pw-2")
    try:
        raise ValueError("failed with canary-filter-pw-2")
    except ValueError:
        import sys

        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1,
                                   "Internal Server Error: %s", ("/admin/",), sys.exc_info())
    assert MaskSecrets().filter(record)
    text = record.getMessage()
    assert "Internal Server Error: /admin/" in text and "ValueError" in text
    assert "canary-filter-pw-2" not in text and record.exc_info is None


def test_django_request_errors_go_to_the_console_through_the_masking_filter(settings):
    config = settings.LOGGING
    assert "console" in config["loggers"]["django.request"]["handlers"]
    assert "mask_secrets" in config["handlers"]["console"]["filters"]
