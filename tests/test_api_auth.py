"""Who may call what: anonymous, viewer (non-staff), staff, bad tokens, sessions and CSRF."""
import json
import re

import pytest
from django.test import Client

from apps.core.auth import LAST_USED_RESOLUTION
from apps.deploys.models import ERROR_MESSAGES, Deploy
from apps.workloads.models import ApiToken, RegistryCredential, Workload
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

UNREACHABLE_IMAGE = "127.0.0.1:1/none/web:live"


@pytest.fixture
def world(make_workload):
    """One workload, one deploy row and one registry credential for the endpoints to act on."""
    workload = make_workload(name="target", spec={"image": UNREACHABLE_IMAGE})
    deploy = Deploy.objects.create(workload=workload, reason="manual", source_kind="image")
    registry = RegistryCredential.objects.create(
        host="127.0.0.1:5999", username="u", password="registry-pass-1"
    )
    return {"workload": workload.pk, "deploy": deploy.pk, "registry": registry.pk}


READS = [
    ("get", "/workloads", None),
    ("get", "/workloads/{workload}", None),
    ("get", "/deploys/{deploy}", None),
    ("get", "/registries", None),
    ("get", "/sources", None),
]
MUTATIONS = [
    ("post", "/workloads", {"name": "fresh", "kind": "image",
                            "spec": {"image": "127.0.0.1:5000/team/web:live"}}),
    ("patch", "/workloads/{workload}", {"title": "changed"}),
    ("delete", "/workloads/{workload}?force=true", None),
    ("post", "/workloads/{workload}/deploy", None),
    ("post", "/registries", {"host": "127.0.0.1:5998", "username": "u", "password": "p-1"}),
    ("delete", "/registries/{registry}", None),
]
EVERY = READS + MUTATIONS


def call(client, method, path, body, world):
    path = path.format(**world)
    if method in ("post", "patch"):
        return getattr(client, method)(path, body if body is not None else {})
    return getattr(client, method)(path)


def ids(cases):
    return [f"{m.upper()} {p}" for m, p, _ in cases]


def assert_json_detail(response):
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


def stored_state():
    return (
        sorted(Workload.objects.values_list("pk", "name", "title_en")),
        Deploy.objects.count(),
        sorted(RegistryCredential.objects.values_list("pk", "host")),
    )


# --- anonymous and bad tokens -------------------------------------------------------------------

@pytest.mark.parametrize("method,path,body", EVERY, ids=ids(EVERY))
def test_an_anonymous_caller_gets_401_json_everywhere(as_anonymous, world, method, path, body):
    before = stored_state()
    response = call(as_anonymous, method, path, body, world)
    assert response.status_code == 401
    assert_json_detail(response)
    assert stored_state() == before


@pytest.mark.parametrize("method,path,body", EVERY, ids=ids(EVERY))
def test_a_bad_bearer_token_gets_401_everywhere(world, method, path, body):
    before = stored_state()
    response = call(ApiClient("tf_not-a-real-token"), method, path, body, world)
    assert response.status_code == 401
    assert_json_detail(response)
    assert stored_state() == before


def test_a_token_of_an_inactive_user_gets_401(as_staff, staff_user, world):
    staff_user.is_active = False
    staff_user.save()
    assert as_staff.get("/workloads").status_code == 401


def test_a_token_records_its_last_use_without_writing_on_every_read(
        as_staff, staff_user, django_assert_num_queries):
    token = ApiToken.objects.get(user=staff_user)
    assert as_staff.get("/sources").status_code == 200
    first_use = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first_use is not None
    # Within LAST_USED_RESOLUTION a read is one query (the token lookup), no write.
    with django_assert_num_queries(1):
        assert as_staff.get("/sources").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first_use
    # Older than that, the next call records it again.
    stale = first_use - LAST_USED_RESOLUTION
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    assert as_staff.get("/sources").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first_use


@pytest.mark.parametrize("method,path,body", MUTATIONS, ids=ids(MUTATIONS))
def test_an_anonymous_mutation_gets_401_from_a_client_that_checks_csrf(world, method, path, body):
    """A real HTTP client (curl) is not exempt from CSRF as Django's test client is."""
    response = call(ApiClient(client=Client(enforce_csrf_checks=True)), method, path, body, world)
    assert response.status_code == 401, response.content
    assert_json_detail(response)


@pytest.mark.parametrize("method,path,body", MUTATIONS, ids=ids(MUTATIONS))
def test_a_bad_bearer_token_on_a_mutation_gets_401_from_a_client_that_checks_csrf(
    world, method, path, body
):
    client = ApiClient("tf_not-a-real-token", client=Client(enforce_csrf_checks=True))
    response = call(client, method, path, body, world)
    assert response.status_code == 401, response.content
    assert_json_detail(response)


# --- viewer (authenticated, not staff) ----------------------------------------------------------

@pytest.mark.parametrize("method,path,body", READS, ids=ids(READS))
def test_a_viewer_may_read(as_viewer, world, method, path, body):
    response = call(as_viewer, method, path, body, world)
    assert response.status_code == 200, response.data
    assert response.data is not None


@pytest.mark.parametrize("method,path,body", MUTATIONS, ids=ids(MUTATIONS))
def test_a_viewer_gets_403_for_every_mutation_and_nothing_changes(
    as_viewer, world, method, path, body
):
    before = stored_state()
    response = call(as_viewer, method, path, body, world)
    assert response.status_code == 403, response.data
    assert_json_detail(response)
    assert stored_state() == before


# --- staff --------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path,body", READS, ids=ids(READS))
def test_a_staff_token_may_read(as_staff, world, method, path, body):
    assert call(as_staff, method, path, body, world).status_code == 200


def test_a_staff_token_may_create_and_patch_a_workload(as_staff, world):
    created = as_staff.post("/workloads", MUTATIONS[0][2])
    assert created.status_code == 201, created.data
    patched = as_staff.patch(f"/workloads/{created.data['id']}", {"title": "Changed"})
    assert patched.status_code == 200 and patched.data["title"] == "Changed"


def test_a_staff_token_may_delete_a_workload(as_staff, world):
    response = as_staff.delete(f"/workloads/{world['workload']}?force=true")
    assert response.status_code == 204
    assert not Workload.objects.filter(pk=world["workload"]).exists()


def test_a_staff_deploy_of_an_unreachable_image_answers_202_and_fails_in_the_ledger(
    as_staff, staff_user, world
):
    response = as_staff.post(f"/workloads/{world['workload']}/deploy")
    assert response.status_code == 202, response.data
    assert response.data["status"] == "failed", response.data
    assert response.data["error_code"] in ERROR_MESSAGES
    assert response.data["error_message"] == str(ERROR_MESSAGES[response.data["error_code"]])
    assert response.data["requested_by"] == staff_user.username
    row = Deploy.objects.get(pk=response.data["id"])
    assert row.status == "failed" and row.finished_at is not None


def test_a_staff_token_may_add_and_remove_registry_credentials(as_staff, world):
    created = as_staff.post("/registries", MUTATIONS[4][2])
    assert created.status_code == 201 and "password" not in created.data
    assert as_staff.delete(f"/registries/{created.data['id']}").status_code == 204
    assert as_staff.delete(f"/registries/{world['registry']}").status_code == 204
    assert not RegistryCredential.objects.exists()


def test_an_admin_token_works_like_staff(as_admin, world):
    assert as_admin.patch(f"/workloads/{world['workload']}", {"title": "x"}).status_code == 200


def test_a_valid_token_is_enough_even_when_csrf_is_checked(staff_user, world):
    from tests.conftest import _token_for

    client = ApiClient(_token_for(staff_user), client=Client(enforce_csrf_checks=True))
    response = client.patch(f"/workloads/{world['workload']}", {"title": "by token"})
    assert response.status_code == 200, response.content


# --- session login and CSRF ---------------------------------------------------------------------

def session_client(user, password):
    """A CSRF-checking browser that opened the admin login page, then logged in."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/")
    assert page.status_code == 200
    assert client.login(username=user.username, password=password)
    return client


def csrf_token_from_login_page(client):
    return client.cookies["csrftoken"].value


def post_json(client, path, data, **extra):
    return client.post("/api" + path, json.dumps(data), content_type="application/json", **extra)


def test_a_staff_session_may_read_without_a_csrf_token(staff_user, world):
    client = session_client(staff_user, "ops-password-1")
    response = client.get("/api/workloads")
    assert response.status_code == 200 and response.json()[0]["name"] == "target"


def test_a_staff_session_post_without_a_csrf_token_is_403(staff_user, world):
    client = session_client(staff_user, "ops-password-1")
    response = post_json(client, "/workloads", MUTATIONS[0][2])
    assert response.status_code == 403
    assert_json_detail(response)
    assert not Workload.objects.filter(name="fresh").exists()


def test_a_staff_session_post_with_the_csrf_token_succeeds(staff_user, world):
    client = session_client(staff_user, "ops-password-1")
    token = csrf_token_from_login_page(client)
    response = post_json(client, "/workloads", MUTATIONS[0][2], HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content
    assert Workload.objects.filter(name="fresh").exists()


def test_a_staff_session_with_a_wrong_csrf_token_is_403(staff_user, world):
    client = session_client(staff_user, "ops-password-1")
    csrf_token_from_login_page(client)
    response = post_json(client, "/workloads", MUTATIONS[0][2], HTTP_X_CSRFTOKEN="x" * 32)
    assert response.status_code == 403
    assert not Workload.objects.filter(name="fresh").exists()


def test_a_viewer_session_with_the_csrf_token_is_still_403_for_a_mutation(viewer, world):
    client = session_client(viewer, "viewer-password-1")
    token = csrf_token_from_login_page(client)
    response = post_json(client, "/workloads", MUTATIONS[0][2], HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 403
    assert "staff" in response.json()["detail"].lower()


# --- open endpoints -----------------------------------------------------------------------------

def test_health_needs_no_auth_and_reports_the_engine(as_anonymous):
    response = as_anonymous.get("/health")
    assert response.status_code == 200
    assert response.data["status"] == "ok" and response.data["docker"] in ("up", "down")
    assert set(response.data) == {"status", "docker"}


def test_the_openapi_schema_is_served_and_lists_the_endpoints(as_anonymous):
    response = as_anonymous.get("/openapi.json")
    assert response.status_code == 200
    paths = response.data["paths"]
    for path in ("/api/workloads", "/api/workloads/{workload_id}",
                 "/api/workloads/{workload_id}/deploy", "/api/deploys/{deploy_id}",
                 "/api/registries", "/api/sources", "/api/health"):
        assert path in paths, path


def test_the_docs_page_is_served_without_any_external_cdn(as_anonymous):
    response = as_anonymous.get("/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script" in html
    assert "cdn." not in html
    sources = re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']([^"']+)""", html)
    assert sources, html
    assert not [s for s in sources if s.startswith(("http://", "https://", "//"))], sources
